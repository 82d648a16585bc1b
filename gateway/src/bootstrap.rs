//! What an agent learns first (`GET /bootstrap`, the MCP tools `bootstrap` and `discover`): a
//! policy text written from its token's settings, and the targets it may use — each with how to
//! reach it through Shellgate, never a credential. One function builds it for REST and MCP.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use shellgate_shared::db::queries;
use shellgate_shared::error::Code;
use shellgate_shared::ids::{TargetId, TokenId};
use shellgate_shared::states::{ApprovalPolicy, Capability, TargetKind};
use time::OffsetDateTime;

use crate::auth::{Grant, Principal, authenticate_request};
use crate::context::GatewayContext;
use crate::error::ApiError;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bootstrap {
    /// How to work through Shellgate, for the agent to follow (ending with the organisation's
    /// policy when an admin set one).
    pub policy: String,
    /// The organisation's policy alone (`PUT /api/policy` on the approver), when set.
    pub organization_policy: Option<String>,
    pub token: TokenSummary,
    pub targets: Vec<TargetSummary>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenSummary {
    pub id: TokenId,
    pub name: String,
    pub approval_policy: ApprovalPolicy,
    pub capabilities: Vec<Capability>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetSummary {
    pub id: TargetId,
    pub slug: String,
    pub name: String,
    pub kind: TargetKind,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// HTTP: where to send requests (`/gateway/<slug>/<path>`), and where they go from there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// SSH: where to post commands, and the server they run on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exec_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

impl TargetSummary {
    fn new(grant: &Grant) -> Self {
        let a = &grant.about;
        let http = grant.kind == TargetKind::Http;
        Self {
            id: grant.target_id,
            slug: grant.slug.clone(),
            name: a.name.clone(),
            kind: grant.kind,
            description: a.description.clone(),
            proxy_path: http.then(|| format!("/gateway/{}", grant.slug)),
            base_url: a.base_url.clone().filter(|_| http),
            exec_path: (!http).then(|| format!("/ssh/{}/exec", grant.slug)),
            host: a.ssh_host.clone().filter(|_| !http),
            port: a.ssh_port.filter(|_| !http),
            user: a.ssh_username.clone().filter(|_| !http),
        }
    }
}

/// The bootstrap of a principal: its usable (enabled) targets, sorted by slug, and the policy —
/// the organisation's read fresh, so an admin's change applies to the next bootstrap.
pub async fn bootstrap(ctx: &GatewayContext, principal: &Principal) -> Result<Bootstrap, ApiError> {
    let organization_policy = {
        let unavailable = |e: &dyn std::fmt::Display| {
            tracing::error!(error = %e, "reading the organisation policy failed");
            ApiError::Unavailable(Code::PolicyUnavailable)
        };
        let mut conn = ctx.db.get().await.map_err(|e| unavailable(&e))?;
        queries::org_policy::get_policy(&mut conn)
            .await
            .map_err(|e| unavailable(&e))?
            .map(|p| p.text)
    };
    let mut targets: Vec<TargetSummary> = principal
        .grants
        .values()
        .filter(|g| g.enabled)
        .map(TargetSummary::new)
        .collect();
    targets.sort_by(|a, b| a.slug.cmp(&b.slug));
    let token = &principal.token;
    let mut policy = policy_text(token.name.as_str(), token.approval_policy, &targets);
    if let Some(org) = &organization_policy {
        policy.push_str("\nYour organisation's policy (follow it as well):\n");
        policy.push_str(org);
        policy.push('\n');
    }
    Ok(Bootstrap {
        policy,
        organization_policy,
        token: TokenSummary {
            id: token.id,
            name: token.name.clone(),
            approval_policy: token.approval_policy,
            capabilities: token.capabilities.clone(),
            expires_at: token.expires_at,
        },
        targets,
    })
}

fn policy_text(token: &str, approval: ApprovalPolicy, targets: &[TargetSummary]) -> String {
    let mut text = format!(
        "You act through Shellgate with the token {token:?}. Shellgate adds each target's credentials \
         itself: you never need, see or ask for them, and any secret a target echoes back is masked.\n"
    );
    if targets.is_empty() {
        text.push_str("This token may not use any target yet; ask an administrator to grant one.\n");
    } else {
        text.push_str("Targets you may use:\n");
        for t in targets {
            let line = match t.kind {
                TargetKind::Http => format!(
                    "- {} ({}): HTTP API at {}, called with api_request (REST: {}/<path>)\n",
                    t.slug,
                    t.name,
                    t.base_url.as_deref().unwrap_or("?"),
                    t.proxy_path.as_deref().unwrap_or("?"),
                ),
                TargetKind::Ssh => format!(
                    "- {} ({}): server {}@{}, commands run with ssh_exec (REST: POST {})\n",
                    t.slug,
                    t.name,
                    t.user.as_deref().unwrap_or("?"),
                    t.host.as_deref().unwrap_or("?"),
                    t.exec_path.as_deref().unwrap_or("?"),
                ),
            };
            text.push_str(&line);
        }
    }
    text.push_str(
        "Every request is checked by a guard and recorded. A blocked request never runs: do not try \
         to work around it. A request that needs a human's approval answers approval_required with \
         an approval_id: tell the user what you asked for, wait with approval_status, then repeat \
         exactly the same call with that approval_id; it runs once.\n",
    );
    if approval == ApprovalPolicy::AgentConfirm {
        text.push_str(
            "This token may confirm such requests itself (approved: true) — only when the user has \
             asked for exactly that action.\n",
        );
    }
    text
}

#[derive(Debug, serde::Deserialize)]
pub struct BootstrapQuery {
    /// `text`: the policy text alone, as `text/plain` (what an agent's session-start hook prints).
    format: Option<String>,
}

/// `GET /bootstrap` (and `/discovery`): the same JSON as the MCP tool; `?format=text` the policy.
pub async fn get_bootstrap(
    ctx: web::Data<Arc<GatewayContext>>,
    req: HttpRequest,
    query: web::Query<BootstrapQuery>,
) -> Result<HttpResponse, ApiError> {
    let principal = authenticate_request(&ctx, &req).await?;
    let b = bootstrap(&ctx, &principal).await?;
    match query.format.as_deref() {
        None | Some("json") => Ok(HttpResponse::Ok().json(b)),
        Some("text") => Ok(HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body(b.policy)),
        Some(_) => Err(ApiError::BadRequest(Code::BadRequest, "format must be json or text")),
    }
}
