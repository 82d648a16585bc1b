//! HTTP clients for tests: awc for normal requests, raw TCP for paths no client would send.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An awc client that returns redirects and compressed bodies as they are.
#[derive(Clone)]
pub struct Client {
    pub inner: awc::Client,
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    pub fn new() -> Self {
        Self {
            inner: awc::Client::builder()
                .disable_redirects()
                .timeout(Duration::from_secs(120))
                // Shorter than the servers' keep-alive (actix: 5 s): never reuse a connection the
                // server may be closing at that moment (a `Disconnected` error, seen under load).
                .connector(awc::Connector::new().conn_keep_alive(Duration::from_secs(2)))
                .finish(),
        }
    }

    pub fn request(&self, method: &str, url: &str) -> awc::ClientRequest {
        self.inner
            .request(awc::http::Method::from_bytes(method.as_bytes()).expect("method"), url)
            .no_decompress()
    }

    /// A request through the gateway with an agent token.
    pub fn agent(&self, method: &str, url: &str, token: &str) -> awc::ClientRequest {
        self.request(method, url)
            .insert_header(("authorization", format!("Bearer {token}")))
    }
}

/// Reads a whole response body (any size).
pub async fn read_body<S>(res: &mut awc::ClientResponse<S>) -> Vec<u8>
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, awc::error::PayloadError>> + Unpin,
{
    res.body().limit(512 * 1024 * 1024).await.expect("read body").to_vec()
}

/// Sends `raw` (a complete HTTP/1.1 request, sent byte for byte) to `base_url` and returns the
/// status code and body of the answer.
pub async fn raw_request(base_url: &str, raw: &str) -> (u16, String) {
    let addr = base_url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(raw.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}
