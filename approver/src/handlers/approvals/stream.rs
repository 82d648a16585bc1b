use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use bytes::Bytes;
use futures_util::StreamExt;

use crate::auth::Admin;
use crate::context::ApproverContext;
use crate::error::ApiError;

/// How often an idle stream sends a comment, so proxies keep it open.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// `GET /api/approvals/stream`: Server-Sent Events, one per approval event (`requested`,
/// `approved`, `denied`, `expired`, `used`) as it is published on NATS.
pub async fn stream_approvals(_admin: Admin, ctx: web::Data<Arc<ApproverContext>>) -> Result<HttpResponse, ApiError> {
    approval_events(&ctx).await
}

/// The live feed of approval events as an SSE response (for the API and the dashboard): the event
/// name is the kind, the data the approval.
pub(crate) async fn approval_events(ctx: &ApproverContext) -> Result<HttpResponse, ApiError> {
    let sub = ctx
        .bus
        .client
        .subscribe(ctx.bus.subjects.approval_events())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot subscribe to approval events");
            ApiError::Unavailable
        })?;
    let events = sub.map(|msg| {
        let event = msg.subject.rsplit('.').next().unwrap_or("event").to_string();
        let data = String::from_utf8_lossy(&msg.payload).replace('\n', " ");
        Ok::<_, std::convert::Infallible>(Bytes::from(format!("event: {event}\ndata: {data}\n\n")))
    });
    let keepalive = futures_util::stream::unfold((), |()| async {
        tokio::time::sleep(KEEPALIVE).await;
        Some((Ok(Bytes::from_static(b": keepalive\n\n")), ()))
    });
    let opening = futures_util::stream::once(async { Ok(Bytes::from_static(b": subscribed\n\n")) });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .streaming(opening.chain(futures_util::stream::select(events, keepalive))))
}
