//! The approver's one error type at the HTTP edge; `status_code` is an exhaustive match.
//! 5xx bodies are generic; the cause is logged once, here.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};
use shellgate_shared::error::ErrorBody;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing admin API key")]
    MissingKey,
    #[error("invalid admin API key")]
    InvalidKey,
    #[error("{1}")]
    Validation(&'static str, String),
    #[error("malformed id")]
    InvalidId,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{1}")]
    Conflict(&'static str, String),
    /// Authenticated, but not allowed (a dashboard user's role, a missing CSRF token).
    #[error("{1}")]
    Forbidden(&'static str, String),
    #[error("database unavailable")]
    Unavailable,
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn validation(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Validation(code, message.into())
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MissingKey => "missing_admin_key",
            ApiError::InvalidKey => "invalid_admin_key",
            ApiError::Validation(code, _) | ApiError::Conflict(code, _) | ApiError::Forbidden(code, _) => code,
            ApiError::InvalidId => "invalid_id",
            ApiError::NotFound(_) => "not_found",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal(_) => "internal_error",
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::MissingKey | ApiError::InvalidKey => StatusCode::UNAUTHORIZED,
            ApiError::Validation(..) | ApiError::InvalidId => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(..) => StatusCode::CONFLICT,
            ApiError::Forbidden(..) => StatusCode::FORBIDDEN,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            ApiError::Internal(detail) => {
                tracing::error!(detail = %detail, "internal error");
                "internal error".to_string()
            }
            other => other.to_string(),
        };
        let mut res = HttpResponse::build(self.status_code());
        if self.status_code() == StatusCode::UNAUTHORIZED {
            res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        let mut res = res.json(ErrorBody::new(self.code(), message));
        res.extensions_mut().insert(ErrorCode(self.code()));
        res
    }
}

/// The stable code of an error answer, kept on the response for the admin audit.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

/// Parses an id from the path; a malformed one is 400, never a 404 or a 500.
pub fn parse_id<T: std::str::FromStr>(s: &str) -> Result<T, ApiError> {
    s.parse().map_err(|_| ApiError::InvalidId)
}

/// JSON and query extractor errors as 400 with a stable code.
pub fn json_config() -> actix_web::web::JsonConfig {
    actix_web::web::JsonConfig::default()
        .limit(256 * 1024)
        .error_handler(|err, _| {
            let e = ApiError::validation("invalid_json", format!("request body: {err}"));
            actix_web::error::InternalError::from_response(err, e.error_response()).into()
        })
}

pub fn query_config() -> actix_web::web::QueryConfig {
    actix_web::web::QueryConfig::default().error_handler(|err, _| {
        let e = ApiError::validation("invalid_query", format!("query: {err}"));
        actix_web::error::InternalError::from_response(err, e.error_response()).into()
    })
}
