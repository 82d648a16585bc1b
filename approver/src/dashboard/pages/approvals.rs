//! `/approvals`: the queue a human decides, live. Each approval shows the token, the target and
//! exactly what will run (HTTP: method, path, query, the headers the guard judged, the body's
//! SHA-256; SSH: the command, its environment, the stdin's SHA-256), the rule and reason, and when
//! it expires. Admins and approvers approve or deny with a comment; viewers only look. With
//! JavaScript, htmx re-reads the list on every approval event (SSE from NATS), so a new request
//! or a decision made elsewhere appears without a reload; without it the page is the same, static.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shellgate_shared::approval::{ApprovalStatus, ApprovalView};
use shellgate_shared::db::models::Approval;
use shellgate_shared::db::queries;
use shellgate_shared::ids::{ApprovalId, TargetId, TokenId};
use shellgate_shared::states::{TargetKind, UserRole};
use time::OffsetDateTime;

use super::{signed_in, unavailable, when};
use crate::context::ApproverContext;
use crate::dashboard::mfa::{self, DecisionGate};
use crate::dashboard::session::Session;
use crate::dashboard::{csrf, view};
use crate::error::ApiError;
use crate::handlers::approvals::decide::{Decision, record_decision};

/// Pending approvals shown (newest first), and recently settled ones.
const PENDING_SHOWN: i64 = 200;
const SETTLED_SHOWN: i64 = 20;

/// One approval as the page shows it (every value is text to the template: escaped).
#[derive(Debug, Serialize)]
struct Card {
    id: String,
    status: String,
    kind: String,
    target: String,
    token: String,
    #[serde(skip)]
    token_id: String,
    address: String,
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body_sha256: String,
    /// The beginning of the body (HTTP) or stdin (SSH).
    excerpt: String,
    command: String,
    env: Vec<(String, String)>,
    stdin_sha256: String,
    rule: String,
    reason: String,
    matched: String,
    created_at: String,
    expires_at: String,
    expires_in: String,
    decided_by: String,
    decided_at: String,
    comment: String,
    used_at: String,
    /// The token's latest actions (pending approvals only): what else this agent has been doing.
    history: Vec<Action>,
}

/// One of a token's recent actions, from the audit trail.
#[derive(Debug, Clone, Serialize)]
struct Action {
    at: String,
    what: String,
    outcome: String,
}

/// How many of a token's latest actions a pending approval shows.
const HISTORY: i64 = 5;

