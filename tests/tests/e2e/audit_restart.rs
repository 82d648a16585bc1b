//! No audit record is lost while Postgres restarts (a private Postgres, stopped and started).

use std::collections::HashSet;
use std::time::Duration;

use shellgate_tests::Cluster;
use shellgate_tests::cluster::nats_url;
use shellgate_tests::db::TestDb;
use shellgate_tests::private_pg::PrivatePg;
use shellgate_tests::upstream::Upstream;

#[actix_web::test]
async fn audit_rows_are_complete_after_a_postgres_restart() {
    let pg = PrivatePg::start();
    let up = Upstream::start();
    let db = TestDb::create_on(&pg.url()).await;
    let mut c = Cluster::prepare_on(db, &nats_url(), &[("SHELLGATE_AUTH_CACHE_TTL_MS", "600000")]);
    c.start("up", &[]);
    let id = c.create_http_target("api", &up.url, None).await;
    let (token_id, token) = c.create_token(&[&id]).await;
    let url = format!("{}/gateway/api/x", c.gateway());
    for _ in 0..5 {
        let (status, body) = c.agent_get(&url, &token).await;
        if status != 200 {
            c.dump_warnings();
        }
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
    pg.stop_server();
    // Readiness reflects the outage; liveness does not.
    for role in ["gateway", "approver", "executor"] {
        let base = c.procs[0].url(role);
        let ready = c.http.request("GET", &format!("{base}/ready")).send().await.unwrap();
        assert_eq!(ready.status(), 503, "{role} /ready with Postgres down");
        let health = c.http.request("GET", &format!("{base}/health")).send().await.unwrap();
        assert_eq!(health.status(), 200);
    }
    // Tokens and targets are cached: requests keep being served and audited into JetStream.
    for i in 0..20 {
        assert_eq!(c.agent_get(&format!("{url}?n={i}"), &token).await.0, 200);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    pg.start_server();
    let events = c
        .wait_for_audit(&format!("tokenId={token_id}"), 25, Duration::from_secs(30))
        .await;
    assert_eq!(events.len(), 25, "audit rows lost");
    let ids: HashSet<_> = events
        .iter()
        .map(|e| e["requestId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 25, "duplicate audit rows");
    assert!(events.iter().all(|e| e["outcome"] == "allowed"));
}
