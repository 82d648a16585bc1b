//! The admin audit: every change made through the management API (a `POST`, `PUT`, `PATCH` or
//! `DELETE` under `/api`), allowed or refused, becomes an audit event of kind `admin` with the
//! method, path, status, stable error code and the admin key that made it (when the request got
//! as far as checking the key: one refused for its body first has no actor). Request and response
//! bodies are never recorded: they carry credentials, tokens and signing secrets. An approval
//! decision that succeeded is not recorded twice: its handler writes the `approval` event.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};
use shellgate_shared::audit::{AdminActor, AuditEvent};
use shellgate_shared::client_addr::ClientAddr;
use std::sync::Arc;

use crate::auth::Admin;
use crate::context::ApproverContext;
use crate::error::ErrorCode;

pub async fn record_changes(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let changes = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if !changes {
        return next.call(req).await;
    }
    let ctx = req.app_data::<web::Data<Arc<ApproverContext>>>().cloned();
    let method = req.method().to_string();
    let path = req.path().to_string();
    let resolved = req.extensions().get::<ClientAddr>().map(|c| c.0);
    let client_ip = resolved
        .or_else(|| req.peer_addr().map(|a| a.ip()))
        .map(|ip| ip.to_string());
    let started = std::time::Instant::now();
    let res = next.call(req).await?;
    let status = res.status();
    let decided_approval = status.is_success() && path.starts_with("/api/approvals/");
    if let Some(ctx) = ctx
        && !decided_approval
    {
        let actor = res.request().extensions().get::<Admin>().map(|a| AdminActor {
            key_id: a.key_id,
            name: match a.key_id {
                Some(_) => a.name.clone(),
                None => format!("user:{}", a.name),
            },
        });
        let code = res.response().extensions().get::<ErrorCode>().map(|c| c.0);
        ctx.audit.publish(AuditEvent::for_admin_change(
            &method,
            &path,
            status.as_u16(),
            code,
            actor,
            client_ip,
            started.elapsed(),
        ));
    }
    Ok(res)
}
