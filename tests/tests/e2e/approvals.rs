//! The guard and human approvals on the HTTP path: dangerous requests wait for a person,
//! approvals are single-use, bound to the exact request and token, expire, and no agent can
//! approve itself.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use shellgate_tests::Cluster;
use shellgate_tests::client::read_body;
use shellgate_tests::upstream::Upstream;

struct Setup {
    up: Upstream,
    c: Cluster,
    token_id: String,
    token: String,
    target_id: String,
}

async fn setup(extra: &[(&str, &str)]) -> Setup {
    let up = Upstream::start();
    let c = Cluster::up_with(extra).await;
    let target_id = c.create_http_target("api", &up.url, None).await;
    let (token_id, token) = c.create_token(&[&target_id]).await;
    Setup {
        up,
        c,
        token_id,
        token,
        target_id,
    }
}

/// Sends an agent request; returns status and JSON body (Null when not JSON).
async fn send(s: &Setup, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Value) {
    let mut req =
        s.c.http
            .agent(method, &format!("{}/gateway/api{path}", s.c.gateway()), &s.token);
    for (k, v) in headers {
        req = req.insert_header((*k, *v));
    }
    let mut res = req.send_body(body.to_vec()).await.unwrap();
    let status = res.status().as_u16();
    let bytes = read_body(&mut res).await;
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn upstream_count(s: &Setup) -> usize {
    s.up.controls.requests.load(Ordering::SeqCst)
}

#[actix_web::test]
async fn a_dangerous_request_waits_for_a_human_then_runs_exactly_once() {
    let s = setup(&[]).await;
    let (status, held) = send(&s, "DELETE", "/items/1", &[], b"").await;
    assert_eq!(status, 202, "{held}");
    assert_eq!(held["status"], "approval_required");
    assert!(held["reason"].is_string());
    let id = held["approval_id"].as_str().unwrap().to_string();
    assert_eq!(held["poll_url"], format!("/approvals/{id}"));
    assert!(held["expires_at"].is_string());
    assert_eq!(held["request"]["method"], "DELETE");
    assert_eq!(upstream_count(&s), 0, "nothing ran yet");

    // The agent sees it pending; its own header cannot approve it.
    let mut res =
        s.c.http
            .agent("GET", &format!("{}/approvals/{id}", s.c.gateway()), &s.token)
            .send()
            .await
            .unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "pending");
    let (status, v) = send(&s, "DELETE", "/items/1", &[("x-shellgate-approval", &id)], b"").await;
    assert_eq!((status, v["error"].as_str()), (403, Some("approval_pending")));

    let (status, decided) =
        s.c.admin(
            "POST",
            &format!("/api/approvals/{id}/approve"),
            Some(json!({"comment": "ok, ticket 42"})),
        )
        .await;
    assert_eq!(status, 200, "{decided}");
    assert_eq!(decided["status"], "approved");
    assert!(decided["decidedBy"].as_str().unwrap().contains("test"));

    let (status, _) = send(&s, "DELETE", "/items/1", &[("x-shellgate-approval", &id)], b"").await;
    assert_eq!(status, 200);
    assert_eq!(upstream_count(&s), 1);
    assert_eq!(s.up.controls.last().method, "DELETE");
    // Single use.
    let (status, v) = send(&s, "DELETE", "/items/1", &[("x-shellgate-approval", &id)], b"").await;
    assert_eq!((status, v["error"].as_str()), (403, Some("approval_used")));
    assert_eq!(upstream_count(&s), 1);

    let events =
        s.c.wait_for_audit(&format!("tokenId={}", s.token_id), 6, Duration::from_secs(10))
            .await;
    let outcomes: Vec<&str> = events.iter().map(|e| e["outcome"].as_str().unwrap()).collect();
    for want in ["approval_required", "approved", "allowed", "refused"] {
        assert!(outcomes.contains(&want), "{want} missing from {outcomes:?}");
    }
    let approved = events.iter().find(|e| e["outcome"] == "approved").unwrap();
    assert_eq!(approved["detail"]["approvalId"], id.as_str());
    assert!(approved["detail"]["decidedBy"].as_str().unwrap().contains("test"));
    let ran = events.iter().find(|e| e["outcome"] == "allowed").unwrap();
    assert_eq!(ran["detail"]["approvalId"], id.as_str());
    assert_eq!(ran["detail"]["verdict"], "approve");
    assert!(ran["detail"]["rule"].is_string());
    // The decision is recorded once, as the approval's event, not again as an admin change.
    let admin = s.c.audit("kind=admin").await;
    assert!(
        admin
            .iter()
            .all(|e| !e["path"].as_str().unwrap_or_default().contains(&id)),
        "{admin:?}"
    );
    assert!(admin.iter().any(|e| e["path"] == "/api/tokens"), "{admin:?}");
}

