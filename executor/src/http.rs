//! The HTTP transport: one agent request, from the open message to the last response frame.

use std::sync::Arc;
use std::time::Duration;

use actix_service::ServiceExt as _;
use actix_web::HttpMessage as _;
use awc::body::{BodyStream, SizedStream};
use awc::error::{ConnectError, SendRequestError};
use awc::http::Method;
use awc::http::header::{HeaderName, HeaderValue};
use bytes::Bytes;
use futures_util::StreamExt;
use shellgate_shared::bus::messages::{Accepted, BodyMode, HttpExecRequest, ResponseHead, StreamFailure};
use shellgate_shared::bus::stream::{Frame, Receiver, Sender, StreamError};
use shellgate_shared::credential::Credential;
use shellgate_shared::error::Code;
use shellgate_shared::headers::{filter_request_headers, filter_response_headers};
use shellgate_shared::http_path::build_upstream_url;
use shellgate_shared::metrics::KindLabels;
use shellgate_shared::states::TargetKind;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::context::ExecutorContext;
use crate::decode::{self, Plan};
use crate::intake::{InFlight, Opened, open_credential, open_request, resolve_target};
use crate::scrub::Scrubber;

/// The awc client of one worker thread: no redirects followed (they are returned to the agent),
/// no automatic decompression, the configured upstream timeout.
pub fn build_client(ctx: &ExecutorContext) -> awc::Client {
    let timeout = Duration::from_millis(ctx.settings.upstream_timeout_ms);
    // TCP_NODELAY: a request head and its body go out as separate writes; with Nagle the body
    // would wait for the upstream's (delayed) ACK of the head.
    let tcp = actix_tls::connect::Connector::default().service().map(
        |conn: actix_tls::connect::Connection<awc::http::Uri, tokio::net::TcpStream>| {
            let _ = conn.io_ref().set_nodelay(true);
            conn
        },
    );
    awc::Client::builder()
        .disable_redirects()
        .no_default_headers()
        .timeout(timeout)
        .connector(
            awc::Connector::new()
                .connector(tcp)
                .timeout(timeout.min(Duration::from_secs(10)))
                .limit(0),
        )
        .finish()
}

/// Handles one open message from the queue group. Always answers: with a response stream or a
/// typed error frame.
pub async fn handle_open(ctx: Arc<ExecutorContext>, client: awc::Client, msg: async_nats::Message) {
    let _inflight = InFlight::new(&ctx.metrics.executor.inflight);
    let parent = shellgate_shared::telemetry::extract(msg.headers.as_ref());
    let Some(Opened {
        mut tx,
        rx,
        request: req,
        inline,
    }) = open_request::<HttpExecRequest>(&ctx, msg).await
    else {
        return;
    };
    // A streamed request body needs our inbox before anything else; an inline one can wait to
    // see whether the response itself is quick (`accept_now`).
    if req.body == BodyMode::Stream && accept_now(&ctx, &mut tx).await.is_err() {
        return;
    }
    let span = tracing::info_span!(
        "exec_http",
        otel.kind = "consumer",
        request_id = %req.request_id,
        target_id = %req.target_id,
        executor = %ctx.id,
    );
    if let Err(e) = span.set_parent(parent) {
        tracing::debug!(error = ?e, "trace context not attached");
    }
    if let Err(failure) = run(&ctx, &client, req, inline, rx, &mut tx).instrument(span).await {
        let _ = tx.send(Frame::Error(failure)).await;
    }
    tx.linger().await;
}

async fn accept_now(ctx: &ExecutorContext, tx: &mut Sender) -> Result<(), StreamError> {
    if tx.has_sent() {
        return Ok(());
    }
    tx.send(Frame::Accepted(Accepted {
        executor: ctx.id.clone(),
    }))
    .await
}

fn header_pair(name: &str, value: &str) -> Option<(HeaderName, HeaderValue)> {
    Some((
        HeaderName::from_bytes(name.as_bytes()).ok()?,
        HeaderValue::from_str(value).ok()?,
    ))
}

