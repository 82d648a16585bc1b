//! Who calls the management API: an admin key (`Authorization: Bearer sga_…`, checked against the
//! stored hashes), or — without an `Authorization` header — a dashboard session. A session's
//! changes (any method but GET/HEAD) need its CSRF token in `X-CSRF-Token` and our own origin,
//! and its user's role allows them: admins everything, approvers reading and deciding approvals,
//! viewers reading.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};
use shellgate_shared::crypto::{ADMIN_KEY_PREFIX, bearer_secret, hash_secret};
use shellgate_shared::db::models::APPROVALS_SCOPE;
use shellgate_shared::db::queries;
use shellgate_shared::ids::AdminKeyId;
use shellgate_shared::states::UserRole;

use crate::context::ApproverContext;
use crate::error::ApiError;

/// An authenticated caller of the management API: an admin key, or a dashboard user.
#[derive(Debug, Clone)]
pub struct Admin {
    /// The admin key; `None` for a dashboard user.
    pub key_id: Option<AdminKeyId>,
    /// The key's name, or the user's.
    pub name: String,
    /// Why this caller may not decide approvals now (a missing step-up or `approvals` scope), as
    /// the stable code and message of the 403; checked by the decision handler itself, after
    /// routing, so no spelling of the path gets around it.
    pub may_not_decide: Option<(&'static str, String)>,
}

impl Admin {
    /// Who, as recorded with a decision: `<key_prefix>:<key name>`, or `user:<name>`.
    pub fn by(&self, key_prefix: &str) -> String {
        match self.key_id {
            Some(_) => format!("{key_prefix}:{}", self.name),
            None => format!("user:{}", self.name),
        }
    }
}

/// Whether this API request decides an approval.
fn is_decision(method: &Method, path: &str) -> bool {
    *method == Method::POST
        && path
            .strip_prefix("/api/approvals/")
            .and_then(|rest| rest.split_once('/'))
            .is_some_and(|(id, what)| !id.is_empty() && matches!(what, "approve" | "deny"))
}

/// Whether a dashboard user's role allows this API request.
fn role_allows(role: UserRole, method: &Method, path: &str) -> bool {
    let decision = is_decision(method, path);
    match role {
        UserRole::Admin => true,
        _ if matches!(*method, Method::GET | Method::HEAD) => true,
        UserRole::Approver => decision,
        UserRole::Viewer => false,
    }
}

/// The request's dashboard session as an API caller, when it carries one its role allows.
async fn session_caller(ctx: &ApproverContext, req: &HttpRequest) -> Result<Option<Admin>, ApiError> {
    let Some(keys) = ctx.dashboard.keys.as_ref() else {
        return Ok(None);
    };
    let Some(session) = crate::dashboard::session::current(ctx, keys, req).await? else {
        return Ok(None);
    };
    let reading = matches!(*req.method(), Method::GET | Method::HEAD);
    if !reading {
        let token = req
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !crate::dashboard::csrf::same_origin(req) || !keys.csrf_matches(&session.id, token) {
            return Err(ApiError::Forbidden(
                "csrf_token_invalid",
                "a change made with a dashboard session needs its CSRF token (X-CSRF-Token) and this site's origin"
                    .into(),
            ));
        }
    }
    if !role_allows(session.user.role, req.method(), req.path()) {
        return Err(ApiError::Forbidden(
            "role_forbidden",
            format!("the role {} may not do this", session.user.role.as_str()),
        ));
    }
    use crate::dashboard::mfa::{DecisionGate, decision_gate};
    let may_not_decide = match decision_gate(ctx, &session.user, session.stepped_up_at) {
        DecisionGate::Open => None,
        DecisionGate::NeedsSecondFactor => Some((
            "second_factor_required",
            "deciding approvals needs two-factor authentication: enrol under My account".to_string(),
        )),
        DecisionGate::NeedsStepUp => Some((
            "step_up_required",
            "deciding approvals needs a fresh two-factor code: confirm at /step-up".to_string(),
        )),
    };
    Ok(Some(Admin {
        key_id: None,
        name: session.user.username,
        may_not_decide,
    }))
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

/// Checks the request's admin key (or dashboard session); on success the caller is kept in the request's extensions
/// (for the handler, and for the admin audit, which records who made each change).
pub async fn authenticate(req: &HttpRequest) -> Result<Admin, ApiError> {
    let ctx = req
        .app_data::<web::Data<Arc<ApproverContext>>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal("approver context missing".into()))?;
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        let admin = session_caller(&ctx, req).await?.ok_or(ApiError::MissingKey)?;
        req.extensions_mut().insert(admin.clone());
        return Ok(admin);
    };
    let value = value.to_str().map_err(|_| ApiError::InvalidKey)?;
    let key = bearer_secret(value, ADMIN_KEY_PREFIX).ok_or(ApiError::InvalidKey)?;
    let found = {
        let mut conn = ctx.conn().await?;
        queries::admin_keys::find_active_admin_key(&mut conn, &hash_secret(key)).await?
    };
    let key = found.ok_or(ApiError::InvalidKey)?;
    let may_not_decide = (ctx.dashboard.require_mfa && !key.scopes.iter().any(|s| s == APPROVALS_SCOPE)).then(|| {
        (
            "approvals_scope_required",
            "with SHELLGATE_REQUIRE_MFA_FOR_APPROVALS set, only admin keys created with the `approvals` \
             scope decide approvals (shellgate admin-key create --scope approvals)"
                .to_string(),
        )
    });
    let admin = Admin {
        key_id: Some(key.id),
        name: key.name,
        may_not_decide,
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
