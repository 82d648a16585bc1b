//! A real HTTP upstream on loopback, in its own thread, with the endpoints the tests need.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::body::SizedStream;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use bytes::Bytes;
use serde_json::json;
use tokio::sync::Notify;

/// What the upstream saw of one request.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Shared with the test: what the upstream received, and a latch that holds an SSE stream
/// until the test has seen its first event.
/// A webhook delivery the upstream accepted: its path, headers and body.
#[derive(Debug, Clone)]
pub struct Hook {
    pub received: Received,
    pub body: Bytes,
}

#[derive(Default)]
pub struct Controls {
    pub release_sse: Notify,
    pub requests: AtomicUsize,
    pub received: std::sync::Mutex<Vec<Received>>,
    /// Every POST to `/hook/{name}` (accepted or failed on purpose), and the accepted ones.
    pub hook_attempts: std::sync::Mutex<Vec<Received>>,
    pub hooks: std::sync::Mutex<Vec<Hook>>,
}

impl Controls {
    /// Accepted deliveries to `/hook/{name}`.
    pub fn hooks_to(&self, name: &str) -> Vec<Hook> {
        let path = format!("/hook/{name}");
        let hooks = self.hooks.lock().expect("lock");
        hooks.iter().filter(|h| h.received.path == path).cloned().collect()
    }

    /// Attempts (failed ones included) to `/hook/{name}`.
    pub fn hook_attempts_to(&self, name: &str) -> usize {
        let path = format!("/hook/{name}");
        let attempts = self.hook_attempts.lock().expect("lock");
        attempts.iter().filter(|r| r.path == path).count()
    }
}

impl Controls {
    pub fn last(&self) -> Received {
        self.received
            .lock()
            .expect("lock")
            .last()
            .cloned()
            .expect("the upstream received a request")
    }
}

pub struct Upstream {
    pub url: String,
    pub controls: Arc<Controls>,
    handle: actix_web::dev::ServerHandle,
}

impl Upstream {
    pub fn start() -> Self {
        let controls = Arc::new(Controls::default());
        let c = controls.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let data = web::Data::from(c);
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .app_data(web::PayloadConfig::new(512 * 1024 * 1024))
                        .route("/sse", web::get().to(sse))
                        .route("/ticks", web::get().to(ticks))
                        .route("/binary/{n}", web::get().to(binary))
                        .route("/pixel.png", web::get().to(pixel))
                        .route("/mirror", web::post().to(mirror))
                        .route("/redirect", web::get().to(redirect))
                        .route("/slow/{ms}", web::get().to(slow))
                        .route("/hook/{name}", web::post().to(hook))
                        .route("/encoded", web::route().to(encoded))
                        .route("/encodings", web::get().to(encodings))
                        .default_service(web::to(echo))
                })
                .workers(1)
                .disable_signals()
                .bind("127.0.0.1:0")
                .expect("bind upstream");
                let addr = server.addrs()[0];
                let server = server.run();
                tx.send((format!("http://{addr}"), server.handle())).expect("send");
                let _ = server.await;
            });
        });
        let (url, handle) = rx.recv().expect("upstream started");
        Self { url, controls, handle }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let h = self.handle.clone();
        crate::block_on_thread(async move { h.stop(false).await });
    }
}

/// Answers with what it received: method, path, query, headers, body length and digest. It
/// also reflects the Authorization header in a response header and sets a cookie, so tests
/// can check what Shellgate removes or scrubs.
async fn echo(req: HttpRequest, body: web::Bytes, c: web::Data<Controls>) -> HttpResponse {
    c.requests.fetch_add(1, Ordering::SeqCst);
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    if let Ok(mut r) = c.received.lock() {
        r.push(Received {
            method: req.method().to_string(),
            path: req.uri().path().to_string(),
            query: req.uri().query().map(str::to_string),
            headers: headers.clone(),
        });
    }
    let auth = req
        .headers()
        .get("authorization")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let mut res = HttpResponse::Ok();
    res.insert_header(("set-cookie", "upstream_session=abc; Path=/"));
    if let Some(a) = auth {
        res.insert_header(("x-echo-authorization", a));
    }
    res.json(json!({
        "method": req.method().as_str(),
        "path": req.uri().path(),
        "query": req.uri().query(),
        "headers": headers,
        "bodyLen": body.len(),
        "bodySha256": crate::sha256_hex(&body),
    }))
}