async fn run(
    ctx: &ExecutorContext,
    client: &awc::Client,
    req: HttpExecRequest,
    inline: Bytes,
    rx: Receiver,
    tx: &mut Sender,
) -> Result<(), StreamFailure> {
    let resolved = resolve_target(ctx, req.target_id, TargetKind::Http).await?;
    let target = &resolved.target;
    // Defence in depth: judge the request again, whatever the gateway decided.
    crate::recheck::recheck_http(ctx, &req, &inline, target).await?;
    let base = target
        .base_url
        .as_deref()
        .ok_or_else(|| StreamFailure::new(Code::TargetMisconfigured, "target has no base URL"))?;
    let credential = resolved
        .credential
        .as_ref()
        .map(|c| open_credential(ctx, c))
        .transpose()?;

    let extra_query = match &credential {
        Some(Credential::Query { param, value }) => Some((param.as_str(), value.as_str())),
        _ => None,
    };
    let url = build_upstream_url(base, &req.path, req.query.as_deref(), extra_query)
        .map_err(|e| StreamFailure::new(Code::from(e), &e.to_string()))?;
    let method = Method::from_bytes(req.method.as_bytes())
        .map_err(|_| StreamFailure::new(Code::BadMethod, "invalid HTTP method"))?;

    let req_method = method.to_string();
    let mut upstream = client.request(method, url.as_str()).no_decompress();
    let mut headers = filter_request_headers(req.headers);
    if let Some(Credential::Header { headers: injected }) = &credential {
        headers.retain(|(n, _)| !injected.keys().any(|k| k.eq_ignore_ascii_case(n)));
    }
    for (name, value) in &headers {
        if let Some(pair) = header_pair(name, value) {
            upstream = upstream.append_header(pair);
        }
    }
    upstream = upstream.insert_header(("accept-encoding", "identity"));
    upstream = match &credential {
        Some(Credential::Bearer { token }) => upstream.insert_header(("authorization", format!("Bearer {token}"))),
        Some(Credential::Basic { username, password }) => upstream.basic_auth(username, password),
        Some(Credential::Header { headers: injected }) => {
            for (n, v) in injected {
                if let Some(pair) = header_pair(n, v) {
                    upstream = upstream.insert_header(pair);
                }
            }
            upstream
        }
        Some(Credential::Query { .. }) | None => upstream,
        Some(Credential::SshKey { .. } | Credential::Password { .. }) => {
            return Err(StreamFailure::new(
                Code::CredentialUnavailable,
                "the target's credential is not an HTTP credential",
            ));
        }
    };
    let scrubber = match (&credential, &resolved.credential) {
        (Some(c), Some(sealed)) => Scrubber::with(ctx.scrub_patterns.get(
            sealed.target_id,
            sealed.updated_at.unix_timestamp_nanos(),
            || c.scrub_needles(),
        )),
        _ => Scrubber::new(Vec::new()),
    };
    drop(credential);

    let send = match req.body {
        BodyMode::Inline if inline.is_empty() && req.content_length.is_none() => upstream.send(),
        BodyMode::Inline => upstream.send_body(inline),
        BodyMode::Stream => {
            let body = body_stream(rx);
            match req.content_length {
                Some(n) => upstream.send_body(SizedStream::new(n, body)),
                None => upstream.send_body(BodyStream::new(body)),
            }
        }
    };
    let gone = tx.gone();
    tokio::pin!(send, gone);
    let grace = tokio::time::sleep(Duration::from_millis(ctx.settings.executor_accept_grace_ms));
    tokio::pin!(grace);
    let called = std::time::Instant::now();
    // Only the method and, once known, the status: the URL may carry a query credential.
    let upstream_span = tracing::info_span!(
        "upstream_http",
        otel.kind = "client",
        http.request.method = %req_method,
        http.response.status_code = tracing::field::Empty,
    );
    let response = loop {
        tokio::select! {
            r = &mut send => break r,
            e = &mut gone => {
                tracing::info!(error = %e, "gateway went away before the upstream answered");
                return Ok(());
            }
            _ = &mut grace, if !tx.has_sent() => {
                if accept_now(ctx, tx).await.is_err() {
                    return Ok(());
                }
            }
        }
    };
    ctx.metrics
        .executor
        .upstream_duration
        .get_or_create(&KindLabels {
            kind: TargetKind::Http.as_str().into(),
        })
        .observe(called.elapsed().as_secs_f64());
    if let Ok(r) = &response {
        upstream_span.record("http.response.status_code", r.status().as_u16());
    }
    drop(upstream_span);
    let mut response = response.map_err(map_send_error)?;
    stream_response(ctx, &req_method, &mut response, scrubber, tx).await
}

/// The request body as it arrives from the gateway.
fn body_stream(rx: Receiver) -> impl futures_util::Stream<Item = Result<Bytes, BodyAborted>> + 'static {
    futures_util::stream::unfold(rx, |mut rx| async move {
        match rx.next().await {
            Some(Ok(Frame::Data(b))) => Some((Ok(b), rx)),
            Some(Ok(Frame::End)) | None => None,
            Some(Ok(Frame::Error(f))) => Some((Err(BodyAborted(f.code)), rx)),
            Some(Ok(_)) => Some((Err(BodyAborted("protocol".into())), rx)),
            Some(Err(e)) => Some((Err(BodyAborted(e.to_string())), rx)),
        }
    })
}

#[derive(Debug, thiserror::Error)]
#[error("request body aborted: {0}")]
struct BodyAborted(String);

