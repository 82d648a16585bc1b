//! `/guard`: the rules that decide what runs. The built-in pack (read-only), the custom rules
//! of a scope (every target, or one), a rule editor that validates as the API does, and a "try
//! it" box: the decision and the matching rule for a command or an HTTP request under the
//! scope's rules — with the rule being edited, before it is saved.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use shellgate_shared::db::models::Target;
use shellgate_shared::db::queries;
use shellgate_shared::guard::{Guard, HttpRequestView, Rule};

use super::{Form, admins, change, context, finish, signed_in, unavailable};
use crate::context::ApproverContext;
use crate::dashboard::session::Session;
use crate::dashboard::view;
use crate::error::ApiError;
use crate::handlers::guard_rules;

#[derive(Debug, Deserialize)]
pub struct Scope {
    target: Option<String>,
}

/// One rule as the page lists it.
#[derive(Debug, Serialize)]
struct Line {
    id: String,
    kind: String,
    verdict: String,
    reason: String,
    json: String,
}

impl Line {
    fn of(rule: &Rule) -> Self {
        let value = serde_json::to_value(rule).unwrap_or_default();
        let text = |k: &str| value[k].as_str().unwrap_or_default().to_string();
        Self {
            id: rule.id.clone(),
            kind: text("kind"),
            verdict: text("verdict"),
            reason: text("reason"),
            json: serde_json::to_string_pretty(&value).unwrap_or_default(),
        }
    }
}

/// What "try it" was asked and what the guard said.
#[derive(Debug, Default, Serialize)]
struct Trial {
    kind: String,
    command: String,
    stdin: String,
    method: String,
    path: String,
    query: String,
    body: String,
    /// The rule being edited took part.
    with_draft: bool,
    verdict: String,
    rule: String,
    reason: String,
    matched: String,
}

/// The scope's target (by slug), the targets to choose from, and the scope's custom rules in the
/// order the gateway applies them (global, then the target's).
struct Scoped {
    target: Option<Target>,
    targets: Vec<Target>,
    own: Vec<Rule>,
    applied: Vec<Rule>,
}

async fn scoped(ctx: &ApproverContext, slug: Option<&str>) -> Result<Scoped, ApiError> {
    let mut conn = ctx.conn().await?;
    let targets = queries::targets::list_targets(&mut conn).await?;
    let target = match slug {
        Some(slug) => Some(
            targets
                .iter()
                .find(|t| t.slug == slug)
                .cloned()
                .ok_or(ApiError::NotFound("target"))?,
        ),
        None => None,
    };
    let parse = |rows: Vec<shellgate_shared::db::models::GuardRuleRow>| -> Vec<Rule> {
        rows.into_iter()
            .filter_map(|r| serde_json::from_value(r.rule).ok())
            .collect()
    };
    let global = parse(queries::guard_rules::list_rules(&mut conn, None).await?);
    let (own, applied) = match &target {
        Some(t) => {
            let own = parse(queries::guard_rules::list_rules(&mut conn, Some(t.id)).await?);
            let mut applied = global;
            applied.extend(own.iter().cloned());
            (own, applied)
        }
        None => (global.clone(), global),
    };
    Ok(Scoped {
        target,
        targets,
        own,
        applied,
    })
}

/// The answer when the scope cannot be read: no such target, or no database.
fn scope_error(ctx: &ApproverContext, e: &ApiError) -> HttpResponse {
    match e {
        ApiError::NotFound(_) => view::message(
            ctx,
            StatusCode::NOT_FOUND,
            "No such target",
            "There is no target with that slug (any more).",
        ),
        _ => unavailable(ctx),
    }
}

fn render(
    ctx: &ApproverContext,
    s: &Session,
    scope: &Scoped,
    draft: &str,
    trial: Option<&Trial>,
    error: Option<&str>,
) -> HttpResponse {
    let mut c = context(ctx, s, "guard");
    let slugs: Vec<&str> = scope.targets.iter().map(|t| t.slug.as_str()).collect();
    c.insert("targets", &slugs);
    c.insert("scope", &scope.target.as_ref().map(|t| t.slug.clone()));
    c.insert("scope_kind", &scope.target.as_ref().map(|t| t.kind.as_str()));
    c.insert("own", &scope.own.iter().map(Line::of).collect::<Vec<_>>());
    c.insert(
        "builtin",
        &Guard::builtin_rules().iter().map(Line::of).collect::<Vec<_>>(),
    );
    c.insert("draft", draft);
    c.insert("trial", &trial);
    c.insert("error", &error);
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    view::page(ctx, "guard.html", c, status)
}

/// `GET /guard?target=<slug>`
pub async fn page(ctx: web::Data<Arc<ApproverContext>>, req: HttpRequest, q: web::Query<Scope>) -> HttpResponse {
    let s = match signed_in(&ctx, &req).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    match scoped(&ctx, q.target.as_deref().filter(|t| !t.is_empty())).await {
        Ok(scope) => render(&ctx, &s, &scope, "", None, None),
        Err(e) => scope_error(&ctx, &e),
    }
}

