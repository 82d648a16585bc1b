//! The MCP server on the gateway, spoken to as a client would over Streamable HTTP: stateless
//! (no session id, any revision's requests answered on their own), authenticated per request
//! like `/gateway`, Origin-checked, bounded, with `bootstrap` equal to `GET /bootstrap`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shellgate_tests::Cluster;
use shellgate_tests::client::read_body;

const LEGACY: [&str; 2] = ["2025-06-18", "2025-11-25"];
const SESSIONLESS: &str = "2026-07-28";
const ALL_TOOLS: [&str; 6] = [
    "bootstrap",
    "discover",
    "api_request",
    "api_download",
    "ssh_exec",
    "approval_status",
];

/// `GET /bootstrap` on the first gateway (200 expected): the JSON.
async fn rest_bootstrap(c: &Cluster, token: &str) -> Value {
    let mut res = c
        .http
        .agent("GET", &format!("{}/bootstrap", c.gateway()), token)
        .send()
        .await
        .unwrap();
    let body = read_body(&mut res).await;
    assert_eq!(res.status(), 200, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

/// One JSON-RPC POST to the first gateway's `/mcp`: (status, headers lower-cased, body).
async fn post(c: &Cluster, token: Option<&str>, extra: &[(&str, &str)], body: &Value) -> (u16, String, Value) {
    post_at(c, &c.gateway(), token, extra, body).await
}

/// `tools/call` of `tool` with `args` at gateway `gw` (2025-11-25, no session): the result.
pub(crate) async fn call_tool(c: &Cluster, gw: &str, token: &str, tool: &str, args: Value) -> Value {
    let call = rpc(7, "tools/call", json!({"name": tool, "arguments": args}));
    let (status, _, v) = post_at(c, gw, Some(token), &[("mcp-protocol-version", "2025-11-25")], &call).await;
    assert_eq!(status, 200, "{tool}: {v}");
    assert!(v.get("error").is_none(), "{tool}: protocol error {v}");
    v["result"].clone()
}

/// One JSON-RPC POST to `/mcp` of gateway `gw`: (status, headers lower-cased, body).
pub(crate) async fn post_at(
    c: &Cluster,
    gw: &str,
    token: Option<&str>,
    extra: &[(&str, &str)],
    body: &Value,
) -> (u16, String, Value) {
    let mut req = c
        .http
        .request("POST", &format!("{gw}/mcp"))
        .insert_header(("content-type", "application/json"))
        .insert_header(("accept", "application/json, text/event-stream"));
    if let Some(t) = token {
        req = req.insert_header(("authorization", format!("Bearer {t}")));
    }
    for (k, v) in extra {
        req = req.insert_header((*k, *v));
    }
    let mut res = req.send_body(body.to_string()).await.unwrap();
    let headers = res
        .headers()
        .iter()
        .map(|(k, v)| format!("{}: {}", k.as_str(), v.to_str().unwrap_or("")))
        .collect::<Vec<_>>()
        .join("\n")
        .to_ascii_lowercase();
    let bytes = read_body(&mut res).await;
    let value =
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (res.status().as_u16(), headers, value)
}

pub(crate) fn rpc(id: u64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// `_meta` every 2026-07-28 request carries instead of an `initialize` handshake.
fn meta() -> Value {
    json!({"io.modelcontextprotocol/protocolVersion": SESSIONLESS, "io.modelcontextprotocol/clientCapabilities": {}})
}

fn tool_names(list: &Value) -> Vec<String> {
    list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

#[actix_web::test]
async fn stateless_in_every_revision_with_bootstrap_equal_to_rest() {
    let c = Cluster::up().await;
    let api = c.create_http_target("api", "http://127.0.0.1:9/base", None).await;
    c.create_http_target("other", "http://127.0.0.1:9/", None).await;
    let (_, token) = c.create_token(&[&api]).await;

    let rest = rest_bootstrap(&c, &token).await;
    let slugs: Vec<&str> = rest["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["api"], "only granted targets: {rest}");
    assert_eq!(rest["targets"][0]["proxyPath"], "/gateway/api");
    assert_eq!(rest["targets"][0]["baseUrl"], "http://127.0.0.1:9/base");
    assert!(rest["policy"].as_str().unwrap().contains("approval_required"), "{rest}");
    assert!(rest.get("credential").is_none() && !rest.to_string().contains("sealed"));

    for version in LEGACY {
        let init = rpc(
            1,
            "initialize",
            json!({"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}),
        );
        let (status, headers, v) = post(&c, Some(&token), &[], &init).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["result"]["protocolVersion"], version, "{v}");
        assert_eq!(v["result"]["serverInfo"]["name"], "shellgate");
        assert!(v["result"]["instructions"].as_str().unwrap().contains("bootstrap"));
        assert!(!headers.contains("mcp-session-id"), "stateless: {headers}");
        let hv = [("mcp-protocol-version", version)];
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        assert_eq!(post(&c, Some(&token), &hv, &note).await.0, 202);
        // No session: the next request stands alone (as on another replica).
        let (status, _, list) = post(&c, Some(&token), &hv, &rpc(2, "tools/list", json!({}))).await;
        assert_eq!(status, 200, "{list}");
        assert_eq!(tool_names(&list), ALL_TOOLS);
        for tool in ["bootstrap", "discover"] {
            let (status, _, called) = post(
                &c,
                Some(&token),
                &hv,
                &rpc(3, "tools/call", json!({"name": tool, "arguments": {}})),
            )
            .await;
            assert_eq!(status, 200, "{called}");
            assert_eq!(called["result"]["isError"], false, "{called}");
            assert_eq!(
                called["result"]["structuredContent"], rest,
                "{tool} equals GET /bootstrap"
            );
        }
        let (_, _, unknown) = post(
            &c,
            Some(&token),
            &hv,
            &rpc(4, "tools/call", json!({"name": "rm_rf", "arguments": {}})),
        )
        .await;
        assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
    }

    // The sessionless revision: no handshake, each request names its method and carries _meta.
    let hv = [("mcp-protocol-version", SESSIONLESS), ("mcp-method", "tools/list")];
    let (status, headers, list) = post(&c, Some(&token), &hv, &rpc(5, "tools/list", json!({"_meta": meta()}))).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(tool_names(&list), ALL_TOOLS);
    assert!(!headers.contains("mcp-session-id"));
    let hv = [
        ("mcp-protocol-version", SESSIONLESS),
        ("mcp-method", "tools/call"),
        ("mcp-name", "bootstrap"),
    ];
    let call = rpc(
        6,
        "tools/call",
        json!({"_meta": meta(), "name": "bootstrap", "arguments": {}}),
    );
    let (status, _, called) = post(&c, Some(&token), &hv, &call).await;
    assert_eq!(status, 200, "{called}");
    assert_eq!(called["result"]["structuredContent"], rest);
}

#[actix_web::test]
async fn tokens_origins_hosts_and_sizes_are_checked_on_every_request() {
    let c = Cluster::up_with(&[
        ("SHELLGATE_MCP_ALLOWED_ORIGINS", "https://console.example.com"),
        ("SHELLGATE_MCP_MAX_REQUEST_BYTES", "4096"),
    ])
    .await;
    let api = c.create_http_target("api", "http://127.0.0.1:9/", None).await;
    let (token_id, token) = c.create_token(&[&api]).await;
    let list = rpc(1, "tools/list", json!({}));

    let (status, headers, v) = post(&c, None, &[], &list).await;
    assert_eq!((status, v["error"].as_str()), (401, Some("missing_token")), "{v}");
    assert!(headers.contains("www-authenticate: bearer"), "{headers}");
    let (status, headers, v) = post(&c, Some("sg_not_a_real_token"), &[], &list).await;
    assert_eq!((status, v["error"].as_str()), (401, Some("invalid_token")), "{v}");
    assert!(headers.contains("www-authenticate: bearer"));
    assert!(!headers.contains("resource_metadata"), "no OAuth metadata: {headers}");

    let (status, _, v) = post(&c, Some(&token), &[("origin", "https://evil.example")], &list).await;
    assert_eq!((status, v["error"].as_str()), (403, Some("origin_not_allowed")), "{v}");
    let (status, _, v) = post(&c, Some(&token), &[("origin", "https://console.example.com")], &list).await;
    assert_eq!(status, 200, "{v}");
    // Behind a load balancer the Host is the public name: any Host is served by default.
    let (status, _, v) = post(&c, Some(&token), &[("host", "mcp.example.com")], &list).await;
    assert_eq!(status, 200, "{v}");

    let big = rpc(
        2,
        "tools/call",
        json!({"name": "bootstrap", "arguments": {"pad": "x".repeat(8192)}}),
    );
    assert_eq!(post(&c, Some(&token), &[], &big).await.0, 413);

    // Revocation reaches MCP like /gateway: refused on a call within a second.
    let (s, _) = c.admin("DELETE", &format!("/api/tokens/{token_id}"), None).await;
    assert_eq!(s, 200);
    let revoked = Instant::now();
    loop {
        let (status, _, v) = post(&c, Some(&token), &[], &list).await;
        if status == 401 {
            assert_eq!(v["error"], "token_revoked", "{v}");
            break;
        }
        assert!(revoked.elapsed() < Duration::from_secs(1), "still served: {v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The organisation's policy: set by an admin, given to every agent with its bootstrap (REST and
/// MCP alike, at once), validated, and removed with an empty text.
#[actix_web::test]
async fn the_organisation_policy_reaches_every_bootstrap() {
    let c = Cluster::up().await;
    let (_, token) = c.create_token(&[]).await;
    let rest_bootstrap = || rest_bootstrap(&c, &token);
    assert_eq!(
        c.admin("GET", "/api/policy", None).await,
        (200, json!({"text": null, "updatedAt": null}))
    );
    assert_eq!(rest_bootstrap().await["organizationPolicy"], Value::Null);

    let text = "Never deploy on Fridays.\nAsk #ops before touching billing.";
    let (status, set) = c
        .admin("PUT", "/api/policy", Some(json!({"text": format!("  {text}\n")})))
        .await;
    assert_eq!((status, set["text"].as_str()), (200, Some(text)), "{set}");
    assert!(set["updatedAt"].is_string());
    assert_eq!(c.admin("GET", "/api/policy", None).await.1["text"], text);

    let rest = rest_bootstrap().await;
    assert_eq!(rest["organizationPolicy"], text);
    let policy = rest["policy"].as_str().unwrap();
    assert!(
        policy.contains("Shellgate adds each target's credentials") && policy.ends_with(&format!("{text}\n")),
        "{policy}"
    );
    let mcp = call_tool(&c, &c.gateway(), &token, "bootstrap", json!({})).await;
    assert_eq!(mcp["structuredContent"], rest, "{mcp}");

    // Bad input is refused with a stable code and changes nothing.
    for bad in [
        json!({"text": "x".repeat(16 * 1024 + 1)}),
        json!({"text": "bell\u{7}"}),
        json!({"text": "ok", "extra": 1}),
        json!({"text": 5}),
    ] {
        let (status, v) = c.admin("PUT", "/api/policy", Some(bad)).await;
        assert_eq!(status, 400, "{v}");
        assert!(v["error"] == "invalid_policy" || v["error"] == "invalid_json", "{v}");
    }
    assert_eq!(rest_bootstrap().await["organizationPolicy"], text);
    let res = c
        .http
        .request("GET", &format!("{}/api/policy", c.approver()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "reading the policy needs an admin key");

    // An empty text removes it.
    assert_eq!(
        c.admin("PUT", "/api/policy", Some(json!({"text": " "}))).await.1["text"],
        Value::Null
    );
    assert_eq!(rest_bootstrap().await["organizationPolicy"], Value::Null);
    assert!(
        !rest_bootstrap().await["policy"]
            .as_str()
            .unwrap()
            .contains("organisation")
    );
}
