//! Admin authentication: `Authorization: Bearer sga_…`, checked against the stored hashes.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};
use shellgate_shared::crypto::{ADMIN_KEY_PREFIX, hash_secret, is_well_formed_secret};
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
        let ctx = req.app_data::<web::Data<Arc<ApproverContext>>>().cloned();
        let req = req.clone();
        let value = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().map(str::to_string));
        Box::pin(async move {
            let ctx = ctx.ok_or_else(|| ApiError::Internal("approver context missing".into()))?;
            let value = value.ok_or(ApiError::MissingKey)?.map_err(|_| ApiError::InvalidKey)?;
            let (scheme, key) = value.trim().split_once(' ').ok_or(ApiError::InvalidKey)?;
            let key = key.trim();
            if !scheme.eq_ignore_ascii_case("bearer") || !is_well_formed_secret(ADMIN_KEY_PREFIX, key) {
                return Err(ApiError::InvalidKey);
            }
            let mut conn = ctx.conn().await?;
            let found = queries::admin_keys::find_active_admin_key(&mut conn, &hash_secret(key)).await?;
            let key = found.ok_or(ApiError::InvalidKey)?;
            let admin = Admin {
                key_id: key.id,
                name: key.name,
            };
            // For the admin audit (`admin_audit`), which records who made each change.
            req.extensions_mut().insert(admin.clone());
            Ok(admin)
        })
    }
}
