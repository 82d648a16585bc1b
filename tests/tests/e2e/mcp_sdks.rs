//! Real MCP clients — the official Python and TypeScript SDKs — against two gateway processes,
//! one client's consecutive requests alternating between them: every tool in every protocol
//! revision each SDK speaks, the whole approval flow, a revoked token, and a canary credential
//! that never comes back.

use std::sync::atomic::Ordering;

use serde_json::json;
use shellgate_tests::Cluster;
use shellgate_tests::sdk::{self, Sdk};
use shellgate_tests::sshd::Sshd;
use shellgate_tests::upstream::Upstream;

const CANARY: &str = "canary-sdk-credential-93c1d7";
const TOOLS: [&str; 6] = [
    "api_download",
    "api_request",
    "approval_status",
    "bootstrap",
    "discover",
    "ssh_exec",
];

/// The sum of a gateway's `shellgate_gateway_requests_total` (agent requests it served).
async fn agent_requests(c: &Cluster, gw: &str) -> f64 {
    let mut res = c.http.request("GET", &format!("{gw}/metrics")).send().await.unwrap();
    let text = String::from_utf8(res.body().limit(16 << 20).await.unwrap().to_vec()).unwrap();
    text.lines()
        .filter(|l| l.starts_with("shellgate_gateway_requests_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// An upstream, a cluster with two gateways, and the HTTP target `api` on the upstream (with the
/// canary credential): (upstream, cluster, gateway URLs, target id).
async fn two_gateways() -> (Upstream, Cluster, Vec<String>, String) {
    let up = Upstream::start();
    let mut c = Cluster::up().await;
    c.start("gateway", &[]);
    let gws = c.gateways();
    let api = c
        .create_http_target("api", &up.url, Some(json!({"type": "bearer", "token": CANARY})))
        .await;
    (up, c, gws, api)
}

#[actix_web::test]
async fn every_sdk_calls_every_tool_in_every_revision_it_speaks() {
    let (_up, c, gws, api) = two_gateways().await;
    let sshd = Sshd::start();
    let box_id = c.create_pinned_ssh_target(&sshd, "box").await;
    let (_, token) = c.create_token(&[&api, &box_id]).await;
    // A held request, for approval_status to report on.
    let held = crate::mcp::call_tool(
        &c,
        &gws[0],
        &token,
        "api_request",
        json!({"target": "api", "method": "DELETE", "path": "/items/1"}),
    )
    .await;
    let approval_id = held["structuredContent"]["approval_id"].as_str().unwrap().to_string();
    let plan = json!([
        {"tool": "bootstrap"},
        {"tool": "discover"},
        {"tool": "api_request", "args": {"target": "api", "method": "GET", "path": "/items", "query": {"q": "1"}}},
        {"tool": "api_download", "args": {"target": "api", "path": "/pixel.png"}},
        {"tool": "ssh_exec", "args": {"target": "box", "command": "echo hi"}},
        {"tool": "approval_status", "args": {"approval_id": approval_id}},
    ]);

    for client in Sdk::ALL {
        for revision in client.revisions() {
            let run = sdk::run(client, &gws, &token, revision, &plan);
            let out = &run.output;
            assert!(run.ok, "{out}");
            assert_eq!(run.negotiated, *revision, "{out}");
            assert_eq!(run.tools, TOOLS, "{out}");
            let r = &run.results;
            assert_eq!(r.len(), 6, "{out}");
            assert!(r.iter().all(|r| r["isError"] == false), "{out}");
            let slugs: Vec<&str> = r[0]["structuredContent"]["targets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["slug"].as_str().unwrap())
                .collect();
            assert_eq!(slugs, ["api", "box"], "{out}");
            assert_eq!(r[1]["structuredContent"], r[0]["structuredContent"], "{out}");
            assert_eq!(r[2]["structuredContent"]["status"], 200, "{out}");
            assert_eq!(r[2]["structuredContent"]["body"]["query"], "q=1", "{out}");
            assert_eq!(r[3]["content"][0]["type"], "image", "{out}");
            assert_eq!(r[3]["content"][0]["mimeType"], "image/png", "{out}");
            assert_eq!(r[4]["structuredContent"]["stdout"], "hi\n", "{out}");
            assert_eq!(r[4]["structuredContent"]["exitCode"], 0, "{out}");
            assert_eq!(r[5]["structuredContent"]["status"], "pending", "{out}");
            assert!(!out.contains(CANARY), "the credential reached a client: {out}");
        }
    }
    // The clients' requests really went to both gateways.
    for gw in &gws {
        assert!(agent_requests(&c, gw).await >= 3.0, "{gw} served no agent requests");
    }
    assert!(!c.logs().contains(CANARY), "the credential reached a log");
}

#[actix_web::test]
async fn the_approval_flow_and_revocation_through_each_sdk() {
    let (up, c, gws, api) = two_gateways().await;
    let count = || up.controls.requests.load(Ordering::SeqCst);
    for (client, revision) in [
        (Sdk::Python, "2026-07-28"),
        (Sdk::TypeScript1, "2025-11-25"),
        (Sdk::TypeScript2, "2026-07-28"),
    ] {
        let (token_id, token) = c.create_token(&[&api]).await;
        let delete = json!({"target": "api", "method": "DELETE", "path": "/items/7"});
        // Held: a normal result naming the approval; nothing reaches the upstream.
        let before = count();
        let run = sdk::run(
            client,
            &gws,
            &token,
            revision,
            &json!([{"tool": "api_request", "args": delete}]),
        );
        assert!(run.ok, "{}", run.output);
        let held = &run.results[0]["structuredContent"];
        assert_eq!(held["status"], "approval_required", "{}", run.output);
        let id = held["approval_id"].as_str().unwrap().to_string();
        assert_eq!(count(), before);
        // A human approves through the API.
        let (s, v) = c
            .admin("POST", &format!("/api/approvals/{id}/approve"), Some(json!({})))
            .await;
        assert_eq!(s, 200, "{v}");
        // The agent sees it approved, repeats the call: it runs once, and only once.
        let mut again = delete.clone();
        again["approval_id"] = json!(id);
        let plan = json!([
            {"tool": "approval_status", "args": {"approval_id": id, "wait_seconds": 5}},
            {"tool": "api_request", "args": again},
            {"tool": "api_request", "args": again},
        ]);
        let run = sdk::run(client, &gws, &token, revision, &plan);
        let r = &run.results;
        assert!(run.ok && r.len() == 3, "{}", run.output);
        assert_eq!(r[0]["structuredContent"]["status"], "approved", "{}", run.output);
        assert_eq!(r[1]["structuredContent"]["status"], 200, "{}", run.output);
        assert_eq!(r[2]["isError"], true, "{}", run.output);
        assert_eq!(r[2]["structuredContent"]["error"], "approval_used", "{}", run.output);
        assert_eq!(count(), before + 1);
        assert!(!run.output.contains(CANARY), "{}", run.output);

        // Revoked: the next request is refused with 401, whichever gateway gets it.
        let (s, v) = c.admin("DELETE", &format!("/api/tokens/{token_id}"), None).await;
        assert_eq!(s, 200, "{v}");
        let run = sdk::run(client, &gws, &token, revision, &json!([{"tool": "bootstrap"}]));
        assert!(!run.ok, "{}", run.output);
        assert_eq!(run.error["httpStatus"], 401, "{}", run.output);
        assert!(run.results.is_empty(), "{}", run.output);
    }
    assert!(!c.logs().contains(CANARY), "the credential reached a log");
}

/// The SDK programs' own failures are reported, not swallowed: an unknown tool is a protocol
/// error (exit 2), whatever the SDK.
#[actix_web::test]
async fn protocol_errors_reach_every_sdk() {
    let c = Cluster::up().await;
    let (_, token) = c.create_token(&[]).await;
    for client in Sdk::ALL {
        let revision = client.revisions()[client.revisions().len() - 1];
        let run = sdk::run(
            client,
            &[c.gateway()],
            &token,
            revision,
            &json!([{"tool": "no_such_tool"}]),
        );
        assert!(!run.ok, "{}", run.output);
        assert!(
            run.error.to_string().contains("no_such_tool") || run.error["code"] == -32602,
            "{}",
            run.output
        );
    }
}
