//! The gateway's one error type at the HTTP edge. `status_code` is an exhaustive match: a new
//! variant must decide its status. 5xx bodies are generic; details are logged where they occur.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};
use shellgate_shared::bus::messages::StreamFailure;
use shellgate_shared::error::ErrorBody;
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
    #[error("bad request: {1}")]
    BadRequest(&'static str, &'static str),
    /// Bad input, with a message naming what was wrong.
    #[error("{1}")]
    Invalid(&'static str, String),
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(u64),
    #[error("no executor serves this target's pool")]
    NoExecutor,
    #[error("no executor accepted the request in time")]
    ExecutorTimeout,
    #[error("the executor stopped responding")]
    ExecutorLost,
    #[error("{}", .0.message)]
    Upstream(StreamFailure),
    #[error("temporarily unavailable")]
    Unavailable(&'static str),
    /// An approval that cannot be used (pending, denied, expired, used, another request).
    #[error("{1}")]
    Approval(&'static str, &'static str),
    /// A request that needs an approval has a body too large to bind and hold.
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
}

impl ApiError {
    pub fn code(&self) -> &str {
        match self {
            ApiError::UnsafePath(e) => e.code(),
            ApiError::MissingToken => "missing_token",
            ApiError::InvalidToken => "invalid_token",
            ApiError::TokenRevoked => "token_revoked",
            ApiError::TokenExpired => "token_expired",
            ApiError::TokenDisabled => "token_disabled",
            ApiError::TargetNotFound => "target_not_found",
            ApiError::TargetDisabled => "target_disabled",
            ApiError::BadRequest(code, _) | ApiError::Invalid(code, _) => code,
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::NoExecutor => "no_executor",
            ApiError::ExecutorTimeout => "executor_timeout",
            ApiError::ExecutorLost => "executor_lost",
            ApiError::Upstream(f) => &f.code,
            ApiError::Unavailable(code) => code,
            ApiError::Approval(code, _) => code,
            ApiError::Blocked(_) => "blocked",
            ApiError::ApprovalBodyTooLarge(_) => "approval_body_too_large",
            ApiError::UpgradeNotSupported => "upgrade_not_supported",
            ApiError::NotFound => "not_found",
        }
    }

    /// Whether the request was refused by policy (vs. failed in transit), for the audit record.
    pub fn is_refusal(&self) -> bool {
        self.status_code().is_client_error()
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::UnsafePath(_) | ApiError::BadRequest(..) | ApiError::Invalid(..) => StatusCode::BAD_REQUEST,
            ApiError::MissingToken
            | ApiError::InvalidToken
            | ApiError::TokenRevoked
            | ApiError::TokenExpired
            | ApiError::TokenDisabled => StatusCode::UNAUTHORIZED,
            ApiError::TargetNotFound | ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::UpgradeNotSupported => StatusCode::NOT_IMPLEMENTED,
            ApiError::TargetDisabled | ApiError::Blocked(_) => StatusCode::FORBIDDEN,
            ApiError::Approval("approval_not_found", _) => StatusCode::NOT_FOUND,
            ApiError::Approval(..) => StatusCode::FORBIDDEN,
            ApiError::PayloadTooLarge(_) | ApiError::ApprovalBodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NoExecutor | ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::ExecutorTimeout => StatusCode::GATEWAY_TIMEOUT,
            ApiError::ExecutorLost => StatusCode::BAD_GATEWAY,
            ApiError::Upstream(f) => StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_GATEWAY),
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        if self.status_code() == StatusCode::UNAUTHORIZED {
            res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        res.json(ErrorBody::new(self.code(), self.to_string()))
    }
}
