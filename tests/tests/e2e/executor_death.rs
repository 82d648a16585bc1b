//! An executor that dies mid-response ends the agent's response with an error, never a hang.

use std::time::{Duration, Instant};

use shellgate_tests::Cluster;
use shellgate_tests::upstream::Upstream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[actix_web::test]
async fn a_killed_executor_ends_the_stream_with_an_error() {
    let up = Upstream::start();
    let mut c = Cluster::prepare(&[]).await;
    c.start("approver", &[]);
    c.start("gateway", &[]);
    let executor = c.start("executor", &[]);
    let id = c.create_http_target("ticks", &up.url, None).await;
    let (token_id, token) = c.create_token(&[&id]).await;
    // Raw HTTP/1.1, so we see exactly how the response ends: a complete chunked body ends
    // with the last-chunk `0\r\n\r\n`; a cut one must not.
    let addr = c.gateway().trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let req = format!(
        "GET /gateway/ticks/ticks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    while String::from_utf8_lossy(&received).matches("data: tick").count() < 3 {
        let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "connection closed early");
        received.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&received).starts_with("HTTP/1.1 200"));
    c.procs[executor].kill();
    let killed = Instant::now();
    loop {
        match tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf)).await {
            Err(_) => panic!("the response hung after the executor died"),
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
    // Heartbeats are 200 ms in tests: the loss is noticed within about one of them.
    assert!(killed.elapsed() < Duration::from_secs(3), "took {:?}", killed.elapsed());
    let text = String::from_utf8_lossy(&received);
    assert!(
        !text.ends_with("0\r\n\r\n"),
        "a cut stream must not look complete: {text:?}"
    );
    let events = c
        .wait_for_audit(&format!("tokenId={token_id}"), 1, Duration::from_secs(10))
        .await;
    assert_eq!(events[0]["outcome"], "failed");
    assert_eq!(events[0]["errorCode"], "executor_lost");

    // With no executor left, new requests get 503 at once.
    let res = c
        .http
        .agent("GET", &format!("{}/gateway/ticks/x", c.gateway()), &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
}
