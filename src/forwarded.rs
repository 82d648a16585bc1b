//! The first thing every role does with a request: decide who sent it. Forwarded headers
//! (`X-Forwarded-For`, `-Proto`, `-Host`, `Forwarded`, `X-Real-IP`) are believed only from a
//! trusted proxy (`SHELLGATE_TRUSTED_PROXIES`); from anyone else they are removed before the
//! request logger, tracing or any handler sees them. The resolved client address goes into the
//! request's extensions (`ClientAddr`) for audit records, and `X-Forwarded-For` is rewritten to
//! it alone, so the logger and traces (which read that header) record the same address.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use shellgate_shared::client_addr::{ClientAddr, TrustedProxies};

const FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// Dropped from an untrusted peer (and `Forwarded`, `X-Real-IP` always: only one form is read).
const CLAIMS: &[&str] = &["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"];
const NEVER: &[&str] = &["forwarded", "x-real-ip"];

pub async fn resolve_client(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let trusted = req.app_data::<web::Data<TrustedProxies>>().cloned();
    if let (Some(peer), Some(trusted)) = (req.peer_addr(), trusted) {
        let peer = peer.ip();
        let from_proxy = trusted.trusts(peer);
        let client = {
            let hops: Vec<&str> = req
                .headers()
                .get_all(&FORWARDED_FOR)
                .filter_map(|v| v.to_str().ok())
                .collect();
            if from_proxy { trusted.client(peer, &hops) } else { peer }
        };
        let headers = req.headers_mut();
        for name in NEVER.iter().chain(if from_proxy { &[][..] } else { CLAIMS }) {
            headers.remove(*name);
        }
        if from_proxy && let Ok(v) = HeaderValue::from_str(&client.to_string()) {
            headers.insert(FORWARDED_FOR, v);
        }
        req.extensions_mut().insert(ClientAddr(client));
    }
    next.call(req).await
}