fn text(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn pairs(v: &Value) -> Vec<(String, String)> {
    let plain = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::Array(items) => items.iter().map(plain).collect::<Vec<_>>().join(", "),
                        other => plain(other),
                    };
                    (k.clone(), v)
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Card {
    fn new(row: Approval, targets: &HashMap<TargetId, String>, tokens: &HashMap<TokenId, String>) -> Self {
        let excerpt = row.body_excerpt.clone().unwrap_or_default();
        let a = &ApprovalView::from(row);
        let r = &a.request;
        let left = (a.expires_at - OffsetDateTime::now_utc()).whole_seconds();
        Self {
            id: a.id.to_string(),
            status: a.status.as_str().to_string(),
            kind: a.kind.as_str().to_string(),
            target: targets
                .get(&a.target_id)
                .cloned()
                .unwrap_or_else(|| a.target_id.to_string()),
            token_id: a.token_id.to_string(),
            token: tokens
                .get(&a.token_id)
                .cloned()
                .unwrap_or_else(|| a.token_id.to_string()),
            address: text(&r["target"], "address"),
            method: text(r, "method"),
            path: text(r, "path"),
            query: text(r, "query"),
            headers: if a.kind == TargetKind::Http {
                pairs(&r["headers"])
            } else {
                Vec::new()
            },
            body_sha256: text(r, "bodySha256"),
            excerpt,
            command: text(r, "command"),
            env: if a.kind == TargetKind::Ssh {
                pairs(&r["env"])
            } else {
                Vec::new()
            },
            stdin_sha256: text(r, "stdinSha256"),
            rule: a.rule.clone().unwrap_or_default(),
            reason: a.reason.clone(),
            matched: a.matched.clone().unwrap_or_default(),
            created_at: when(Some(a.created_at)),
            expires_at: when(Some(a.expires_at)),
            expires_in: if left > 0 {
                format!("{} min {} s", left / 60, left % 60)
            } else {
                String::new()
            },
            decided_by: a.decided_by.clone().unwrap_or_default(),
            decided_at: when(a.decided_at),
            comment: a.comment.clone().unwrap_or_default(),
            used_at: when(a.used_at),
            history: Vec::new(),
        }
    }
}

/// Which roles decide (with MFA required for approvals, a recent step-up too: `mfa::decision_gate`).
fn may_decide(role: UserRole) -> bool {
    matches!(role, UserRole::Admin | UserRole::Approver)
}

/// Each pending card's token's latest actions (one audit query per token).
async fn add_history(ctx: &ApproverContext, cards: &mut [Card]) -> Result<(), ApiError> {
    let mut by_token: HashMap<String, Vec<Action>> = HashMap::new();
    let mut conn = ctx.conn().await?;
    for card in cards.iter_mut() {
        if !by_token.contains_key(&card.token_id) {
            let filter = queries::audit::AuditFilter {
                token_id: card.token_id.parse().ok(),
                limit: HISTORY,
                ..Default::default()
            };
            let rows = if filter.token_id.is_some() {
                queries::audit::list_audit(&mut conn, &filter).await?
            } else {
                Vec::new()
            };
            let actions = rows
                .into_iter()
                .map(|r| Action {
                    at: when(Some(r.occurred_at)),
                    what: match (&r.method, &r.path) {
                        (Some(m), Some(p)) => format!("{m} {p}"),
                        (None, Some(p)) => p.clone(),
                        _ => r.kind.as_str().to_string(),
                    },
                    outcome: r.outcome.as_str().to_string(),
                })
                .collect();
            by_token.insert(card.token_id.clone(), actions);
        }
        card.history = by_token.get(&card.token_id).cloned().unwrap_or_default();
    }
    Ok(())
}

/// The cards of these approvals, with target and token names.
async fn cards(ctx: &ApproverContext, list: Vec<Approval>) -> Result<Vec<Card>, ApiError> {
    let mut conn = ctx.conn().await?;
    let targets: HashMap<TargetId, String> = queries::targets::list_targets(&mut conn)
        .await?
        .into_iter()
        .map(|t| (t.id, t.slug))
        .collect();
    let tokens: HashMap<TokenId, String> = queries::tokens::list_tokens(&mut conn)
        .await?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect();
    Ok(list.into_iter().map(|a| Card::new(a, &targets, &tokens)).collect())
}

async fn queue(ctx: &ApproverContext) -> Result<(Vec<Card>, Vec<Card>), ApiError> {
    let (pending, settled) = {
        let mut conn = ctx.conn().await?;
        let pending =
            queries::approvals::list_approvals(&mut conn, Some(ApprovalStatus::Pending), PENDING_SHOWN).await?;
        let all = queries::approvals::list_approvals(&mut conn, None, SETTLED_SHOWN + PENDING_SHOWN).await?;
        let settled: Vec<_> = all
            .into_iter()
            .filter(|a| a.status != ApprovalStatus::Pending)
            .take(usize::try_from(SETTLED_SHOWN).unwrap_or(20))
            .collect();
        (pending, settled)
    };
    let mut pending = cards(ctx, pending).await?;
    add_history(ctx, &mut pending).await?;
    let settled = cards(ctx, settled).await?;
    Ok((pending, settled))
}

fn context(ctx: &ApproverContext, s: &Session, page: &str) -> tera::Context {
    let mut c = super::context(ctx, s, page);
    c.insert("may_decide", &may_decide(s.user.role));
    let gate = mfa::decision_gate(ctx, &s.user, s.stepped_up_at);
    c.insert("needs_second_factor", &(gate == DecisionGate::NeedsSecondFactor));
    c.insert("needs_step_up", &(gate == DecisionGate::NeedsStepUp));
    c
}

/// `GET /approvals`: the page.
pub async fn list(ctx: web::Data<Arc<ApproverContext>>, req: HttpRequest) -> HttpResponse {
    queue_page(&ctx, &req, "approvals.html").await
}

/// `GET /approvals/queue`: the list alone, for htmx to swap in on every approval event.
pub async fn fragment(ctx: web::Data<Arc<ApproverContext>>, req: HttpRequest) -> HttpResponse {
    queue_page(&ctx, &req, "approval_queue.html").await
}

async fn queue_page(ctx: &ApproverContext, req: &HttpRequest, template: &str) -> HttpResponse {
    let s = match signed_in(ctx, req).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let Ok((pending, settled)) = queue(ctx).await else {
        return unavailable(ctx);
    };
    let mut c = context(ctx, &s, "approvals");
    c.insert("pending", &pending);
    c.insert("settled", &settled);
    // The whole page keeps itself current; the fragment is what it swaps in.
    c.insert("live", &(template == "approvals.html"));
    view::page(ctx, template, c, StatusCode::OK)
}

/// `GET /approvals/events`: the approval events as SSE, for the page's live list.
pub async fn events(ctx: web::Data<Arc<ApproverContext>>, req: HttpRequest) -> HttpResponse {
    if let Err(res) = signed_in(&ctx, &req).await {
        return res;
    }
    match crate::handlers::approvals::stream::approval_events(&ctx).await {
        Ok(res) => res,
        Err(_) => HttpResponse::ServiceUnavailable().finish(),
    }
}

/// `GET /approvals/{id}`: one approval (the notifiers link here).
pub async fn detail(ctx: web::Data<Arc<ApproverContext>>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let s = match signed_in(&ctx, &req).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let Ok(id) = path.parse::<ApprovalId>() else {
        return view::message(
            &ctx,
            StatusCode::NOT_FOUND,
            "No such approval",
            "That is not an approval's address.",
        );
    };
    let found = async {
        let mut conn = ctx.conn().await?;
        Ok::<_, ApiError>(queries::approvals::find_approval(&mut conn, id).await?)
    };
    let approval = match found.await {
        Ok(Some(a)) => a,
        Ok(None) => {
            return view::message(
                &ctx,
                StatusCode::NOT_FOUND,
                "No such approval",
                "It may have been removed.",
            );
        }
        Err(_) => return unavailable(&ctx),
    };
    let Ok(mut card) = cards(&ctx, vec![approval]).await else {
        return unavailable(&ctx);
    };
    let mut c = context(&ctx, &s, "approvals");
    c.insert("approval", &card.pop());
    view::page(&ctx, "approval.html", c, StatusCode::OK)
}

#[derive(Debug, Deserialize)]
pub struct DecideForm {
    csrf: String,
    comment: Option<String>,
}

/// `POST /approvals/{id}/approve|deny`: a decision, like the API's, made by the signed-in user.
pub async fn decide(
    ctx: web::Data<Arc<ApproverContext>>,
    req: HttpRequest,
    path: web::Path<(String, Decision)>,
    form: web::Form<DecideForm>,
) -> HttpResponse {
    let s = match signed_in(&ctx, &req).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let keys = ctx.dashboard.keys.as_ref();
    if !csrf::same_origin(&req) || !keys.is_some_and(|k| k.csrf_matches(&s.id, &form.csrf)) {
        return view::refused(&ctx);
    }
    if !may_decide(s.user.role) {
        view::audit(
            &ctx,
            &req,
            StatusCode::FORBIDDEN,
            Some("role_cannot_decide"),
            &s.user.username,
        );
        return view::message(
            &ctx,
            StatusCode::FORBIDDEN,
            "Not allowed",
            "Your role may look at approvals but not decide them.",
        );
    }
    let (id, decision) = path.into_inner();
    let Ok(id) = id.parse::<ApprovalId>() else {
        return view::message(
            &ctx,
            StatusCode::NOT_FOUND,
            "No such approval",
            "That is not an approval's address.",
        );
    };
    match mfa::decision_gate(&ctx, &s.user, s.stepped_up_at) {
        DecisionGate::Open => {}
        DecisionGate::NeedsSecondFactor => {
            view::audit(
                &ctx,
                &req,
                StatusCode::FORBIDDEN,
                Some("second_factor_required"),
                &s.user.username,
            );
            return super::second_factor::no_second_factor(&ctx);
        }
        // Nothing decided: the fresh code first, then back to this approval.
        DecisionGate::NeedsStepUp => return view::redirect(&format!("/step-up?next=/approvals/{id}")),
    }
    let by = format!("user:{}", s.user.username);
    let approve = matches!(decision, Decision::Approve);
    match record_decision(&ctx, id, approve, &by, form.comment.as_deref()).await {
        Ok(_) => view::redirect(&format!("/approvals/{id}")),
        Err(ApiError::Conflict(_, message) | ApiError::Validation(_, message)) => {
            view::message(&ctx, StatusCode::CONFLICT, "Not decided", &message)
        }
        Err(ApiError::NotFound(_)) => view::message(
            &ctx,
            StatusCode::NOT_FOUND,
            "No such approval",
            "It may have been removed.",
        ),
        Err(_) => unavailable(&ctx),
    }
}
