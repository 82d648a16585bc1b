//! What every gateway answer gets, whichever route (or none) handled it, refusals included: a
//! request id, made here once and shared with the handler's audit record, in
//! `X-Shellgate-Request-Id`.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest};
use shellgate_shared::client_addr::ClientAddr;
use shellgate_shared::ids::RequestId;

/// The header every answer carries the request's id in.
pub const REQUEST_ID_HEADER: &str = "x-shellgate-request-id";

/// The id of this request (the one its answer and audit record carry).
pub fn request_id(req: &HttpRequest) -> RequestId {
    req.extensions().get::<RequestId>().copied().unwrap_or_default()
}

/// The client's address, as the first middleware of the role resolved it (trusted proxies
/// considered), else the peer's.
pub fn client_ip(req: &HttpRequest) -> Option<String> {
    let resolved = req.extensions().get::<ClientAddr>().map(|c| c.0);
    resolved
        .or_else(|| req.peer_addr().map(|a| a.ip()))
        .map(|ip| ip.to_string())
}

/// The middleware (`actix_web::middleware::from_fn(edge)`).
pub async fn edge(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = RequestId::new();
    req.extensions_mut().insert(id);
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    if !headers.contains_key(REQUEST_ID_HEADER)
        && let Ok(v) = HeaderValue::from_str(&id.to_string())
    {
        headers.insert(header::HeaderName::from_static(REQUEST_ID_HEADER), v);
    }
    Ok(res)
}
