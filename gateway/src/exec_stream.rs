//! The stream between this gateway and the executor that took a request: publishing the open
//! message to the pool's executors (no executor: 503 at once; none in time: 504), the first
//! frame, the response head or whole answer, and the body frames as bytes. Both transports
//! (HTTP and SSH) use it; docs/protocol.md describes the frames.

use std::pin::Pin;
use std::time::Instant;

use bytes::Bytes;
use futures_util::Stream;
use shellgate_shared::bus::messages::ResponseHead;
use shellgate_shared::bus::stream::{FirstFrameError, Frame, Receiver, Sender, StreamError, first_frame, link};
use shellgate_shared::error::Code;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::context::GatewayContext;
use crate::error::ApiError;

/// What a failed stream means to the agent.
pub(crate) fn stream_error(e: StreamError) -> ApiError {
    match e {
        StreamError::Idle => ApiError::ExecutorTimeout,
        other => {
            tracing::warn!(error = %other, "stream to executor failed");
            ApiError::ExecutorLost
        }
    }
}

/// The code of a stream that broke after the answer began: the executor went quiet, or away.
pub(crate) fn broken_stream_code(e: &StreamError) -> Code {
    match e {
        StreamError::Idle => Code::ExecutorTimeout,
        _ => Code::ExecutorLost,
    }
}

/// A stream to the executor that took a request, with its first frame.
pub(crate) struct Opened {
    pub frame: Frame,
    pub tx: Sender,
    pub rx: Receiver,
    /// The executor's id (for the audit record).
    pub executor: Option<String>,
}

/// Publishes an open message to the executors on `subject` and links a stream with the one
/// that answers: no executor → 503 at once (NATS no-responders), none in time → 504.
pub(crate) async fn open_stream(ctx: &GatewayContext, subject: String, message: Bytes) -> Result<Opened, ApiError> {
    let nats = ctx.bus.client.clone();
    let inbox = nats.new_inbox();
    let mut sub = nats.subscribe(inbox.clone()).await.map_err(|e| {
        tracing::error!(error = %e, "cannot subscribe stream inbox");
        ApiError::Unavailable(Code::BusUnavailable)
    })?;
    let published = Instant::now();
    // The trace continues in the executor: W3C traceparent travels in the NATS headers.
    let mut headers = async_nats::HeaderMap::new();
    shellgate_shared::telemetry::inject(&tracing::Span::current().context(), &mut headers);
    nats.publish_with_reply_and_headers(subject, inbox.clone(), headers, message)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot publish to executors");
            ApiError::Unavailable(Code::BusUnavailable)
        })?;
    let (frame, peer, origin) = first_frame(&mut sub, ctx.accept_timeout).await.map_err(|e| match e {
        FirstFrameError::NoResponders => ApiError::NoExecutor,
        FirstFrameError::Timeout => ApiError::ExecutorTimeout,
        FirstFrameError::Stream(e) => stream_error(e),
    })?;
    ctx.metrics
        .gateway
        .executor_first_frame
        .observe(published.elapsed().as_secs_f64());
    let executor = match &frame {
        Frame::Accepted(a) => Some(a.executor.clone()),
        _ => origin,
    };
    let (tx, rx) = link(nats, ctx.stream, sub, inbox.into(), peer, 1, 0);
    Ok(Opened {
        frame,
        tx,
        rx,
        executor,
    })
}

/// The executor's answer: a head followed by a streamed body, or a whole small response.
pub enum Answer {
    Streamed(ResponseHead, Box<Receiver>),
    Whole(ResponseHead, Bytes),
}

pub(crate) fn answer(frame: Frame, rx: Receiver) -> Result<Answer, ApiError> {
    match frame {
        Frame::Head(head) => Ok(Answer::Streamed(head, Box::new(rx))),
        Frame::Complete(head, body) => Ok(Answer::Whole(head, body)),
        Frame::Error(f) => Err(ApiError::Upstream(f)),
        Frame::Accepted(_) | Frame::Data(_) | Frame::End | Frame::Exit(_) => {
            Err(stream_error(StreamError::Protocol("expected a response head".into())))
        }
    }
}

pub(crate) async fn wait_answer(ctx: &GatewayContext, mut rx: Receiver) -> Result<Answer, ApiError> {
    match rx.next_within(ctx.head_timeout).await {
        Some(Ok(frame)) => answer(frame, rx),
        Some(Err(e)) => Err(stream_error(e)),
        None => Err(ApiError::ExecutorLost),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("response stream ended early: {0}")]
pub struct ResponseAborted(pub(crate) String);

pub(crate) fn frames_to_bytes(rx: Receiver) -> impl Stream<Item = Result<Bytes, ResponseAborted>> {
    futures_util::stream::unfold(rx, |mut rx| async move {
        match rx.next().await {
            Some(Ok(Frame::Data(b))) => Some((Ok(b), rx)),
            Some(Ok(Frame::End)) | None => None,
            Some(Ok(Frame::Error(f))) => Some((Err(ResponseAborted(f.code)), rx)),
            Some(Ok(_)) => Some((Err(ResponseAborted(Code::ExecutorProtocolError.as_str().into())), rx)),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "response stream from the executor failed");
                Some((Err(ResponseAborted(broken_stream_code(&e).as_str().into())), rx))
            }
        }
    })
}

/// The body of a response as it comes from the executor.
pub(crate) type BodyFrames = Pin<Box<dyn Stream<Item = Result<Bytes, ResponseAborted>>>>;