/// Sends the request body back once it has all arrived (as a real API reads, then answers),
/// and reports the Content-Length it received in `x-received-content-length`.
async fn mirror(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let len = req
        .headers()
        .get("content-length")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_else(|| "none".to_string());
    HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header(("x-received-content-length", len))
        .body(body)
}

/// `n` deterministic bytes, streamed in 64 KiB pieces with a Content-Length.
async fn binary(path: web::Path<usize>) -> HttpResponse {
    let n = path.into_inner();
    let data = Bytes::from(crate::pattern(n, 7));
    let chunks: Vec<Result<Bytes, std::io::Error>> = (0..n.div_ceil(65536))
        .map(|i| Ok(data.slice(i * 65536..((i + 1) * 65536).min(n))))
        .collect();
    HttpResponse::Ok()
        .content_type("application/octet-stream")
        .body(SizedStream::new(n as u64, futures_util::stream::iter(chunks)))
}

/// The smallest PNG (one transparent pixel), as an image API would serve it.
pub const PIXEL_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x60, 0x00, 0x02, 0x00, 0x00, 0x05, 0x00, 0x01, 0xe9, 0xfa, 0xdc, 0xd8, 0x00,
    0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

async fn pixel() -> HttpResponse {
    HttpResponse::Ok().content_type("image/png").body(PIXEL_PNG)
}

/// One event, then nothing until the test releases it, then two more.
async fn sse(c: web::Data<Controls>) -> HttpResponse {
    let c = c.into_inner();
    let stream = async_stream_events(c);
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .streaming(stream)
}

fn async_stream_events(c: Arc<Controls>) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::unfold(0u8, move |state| {
        let c = c.clone();
        async move {
            match state {
                0 => Some((Ok(Bytes::from_static(b"data: first\n\n")), 1)),
                1 => {
                    c.release_sse.notified().await;
                    Some((Ok(Bytes::from_static(b"data: second\n\n")), 2))
                }
                2 => Some((Ok(Bytes::from_static(b"data: [DONE]\n\n")), 3)),
                _ => None,
            }
        }
    })
}

/// An event every 100 ms for a minute (something to cut in the middle).
async fn ticks() -> HttpResponse {
    let stream = futures_util::stream::unfold(0u32, |i| async move {
        if i >= 600 {
            return None;
        }
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Some((
            Ok::<_, std::io::Error>(Bytes::from(format!("data: tick {i}\n\n"))),
            i + 1,
        ))
    });
    HttpResponse::Ok().content_type("text/event-stream").streaming(stream)
}

/// Answers after `ms` milliseconds.
async fn slow(path: web::Path<u64>) -> HttpResponse {
    tokio::time::sleep(Duration::from_millis(path.into_inner())).await;
    HttpResponse::Ok().body("late")
}

async fn redirect() -> HttpResponse {
    HttpResponse::Found().insert_header(("location", "/elsewhere")).finish()
}

/// A webhook receiver: `?fail=N` answers 503 to the first N attempts at this path.
async fn hook(req: HttpRequest, body: Bytes, controls: web::Data<Controls>) -> HttpResponse {
    let received = Received {
        method: req.method().to_string(),
        path: req.path().to_string(),
        query: req.uri().query().map(str::to_string),
        headers: req
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
    };
    let fail: usize = received
        .query
        .as_deref()
        .and_then(|q| q.strip_prefix("fail="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let attempt = {
        let mut attempts = controls.hook_attempts.lock().expect("lock");
        attempts.push(received.clone());
        attempts.iter().filter(|r| r.path == received.path).count()
    };
    if attempt <= fail {
        return HttpResponse::ServiceUnavailable().finish();
    }
    controls.hooks.lock().expect("lock").push(Hook { received, body });
    HttpResponse::Ok().finish()
}

/// Where [`encoded`] puts the credential it echoes in its body: at the start, across the 32 KiB
/// window of deflate, across the 128 KiB chunk an executor reads, and at the end. The bytes in
/// between are pseudo-random (they do not compress), so those offsets hold in the encoded form.
pub const ENCODED_ECHO_OFFSETS: [usize; 4] = [0, 32768 - 3, 131072 - 5, 200_000];

/// The body [`encoded`] sends (before encoding) for a request whose Authorization is `auth`.
pub fn encoded_echo_body(auth: &[u8]) -> Vec<u8> {
    let mut body = crate::pattern(ENCODED_ECHO_OFFSETS[3] + auth.len(), 11);
    for at in ENCODED_ECHO_OFFSETS {
        body[at..at + auth.len()].copy_from_slice(auth);
    }
    body
}

/// Encodes `data` with one content coding (`gzip`, `x-gzip`, `deflate`, `br`, `zstd`).
pub fn encode(coding: &str, data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    match coding {
        "gzip" | "x-gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).expect("gzip");
            e.finish().expect("gzip")
        }
        "deflate" => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).expect("deflate");
            e.finish().expect("deflate")
        }
        "br" => {
            let mut out = Vec::new();
            {
                let mut e = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
                e.write_all(data).expect("br");
            }
            out
        }
        "zstd" => zstd::encode_all(data, 3).expect("zstd"),
        // Unknown codings are sent as they are: the point is what the executor does with them.
        _ => data.to_vec(),
    }
}