/// The rule in the editor: one JSON object with its `id`, checked as the API checks it.
fn draft_rule(form: &Form) -> Result<Option<Rule>, ApiError> {
    let Some(text) = form.text("rule") else {
        return Ok(None);
    };
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| ApiError::validation("invalid_rule", format!("the rule is not JSON: {e}")))?;
    let id = value["id"]
        .as_str()
        .filter(|id| !id.trim().is_empty())
        .ok_or_else(|| ApiError::validation("invalid_rule", "the rule needs an \"id\""))?
        .to_string();
    guard_rules::parse_rule(&id, value).map(Some)
}

fn judge(scope: &Scoped, draft: Option<Rule>, form: &Form) -> Result<Trial, ApiError> {
    let with_draft = draft.is_some();
    let mut rules = scope.applied.clone();
    rules.extend(draft);
    let guard = Guard::with_rules(&rules).map_err(|e| ApiError::validation("invalid_rule", e.to_string()))?;
    let v = |name: &str| form.raw(name).unwrap_or_default().to_string();
    let mut trial = Trial {
        kind: v("try_kind"),
        command: v("command"),
        stdin: v("stdin"),
        method: v("method"),
        path: v("path"),
        query: v("query"),
        body: v("body"),
        with_draft,
        ..Trial::default()
    };
    let decision = if trial.kind == "http" {
        let method = trial.method.trim().to_ascii_uppercase();
        let path = match trial.path.trim() {
            "" => "/".to_string(),
            p if p.starts_with('/') => p.to_string(),
            p => format!("/{p}"),
        };
        let query = trial.query.trim().trim_start_matches('?').to_string();
        guard.check_http(&HttpRequestView {
            method: if method.is_empty() { "GET" } else { &method },
            path: &path,
            query: (!query.is_empty()).then_some(query.as_str()),
            headers: &[],
            body: (!trial.body.is_empty()).then_some(trial.body.as_bytes()),
            query_api: scope.target.as_ref().and_then(|t| t.query_api).map(Into::into),
        })
    } else {
        trial.kind = "ssh".into();
        let stdin = (!trial.stdin.is_empty()).then_some(trial.stdin.as_str());
        guard.check_ssh(&trial.command, stdin)
    };
    trial.verdict = decision.verdict.as_str().to_string();
    trial.rule = decision.rule.unwrap_or_default();
    trial.reason = decision.reason;
    trial.matched = decision.matched.unwrap_or_default();
    Ok(trial)
}

/// `POST /guard/try`: the decision, changing nothing (anyone signed in may try).
pub async fn try_it(ctx: web::Data<Arc<ApproverContext>>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let form = Form::parse(&body);
    let s = match change(&ctx, &req, &form, |_| true).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let scope = match scoped(&ctx, form.text("target").as_deref()).await {
        Ok(scope) => scope,
        Err(e) => return scope_error(&ctx, &e),
    };
    let draft = form.raw("rule").unwrap_or_default();
    match draft_rule(&form).and_then(|d| judge(&scope, d, &form)) {
        Ok(trial) => render(&ctx, &s, &scope, draft, Some(&trial), None),
        Err(e) => render(&ctx, &s, &scope, draft, None, Some(&e.to_string())),
    }
}

fn back(scope: &Scoped) -> String {
    match &scope.target {
        Some(t) => format!("/guard?target={}", t.slug),
        None => "/guard".into(),
    }
}

/// `POST /guard/rules`: saves the rule in the editor to the scope.
pub async fn save(ctx: web::Data<Arc<ApproverContext>>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let form = Form::parse(&body);
    let s = match change(&ctx, &req, &form, admins).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let scope = match scoped(&ctx, form.text("target").as_deref()).await {
        Ok(scope) => scope,
        Err(e) => return scope_error(&ctx, &e),
    };
    let saved = async {
        let rule = draft_rule(&form)?.ok_or_else(|| ApiError::validation("invalid_rule", "write a rule first"))?;
        let value = serde_json::to_value(&rule).map_err(|e| ApiError::Internal(e.to_string()))?;
        guard_rules::put(&ctx, scope.target.as_ref().map(|t| t.id), &rule.id, value).await
    };
    match saved.await {
        Ok(_) => finish(&ctx, &req, &s, Ok(back(&scope))),
        Err(e) => {
            let message = super::form_error(&ctx, &req, &s, &e);
            render(
                &ctx,
                &s,
                &scope,
                form.raw("rule").unwrap_or_default(),
                None,
                Some(&message),
            )
        }
    }
}

/// `POST /guard/rules/remove`: removes a custom rule of the scope (a built-in one it overrode
/// applies again).
pub async fn remove(ctx: web::Data<Arc<ApproverContext>>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let form = Form::parse(&body);
    let s = match change(&ctx, &req, &form, admins).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let scope = match scoped(&ctx, form.text("target").as_deref()).await {
        Ok(scope) => scope,
        Err(e) => return scope_error(&ctx, &e),
    };
    let id = form.text("rule_id").unwrap_or_default();
    let outcome = guard_rules::delete(&ctx, scope.target.as_ref().map(|t| t.id), &id)
        .await
        .map(|()| back(&scope));
    finish(&ctx, &req, &s, outcome)
}
