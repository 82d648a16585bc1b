//! The stream protocol against a real NATS server: loss is detected, flow control holds the
//! sender to its window, a vanished peer is noticed, and a completed stream is never taken for
//! a vanished one.
#![expect(clippy::expect_used, reason = "test helpers fail loudly")]

use std::time::Duration;

use async_nats::HeaderMap;
use bytes::Bytes;
use shellgate_shared::bus::stream::{Frame, H_KIND, H_SEQ, StreamError, link};
use shellgate_shared::config::StreamSettings;

fn nats_url() -> String {
    std::env::var("SHELLGATE_TEST_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

fn settings() -> StreamSettings {
    StreamSettings {
        chunk_bytes: 1024,
        window_bytes: 4096,
        heartbeat: Duration::from_millis(100),
        idle_timeout: Duration::from_secs(5),
    }
}

async fn client() -> async_nats::Client {
    async_nats::connect(nats_url()).await.expect("NATS on 127.0.0.1:4222")
}

fn frame_headers(kind: &str, seq: u64) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(H_KIND, kind);
    h.insert(H_SEQ, seq.to_string().as_str());
    h
}

#[tokio::test]
async fn a_lost_frame_ends_the_stream_with_an_error() {
    let nats = client().await;
    let (a, b) = (nats.new_inbox(), nats.new_inbox());
    let sub = nats.subscribe(a.clone()).await.unwrap();
    let _peer = nats.subscribe(b.clone()).await.unwrap();
    let (_tx, mut rx) = link(nats.clone(), settings(), sub, a.clone().into(), b.clone().into(), 0, 0);
    // Frames 0 and 1 arrive, frame 2 is "lost", frame 3 arrives.
    for seq in [0u64, 1, 3] {
        nats.publish_with_reply_and_headers(
            a.clone(),
            b.clone(),
            frame_headers("data", seq),
            Bytes::from(vec![b'x'; 10]),
        )
        .await
        .unwrap();
    }
    assert_eq!(rx.next().await, Some(Ok(Frame::Data(Bytes::from(vec![b'x'; 10])))));
    assert_eq!(rx.next().await, Some(Ok(Frame::Data(Bytes::from(vec![b'x'; 10])))));
    assert_eq!(rx.next().await, Some(Err(StreamError::Gap { expected: 2, got: 3 })));
    assert_eq!(rx.next().await, None, "nothing after an error");
}

#[tokio::test]
async fn the_sender_waits_for_the_receiver_within_its_window() {
    let nats = client().await;
    let (a, b) = (nats.new_inbox(), nats.new_inbox());
    let sub_a = nats.subscribe(a.clone()).await.unwrap();
    let sub_b = nats.subscribe(b.clone()).await.unwrap();
    let (mut tx, _rx_a) = link(
        nats.clone(),
        settings(),
        sub_a,
        a.clone().into(),
        b.clone().into(),
        0,
        0,
    );
    let (_tx_b, mut rx) = link(
        nats.clone(),
        settings(),
        sub_b,
        b.clone().into(),
        a.clone().into(),
        0,
        0,
    );
    // 16 KiB through a 4 KiB window: the sender cannot finish while nobody reads.
    let sending = tokio::spawn(async move {
        tx.send_data(Bytes::from(vec![7u8; 16 * 1024])).await.unwrap();
        tx.send(Frame::End).await.unwrap();
        tx
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!sending.is_finished(), "the sender ran past its window");
    let mut got = 0;
    loop {
        match rx.next().await {
            Some(Ok(Frame::Data(b))) => got += b.len(),
            Some(Ok(Frame::End)) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(got, 16 * 1024);
    let mut tx = tokio::time::timeout(Duration::from_secs(5), sending)
        .await
        .unwrap()
        .unwrap();
    // The final ack releases a lingering sender at once.
    tokio::time::timeout(Duration::from_secs(2), tx.linger())
        .await
        .expect("linger ends on the final ack");
}

#[tokio::test]
async fn a_vanished_peer_is_noticed_within_a_heartbeat() {
    let nats = client().await;
    let (a, b) = (nats.new_inbox(), nats.new_inbox());
    let sub_a = nats.subscribe(a.clone()).await.unwrap();
    let sub_b = nats.subscribe(b.clone()).await.unwrap();
    let (_tx, mut rx) = link(
        nats.clone(),
        settings(),
        sub_a,
        a.clone().into(),
        b.clone().into(),
        0,
        0,
    );
    drop(sub_b); // the peer's process is gone: its inbox has no subscriber
    let started = std::time::Instant::now();
    let got = tokio::time::timeout(Duration::from_secs(3), rx.next())
        .await
        .expect("noticed");
    assert_eq!(got, Some(Err(StreamError::PeerGone)));
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
}

#[tokio::test]
async fn complete_frames_round_trip() {
    let nats = client().await;
    let (a, b) = (nats.new_inbox(), nats.new_inbox());
    let sub_a = nats.subscribe(a.clone()).await.unwrap();
    let sub_b = nats.subscribe(b.clone()).await.unwrap();
    let (mut tx, _rx_a) = link(
        nats.clone(),
        settings(),
        sub_a,
        a.clone().into(),
        b.clone().into(),
        0,
        0,
    );
    let (_tx_b, mut rx) = link(
        nats.clone(),
        settings(),
        sub_b,
        b.clone().into(),
        a.clone().into(),
        0,
        0,
    );
    let head = shellgate_shared::bus::messages::ResponseHead {
        status: 201,
        headers: vec![("content-type".into(), "text/plain".into())],
        content_length: Some(5),
    };
    tx.send(Frame::Complete(head.clone(), Bytes::from_static(b"hello")))
        .await
        .unwrap();
    assert_eq!(
        rx.next().await,
        Some(Ok(Frame::Complete(head, Bytes::from_static(b"hello"))))
    );
    assert_eq!(rx.next().await, None);
}
