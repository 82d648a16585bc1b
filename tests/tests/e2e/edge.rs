//! Findings of the outside attack run at the gateway's and approver's edges: path parameters that
//! hide dot segments, control characters and overlong encodings in queries, protocol upgrades,
//! path-override headers, request ids on every refusal, authentication before body parsing, and
//! out-of-range SSH ports. Requests go byte for byte over TCP where a client would normalise.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shellgate_tests::Cluster;
use shellgate_tests::upstream::Upstream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends `head` (a request line and headers, without the final blank line) and reads the answer
/// to its end: (status, head lines lower-cased, body).
async fn raw(base: &str, head: &str) -> (u16, String, String) {
    let addr = base.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(format!("{head}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "no complete answer within 10 s to {head:?}");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (headers, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = headers.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, headers.to_ascii_lowercase(), body.to_string())
}

fn code(body: &str) -> String {
    // Chunked or not, the JSON object is in there.
    let start = body.find('{').unwrap_or(0);
    let end = body.rfind('}').map_or(body.len(), |e| e + 1);
    serde_json::from_str::<Value>(&body[start..end]).unwrap_or_default()["error"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// An upstream, a cluster with an HTTP target `api` for it, and a token for that target.
async fn setup() -> (Upstream, Cluster, String) {
    let up = Upstream::start();
    let c = Cluster::up().await;
    let id = c.create_http_target("api", &up.url, None).await;
    let (_, token) = c.create_token(&[&id]).await;
    (up, c, token)
}

#[actix_web::test]
async fn path_parameters_queries_upgrades_and_override_headers() {
    let (up, c, token) = setup().await;
    let gw = c.gateway();
    let auth = format!("Host: x\r\nAuthorization: Bearer {token}");
    let refused = [
        ("/gateway/api/..;/admin", "unsafe_path_dot_segment"),
        ("/gateway/api/a/.;x/b", "unsafe_path_dot_segment"),
        ("/gateway/api/a/..%3b/b", "unsafe_path_dot_segment"),
        ("/gateway/api/a/..%253B/b", "unsafe_path_dot_segment"),
        ("/gateway/api/a/;x/b", "unsafe_path_empty_segment"),
        ("/gateway/api/x?q=%01", "unsafe_path_control_char"),
        ("/gateway/api/x?q=%1f", "unsafe_path_control_char"),
        ("/gateway/api/x?q=%7F", "unsafe_path_control_char"),
        ("/gateway/api/x?q=%09", "unsafe_path_control_char"),
        ("/gateway/api/x?q=%c0%ae%c0%ae", "unsafe_path_bad_encoding"),
        ("/gateway/api/x?q=%e0%80%ae", "unsafe_path_bad_encoding"),
    ];
    for (path, want) in refused {
        let (status, _, body) = raw(&gw, &format!("GET {path} HTTP/1.1\r\n{auth}")).await;
        assert_eq!((status, code(&body).as_str()), (400, want), "{path}: {body}");
    }
    assert_eq!(
        up.controls.requests.load(Ordering::SeqCst),
        0,
        "an unsafe request went upstream"
    );

    // Ordinary matrix parameters and non-UTF-8 query values still pass, as sent.
    for path in [
        "/gateway/api/a;jsessionid=x/b",
        "/gateway/api/q?name=Andr%E9&bin=%ff%fe",
    ] {
        let (status, _, body) = raw(&gw, &format!("GET {path} HTTP/1.1\r\n{auth}")).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    assert_eq!(up.controls.last().query.as_deref(), Some("name=Andr%E9&bin=%ff%fe"));

    // A WebSocket (or any) upgrade is refused at once, on both agent paths.
    for (method, path) in [("GET", "/gateway/api/socket"), ("POST", "/ssh/api/exec")] {
        let started = Instant::now();
        let (status, head, body) = raw(
            &gw,
            &format!(
                "{method} {path} HTTP/1.1\r\n{auth}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                 Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="
            ),
        )
        .await;
        assert_eq!(
            (status, code(&body).as_str()),
            (501, "upgrade_not_supported"),
            "{path}: {body}"
        );
        assert!(head.contains("x-shellgate-request-id: "), "{head}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{path}: {:?}",
            started.elapsed()
        );
    }

    // Path overrides that frameworks honour over the request line never reach the upstream.
    let before = up.controls.requests.load(Ordering::SeqCst);
    let (status, _, _) = raw(
        &gw,
        &format!(
            "GET /gateway/api/public HTTP/1.1\r\n{auth}\r\nX-Original-URL: /admin/delete\r\n\
             X-Rewrite-URL: /admin/delete\r\nX-Original-URI: /admin\r\nX-Custom: kept"
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(up.controls.requests.load(Ordering::SeqCst), before + 1);
    let seen = up.controls.last();
    for h in ["x-original-url", "x-rewrite-url", "x-original-uri"] {
        assert_eq!(seen.header(h), None, "{h} was forwarded");
    }
    assert_eq!(seen.header("x-custom"), Some("kept"));
}

#[actix_web::test]
async fn every_refusal_carries_a_request_id_and_the_admin_key_is_checked_first() {
    let (_up, c, token) = setup().await;
    let gw = c.gateway();
    let auth = format!("Host: x\r\nAuthorization: Bearer {token}");
    for (head, status) in [
        ("GET /nowhere HTTP/1.1\r\nHost: x".to_string(), 404),
        ("GET /gateway/API/x HTTP/1.1\r\nHost: x".to_string(), 404),
        ("GET /gateway/api/x HTTP/1.1\r\nHost: x".to_string(), 401),
        (
            "GET /gateway/api/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope".to_string(),
            401,
        ),
        (format!("GET /gateway/api/../x HTTP/1.1\r\n{auth}"), 400),
        (format!("GET /gateway/missing/x HTTP/1.1\r\n{auth}"), 404),
        (
            format!("POST /ssh/api/exec HTTP/1.1\r\n{auth}\r\nContent-Length: 2\r\n\r\n{{}}"),
            404,
        ),
    ] {
        let (got, headers, body) = raw(&gw, &head).await;
        assert_eq!(got, status, "{head}: {body}");
        let id_line = headers
            .lines()
            .find_map(|l| l.strip_prefix("x-shellgate-request-id: "))
            .unwrap_or_else(|| panic!("no request id on {head}: {headers}"));
        assert!(uuid::Uuid::parse_str(id_line.trim()).is_ok(), "{id_line}");
        assert!(!code(&body).is_empty(), "{head}: not a JSON error: {body}");
    }
    // The audit record of a refused request has the id its answer had.
    let (_, headers, _) = raw(&gw, &format!("GET /gateway/missing/y HTTP/1.1\r\n{auth}")).await;
    let rid = headers
        .lines()
        .find_map(|l| l.strip_prefix("x-shellgate-request-id: "))
        .unwrap()
        .trim()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !c
        .audit("outcome=refused")
        .await
        .iter()
        .any(|e| e["requestId"] == rid.as_str())
    {
        assert!(Instant::now() < deadline, "no audit record with request id {rid}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A well-formed but unknown admin key with a bad body: 401, not the body's schema errors.
    let unknown = format!("sga_{}", "ab".repeat(32));
    for (method, path, body) in [
        ("POST", "/api/tokens", "{\"nme\": 1}"),
        ("POST", "/api/targets", "not json"),
        ("PATCH", "/api/targets/not-an-id", "{}"),
    ] {
        let mut res = c
            .http
            .request(method, &format!("{}{path}", c.approver()))
            .insert_header(("authorization", format!("Bearer {unknown}")))
            .insert_header(("content-type", "application/json"))
            .send_body(body)
            .await
            .unwrap();
        let v: Value = res.json().await.unwrap();
        assert_eq!(res.status(), 401, "{method} {path}: {v}");
        assert_eq!(v["error"], "invalid_admin_key", "{v}");
    }
}

#[actix_web::test]
async fn ssh_ports_out_of_range_are_refused() {
    let c = Cluster::up().await;
    let body = |port: Value| json!({"name": "box", "kind": "ssh", "host": "127.0.0.1", "username": "u", "port": port});
    for port in [json!(0), json!(65536), json!(-1)] {
        let (status, v) = c.admin("POST", "/api/targets", Some(body(port.clone()))).await;
        assert_eq!(status, 400, "port {port}: {v}");
    }
    let (status, v) = c.admin("POST", "/api/targets", Some(body(json!(2222)))).await;
    assert_eq!(status, 201, "{v}");
    let id = v["id"].as_str().unwrap();
    let (status, v) = c
        .admin("PATCH", &format!("/api/targets/{id}"), Some(json!({"port": 0})))
        .await;
    assert_eq!((status, v["error"].as_str()), (400, Some("invalid_ssh_target")), "{v}");
    let (status, v) = c
        .admin(
            "PATCH",
            &format!("/api/targets/{id}"),
            Some(json!({"host": "-oProxyCommand=x"})),
        )
        .await;
    assert_eq!((status, v["error"].as_str()), (400, Some("invalid_ssh_target")), "{v}");
    let (_, v) = c.admin("GET", &format!("/api/targets/{id}"), None).await;
    assert_eq!(v["port"], 2222, "{v}");
}