fn map_send_error(e: SendRequestError) -> StreamFailure {
    // Log the kind only: awc's messages may include the URL, which may carry a query credential.
    let (code, message) = match &e {
        SendRequestError::Timeout | SendRequestError::Connect(ConnectError::Timeout) => {
            (Code::UpstreamTimeout, "the upstream did not answer in time")
        }
        SendRequestError::Connect(_) => (Code::UpstreamConnectFailed, "cannot connect to the upstream"),
        SendRequestError::Body(_) => (Code::RequestBodyFailed, "the request body could not be delivered"),
        SendRequestError::Url(_) => (Code::UpstreamBadUrl, "the upstream URL is invalid"),
        _ => (Code::UpstreamFailed, "the upstream request failed"),
    };
    tracing::warn!(code = code.as_str(), "upstream request failed");
    StreamFailure::new(code, message)
}

async fn stream_response<S>(
    ctx: &ExecutorContext,
    method: &str,
    response: &mut awc::ClientResponse<S>,
    mut scrubber: Scrubber,
    tx: &mut Sender,
) -> Result<(), StreamFailure>
where
    S: futures_util::Stream<Item = Result<Bytes, awc::error::PayloadError>> + Unpin + 'static,
{
    let status = response.status().as_u16();
    let raw: Vec<(String, String)> = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    // Only a credential can leak, so only a target with one pays for decoding.
    let plan = if scrubber.is_active() {
        decode::plan(method, status, &raw)?
    } else {
        Plan::AsIs
    };
    let filtered = filter_response_headers(raw);
    let (headers, content_length) = match plan {
        Plan::AsIs => {
            let length = response
                .headers()
                .get("content-length")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            (filtered, length)
        }
        Plan::Decode(_) => (decode::decoded_headers(filtered), None),
    };
    let headers = headers
        .into_iter()
        .map(|(n, v)| {
            let v = scrubber.scrub_str(&v);
            (n, v)
        })
        .collect();
    let head = ResponseHead {
        status,
        headers,
        content_length,
    };
    if let Plan::Decode(codings) = plan {
        let body = decode::decode(
            response.take_payload(),
            &codings,
            ctx.settings.stream_chunk_bytes,
            ctx.settings.max_decoded_response_bytes,
        )
        .map(|r| r.map_err(|e| e.failure()));
        return pump(head, body, scrubber, tx).await;
    }
    let gone = tx.gone();
    tokio::pin!(gone);
    if let Some(n) = content_length.filter(|n| *n <= ctx.settings.inline_body_bytes as u64) {
        // Small body: read it whole and answer in one frame (head, body and end).
        let mut body = bytes::BytesMut::with_capacity(n as usize);
        loop {
            let chunk = tokio::select! {
                c = response.next() => c,
                _ = &mut gone => return Ok(()),
            };
            match chunk {
                Some(Ok(b)) => body.extend_from_slice(&scrubber.push(b)),
                Some(Err(_)) => {
                    return Err(StreamFailure::new(
                        Code::UpstreamBodyFailed,
                        "the upstream response body failed",
                    ));
                }
                None => break,
            }
            if body.len() as u64 > n {
                return Err(StreamFailure::new(
                    Code::UpstreamBodyFailed,
                    "the upstream sent more than its Content-Length",
                ));
            }
        }
        body.extend_from_slice(&scrubber.finish());
        let _: Result<(), StreamError> = tx.send(Frame::Complete(head, body.freeze())).await;
        return Ok(());
    }
    let body = response
        .take_payload()
        .map(|r| r.map_err(|_| StreamFailure::new(Code::UpstreamBodyFailed, "the upstream response body failed")));
    pump(head, body, scrubber, tx).await
}

/// Sends the head, then the body as it arrives, scrubbed, then `end` (or the body's error).
async fn pump(
    head: ResponseHead,
    mut body: impl futures_util::Stream<Item = Result<Bytes, StreamFailure>> + Unpin,
    mut scrubber: Scrubber,
    tx: &mut Sender,
) -> Result<(), StreamFailure> {
    if tx.send(Frame::Head(head)).await.is_err() {
        return Ok(());
    }
    let gone = tx.gone();
    tokio::pin!(gone);
    loop {
        let chunk = tokio::select! {
            c = body.next() => c,
            e = &mut gone => {
                tracing::info!(error = %e, "gateway went away; dropping the upstream response");
                return Ok(());
            }
        };
        match chunk {
            Some(Ok(b)) => {
                let out = scrubber.push(b);
                if !out.is_empty()
                    && let Err(e) = tx.send_data(out).await
                {
                    tracing::info!(error = %e, "response stream to the gateway ended");
                    return Ok(());
                }
            }
            Some(Err(failure)) => return Err(failure),
            None => {
                let rest = scrubber.finish();
                if !rest.is_empty() && tx.send_data(rest).await.is_err() {
                    return Ok(());
                }
                let _: Result<(), StreamError> = tx.send(Frame::End).await;
                return Ok(());
            }
        }
    }
}
