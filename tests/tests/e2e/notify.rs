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
    verify_with(hook, SECRET)
}

fn verify_with(hook: &Hook, secret: &str) -> Value {
    let header = |n: &str| {
        hook.received
            .header(n)
            .unwrap_or_else(|| panic!("{n} missing"))
            .to_string()
    };
    let timestamp = header("x-shellgate-timestamp");
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
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
    let approval = held_delete(&c, &token, "items/7").await;

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
    held_delete(&c, &token, "x").await;
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
    held_delete(&c, &token, "x").await;
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

/// Holds a DELETE for approval; returns the approval id.
async fn held_delete(c: &Cluster, token: &str, path: &str) -> String {
    let url = format!("{}/gateway/api/{path}", c.gateway());
    let mut res = c.http.agent("DELETE", &url, token).send().await.unwrap();
    assert_eq!(res.status(), 202);
    let held: Value = serde_json::from_slice(&shellgate_tests::client::read_body(&mut res).await).unwrap();
    held["approval_id"].as_str().unwrap().to_string()
}

#[actix_web::test]
async fn notifiers_added_through_the_api_are_sealed_and_follow_changes() {
    let up = Upstream::start();
    let c = Cluster::up().await;
    // A token in a URL is a secret too: it must never be shown or logged.
    let url_token = "canary-url-token-5f3a";
    let hook_url = format!("{}/hook/api-hook?token={url_token}", up.url);
    let (status, created) = c
        .admin(
            "POST",
            "/api/notifiers",
            Some(json!({"name": "pager", "kind": "webhook", "url": hook_url})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let hook_id = created["id"].as_str().unwrap().to_string();
    let secret = created["signingSecret"].as_str().expect("generated secret").to_string();
    assert!(secret.starts_with("whsec_") && secret.len() == 70, "{secret}");
    assert_eq!(created["urlHint"], format!("{}/…", up.url));
    assert_eq!(created["enabled"], true);
    assert_eq!(created["createdBy"], "test");
    let slack_url = format!("{}/hook/api-slack", up.url);
    let (status, slack) = c
        .admin(
            "POST",
            "/api/notifiers",
            Some(json!({"name": "ops-slack", "kind": "slack", "url": slack_url})),
        )
        .await;
    assert_eq!(status, 201, "{slack}");
    assert!(slack.get("signingSecret").is_none(), "{slack}");
    let slack_id = slack["id"].as_str().unwrap().to_string();
    let (_, sentinel) = c
        .admin(
            "POST",
            "/api/notifiers",
            Some(
                json!({"name": "sentinel", "kind": "webhook", "url": format!("{}/hook/sentinel", up.url),
                        "secret": "sentinel-secret-0123456789"}),
            ),
        )
        .await;
    assert!(
        sentinel.get("signingSecret").is_none(),
        "a given secret is not echoed: {sentinel}"
    );

    // Listed and shown without the URL or the secret; stored sealed.
    let (status, list) = c.admin("GET", "/api/notifiers", None).await;
    assert_eq!(status, 200);
    let names: Vec<_> = list["notifiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ops-slack", "pager", "sentinel"]);
    let (status, one) = c.admin("GET", &format!("/api/notifiers/{hook_id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(one["name"], "pager");
    for shown in [list.to_string(), one.to_string()] {
        assert!(
            !shown.contains(&secret) && !shown.contains(url_token) && !shown.contains("/hook/"),
            "{shown}"
        );
    }
    let rows =
        c.db.query("SELECT encode(sealed, 'hex') || ' ' || url_hint FROM notifiers")
            .await;
    assert_eq!(rows.len(), 3);
    for row in rows {
        let stored: String = row.get(0);
        for canary in [secret.as_str(), url_token, "/hook/"] {
            assert!(
                !stored.contains(canary) && !stored.contains(&hex::encode(canary)),
                "stored in the clear"
            );
        }
    }

    // The first approval reaches all three, the webhook signed with the generated secret.
    let id = c.create_http_target("api", &up.url, None).await;
    let (_, token) = c.create_token(&[&id]).await;
    let first = held_delete(&c, &token, "items/1").await;
    let hooks = wait_for_hooks(&up, "api-hook", 1).await;
    let event = verify_with(&hooks[0], &secret);
    assert_eq!(event["event"], "requested");
    assert_eq!(event["approval"]["id"], first.as_str());
    assert_eq!(
        hooks[0].received.query.as_deref(),
        Some(format!("token={url_token}").as_str())
    );
    let slack_msg: Value = serde_json::from_slice(&wait_for_hooks(&up, "api-slack", 1).await[0].body).unwrap();
    assert!(
        slack_msg["text"].as_str().unwrap().contains("DELETE /items/1"),
        "{slack_msg}"
    );
    verify_with(
        &wait_for_hooks(&up, "sentinel", 1).await[0],
        "sentinel-secret-0123456789",
    );

    // A regenerated secret signs from then on.
    let (status, changed) = c
        .admin(
            "PATCH",
            &format!("/api/notifiers/{hook_id}"),
            Some(json!({"regenerateSecret": true})),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    let secret2 = changed["signingSecret"].as_str().unwrap().to_string();
    assert_ne!(secret2, secret);
    assert_eq!(changed["urlHint"], format!("{}/…", up.url), "the URL is kept");
    let second = held_delete(&c, &token, "items/2").await;
    let hooks = wait_for_hooks(&up, "api-hook", 2).await;
    let event = verify_with(&hooks[1], &secret2);
    assert_eq!(event["approval"]["id"], second.as_str());
    wait_for_hooks(&up, "api-slack", 2).await;
    wait_for_hooks(&up, "sentinel", 2).await;

    // Disabled and deleted notifiers get nothing more; the sentinel shows the event went out.
    let (status, disabled) = c
        .admin(
            "PATCH",
            &format!("/api/notifiers/{slack_id}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!((status, &disabled["enabled"]), (200, &json!(false)), "{disabled}");
    let (status, _) = c.admin("DELETE", &format!("/api/notifiers/{hook_id}"), None).await;
    assert_eq!(status, 204);
    let (status, _) = c.admin("GET", &format!("/api/notifiers/{hook_id}"), None).await;
    assert_eq!(status, 404);
    let slack_before = up.controls.hook_attempts_to("api-slack");
    let third = held_delete(&c, &token, "items/3").await;
    let sentinel_hooks = wait_for_hooks(&up, "sentinel", 3).await;
    assert_eq!(
        verify_with(&sentinel_hooks[2], "sentinel-secret-0123456789")["approval"]["id"],
        third.as_str()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        up.controls.hook_attempts_to("api-hook"),
        2,
        "a deleted notifier was called"
    );
    assert_eq!(
        up.controls.hook_attempts_to("api-slack"),
        slack_before,
        "a disabled notifier was called"
    );

    // Enabled again, it takes new events (not the ones it missed).
    let (status, _) = c
        .admin(
            "PATCH",
            &format!("/api/notifiers/{slack_id}"),
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(status, 200);
    held_delete(&c, &token, "items/4").await;
    let slack_hooks = wait_for_hooks(&up, "api-slack", slack_before + 1).await;
    let text: Value = serde_json::from_slice(&slack_hooks.last().unwrap().body).unwrap();
    assert!(text["text"].as_str().unwrap().contains("DELETE /items/4"), "{text}");

    let logs = c.logs();
    assert!(!logs.contains(&secret) && !logs.contains(&secret2) && !logs.contains(url_token));
}

#[actix_web::test]
async fn bad_notifier_input_gets_a_stable_code() {
    let c = Cluster::up().await;
    let cases = [
        (
            json!({"name": "x", "kind": "email", "url": "https://h.example/"}),
            400,
            "invalid_kind",
        ),
        (
            json!({"name": "x", "kind": "webhook", "url": "ftp://h.example/"}),
            400,
            "invalid_url",
        ),
        (
            json!({"name": "x", "kind": "webhook", "url": "/relative"}),
            400,
            "invalid_url",
        ),
        (
            json!({"name": "Bad Name", "kind": "slack", "url": "https://h.example/"}),
            400,
            "invalid_name",
        ),
        (
            json!({"name": "x", "kind": "webhook", "url": "https://h.example/", "secret": "short"}),
            400,
            "invalid_secret",
        ),
        (
            json!({"name": "x", "kind": "slack", "url": "https://h.example/", "secret": "0123456789abcdef"}),
            400,
            "invalid_secret",
        ),
        (
            json!({"name": "webhook", "kind": "webhook", "url": "https://h.example/"}),
            409,
            "name_taken",
        ),
        (
            json!({"name": "x", "kind": "slack", "url": "https://h.example/", "bogus": 1}),
            400,
            "invalid_json",
        ),
    ];
    for (body, status, code) in cases {
        let (got, v) = c.admin("POST", "/api/notifiers", Some(body.clone())).await;
        assert_eq!((got, v["error"].as_str()), (status, Some(code)), "{body}: {v}");
    }
    let (status, made) = c
        .admin(
            "POST",
            "/api/notifiers",
            Some(json!({"name": "dup", "kind": "slack", "url": "https://h.example/s"})),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let (status, v) = c
        .admin(
            "POST",
            "/api/notifiers",
            Some(json!({"name": "dup", "kind": "slack", "url": "https://h.example/s"})),
        )
        .await;
    assert_eq!((status, v["error"].as_str()), (409, Some("name_taken")), "{v}");
    let path = format!("/api/notifiers/{}", made["id"].as_str().unwrap());
    for (body, code) in [
        (json!({"name": "other"}), "name_immutable"),
        (json!({"regenerateSecret": true}), "invalid_secret"),
        (json!({"url": "nope"}), "invalid_url"),
    ] {
        let (status, v) = c.admin("PATCH", &path, Some(body.clone())).await;
        assert_eq!((status, v["error"].as_str()), (400, Some(code)), "{body}: {v}");
    }
    let (status, v) = c.admin("GET", "/api/notifiers/not-an-id", None).await;
    assert_eq!((status, v["error"].as_str()), (400, Some("invalid_id")));
    let missing = format!("/api/notifiers/{}", uuid::Uuid::now_v7());
    let (status, _) = c.admin("DELETE", &missing, None).await;
    assert_eq!(status, 404);
    let (status, _) = c.admin("PATCH", &missing, Some(json!({"enabled": false}))).await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn an_approver_without_a_notifier_key_refuses_to_keep_notifiers() {
    let mut c = Cluster::prepare(&[]).await;
    c.start("approver", &[]);
    let (status, v) = c
        .admin(
            "POST",
            "/api/notifiers",
            Some(json!({"name": "x", "kind": "slack", "url": "https://h.example/s"})),
        )
        .await;
    assert_eq!(
        (status, v["error"].as_str()),
        (409, Some("notifier_key_missing")),
        "{v}"
    );
    assert!(
        c.logs().contains("SHELLGATE_NOTIFIER_KEY"),
        "the approver says what is missing"
    );
}

#[actix_web::test]
async fn approver_replicas_share_api_notifiers_and_deliver_each_event_once() {
    let up = Upstream::start();
    let key = secrecy::ExposeSecret::expose_secret(&shellgate_shared::crypto::NotifierKey::generate()).to_string();
    let mut c = Cluster::prepare(&[("SHELLGATE_NOTIFIER_KEY", key.as_str())]).await;
    c.start("gateway", &[]);
    c.start("executor", &[]);
    let first = c.start("approver", &[]);
    let second = c.start("approver", &[]);
    // Added through the first replica (`admin` talks to it); the second learns of it.
    let (status, made) = c
        .admin(
            "POST",
            "/api/notifiers",
            Some(
                json!({"name": "shared", "kind": "webhook", "url": format!("{}/hook/shared", up.url),
                        "secret": SECRET}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let id = c.create_http_target("api", &up.url, None).await;
    let (_, token) = c.create_token(&[&id]).await;
    for i in 0..4 {
        held_delete(&c, &token, &format!("items/{i}")).await;
    }
    wait_for_hooks(&up, "shared", 4).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        up.controls.hook_attempts_to("shared"),
        4,
        "an event was delivered twice"
    );

    // With the first replica gone, the second delivers.
    c.procs[first].kill();
    held_delete(&c, &token, "items/last").await;
    let hooks = wait_for_hooks(&up, "shared", 5).await;
    assert_eq!(verify(&hooks[4])["approval"]["request"]["path"], "/items/last");
    assert!(
        c.procs[second].logs().contains("approval notifications on"),
        "the second replica ran the notifier"
    );
}
