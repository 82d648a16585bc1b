//! Admin authentication: `Authorization: Bearer sga_…`, checked against the stored hashes.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};
use shellgate_shared::crypto::{ADMIN_KEY_PREFIX, bearer_secret, hash_secret};
use shellgate_shared::db::queries;
use shellgate_shared::ids::AdminKeyId;

use crate::context::ApproverContext;
use crate::error::ApiError;

/// An authenticated admin (an API key, later also a dashboard session).
#[derive(Debug, Clone)]
pub struct Admin {
    pub key_id: AdminKeyId,
    pub name: String,
}

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // Under `/api` the `authenticate_first` middleware has done it already.
        let known = req.extensions().get::<Admin>().cloned();
        let req = req.clone();
        Box::pin(async move {
            match known {
                Some(admin) => Ok(admin),
                None => authenticate(&req).await,
            }
        })
    }
}

/// Checks the request's admin key; on success the admin is kept in the request's extensions
/// (for the handler, and for the admin audit, which records who made each change).
pub async fn authenticate(req: &HttpRequest) -> Result<Admin, ApiError> {
    let ctx = req
        .app_data::<web::Data<Arc<ApproverContext>>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal("approver context missing".into()))?;
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::MissingKey)?
        .to_str()
        .map_err(|_| ApiError::InvalidKey)?;
    let key = bearer_secret(value, ADMIN_KEY_PREFIX).ok_or(ApiError::InvalidKey)?;
    let found = {
        let mut conn = ctx.conn().await?;
        queries::admin_keys::find_active_admin_key(&mut conn, &hash_secret(key)).await?
    };
    let key = found.ok_or(ApiError::InvalidKey)?;
    let admin = Admin {
        key_id: key.id,
        name: key.name,
    };
    req.extensions_mut().insert(admin.clone());
    Ok(admin)
}

/// Middleware for the management API: the key is checked before anything reads the request
/// body, so a caller without a valid key learns nothing about the API's schema (401, never 400).
pub async fn authenticate_first(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    match authenticate(req.request()).await {
        Ok(_) => Ok(next.call(req).await?.map_into_left_body()),
        Err(e) => Ok(req.error_response(e).map_into_right_body()),
    }
}
