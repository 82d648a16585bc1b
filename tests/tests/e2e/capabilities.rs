//! Token capabilities and source-address allow-lists, enforced alike on REST, SSH and MCP: a
//! token without `http` cannot proxy (403 `capability_missing`) and does not even see
//! `api_request`; a token used from outside its `allowedCidrs` (the client as the trusted-proxy
//! setting resolves it) is refused everywhere with 403 `address_not_allowed`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shellgate_tests::Cluster;
use shellgate_tests::client::read_body;
use shellgate_tests::upstream::Upstream;

use crate::mcp::post_at;

async fn get(c: &Cluster, path: &str, token: &str, xff: Option<&str>) -> (u16, Value) {
    let mut req = c.http.agent("GET", &format!("{}{path}", c.gateway()), token);
    if let Some(x) = xff {
        req = req.insert_header(("x-forwarded-for", x));
    }
    let mut res = req.send().await.unwrap();
    let body = read_body(&mut res).await;
    (
        res.status().as_u16(),
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

fn rpc(method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
}

async fn tool_names(c: &Cluster, token: &str) -> Vec<String> {
    let (status, _, v) = post_at(c, &c.gateway(), Some(token), &[], &rpc("tools/list", json!({}))).await;
    assert_eq!(status, 200, "{v}");
    v["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

/// Polls `check` until it holds or a second has passed (changes reach gateways over NATS).
async fn within_a_second<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return true;
        }
        if start.elapsed() > Duration::from_secs(1) {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_web::test]
async fn capabilities_default_are_validated_and_enforced_on_rest_and_mcp() {
    let up = Upstream::start();
    let c = Cluster::up().await;
    let api = c.create_http_target("api", &up.url, None).await;

    // New tokens get the default set; GET shows it.
    let (_, plain) = c.create_token(&[&api]).await;
    let (s, v) = c.admin("GET", "/api/tokens", None).await;
    assert_eq!(s, 200);
    assert_eq!(
        v[0]["capabilities"],
        json!(["http", "ssh", "memory:read", "memory:write", "skills:read", "wiki:read"]),
        "{v}"
    );
    assert_eq!(v[0]["allowedCidrs"], json!([]));
    assert_eq!(get(&c, "/gateway/api/x", &plain, None).await.0, 200);

    for (body, code) in [
        (
            json!({"name": "t", "capabilities": ["http", "root"]}),
            "invalid_capability",
        ),
        (
            json!({"name": "t", "allowedCidrs": ["10.0.0.0/33"]}),
            "invalid_allowed_cidrs",
        ),
        (
            json!({"name": "t", "allowedCidrs": ["example.com"]}),
            "invalid_allowed_cidrs",
        ),
    ] {
        let (s, v) = c.admin("POST", "/api/tokens", Some(body)).await;
        assert_eq!((s, v["error"].as_str()), (400, Some(code)), "{v}");
    }

    // An SSH-only token: no proxying, no api_request.
    let (s, v) = c
        .admin(
            "POST",
            "/api/tokens",
            Some(json!({"name": "ssh-only", "targetIds": [api], "capabilities": ["ssh", "wiki:read", "ssh"]})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["capabilities"], json!(["ssh", "wiki:read"]), "kept once each: {v}");
    let (id, token) = (
        v["id"].as_str().unwrap().to_string(),
        v["token"].as_str().unwrap().to_string(),
    );
    let (s, v) = get(&c, "/gateway/api/x", &token, None).await;
    assert_eq!((s, v["error"].as_str()), (403, Some("capability_missing")), "{v}");
    let names = tool_names(&c, &token).await;
    assert!(
        !names.iter().any(|n| n == "api_request" || n == "api_download") && names.contains(&"ssh_exec".to_string()),
        "{names:?}"
    );
    let call = rpc(
        "tools/call",
        json!({"name": "api_request", "arguments": {"target": "api", "method": "GET", "path": "/"}}),
    );
    let (_, _, v) = post_at(&c, &c.gateway(), Some(&token), &[], &call).await;
    assert_eq!(v["error"]["code"], -32602, "refused like an unknown tool: {v}");
    let (_, boot) = get(&c, "/bootstrap", &token, None).await;
    assert_eq!(boot["token"]["capabilities"], json!(["ssh", "wiki:read"]), "{boot}");

    // Granting http reaches every gateway at once.
    let (s, v) = c
        .admin(
            "PATCH",
            &format!("/api/tokens/{id}"),
            Some(json!({"capabilities": ["http", "ssh"]})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(within_a_second(|| async { get(&c, "/gateway/api/x", &token, None).await.0 == 200 }).await);
    assert!(tool_names(&c, &token).await.contains(&"api_request".to_string()));
    assert_eq!(up.controls.requests.load(std::sync::atomic::Ordering::SeqCst), 2);

    let refused = c
        .wait_for_audit(&format!("tokenId={id}&outcome=refused"), 1, Duration::from_secs(10))
        .await;
    assert_eq!(refused[0]["errorCode"], "capability_missing", "{refused:?}");
}

#[actix_web::test]
async fn allowed_cidrs_judge_the_client_address_on_every_entry() {
    let up = Upstream::start();
    let c = Cluster::up_with(&[("SHELLGATE_TRUSTED_PROXIES", "127.0.0.1")]).await;
    let api = c.create_http_target("api", &up.url, None).await;
    let (s, v) = c
        .admin(
            "POST",
            "/api/tokens",
            Some(json!({"name": "office", "targetIds": [api], "allowedCidrs": ["10.1.2.3/8"]})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["allowedCidrs"], json!(["10.0.0.0/8"]), "normalised: {v}");
    let (id, token) = (
        v["id"].as_str().unwrap().to_string(),
        v["token"].as_str().unwrap().to_string(),
    );

    // From 127.0.0.1 itself (the trusted proxy, no forwarded client): refused everywhere.
    for path in [
        "/gateway/api/x",
        "/bootstrap",
        "/approvals/00000000-0000-0000-0000-000000000000",
    ] {
        let (s, v) = get(&c, path, &token, None).await;
        assert_eq!(
            (s, v["error"].as_str()),
            (403, Some("address_not_allowed")),
            "{path}: {v}"
        );
    }
    let (s, _, v) = post_at(&c, &c.gateway(), Some(&token), &[], &rpc("tools/list", json!({}))).await;
    assert_eq!((s, v["error"].as_str()), (403, Some("address_not_allowed")), "{v}");
    let ssh = c
        .http
        .agent("POST", &format!("{}/ssh/box/exec", c.gateway()), &token)
        .send_json(&json!({"command": "true"}))
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(ssh, 403);
    // A forwarded client inside the block passes (the proxy is trusted); outside it does not.
    assert_eq!(get(&c, "/gateway/api/x", &token, Some("10.9.8.7")).await.0, 200);
    assert_eq!(get(&c, "/gateway/api/x", &token, Some("192.168.0.1")).await.0, 403);
    // A client cannot forge its way in past the proxy's own entry.
    assert_eq!(
        get(&c, "/gateway/api/x", &token, Some("10.9.8.7, 192.168.0.1")).await.0,
        403
    );
    let xff = [("x-forwarded-for", "10.200.0.1")];
    let (s, _, v) = post_at(&c, &c.gateway(), Some(&token), &xff, &rpc("tools/list", json!({}))).await;
    assert_eq!(s, 200, "{v}");

    // Clearing the list lets any address use it again.
    let (s, _) = c
        .admin("PATCH", &format!("/api/tokens/{id}"), Some(json!({"allowedCidrs": []})))
        .await;
    assert_eq!(s, 200);
    assert!(within_a_second(|| async { get(&c, "/gateway/api/x", &token, None).await.0 == 200 }).await);
    let refused = c
        .wait_for_audit(&format!("tokenId={id}&outcome=refused"), 1, Duration::from_secs(10))
        .await;
    assert!(
        refused.iter().any(|e| e["errorCode"] == "address_not_allowed"),
        "{refused:?}"
    );
}
