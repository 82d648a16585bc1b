//! A revocation reaches every gateway within a second, whatever it had cached.

use std::time::{Duration, Instant};

use shellgate_tests::Cluster;
use shellgate_tests::upstream::Upstream;

#[actix_web::test]
async fn a_revoked_token_is_refused_by_a_second_gateway_within_a_second() {
    let up = Upstream::start();
    let mut c = Cluster::up().await;
    let second = c.start("gateway", &[]);
    let gw2 = c.procs[second].url("gateway");
    let id = c.create_http_target("api", &up.url, None).await;
    let (token_id, token) = c.create_token(&[&id]).await;
    let url = format!("{gw2}/gateway/api/x");
    // Warm the second gateway's cache.
    for _ in 0..3 {
        assert_eq!(c.http.agent("GET", &url, &token).send().await.unwrap().status(), 200);
    }
    // Use is recorded (at most one write a minute per token, not one per request).
    let (_, shown) = c.admin("GET", &format!("/api/tokens/{token_id}"), None).await;
    assert!(shown["lastUsedAt"].is_string(), "{shown}");
    let (s, _) = c.admin("DELETE", &format!("/api/tokens/{token_id}"), None).await;
    assert_eq!(s, 200);
    let revoked_at = Instant::now();
    loop {
        let status = c.http.agent("GET", &url, &token).send().await.unwrap().status();
        if status == 401 {
            break;
        }
        assert!(
            revoked_at.elapsed() < Duration::from_secs(1),
            "still {status} after a second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(revoked_at.elapsed() < Duration::from_secs(1));
    let mut res = c.http.agent("GET", &url, &token).send().await.unwrap();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "token_revoked");
}

#[actix_web::test]
async fn regenerating_a_token_retires_the_old_secret_everywhere() {
    let up = Upstream::start();
    let mut c = Cluster::up().await;
    let second = c.start("gateway", &[]);
    let gw2 = c.procs[second].url("gateway");
    let id = c.create_http_target("api", &up.url, None).await;
    let (token_id, old) = c.create_token(&[&id]).await;
    let url = format!("{gw2}/gateway/api/x");
    assert_eq!(c.http.agent("GET", &url, &old).send().await.unwrap().status(), 200);
    let (s, v) = c
        .admin("POST", &format!("/api/tokens/{token_id}/regenerate"), None)
        .await;
    assert_eq!(s, 200);
    let new = v["token"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    let deadline = Instant::now() + Duration::from_secs(1);
    while c.http.agent("GET", &url, &old).send().await.unwrap().status() != 401 {
        assert!(Instant::now() < deadline, "old secret still accepted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(c.http.agent("GET", &url, &new).send().await.unwrap().status(), 200);
}