#[actix_web::test]
async fn denied_mismatched_and_foreign_approvals_are_refused() {
    let s = setup(&[]).await;
    let (_, held) = send(&s, "DELETE", "/items/1", &[], b"payload-a").await;
    let id = held["approval_id"].as_str().unwrap().to_string();
    s.c.admin("POST", &format!("/api/approvals/{id}/approve"), None).await;
    // Same approval, another request: path, body or method differ.
    for (method, path, body) in [
        ("DELETE", "/items/2", b"payload-a".as_slice()),
        ("DELETE", "/items/1", b"payload-b"),
    ] {
        let (status, v) = send(&s, method, path, &[("x-shellgate-approval", &id)], body).await;
        assert_eq!(
            (status, v["error"].as_str()),
            (403, Some("approval_mismatch")),
            "{method} {path}"
        );
    }
    // Another token cannot use it (it looks missing).
    let (_, other) = s.c.create_token(&[&s.target_id]).await;
    let mut res =
        s.c.http
            .agent("DELETE", &format!("{}/gateway/api/items/1", s.c.gateway()), &other)
            .insert_header(("x-shellgate-approval", id.as_str()))
            .send_body("payload-a")
            .await
            .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "approval_not_found");
    assert_eq!(upstream_count(&s), 0);
    // The right request still works, once.
    let (status, _) = send(&s, "DELETE", "/items/1", &[("x-shellgate-approval", &id)], b"payload-a").await;
    assert_eq!(status, 200);

    // Denied.
    let (_, held) = send(&s, "DELETE", "/items/9", &[], b"").await;
    let id = held["approval_id"].as_str().unwrap().to_string();
    let (status, v) =
        s.c.admin(
            "POST",
            &format!("/api/approvals/{id}/deny"),
            Some(json!({"comment": "no"})),
        )
        .await;
    assert_eq!((status, v["status"].as_str()), (200, Some("denied")));
    let (status, v) = s.c.admin("POST", &format!("/api/approvals/{id}/approve"), None).await;
    assert_eq!((status, v["error"].as_str()), (409, Some("approval_not_pending")));
    let (status, v) = send(&s, "DELETE", "/items/9", &[("x-shellgate-approval", &id)], b"").await;
    assert_eq!((status, v["error"].as_str()), (403, Some("approval_denied")));
    assert_eq!(upstream_count(&s), 1);
    let (status, v) = send(&s, "DELETE", "/items/9", &[("x-shellgate-approval", "nope")], b"").await;
    assert_eq!((status, v["error"].as_str()), (400, Some("invalid_approval_id")));
}

#[actix_web::test]
async fn approvals_expire_on_time_and_are_reported_as_expired() {
    let s = setup(&[("SHELLGATE_APPROVAL_TTL_SECS", "1")]).await;
    let (_, held) = send(&s, "DELETE", "/items/1", &[], b"").await;
    let id = held["approval_id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (status, v) = s.c.admin("GET", &format!("/api/approvals/{id}"), None).await;
    assert_eq!((status, v["status"].as_str()), (200, Some("expired")));
    let (status, v) = s.c.admin("POST", &format!("/api/approvals/{id}/approve"), None).await;
    assert_eq!((status, v["error"].as_str()), (409, Some("approval_expired")));
    let (status, v) = send(&s, "DELETE", "/items/1", &[("x-shellgate-approval", &id)], b"").await;
    assert_eq!((status, v["error"].as_str()), (403, Some("approval_expired")));
    // The sweeper recorded the expiry even though nobody looked in time.
    let rows =
        s.c.db
            .query(&format!("SELECT status FROM approvals WHERE id = '{id}'"))
            .await;
    assert_eq!(rows[0].get::<_, String>(0), "expired");
    let expired = s.c.wait_for_audit("outcome=expired", 1, Duration::from_secs(10)).await;
    assert_eq!(expired[0]["detail"]["approvalId"], id.as_str());
    assert_eq!(upstream_count(&s), 0);
}

#[actix_web::test]
async fn the_agents_own_approval_header_counts_only_under_agent_confirm() {
    let s = setup(&[]).await;
    let (status, held) = send(&s, "DELETE", "/items/1", &[("x-shellgate-approved", "true")], b"").await;
    assert_eq!(status, 202, "ignored under the default policy: {held}");
    assert_eq!(upstream_count(&s), 0);
    let events =
        s.c.wait_for_audit("outcome=approval_required", 1, Duration::from_secs(10))
            .await;
    assert_eq!(events[0]["detail"]["ignoredAgentApproval"], true);
    let (status, _) =
        s.c.admin(
            "PATCH",
            &format!("/api/tokens/{}", s.token_id),
            Some(json!({"approvalPolicy": "agent_confirm"})),
        )
        .await;
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let (status, _) = send(&s, "DELETE", "/items/1", &[("x-shellgate-approved", "true")], b"").await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "agent_confirm not honoured");
    }
    assert_eq!(upstream_count(&s), 1);
    let (status, v) =
        s.c.admin(
            "PATCH",
            &format!("/api/tokens/{}", s.token_id),
            Some(json!({"approvalPolicy": "nobody"})),
        )
        .await;
    assert_eq!((status, v["error"].as_str()), (400, Some("invalid_approval_policy")));
}

