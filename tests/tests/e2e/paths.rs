//! Path safety through the real gateway, with requests sent byte for byte over TCP (no client
//! library normalises them first). None of them may reach the upstream.

use std::sync::atomic::Ordering;
use std::time::Duration;

use shellgate_tests::upstream::Upstream;
use shellgate_tests::{Cluster, raw_request};

#[actix_web::test]
async fn every_unsafe_path_class_is_refused() {
    let up = Upstream::start();
    let c = Cluster::up().await;
    let id = c.create_http_target("api", &up.url, None).await;
    let (token_id, token) = c.create_token(&[&id]).await;
    let gw = c.gateway();
    let cases = [
        ("/gateway/api/../../etc/passwd", "unsafe_path_dot_segment"),
        ("/gateway/api/a/%2e%2e/b", "unsafe_path_dot_segment"),
        ("/gateway/api/%252e%252e/admin", "unsafe_path_dot_segment"),
        ("/gateway/api/a/./b", "unsafe_path_dot_segment"),
        ("/gateway/api/a/%2F/b", "unsafe_path_empty_segment"),
        ("/gateway/api//evil.example.com/x", "unsafe_path_empty_segment"),
        ("/gateway/api/a\\..\\b", "unsafe_path_backslash"),
        ("/gateway/api/a%5c..%5cb", "unsafe_path_backslash"),
        ("/gateway/api/x/a%0d%0aInjected:%201", "unsafe_path_control_char"),
        ("/gateway/api/a%00b", "unsafe_path_control_char"),
        ("/gateway/api/a%zz", "unsafe_path_bad_encoding"),
        ("/gateway/api/%c0%ae%c0%ae/x", "unsafe_path_bad_encoding"),
        ("/gateway/api/@evil.example.com/x", "unsafe_path_host_change"),
        ("/gateway/api/http:%2F%2Fevil", "unsafe_path_host_change"),
        ("/gateway/api/%2525252525252e", "unsafe_path_encoding_layers"),
        ("/gateway/api/x?q=%0d%0a", "unsafe_path_control_char"),
    ];
    for (path, code) in cases {
        let raw = format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        );
        let (status, body) = raw_request(&gw, &raw).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains(code), "{path}: expected {code}, got {body}");
    }
    assert_eq!(
        up.controls.requests.load(Ordering::SeqCst),
        0,
        "an unsafe path reached the upstream"
    );
    // Safe paths with encodings still work, and keep their encoding upstream.
    let raw = format!(
        "GET /gateway/api/projects/group%2Fproject/users/@me HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    let (status, body) = raw_request(&gw, &raw).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(up.controls.last().path, "/projects/group%2Fproject/users/@me");
    let refused = c
        .wait_for_audit("outcome=refused", cases.len(), Duration::from_secs(10))
        .await;
    assert_eq!(refused.len(), cases.len());
    assert!(refused.iter().all(|e| e["status"] == 400));
    let _ = token_id;
}
