//! Forwarded headers are believed only from trusted proxies (`SHELLGATE_TRUSTED_PROXIES`): logs,
//! traces and audit records name the same client address, which an agent cannot forge.

use std::time::{Duration, Instant};

use serde_json::Value;
use shellgate_tests::Cluster;
use shellgate_tests::upstream::Upstream;

/// Sends an agent request claiming to come from elsewhere; returns its audit record.
async fn claim(c: &Cluster, token: &str, forwarded_for: &str) -> Value {
    let res = c
        .http
        .agent("GET", &format!("{}/gateway/api/who", c.gateway()), token)
        .insert_header(("x-forwarded-for", forwarded_for))
        .insert_header(("x-forwarded-host", "evil-host.example"))
        .insert_header(("x-forwarded-proto", "gopher"))
        .insert_header(("forwarded", "for=203.0.113.66;host=evil-host.example"))
        .insert_header(("x-real-ip", "203.0.113.67"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let rid = res
        .headers()
        .get("x-shellgate-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(e) = c
            .audit("kind=http")
            .await
            .into_iter()
            .find(|e| e["requestId"] == rid.as_str())
        {
            return e;
        }
        assert!(Instant::now() < deadline, "no audit record for {rid}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn gateway_request_logs(c: &Cluster) -> String {
    c.logs()
        .lines()
        .filter(|l| l.contains("/gateway/api/who"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[actix_web::test]
async fn forwarded_headers_from_an_agent_are_not_believed() {
    let up = Upstream::start();
    // Debug level: the request's span (with its client address) is on many log lines.
    let c = Cluster::up_with(&[("RUST_LOG", "debug")]).await;
    let id = c.create_http_target("api", &up.url, None).await;
    let (_, token) = c.create_token(&[&id]).await;
    let event = claim(&c, &token, "6.6.6.6").await;
    assert_eq!(event["clientIp"], "127.0.0.1", "{event}");
    let logs = gateway_request_logs(&c);
    assert!(logs.contains("127.0.0.1"), "{logs}");
    for forged in ["6.6.6.6", "evil-host", "gopher", "203.0.113.6"] {
        assert!(!logs.contains(forged), "{forged} in the logs: {logs}");
    }
}

#[actix_web::test]
async fn behind_a_trusted_proxy_the_client_is_the_last_untrusted_hop() {
    let up = Upstream::start();
    let c = Cluster::up_with(&[
        ("SHELLGATE_TRUSTED_PROXIES", "127.0.0.0/8, 10.0.0.0/8"),
        ("RUST_LOG", "debug"),
    ])
    .await;
    let id = c.create_http_target("api", &up.url, None).await;
    let (_, token) = c.create_token(&[&id]).await;
    // The agent wrote 6.6.6.6 itself; the proxies saw 198.51.100.7 and then 10.0.0.1.
    let event = claim(&c, &token, "6.6.6.6, 198.51.100.7, 10.0.0.1").await;
    assert_eq!(event["clientIp"], "198.51.100.7", "{event}");
    let logs = gateway_request_logs(&c);
    assert!(logs.contains("198.51.100.7"), "{logs}");
    for forged in ["6.6.6.6", "203.0.113.6"] {
        assert!(!logs.contains(forged), "{forged} in the logs: {logs}");
    }
    // The approver resolves it the same way for its admin audit.
    let req = c
        .http
        .request("POST", &format!("{}/api/tokens", c.approver()))
        .insert_header(("x-forwarded-for", "6.6.6.6, 198.51.100.8"));
    let res = req.send_body("{}").await.unwrap();
    assert_eq!(res.status(), 401);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let admin = c.audit("kind=admin").await;
        if let Some(e) = admin.iter().find(|e| e["status"] == 401) {
            assert_eq!(e["clientIp"], "198.51.100.8", "{e}");
            break;
        }
        assert!(Instant::now() < deadline, "no admin audit record: {admin:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
