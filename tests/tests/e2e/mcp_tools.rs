//! The agent's MCP tools take exactly the REST path: credentials injected and never returned,
//! the guard's verdicts, the full approval flow (held → a human approves → `approval_status` →
//! the re-call runs once), and an audit record marked `via: "mcp"` — with one client's calls
//! alternating between two gateway processes.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};
use shellgate_tests::Cluster;
use shellgate_tests::sshd::{Sshd, user_key};
use shellgate_tests::upstream::Upstream;

use crate::mcp::call_tool;

const CANARY: &str = "canary-mcp-credential-5f1e9a";

fn structured(result: &Value) -> &Value {
    &result["structuredContent"]
}

#[actix_web::test]
async fn api_request_injects_guards_holds_for_a_human_and_audits() {
    let up = Upstream::start();
    let mut c = Cluster::up().await;
    c.start("gateway", &[]);
    let gws = c.gateways();
    assert_eq!(gws.len(), 2);
    let id = c
        .create_http_target("api", &up.url, Some(json!({"type": "bearer", "token": CANARY})))
        .await;
    let (token_id, token) = c.create_token(&[&id]).await;
    let count = || up.controls.requests.load(Ordering::SeqCst);

    // A GET with a query object: sent as the REST path would, credential added upstream.
    let r = call_tool(
        &c,
        &gws[0],
        &token,
        "api_request",
        json!({"target": "api", "method": "get", "path": "/items", "query": {"b": 2, "a": "x y"}}),
    )
    .await;
    assert_eq!(r["isError"], false, "{r}");
    let v = structured(&r);
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(v["body"]["path"], "/items");
    assert_eq!(v["body"]["query"], "a=x+y&b=2");
    assert_eq!(
        up.controls.last().header("authorization"),
        Some(format!("Bearer {CANARY}").as_str())
    );
    assert!(!r.to_string().contains(CANARY), "the credential came back: {r}");

    // A JSON body: compact with sorted keys (so a re-call is the same request), typed as JSON.
    let r = call_tool(
        &c,
        &gws[1],
        &token,
        "api_request",
        json!({"target": "api", "method": "POST", "path": "/items", "body": {"z": 1, "a": [true]}}),
    )
    .await;
    let v = structured(&r);
    assert_eq!(v["status"], 200, "{r}");
    assert_eq!(
        v["body"]["bodySha256"],
        shellgate_tests::sha256_hex(br#"{"a":[true],"z":1}"#)
    );
    assert_eq!(up.controls.last().header("content-type"), Some("application/json"));

    // A target the token may not use looks exactly like a missing one.
    let other = c.create_http_target("other", &up.url, None).await;
    assert!(!other.is_empty());
    for target in ["other", "nope"] {
        let r = call_tool(
            &c,
            &gws[0],
            &token,
            "api_request",
            json!({"target": target, "method": "GET", "path": "/"}),
        )
        .await;
        assert_eq!(r["isError"], true, "{r}");
        assert_eq!(structured(&r)["error"], "target_not_found", "{r}");
    }

    // DELETE needs a human: held, nothing sent upstream.
    let before = count();
    let delete = json!({"target": "api", "method": "DELETE", "path": "/items/1"});
    let r = call_tool(&c, &gws[0], &token, "api_request", delete.clone()).await;
    assert_eq!(r["isError"], false, "approval_required is a normal result: {r}");
    let held = structured(&r);
    assert_eq!(held["status"], "approval_required", "{r}");
    assert!(held["next_action"].as_str().unwrap().contains("approval_status"));
    let approval_id = held["approval_id"].as_str().unwrap().to_string();
    assert_eq!(count(), before);
    // Not yet decided: still pending after a short wait.
    let r = call_tool(
        &c,
        &gws[1],
        &token,
        "approval_status",
        json!({"approval_id": approval_id, "wait_seconds": 1}),
    )
    .await;
    assert_eq!(structured(&r)["status"], "pending", "{r}");
    // A human approves; the waiting status call answers at once.
    let waiter = {
        let (c2, gw, token, id) = (c.http.clone(), gws[1].clone(), token.clone(), approval_id.clone());
        actix_web::rt::spawn(async move {
            let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "approval_status", "arguments": {"approval_id": id, "wait_seconds": 30}}});
            let mut res = c2
                .agent("POST", &format!("{gw}/mcp"), &token)
                .insert_header(("content-type", "application/json"))
                .insert_header(("accept", "application/json, text/event-stream"))
                .send_body(call.to_string())
                .await
                .unwrap();
            serde_json::from_slice::<Value>(&res.body().await.unwrap()).unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (s, v) = c
        .admin(
            "POST",
            &format!("/api/approvals/{approval_id}/approve"),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let waited = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(waited["result"]["structuredContent"]["status"], "approved", "{waited}");
    // The same call with the approval runs once; again, it is used up.
    let mut again = delete.clone();
    again["approval_id"] = json!(approval_id);
    let r = call_tool(&c, &gws[0], &token, "api_request", again.clone()).await;
    assert_eq!(structured(&r)["status"], 200, "{r}");
    assert_eq!(count(), before + 1);
    let r = call_tool(&c, &gws[1], &token, "api_request", again).await;
    assert_eq!(
        (r["isError"].clone(), structured(&r)["error"].clone()),
        (json!(true), json!("approval_used")),
        "{r}"
    );
    assert_eq!(count(), before + 1);
    // Bound to the request: the approval does not open another path.
    let mut other_path = delete.clone();
    other_path["path"] = json!("/items/2");
    other_path["approval_id"] = json!(approval_id);
    let r = call_tool(&c, &gws[0], &token, "api_request", other_path).await;
    assert_eq!(r["isError"], true, "{r}");
    assert_eq!(count(), before + 1);

    // A blocked request is a tool error and never runs.
    let rule = json!({"kind": "http", "verdict": "block", "reason": "never touch danger", "match": [{"path": ["/danger/**"]}]});
    let (s, v) = c.admin("PUT", "/api/guard/rules/no-danger", Some(rule)).await;
    assert!(s == 200 || s == 201, "{v}");
    let mut blocked = Value::Null;
    for _ in 0..50 {
        blocked = call_tool(
            &c,
            &gws[1],
            &token,
            "api_request",
            json!({"target": "api", "method": "GET", "path": "/danger/x"}),
        )
        .await;
        if blocked["isError"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(structured(&blocked)["error"], "blocked", "{blocked}");
    assert!(
        structured(&blocked)["message"]
            .as_str()
            .unwrap()
            .contains("never touch danger")
    );

    // Audited like REST, marked as MCP, with the client's address.
    let held = c
        .wait_for_audit(
            &format!("tokenId={token_id}&outcome=approval_required"),
            1,
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(held[0]["detail"]["via"], "mcp", "{}", held[0]);
    assert_eq!(held[0]["detail"]["tool"], "api_request");
    assert_eq!(held[0]["clientIp"], "127.0.0.1");
    assert_eq!(held[0]["path"], "/gateway/api/items/1");
    let ran = c
        .wait_for_audit(
            &format!("tokenId={token_id}&outcome=allowed"),
            3,
            Duration::from_secs(10),
        )
        .await;
    assert!(ran.iter().all(|e| e["detail"]["via"] == "mcp"), "{ran:?}");
    assert!(!c.logs().contains(CANARY), "the credential reached a log");
}

#[actix_web::test]
async fn api_download_returns_images_as_images_and_other_files_as_resources() {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let up = Upstream::start();
    let c = Cluster::up().await;
    let id = c
        .create_http_target("files", &up.url, Some(json!({"type": "bearer", "token": CANARY})))
        .await;
    let (token_id, token) = c.create_token(&[&id]).await;
    let gw = c.gateway();
    let download = |args: Value| call_tool(&c, &gw, &token, "api_download", args);

    // An image: MCP image content, the bytes exactly.
    let r = download(json!({"target": "files", "path": "/pixel.png"})).await;
    assert_eq!(r["isError"], false, "{r}");
    assert_eq!(r["content"][0]["type"], "image", "{r}");
    assert_eq!(r["content"][0]["mimeType"], "image/png");
    assert_eq!(r["content"][0]["data"], b64(shellgate_tests::upstream::PIXEL_PNG));

    // Binary: an embedded resource in base64; JSON (with a query): an embedded text
    // resource, fetched with the credential injected.
    let r = download(json!({"target": "files", "path": "/binary/3000"})).await;
    let resource = &r["content"][0]["resource"];
    assert_eq!(r["content"][0]["type"], "resource", "{r}");
    assert_eq!(resource["mimeType"], "application/octet-stream");
    assert_eq!(resource["uri"], "shellgate://files/binary/3000");
    assert_eq!(resource["blob"], b64(&shellgate_tests::pattern(3000, 7)));
    let r = download(json!({"target": "files", "path": "/report.json?week=3"})).await;
    let resource = &r["content"][0]["resource"];
    assert_eq!(resource["mimeType"], "application/json", "{r}");
    let echoed: Value = serde_json::from_str(resource["text"].as_str().unwrap()).unwrap();
    assert_eq!(echoed["method"], "GET");
    assert_eq!(echoed["query"], "week=3");
    assert_eq!(
        up.controls.last().header("authorization"),
        Some(format!("Bearer {CANARY}").as_str())
    );
    assert!(!r.to_string().contains(CANARY), "the credential came back: {r}");

    // Over maxBytes: refused whole, never cut; a non-2xx answer is not a file.
    let r = download(json!({"target": "files", "path": "/binary/3000", "maxBytes": 2999})).await;
    assert_eq!(r["isError"], true, "{r}");
    assert_eq!(structured(&r)["error"], "download_too_large");
    let r = download(json!({"target": "files", "path": "/binary/3000", "maxBytes": 3000})).await;
    assert_eq!(r["isError"], false, "{r}");
    let r = download(json!({"target": "files", "path": "/redirect"})).await;
    assert_eq!(structured(&r)["error"], "download_failed", "{r}");
    assert_eq!(structured(&r)["status"], 302);

    // Bad arguments are a tool error the model can correct; an unknown target answers like REST.
    let call = crate::mcp::rpc(
        9,
        "tools/call",
        json!({"name": "api_download", "arguments": {"target": "files", "path": "no-slash"}}),
    );
    let (_, _, v) = crate::mcp::post_at(&c, &gw, Some(&token), &[("mcp-protocol-version", "2025-11-25")], &call).await;
    assert_eq!(v["result"]["isError"], true, "{v}");
    assert_eq!(v["result"]["structuredContent"]["error"], "invalid_arguments", "{v}");
    assert!(
        v["result"]["structuredContent"]["message"]
            .as_str()
            .unwrap()
            .contains("path must start with /"),
        "{v}"
    );
    let r = download(json!({"target": "nope", "path": "/x"})).await;
    assert_eq!(structured(&r)["error"], "target_not_found", "{r}");

    let rows = c
        .wait_for_audit(
            &format!("tokenId={token_id}&outcome=allowed"),
            6,
            Duration::from_secs(10),
        )
        .await;
    assert!(rows.iter().all(|e| e["detail"]["tool"] == "api_download"), "{rows:?}");
    assert!(!c.logs().contains(CANARY), "the credential reached a log");
}

#[actix_web::test]
async fn ssh_exec_runs_commands_like_rest_and_blocks_like_rest() {
    let sshd = Sshd::start();
    let c = Cluster::up().await;
    let (private, public) = user_key(sshd.dir.path(), "ed25519", None);
    sshd.authorize(&public);
    let id = c
        .create_ssh_target(&sshd, "box", json!({"type": "ssh_key", "privateKey": private}))
        .await;
    c.pin_host_key(&id, &sshd.host_key()).await;
    let (token_id, token) = c.create_token(&[&id]).await;
    let gw = c.gateway();

    let r = call_tool(
        &c,
        &gw,
        &token,
        "ssh_exec",
        json!({"target": "box", "command": "cat; echo \"[$GREETING]\"; exit 3", "stdin": "in\n", "env": {"GREETING": "hi"}}),
    )
    .await;
    assert_eq!(r["isError"], false, "{r}");
    let v = structured(&r);
    assert_eq!(v["exitCode"], 3, "{v}");
    assert_eq!(v["stdout"], "in\n[hi]\n");
    assert!(!r.to_string().contains("PRIVATE KEY"));

    // The REST body rules apply (same validation).
    let r = call_tool(
        &c,
        &gw,
        &token,
        "ssh_exec",
        json!({"target": "box", "command": "echo", "timeout": -1}),
    )
    .await;
    assert_eq!(r["isError"], true, "{r}");
    assert_eq!(structured(&r)["error"], "bad_timeout", "{r}");
    // Blocked: a tool error, nothing runs.
    let r = call_tool(
        &c,
        &gw,
        &token,
        "ssh_exec",
        json!({"target": "box", "command": "rm -rf / --no-preserve-root"}),
    )
    .await;
    assert_eq!(
        (r["isError"].clone(), structured(&r)["error"].clone()),
        (json!(true), json!("blocked")),
        "{r}"
    );

    let events = c
        .wait_for_audit(&format!("tokenId={token_id}&kind=ssh"), 3, Duration::from_secs(10))
        .await;
    assert!(events.len() >= 3, "{events:?}");
    assert!(
        events
            .iter()
            .all(|e| e["detail"]["via"] == "mcp" && e["detail"]["tool"] == "ssh_exec"),
        "{events:?}"
    );
    let ran = events.iter().find(|e| e["outcome"] == "allowed").unwrap();
    assert_eq!(ran["detail"]["command"], "cat; echo \"[$GREETING]\"; exit 3");
}
