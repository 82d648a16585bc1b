//! `/`: the overview — who is signed in, what waits, and the next step on a fresh install.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use shellgate_shared::db::queries;

use super::{anyone, not_configured, unavailable};
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
    let counts = async {
        let mut conn = ctx.conn().await?;
        let pending = queries::approvals::count_pending(&mut conn).await?;
        let targets = queries::targets::count_targets(&mut conn).await?;
        let tokens = queries::tokens::count_tokens(&mut conn).await?;
        Ok::<_, crate::error::ApiError>((pending, targets, tokens))
    };
    let Ok((pending, targets, tokens)) = counts.await else {
        return unavailable(&ctx);
    };
    let mut c = tera::Context::new();
    c.insert("user", &session.user.username);
    c.insert("role", session.user.role.as_str());
    c.insert("csrf", &keys.csrf_token(&session.id));
    c.insert("page", "overview");
    c.insert("pending", &pending);
    c.insert("targets", &targets);
    c.insert("tokens", &tokens);
    view::page(&ctx, "home.html", c, StatusCode::OK)
}
