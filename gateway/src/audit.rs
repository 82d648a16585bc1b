//! The audit record of one agent request, filled in as the request goes (admission, guard,
//! executor) and published once when it ends — refused, held, answered, or when its streamed
//! body ends or the agent goes away — with the request metrics counted at the same moment.

use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use actix_web::HttpRequest;
use bytes::Bytes;
use futures_util::Stream;
use shellgate_shared::audit::{AuditEvent, Outcome};
use shellgate_shared::error::Code;
use shellgate_shared::ids::{AuditEventId, RequestId};
use shellgate_shared::metrics::{KindLabels, RequestLabels};
use shellgate_shared::states::AuditKind;
use time::OffsetDateTime;

use crate::context::GatewayContext;
use crate::error::ApiError;
use crate::exec_stream::{BodyFrames, ResponseAborted};

/// What the audit record of one request accumulates.
pub struct AuditDraft {
    pub(crate) ctx: Arc<GatewayContext>,
    pub(crate) event: AuditEvent,
    started: Instant,
}

impl AuditDraft {
    /// The draft of an HTTP request as it arrived (REST).
    pub fn new(ctx: Arc<GatewayContext>, req: &HttpRequest, request_id: RequestId) -> Self {
        Self::start(
            ctx,
            request_id,
            AuditKind::Http,
            Some(req.method().to_string()),
            Some(req.uri().to_string()),
            crate::edge::client_ip(req),
        )
    }

    /// A draft for any entry (an MCP tool says what it is about itself).
    pub fn start(
        ctx: Arc<GatewayContext>,
        request_id: RequestId,
        kind: AuditKind,
        method: Option<String>,
        path: Option<String>,
        client_ip: Option<String>,
    ) -> Self {
        Self {
            ctx,
            started: Instant::now(),
            event: AuditEvent {
                id: AuditEventId::new(),
                occurred_at: OffsetDateTime::now_utc(),
                request_id,
                kind,
                token_id: None,
                target_id: None,
                target_slug: None,
                method,
                path,
                status: None,
                duration_ms: 0,
                bytes_in: 0,
                bytes_out: 0,
                client_ip,
                executor: None,
                outcome: Outcome::Refused,
                error_code: None,
                detail: serde_json::Value::Null,
            },
        }
    }

    pub fn finish(mut self, outcome: Outcome, status: u16, error_code: Option<String>) {
        self.event.outcome = outcome;
        self.event.status = Some(status);
        self.event.error_code = error_code;
        self.event.duration_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let metrics = &self.ctx.metrics.gateway;
        // Only a resolved target's slug is a label: anything an agent types would be unbounded.
        let target = match (&self.event.target_id, &self.event.target_slug) {
            (Some(_), Some(slug)) => slug.clone(),
            _ => "unknown".to_string(),
        };
        metrics
            .requests
            .get_or_create(&RequestLabels {
                kind: self.event.kind.as_str().to_string(),
                target,
                status,
                outcome: outcome.as_str().to_string(),
            })
            .inc();
        metrics
            .duration
            .get_or_create(&KindLabels {
                kind: self.event.kind.as_str().to_string(),
            })
            .observe(self.started.elapsed().as_secs_f64());
        self.ctx.audit.publish(self.event);
    }

    pub fn fail(self, e: &ApiError) {
        let status = actix_web::ResponseError::status_code(e).as_u16();
        self.finish(e.outcome(), status, Some(e.code_str().to_string()));
    }
}

/// The response body: counts bytes and writes the audit record when it ends — completed,
/// failed mid-stream, or dropped because the agent went away.
pub(crate) struct AuditedBody {
    pub(crate) rx: BodyFrames,
    pub(crate) draft: Option<AuditDraft>,
    pub(crate) bytes_in: Rc<Cell<u64>>,
    pub(crate) bytes_out: u64,
    /// The upstream's Content-Length: once that much went out the agent has the whole body,
    /// even if the server drops the stream before seeing its end.
    pub(crate) expected_len: Option<u64>,
    pub(crate) status: u16,
}

impl AuditedBody {
    fn finish(&mut self, outcome: Outcome, code: Option<String>) {
        if let Some(mut draft) = self.draft.take() {
            draft.ctx.metrics.gateway.inflight_streams.dec();
            draft.event.bytes_in = self.bytes_in.get();
            draft.event.bytes_out = self.bytes_out;
            draft.finish(outcome, self.status, code);
        }
    }
}

impl Stream for AuditedBody {
    type Item = Result<Bytes, ResponseAborted>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.rx.as_mut().poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(b))) => self.bytes_out += b.len() as u64,
            Poll::Ready(Some(Err(e))) => {
                tracing::warn!(error = %e, "response aborted");
                let code = e.0.clone();
                self.finish(Outcome::Failed, Some(code));
            }
            Poll::Ready(None) => self.finish(Outcome::Allowed, None),
            Poll::Pending => {}
        }
        polled
    }
}

impl Drop for AuditedBody {
    fn drop(&mut self) {
        if self.expected_len == Some(self.bytes_out) {
            self.finish(Outcome::Allowed, None);
        } else {
            self.finish(
                Code::ClientDisconnected.outcome(),
                Some(Code::ClientDisconnected.as_str().into()),
            );
        }
    }
}
