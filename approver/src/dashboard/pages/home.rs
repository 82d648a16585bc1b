//! `/`: the overview — agent requests, failures and refusals over 24 hours, what waits for a
//! decision, tokens active, the latest actions, the executors alive per pool (their NATS
//! heartbeats), and the next step on a fresh install.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use shellgate_shared::audit::{AuditEvent, Outcome};
use shellgate_shared::db::queries;
use shellgate_shared::db::queries::audit::AuditFilter;

use super::{anyone, audit, not_configured, unavailable};
use crate::context::ApproverContext;
use crate::dashboard::{session, view};

pub async fn overview(ctx: web::Data<Arc<ApproverContext>>, req: HttpRequest) -> HttpResponse {
    let Some(keys) = ctx.dashboard.keys.as_ref() else {
        return not_configured(&ctx);
    };
    match anyone(&ctx).await {
        Ok(false) => return view::redirect("/setup"),
        Ok(true) => {}
        Err(_) => return unavailable(&ctx),
    }
    let session = match session::current(&ctx, keys, &req).await {
        Ok(Some(s)) => s,
        Ok(None) => return view::redirect("/login"),
        Err(_) => return unavailable(&ctx),
    };
    let day_ago = time::OffsetDateTime::now_utc() - time::Duration::hours(24);
    let figures = async {
        let mut conn = ctx.conn().await?;
        let outcomes = match ctx.dashboard.day_outcomes.fresh() {
            Some(cached) => cached,
            None => {
                let counted = queries::audit::outcomes_since(&mut conn, day_ago).await?;
                ctx.dashboard.day_outcomes.keep(counted.clone());
                counted
            }
        };
        let figures = Figures {
            pending: queries::approvals::count_pending(&mut conn).await?,
            targets: queries::targets::count_targets(&mut conn).await?,
            tokens: queries::tokens::count_tokens(&mut conn).await?,
            tokens_active: queries::tokens::count_used_since(&mut conn, day_ago).await?,
            requests: outcomes.iter().map(|(_, n)| n).sum(),
            failed: count(&outcomes, &[Outcome::Failed]),
            refused: count(&outcomes, &[Outcome::Refused, Outcome::Blocked]),
        };
        let recent = queries::audit::list_audit(
            &mut conn,
            &AuditFilter {
                limit: RECENT,
                ..AuditFilter::default()
            },
        )
        .await?;
        drop(conn);
        let names = audit::token_names(&ctx).await?;
        let recent: Vec<_> = recent
            .into_iter()
            .map(|r| audit::line(&AuditEvent::from(r), &names))
            .collect();
        Ok::<_, crate::error::ApiError>((figures, recent))
    };
    let Ok((figures, recent)) = figures.await else {
        return unavailable(&ctx);
    };
    let mut c = tera::Context::new();
    c.insert("user", &session.user.username);
    c.insert("role", session.user.role.as_str());
    c.insert("csrf", &keys.csrf_token(&session.id));
    c.insert("page", "overview");
    c.insert("f", &figures);
    c.insert("recent", &recent);
    c.insert("executors", &ctx.executors.alive());
    view::page(&ctx, "home.html", c, StatusCode::OK)
}

/// Recent actions the overview lists.
const RECENT: i64 = 10;

/// The overview's figures (agent actions: the last 24 hours).
#[derive(Debug, Serialize)]
struct Figures {
    pending: i64,
    targets: i64,
    tokens: i64,
    tokens_active: i64,
    requests: i64,
    failed: i64,
    refused: i64,
}

fn count(outcomes: &[(Outcome, i64)], which: &[Outcome]) -> i64 {
    outcomes.iter().filter(|(o, _)| which.contains(o)).map(|(_, n)| n).sum()
}
