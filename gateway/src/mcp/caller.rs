//! Who is calling `/mcp`, settled before rmcp reads a byte: a browser `Origin` outside
//! `SHELLGATE_MCP_ALLOWED_ORIGINS` is 403 (agents send none and pass), and every request needs
//! `Authorization: Bearer sg_…` through the same cached token check as `/gateway` (so a revoked
//! token fails on its next call) — else 401 with `WWW-Authenticate: Bearer` and no OAuth
//! metadata, which would send clients such as Claude Code into an OAuth flow instead — from an
//! address in the token's `allowedCidrs` (403 `address_not_allowed` otherwise).

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};

use shellgate_shared::ids::RequestId;

use crate::auth::{Principal, authenticate_request};
use crate::context::GatewayContext;
use crate::error::ApiError;

/// The authenticated caller of one MCP request, handed to the tools.
#[derive(Clone)]
pub struct Caller {
    pub principal: Arc<Principal>,
    /// As determined with the trusted-proxy setting (for the audit record).
    pub client_ip: Option<String>,
    /// The request id of the `/mcp` request this call came in.
    pub request_id: RequestId,
}

pub async fn admit_caller(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let ctx = req
        .app_data::<web::Data<Arc<GatewayContext>>>()
        .ok_or_else(|| actix_web::error::ErrorInternalServerError("no gateway context"))?
        .get_ref()
        .clone();
    if let Some(origin) = req.headers().get(header::ORIGIN)
        && !origin_allowed(&ctx.mcp_allowed_origins, origin.as_bytes())
    {
        return Err(ApiError::OriginNotAllowed.into());
    }
    let principal = authenticate_request(&ctx, req.request()).await?;
    let caller = Caller {
        principal,
        client_ip: crate::edge::client_ip(req.request()),
        request_id: crate::edge::request_id(req.request()),
    };
    req.extensions_mut().insert(caller);
    next.call(req).await
}

/// Whether a browser origin may call: listed exactly (scheme, host and port; case-insensitive).
fn origin_allowed(allowed: &[String], origin: &[u8]) -> bool {
    let Ok(origin) = std::str::from_utf8(origin) else {
        return false;
    };
    allowed
        .iter()
        .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_match_exactly() {
        let allowed = vec![
            "https://app.example.com".to_string(),
            "http://localhost:3000/".to_string(),
        ];
        assert!(origin_allowed(&allowed, b"https://app.example.com"));
        assert!(origin_allowed(&allowed, b"HTTPS://APP.example.com"));
        assert!(origin_allowed(&allowed, b"http://localhost:3000"));
        assert!(!origin_allowed(&allowed, b"https://app.example.com.evil.net"));
        assert!(!origin_allowed(&allowed, b"http://app.example.com"));
        assert!(!origin_allowed(&allowed, b"null"));
        assert!(!origin_allowed(&[], b"https://app.example.com"));
    }
}
