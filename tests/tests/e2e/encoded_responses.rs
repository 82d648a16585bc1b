//! A hostile upstream that answers compressed although asked for `identity`, with the injected
//! credential inside: the agent gets the decoded body with the credential scrubbed, for every
//! coding and stacked codings, with the credential across chunk and window boundaries. And one
//! that echoes the credential base64- or hex-encoded: those forms are scrubbed too.

use serde_json::json;
use shellgate_tests::Cluster;
use shellgate_tests::upstream::{ENCODED_ECHO_OFFSETS, Upstream, credential_encodings, encode, encoded_echo_body};

struct Setup {
    _up: Upstream,
    c: Cluster,
    token: String,
    canary: String,
}

async fn setup(extra: &[(&str, &str)]) -> Setup {
    let up = Upstream::start();
    let c = Cluster::up_with(extra).await;
    let canary = format!("CANARY-{}", uuid::Uuid::new_v4().simple());
    let with = c
        .create_http_target("with", &up.url, Some(json!({"type": "bearer", "token": canary})))
        .await;
    let without = c.create_http_target("without", &up.url, None).await;
    let (_, token) = c.create_token(&[&with, &without]).await;
    Setup {
        _up: up,
        c,
        token,
        canary,
    }
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Result<Vec<u8>, String>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(self.body.as_ref().unwrap()).unwrap_or_default()
    }
}

async fn get(s: &Setup, method: &str, target: &str, query: &str) -> Answer {
    let url = format!("{}/gateway/{target}/encoded?{query}", s.c.gateway());
    let mut res = s.c.http.agent(method, &url, &s.token).send().await.unwrap();
    let headers = res
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let body = res
        .body()
        .limit(512 * 1024 * 1024)
        .await
        .map(|b| b.to_vec())
        .map_err(|e| e.to_string());
    Answer {
        status: res.status().as_u16(),
        headers,
        body,
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[actix_web::test]
async fn every_coding_is_decoded_and_scrubbed_before_the_agent_reads_it() {
    let s = setup(&[]).await;
    let auth = format!("Bearer {}", s.canary);
    let masked = format!("Bearer {}", "*".repeat(s.canary.len()));
    let expected = encoded_echo_body(masked.as_bytes());
    for (ce, piece) in [
        ("gzip", 1000),
        ("x-gzip", 7),
        ("deflate", 4096),
        ("br", 333),
        ("zstd", 65536),
        ("gzip,br", 1000),
        ("deflate,%20zstd", 100),
    ] {
        let a = get(&s, "GET", "with", &format!("ce={ce}&piece={piece}")).await;
        assert_eq!(a.status, 200, "{ce}: {:?}", a.body);
        let body = a.body.as_ref().unwrap();
        assert!(
            !contains(body, s.canary.as_bytes()),
            "{ce}: the credential reached the agent"
        );
        assert_eq!(body.len(), expected.len(), "{ce}");
        for at in ENCODED_ECHO_OFFSETS {
            assert_eq!(&body[at..at + masked.len()], masked.as_bytes(), "{ce} at {at}");
        }
        assert!(
            body == &expected,
            "{ce}: the decoded body differs beyond the credential"
        );
        // Decoded: no coding, no length promised, the tag weakened.
        assert_eq!(a.header("content-encoding"), None, "{ce}");
        assert_eq!(a.header("content-length"), None, "{ce}");
        assert_eq!(a.header("etag"), Some("W/\"v1\""), "{ce}");
    }
    // The upstream did get the credential (what it echoed is what was scrubbed).
    assert!(contains(&encoded_echo_body(auth.as_bytes()), s.canary.as_bytes()));
}

#[actix_web::test]
async fn encodings_that_cannot_be_scrubbed_are_refused_and_bodiless_answers_pass() {
    let s = setup(&[]).await;
    for query in ["ce=compress", "ce=gzip,%20lzma", "ce=gzip&status=206"] {
        let a = get(&s, "GET", "with", query).await;
        assert_eq!(a.status, 502, "{query}");
        assert_eq!(a.json()["error"], "upstream_encoding_unsupported", "{query}");
        assert!(!contains(a.body.as_ref().unwrap(), s.canary.as_bytes()));
    }
    // HEAD has no body to decode: the headers pass as they are.
    let a = get(&s, "HEAD", "with", "ce=gzip").await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-encoding"), Some("gzip"));
    assert_eq!(a.header("etag"), Some("\"v1\""));
    // A target without a credential has nothing to leak: its answers are forwarded untouched.
    let a = get(&s, "GET", "without", "ce=gzip&piece=100").await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-encoding"), Some("gzip"));
    assert_eq!(a.body.unwrap(), encode("gzip", &encoded_echo_body(b"")));
}

/// A raw HTTP/1.1 GET, read to the end: how a response ends shows whether it was cut.
async fn raw_get(s: &Setup, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = s.c.gateway().trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        s.token
    );
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(30), conn.read_to_end(&mut received)).await;
    assert!(read.is_ok(), "the response hung");
    String::from_utf8_lossy(&received).into_owned()
}

#[actix_web::test]
async fn decompression_bombs_and_oversized_bodies_are_cut_off() {
    let s = setup(&[("SHELLGATE_MAX_DECODED_RESPONSE_BYTES", "1000000")]).await;
    // 64 MiB of zeros in a few KiB of zstd is stopped by the ratio check; 2 MB of gzip by the
    // size limit. Either way the agent's response is cut: it never ends like a complete one.
    for query in ["ce=zstd&zeros=67108864&piece=65536", "ce=gzip&zeros=2000000"] {
        let text = raw_get(&s, &format!("/gateway/with/encoded?{query}")).await;
        assert!(
            text.starts_with("HTTP/1.1 200"),
            "{query}: {}",
            &text[..text.len().min(200)]
        );
        assert!(
            !text.ends_with("0\r\n\r\n"),
            "{query}: a cut stream must not look complete"
        );
        assert!(text.len() < 1_200_000, "{query}: {} bytes went out", text.len());
    }
    let events =
        s.c.wait_for_audit("kind=http", 2, std::time::Duration::from_secs(10))
            .await;
    let codes: Vec<_> = events
        .iter()
        .map(|e| e["errorCode"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(codes, ["upstream_response_too_large"; 2], "{events:?}");
    // Under the limit: whole.
    let a = get(&s, "GET", "with", "ce=gzip&zeros=900000").await;
    assert_eq!(a.body.unwrap(), vec![0u8; 900_000]);
}

#[actix_web::test]
async fn base64_and_hex_forms_of_the_credential_are_scrubbed() {
    let s = setup(&[]).await;
    let url = format!("{}/gateway/with/encodings", s.c.gateway());
    let mut res = s.c.http.agent("GET", &url, &s.token).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    let sent = credential_encodings(&s.canary);
    for (name, plain) in &sent {
        let got = body[name].as_str().unwrap();
        assert_eq!(got.len(), plain.len(), "{name}: the length is kept");
        assert_ne!(got, plain, "{name}: the credential's encoding reached the agent");
        // At most the two characters shared with a neighbouring byte at each end stay visible.
        let masked = got.chars().filter(|c| *c == '*').count();
        let encoded_len = if name.eq_ignore_ascii_case("hex") {
            plain.len()
        } else {
            s.canary.len() * 4 / 3
        };
        assert!(masked + 4 >= encoded_len, "{name}: {got}");
    }
}
