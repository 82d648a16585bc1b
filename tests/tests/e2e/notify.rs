//! Approval notifications: a signed webhook and a Slack-compatible webhook, driven by approval
//! events, with retries, a dead-letter record, and the trace continued in the approver.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shellgate_tests::Cluster;
use shellgate_tests::upstream::{Hook, Upstream};

const SECRET: &str = "whsec-test-0123456789abcdef";

async fn wait_for_hooks(up: &Upstream, name: &str, n: usize) -> Vec<Hook> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let hooks = up.controls.hooks_to(name);
        if hooks.len() >= n {
            return hooks;
        }
        assert!(Instant::now() < deadline, "{name}: {} of {n} deliveries", hooks.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn verify(hook: &Hook) -> Value {
    let header = |n: &str| {
        hook.received
            .header(n)
            .unwrap_or_else(|| panic!("{n} missing"))
            .to_string()
    };
    let timestamp = header("x-shellgate-timestamp");
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
    let signed = [timestamp.as_bytes(), b".", &hook.body[..]].concat();
    let expected = format!("sha256={}", hex::encode(ring::hmac::sign(&key, &signed).as_ref()));
    assert_eq!(header("x-shellgate-signature"), expected, "signature");
    serde_json::from_slice(&hook.body).unwrap()
}

#[actix_web::test]
async fn approval_events_reach_a_signed_webhook_and_slack_after_retries() {
    let up = Upstream::start();
    let webhook = format!("{}/hook/webhook?fail=2", up.url);
    let slack = format!("{}/hook/slack", up.url);
    let c = Cluster::up_with(&[
        ("SHELLGATE_NOTIFY_WEBHOOK_URL", webhook.as_str()),
        ("SHELLGATE_NOTIFY_WEBHOOK_SECRET", SECRET),
        ("SHELLGATE_NOTIFY_SLACK_URL", slack.as_str()),
        ("SHELLGATE_NOTIFY_DASHBOARD_URL", "https://dash.example/"),
        ("SHELLGATE_NOTIFY_RETRY_BASE_MS", "100"),
    ])
    .await;
    let id = c.create_http_target("api", &up.url, None).await;
    let (_, token) = c.create_token(&[&id]).await;
    let url = format!("{}/gateway/api/items/7", c.gateway());
    let mut res = c.http.agent("DELETE", &url, &token).send().await.unwrap();
    assert_eq!(res.status(), 202);
    let held: Value = serde_json::from_slice(&shellgate_tests::client::read_body(&mut res).await).unwrap();
    let approval = held["approval_id"].as_str().unwrap().to_string();

    // The webhook failed twice (503) and got the event on the third attempt, signed.
    let hooks = wait_for_hooks(&up, "webhook", 1).await;
    assert_eq!(up.controls.hook_attempts_to("webhook"), 3);
    let first = verify(&hooks[0]);
    assert_eq!(first["event"], "requested");
    assert_eq!(first["approval"]["id"], approval.as_str());
    assert_eq!(first["approval"]["request"]["method"], "DELETE");
    assert_eq!(first["reviewUrl"], format!("https://dash.example/approvals/{approval}"));
    assert_eq!(hooks[0].received.header("x-shellgate-event"), Some("requested"));
    assert_eq!(
        hooks[0].received.header("x-shellgate-delivery"),
        Some(format!("{approval}.requested").as_str())
    );
    // Nothing in a notification lets its receiver act: no key, no token, no decision link.
    let text = String::from_utf8_lossy(&hooks[0].body).to_string();
    assert!(
        !text.contains("sga_") && !text.contains(&token) && !text.contains("/approve"),
        "{text}"
    );

    let slack_hooks = wait_for_hooks(&up, "slack", 1).await;
    let slack_msg: Value = serde_json::from_slice(&slack_hooks[0].body).unwrap();
    let slack_text = slack_msg["text"].as_str().unwrap();
    assert!(
        slack_text.contains("Approval needed") && slack_text.contains("DELETE /items/7"),
        "{slack_text}"
    );
    assert!(
        slack_text.contains(&format!("https://dash.example/approvals/{approval}")),
        "{slack_text}"
    );

    // A decision is announced too, with who made it.
    let (status, _) = c
        .admin("POST", &format!("/api/approvals/{approval}/approve"), Some(json!({})))
        .await;
    assert_eq!(status, 200);
    let hooks = wait_for_hooks(&up, "webhook", 2).await;
    let decided = verify(&hooks[1]);
    assert_eq!(decided["event"], "approved");
    assert!(
        decided["approval"]["decidedBy"].as_str().is_some_and(|d| !d.is_empty()),
        "{decided}"
    );

    let (_, letters) = c.admin("GET", "/api/notifications/dead-letters", None).await;
    assert_eq!(letters["deadLetters"], json!([]));
    assert!(!c.logs().contains(SECRET), "the signing secret reached a log");
}

#[actix_web::test]
async fn an_undeliverable_notification_becomes_a_dead_letter() {
    let up = Upstream::start();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("http://127.0.0.1:{port}/hook");
    let c = Cluster::up_with(&[
        ("SHELLGATE_NOTIFY_WEBHOOK_URL", dead.as_str()),
        ("SHELLGATE_NOTIFY_WEBHOOK_SECRET", SECRET),
        ("SHELLGATE_NOTIFY_MAX_ATTEMPTS", "2"),
        ("SHELLGATE_NOTIFY_RETRY_BASE_MS", "50"),
    ])
    .await;
    let id = c.create_http_target("api", &up.url, None).await;
    let (_, token) = c.create_token(&[&id]).await;
    let res = c
        .http
        .agent("DELETE", &format!("{}/gateway/api/x", c.gateway()), &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let deadline = Instant::now() + Duration::from_secs(20);
    let letter = loop {
        let (status, v) = c.admin("GET", "/api/notifications/dead-letters", None).await;
        assert_eq!(status, 200, "{v}");
        if let Some(l) = v["deadLetters"].as_array().and_then(|a| a.first()).cloned() {
            break l;
        }
        assert!(Instant::now() < deadline, "no dead letter");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(letter["notifier"], "webhook");
    assert_eq!(letter["event"], "requested");
    assert_eq!(letter["attempts"], 2);
    assert_eq!(letter["lastError"], "cannot connect");
    assert_eq!(letter["payload"]["event"], "requested");
    assert!(!letter.to_string().contains(SECRET));
    let (status, v) = c.admin("GET", "/api/notifications/dead-letters?limit=0", None).await;
    assert_eq!((status, v["error"].as_str()), (400, Some("invalid_limit")));
}

#[actix_web::test]
async fn the_approver_continues_the_trace_of_the_request_that_asked_for_approval() {
    use shellgate_tests::otlp::OtlpReceiver;
    let otlp = OtlpReceiver::start();
    let up = Upstream::start();
    let webhook = format!("{}/hook/webhook", up.url);
    let mut c = Cluster::prepare(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.url.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("SHELLGATE_NOTIFY_WEBHOOK_URL", webhook.as_str()),
        ("SHELLGATE_NOTIFY_WEBHOOK_SECRET", SECRET),
    ])
    .await;
    c.start("approver", &[]);
    c.start("gateway", &[]);
    c.start("executor", &[]);
    let id = c.create_http_target("api", &up.url, None).await;
    let (_, token) = c.create_token(&[&id]).await;
    let res = c
        .http
        .agent("DELETE", &format!("{}/gateway/api/x", c.gateway()), &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    wait_for_hooks(&up, "webhook", 1).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let (gateway_span, approver_span) = loop {
        let spans = otlp.spans();
        let gateway = spans
            .iter()
            .find(|s| s.service == "shellgate-gateway" && s.name.contains("gateway"))
            .cloned();
        let approver = spans
            .iter()
            .find(|s| s.service == "shellgate-approver" && s.name == "approval_event")
            .cloned();
        if let (Some(g), Some(a)) = (gateway, approver) {
            break (g, a);
        }
        assert!(Instant::now() < deadline, "spans missing: {spans:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        gateway_span.trace_id, approver_span.trace_id,
        "one trace across JetStream"
    );
    assert!(
        approver_span.attributes.iter().any(|a| a == "event=requested"),
        "{approver_span:?}"
    );
}
