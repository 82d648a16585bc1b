//! The gateway's one error type at the HTTP edge. Each variant names its `Code` (an exhaustive
//! match), which decides the status and the audit outcome. 5xx bodies are generic; details are
//! logged where they occur.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};
use shellgate_shared::audit::Outcome;
use shellgate_shared::bus::messages::StreamFailure;
use shellgate_shared::error::{Code, ErrorBody};
use shellgate_shared::http_path::PathError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    UnsafePath(PathError),
    #[error("missing bearer token")]
    MissingToken,
    #[error("invalid token")]
    InvalidToken,
    #[error("token has been revoked")]
    TokenRevoked,
    #[error("token has expired")]
    TokenExpired,
    #[error("token is disabled")]
    TokenDisabled,
    #[error("no such target")]
    TargetNotFound,
    #[error("target is disabled")]
    TargetDisabled,
    #[error("this token may not use {0} (it lacks that capability)")]
    CapabilityMissing(&'static str),
    #[error("this token may not be used from this address")]
    AddressNotAllowed,
    #[error("bad request: {1}")]
    BadRequest(Code, &'static str),
    /// Bad input, with a message naming what was wrong.
    #[error("{1}")]
    Invalid(Code, String),
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(u64),
    #[error("no executor serves this target's pool")]
    NoExecutor,
    #[error("no executor accepted the request in time")]
    ExecutorTimeout,
    #[error("the executor stopped responding")]
    ExecutorLost,
    /// An executor's refusal or failure, carried back over NATS with its code and status.
    #[error("{}", .0.message)]
    Upstream(StreamFailure),
    #[error("temporarily unavailable")]
    Unavailable(Code),
    /// An approval that cannot be used (pending, denied, expired, used, another request).
    #[error("{1}")]
    Approval(Code, &'static str),
    /// A request that needs approval has a body too large to bind and hold.
    #[error("a request that needs approval may have a body of at most {0} bytes")]
    ApprovalBodyTooLarge(usize),
    /// The guard blocked the request; nothing makes it run.
    #[error("{0}")]
    Blocked(String),
    /// A protocol upgrade (WebSocket, h2c): not proxied.
    #[error("protocol upgrades (WebSocket, h2c) are not supported through the gateway")]
    UpgradeNotSupported,
    /// No route has this path.
    #[error("no such endpoint")]
    NotFound,
    /// A browser page from an origin `SHELLGATE_MCP_ALLOWED_ORIGINS` does not list.
    #[error("this origin may not call the MCP endpoint")]
    OriginNotAllowed,
}

impl ApiError {
    /// The error's code; `None` only for an executor's code this build does not know.
    pub fn code(&self) -> Option<Code> {
        Some(match self {
            ApiError::UnsafePath(e) => Code::from(*e),
            ApiError::MissingToken => Code::MissingToken,
            ApiError::InvalidToken => Code::InvalidToken,
            ApiError::TokenRevoked => Code::TokenRevoked,
            ApiError::TokenExpired => Code::TokenExpired,
            ApiError::TokenDisabled => Code::TokenDisabled,
            ApiError::TargetNotFound => Code::TargetNotFound,
            ApiError::TargetDisabled => Code::TargetDisabled,
            ApiError::CapabilityMissing(_) => Code::CapabilityMissing,
            ApiError::AddressNotAllowed => Code::AddressNotAllowed,
            ApiError::BadRequest(code, _) | ApiError::Invalid(code, _) | ApiError::Approval(code, _) => *code,
            ApiError::Unavailable(code) => *code,
            ApiError::PayloadTooLarge(_) => Code::PayloadTooLarge,
            ApiError::NoExecutor => Code::NoExecutor,
            ApiError::ExecutorTimeout => Code::ExecutorTimeout,
            ApiError::ExecutorLost => Code::ExecutorLost,
            ApiError::Upstream(f) => return Code::parse(&f.code),
            ApiError::Blocked(_) => Code::Blocked,
            ApiError::ApprovalBodyTooLarge(_) => Code::ApprovalBodyTooLarge,
            ApiError::UpgradeNotSupported => Code::UpgradeNotSupported,
            ApiError::NotFound => Code::NotFound,
            ApiError::OriginNotAllowed => Code::OriginNotAllowed,
        })
    }

    /// The code as the error body and the audit record carry it.
    pub fn code_str(&self) -> &str {
        match self {
            ApiError::Upstream(f) => &f.code,
            other => other.code().map_or("upstream_failed", Code::as_str),
        }
    }

    /// What the audit record says became of the request.
    pub fn outcome(&self) -> Outcome {
        match self {
            ApiError::Upstream(f) => f.outcome(),
            other => other.code().map_or(Outcome::Failed, Code::outcome),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        let status = match self {
            ApiError::Upstream(f) => f.status,
            other => other.code().map_or(502, Code::status),
        };
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY)
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        if self.status_code() == StatusCode::UNAUTHORIZED {
            res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        res.json(ErrorBody::new(self.code_str(), self.to_string()))
    }
}