#[actix_web::test]
async fn waiting_agents_and_dashboards_hear_of_decisions_at_once() {
    let s = setup(&[]).await;
    // A dashboard's live stream.
    let mut stream =
        s.c.http
            .request("GET", &format!("{}/api/approvals/stream", s.c.approver()))
            .insert_header(("authorization", format!("Bearer {}", s.c.admin_key)))
            .send()
            .await
            .unwrap();
    assert_eq!(stream.status(), 200);
    let first = stream.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("subscribed"));

    let (_, held) = send(&s, "DELETE", "/items/1", &[], b"").await;
    // The event is published before the 202 is sent: measure the fan-out (NATS → approver →
    // the dashboard's stream) from the moment the agent has its answer.
    let started = Instant::now();
    let id = held["approval_id"].as_str().unwrap().to_string();
    let mut seen = String::new();
    while !seen.contains("event: requested") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let elapsed = started.elapsed();
    assert!(seen.contains(&id));
    assert!(
        elapsed < Duration::from_millis(100),
        "dashboard heard after {elapsed:?}"
    );

    // A long-polling agent returns as soon as the decision is published.
    let url = format!("{}/approvals/{id}?wait=30", s.c.gateway());
    let http = s.c.http.clone();
    let token = s.token.clone();
    let poll = actix_web::rt::spawn(async move {
        let started = Instant::now();
        let mut res = http.agent("GET", &url, &token).send().await.unwrap();
        let v: Value = res.json().await.unwrap();
        (v, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let decided_at = Instant::now();
    s.c.admin("POST", &format!("/api/approvals/{id}/approve"), None).await;
    let (v, waited) = poll.await.unwrap();
    assert_eq!(v["status"], "approved");
    assert!(
        waited >= Duration::from_millis(450),
        "it waited for the decision: {waited:?}"
    );
    assert!(decided_at.elapsed() < Duration::from_secs(2), "returned promptly");

    // Synchronous mode: the original request is held until a human decides, then runs.
    let url = format!("{}/gateway/api/items/2", s.c.gateway());
    let http = s.c.http.clone();
    let token = s.token.clone();
    let held_request = actix_web::rt::spawn(async move {
        let res = http
            .agent("DELETE", &url, &token)
            .insert_header(("x-shellgate-wait", "30"))
            .send()
            .await
            .unwrap();
        res.status().as_u16()
    });
    let mut requested = None;
    for _ in 0..50 {
        let (_, pending) = s.c.admin("GET", "/api/approvals?status=pending", None).await;
        if let Some(a) = pending.as_array().and_then(|a| a.first()) {
            requested = Some(a["id"].as_str().unwrap().to_string());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pending_id = requested.expect("a pending approval");
    s.c.admin("POST", &format!("/api/approvals/{pending_id}/approve"), None)
        .await;
    assert_eq!(held_request.await.unwrap(), 200);
    assert_eq!(upstream_count(&s), 1);
}

#[actix_web::test]
async fn admin_rules_block_or_relax_and_a_block_never_runs() {
    let s = setup(&[]).await;
    // A global rule: anything under /danger is blocked.
    let rule = json!({"kind": "http", "verdict": "block", "reason": "never touch danger", "match": [{"path": ["/danger/**"]}]});
    let (status, v) = s.c.admin("PUT", "/api/guard/rules/no-danger", Some(rule)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["rule"]["id"], "no-danger");
    let (_, listed) = s.c.admin("GET", "/api/guard/rules", None).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    // Applied on every gateway within a second of the change.
    let deadline = Instant::now() + Duration::from_secs(1);
    let (status, v) = loop {
        let (status, v) = send(&s, "GET", "/danger/zone", &[], b"").await;
        if status == 403 || Instant::now() > deadline {
            break (status, v);
        }
    };
    assert_eq!((status, v["error"].as_str()), (403, Some("blocked")), "{v}");
    assert_eq!(v["message"], "never touch danger");
    // Nothing makes it run: not the agent's own approval (even under agent_confirm), not an
    // approval id.
    s.c.admin(
        "PATCH",
        &format!("/api/tokens/{}", s.token_id),
        Some(json!({"approvalPolicy": "agent_confirm"})),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for headers in [
        vec![("x-shellgate-approved", "true")],
        vec![("x-shellgate-approval", "01a21380-883f-71c8-b635-67a85eb2cb28")],
    ] {
        let (status, v) = send(&s, "GET", "/danger/zone", &headers, b"").await;
        assert_eq!((status, v["error"].as_str()), (403, Some("blocked")), "{headers:?}");
    }
    assert_eq!(upstream_count(&s), 0, "a blocked request reached the upstream");
    let blocked = s.c.wait_for_audit("outcome=blocked", 3, Duration::from_secs(10)).await;
    assert_eq!(blocked[0]["detail"]["rule"], "no-danger");

    // A target's own rule can relax the built-in DELETE approval for that target only.
    let (_, other) =
        s.c.admin(
            "POST",
            "/api/targets",
            Some(json!({"name": "other", "baseUrl": s.up.url})),
        )
        .await;
    let other_id = other["id"].as_str().unwrap().to_string();
    let (status, v) =
        s.c.admin(
            "PUT",
            &format!("/api/targets/{}/guard/rules/http_delete", s.target_id),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    s.c.admin(
        "POST",
        &format!("/api/tokens/{}/permissions", s.token_id),
        Some(json!({"targetId": other_id})),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _) = send(&s, "DELETE", "/items/1", &[("x-shellgate-approved", "false")], b"").await;
    assert_eq!(status, 200, "DELETE runs on the relaxed target");
    let mut res =
        s.c.http
            .agent("DELETE", &format!("{}/gateway/other/items/1", s.c.gateway()), &s.token)
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), 202, "{:?}", res.body().await);

    // Bad rules are refused with the reason; deleting restores the built-in behaviour.
    let (status, v) =
        s.c.admin(
            "PUT",
            "/api/guard/rules/bad",
            Some(json!({"kind": "http", "verdict": "maybe"})),
        )
        .await;
    assert_eq!((status, v["error"].as_str()), (400, Some("invalid_rule")));
    let (status, _) =
        s.c.admin(
            "DELETE",
            &format!("/api/targets/{}/guard/rules/http_delete", s.target_id),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = s.c.admin("DELETE", "/api/guard/rules/nope", None).await;
    assert_eq!(status, 404);
    let (status, builtin) = s.c.admin("GET", "/api/guard/builtin", None).await;
    assert_eq!(status, 200);
    assert!(builtin.as_array().unwrap().iter().any(|r| r["id"] == "http_delete"));
}

/// A query body nested deep enough to overflow a recursive parser's stack (which aborted the
/// gateway) is held as unreadable, and the gateway goes on serving.
#[actix_web::test]
async fn a_nested_graphql_bomb_is_held_and_the_gateway_survives() {
    let up = Upstream::start();
    let c = Cluster::up().await;
    let (s, t) = c
        .admin(
            "POST",
            "/api/targets",
            Some(json!({"name": "gql", "slug": "gql", "baseUrl": up.url, "queryApi": "graphql"})),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    let (_, token) = c.create_token(&[t["id"].as_str().unwrap()]).await;
    let bomb =
        json!({"query": format!("mutation {}{{ deleteUser(id: 1) }}{}", "{ ... ".repeat(20_000), " }".repeat(20_000))});
    let url = format!("{}/gateway/gql/graphql", c.gateway());
    let sent = c.http.agent("POST", &url, &token).send_json(&bomb).await;
    let mut res = sent.unwrap_or_else(|e| panic!("{e}: {}", c.logs()));
    let v: Value = serde_json::from_slice(&read_body(&mut res).await).unwrap_or(Value::Null);
    assert_eq!(res.status().as_u16(), 202, "{v}");
    let approval = c.held_approval(&v).await;
    assert_eq!(approval["rule"], "http_opaque_body", "{approval}");
    assert_eq!(up.controls.requests.load(Ordering::SeqCst), 0);
    let (status, _) = c.agent_get(&format!("{}/gateway/gql/ok", c.gateway()), &token).await;
    assert_eq!(status, 200);
}