/// A hostile upstream that ignores `Accept-Encoding: identity`: echoes the Authorization it got
/// (the injected credential) at [`ENCODED_ECHO_OFFSETS`], encoded with `?ce=` (`gzip`, `br`,
/// `gzip,br` for stacked codings, …), sent in `?piece=` byte pieces (default 1000), with a strong
/// ETag; `?status=` sets the status (206: a range of it), `?zeros=N` sends N zero bytes instead
/// (a decompression bomb).
async fn encoded(req: HttpRequest, q: web::Query<std::collections::HashMap<String, String>>) -> HttpResponse {
    let ce = q.get("ce").cloned().unwrap_or_else(|| "gzip".into());
    let piece: usize = q.get("piece").and_then(|p| p.parse().ok()).unwrap_or(1000).max(1);
    let status = q.get("status").and_then(|p| p.parse().ok()).unwrap_or(200u16);
    let plain = match q.get("zeros").and_then(|n| n.parse::<usize>().ok()) {
        Some(n) => vec![0u8; n],
        None => {
            let auth = req
                .headers()
                .get("authorization")
                .map(|v| v.as_bytes().to_vec())
                .unwrap_or_default();
            encoded_echo_body(&auth)
        }
    };
    let mut body = plain;
    for coding in ce.split(',').map(str::trim) {
        body = encode(coding, &body);
    }
    let body = Bytes::from(body);
    let chunks: Vec<Result<Bytes, std::io::Error>> = (0..body.len().div_ceil(piece))
        .map(|i| Ok(body.slice(i * piece..((i + 1) * piece).min(body.len()))))
        .collect();
    let mut res = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default());
    res.insert_header(("content-encoding", ce))
        .insert_header(("etag", "\"v1\""))
        .content_type("application/octet-stream");
    if status == 206 {
        res.insert_header(("content-range", format!("bytes 0-{}/*", body.len().saturating_sub(1))));
    }
    res.body(SizedStream::new(body.len() as u64, futures_util::stream::iter(chunks)))
}

/// The encodings [`encodings`] answers with for a credential, by name.
pub fn credential_encodings(secret: &str) -> Vec<(String, String)> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
    let mut out = Vec::new();
    for prefix in ["", "a", "ab"] {
        let data = format!("{prefix}{secret}!");
        out.push((format!("std{}", prefix.len()), STANDARD.encode(&data)));
        out.push((format!("url{}", prefix.len()), URL_SAFE.encode(&data)));
        out.push((format!("urlnopad{}", prefix.len()), URL_SAFE_NO_PAD.encode(&data)));
        out.push((
            format!("stdend{}", prefix.len()),
            STANDARD.encode(format!("{prefix}{secret}")),
        ));
    }
    out.push(("hex".into(), hex::encode(secret)));
    out.push(("HEX".into(), hex::encode_upper(secret)));
    out
}

/// A hostile upstream that echoes the bearer credential it got in base64 (standard, URL-safe,
/// padded or not, at each alignment) and hex, as JSON fields named by [`credential_encodings`].
async fn encodings(req: HttpRequest) -> HttpResponse {
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let secret = auth.strip_prefix("Bearer ").unwrap_or(auth);
    let fields: serde_json::Map<String, serde_json::Value> = credential_encodings(secret)
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    HttpResponse::Ok().json(fields)
}
