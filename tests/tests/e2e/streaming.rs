//! Streaming both ways: SSE without buffering, large binary bodies byte-exact.

use std::time::Duration;

use futures_util::StreamExt;
use shellgate_tests::client::read_body;
use shellgate_tests::upstream::Upstream;
use shellgate_tests::{Cluster, pattern, sha256_hex};

#[actix_web::test]
async fn sse_events_arrive_as_they_are_produced() {
    let up = Upstream::start();
    let c = Cluster::up().await;
    let id = c.create_http_target("llm", &up.url, None).await;
    let (_, token) = c.create_token(&[&id]).await;
    let mut res = c
        .http
        .agent("GET", &format!("{}/gateway/llm/sse", c.gateway()), &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers().get("content-type").unwrap(), "text/event-stream");
    // The upstream sends nothing after the first event until we release it: receiving it now
    // proves nothing on the way buffers.
    let first = tokio::time::timeout(Duration::from_secs(10), res.next())
        .await
        .expect("first event before the upstream finished")
        .expect("a chunk")
        .expect("no error");
    assert_eq!(&first[..], b"data: first\n\n");
    up.controls.release_sse.notify_one();
    let rest = read_body(&mut res).await;
    assert_eq!(String::from_utf8(rest).unwrap(), "data: second\n\ndata: [DONE]\n\n");
}

#[actix_web::test]
async fn a_64_mib_binary_body_round_trips_byte_exact_both_ways() {
    let up = Upstream::start();
    let c = Cluster::up().await;
    let id = c.create_http_target("blob", &up.url, None).await;
    let (token_id, token) = c.create_token(&[&id]).await;
    const N: usize = 64 * 1024 * 1024;
    let data = bytes::Bytes::from(pattern(N, 42));
    let want = sha256_hex(&data);

    // Upload with Content-Length; the upstream streams it straight back.
    let mut res = c
        .http
        .agent("POST", &format!("{}/gateway/blob/mirror", c.gateway()), &token)
        .send_body(data.clone())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers().get("x-received-content-length").unwrap(), &N.to_string());
    assert_eq!(res.headers().get("content-length").unwrap(), &N.to_string());
    let back = read_body(&mut res).await;
    if back.len() != N {
        tokio::time::sleep(Duration::from_secs(1)).await;
        eprintln!("AUDIT {:?}", c.audit("").await);
        for l in c.logs().lines().filter(|l| l.contains("WARN") || l.contains("ERROR")) {
            eprintln!("LOG {l}");
        }
    }
    assert_eq!(back.len(), N);
    assert_eq!(sha256_hex(&back), want);

    // Chunked upload (no Content-Length) stays chunked.
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = (0..N / (1 << 20))
        .map(|i| Ok(data.slice(i << 20..(i + 1) << 20)))
        .collect();
    let mut res = c
        .http
        .agent("POST", &format!("{}/gateway/blob/mirror", c.gateway()), &token)
        .send_stream(futures_util::stream::iter(chunks))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers().get("x-received-content-length").unwrap(), "none");
    assert_eq!(sha256_hex(&read_body(&mut res).await), want);

    // Download.
    let mut res = c
        .http
        .agent("GET", &format!("{}/gateway/blob/binary/{N}", c.gateway()), &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let got = read_body(&mut res).await;
    assert_eq!(got.len(), N);
    assert_eq!(sha256_hex(&got), sha256_hex(&pattern(N, 7)));

    let events = c
        .wait_for_audit(&format!("tokenId={token_id}"), 3, Duration::from_secs(10))
        .await;
    let by_path = |p: &str| {
        events
            .iter()
            .find(|e| e["path"].as_str().unwrap_or_default().ends_with(p))
            .cloned()
            .unwrap()
    };
    assert_eq!(by_path("/binary/67108864")["bytesOut"], N as u64);
    assert!(events.iter().filter(|e| e["bytesIn"] == N as u64).count() == 2);
}
