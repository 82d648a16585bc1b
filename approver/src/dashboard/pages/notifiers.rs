//! `/notifiers`: where approval requests are announced (signed webhooks, Slack), and the
//! notifications that could not be delivered (dead letters). Everyone signed in reads it; admins
//! add a notifier (a generated signing secret is shown once), enable or disable one, give it a
//! new URL or secret, or delete it — through the management API's own functions. The notifiers
//! the settings configure (`SHELLGATE_NOTIFY_*`) are named but not changed here.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use shellgate_shared::db::queries;
use shellgate_shared::ids::NotifierId;

use super::{Form, acting, admin_post, admins, change, context, finish, form_error, signed_in, unavailable, when};
use crate::context::ApproverContext;
use crate::dashboard::session::Session;
use crate::dashboard::view;
use crate::error::ApiError;
use crate::handlers::notifiers::{self as api, CreateNotifierRequest, NotifierResponse, UpdateNotifierRequest};

/// Dead letters shown (newest first).
const DEAD_LETTERS_SHOWN: i64 = 50;

#[derive(Serialize)]
struct Letter {
    notifier: String,
    approval_id: String,
    event: String,
    attempts: i32,
    last_error: String,
    created_at: String,
}

async fn list_page(ctx: &ApproverContext, s: &Session, status: StatusCode, error: Option<&str>) -> HttpResponse {
    let listed = async {
        let mut conn = ctx.conn().await?;
        let notifiers: Vec<NotifierResponse> = queries::notifications::list_notifiers(&mut conn)
            .await?
            .into_iter()
            .map(NotifierResponse::from)
            .collect();
        let letters = queries::notifications::list_dead_letters(&mut conn, DEAD_LETTERS_SHOWN).await?;
        Ok::<_, ApiError>((notifiers, letters))
    };
    let Ok((notifiers, letters)) = listed.await else {
        return unavailable(ctx);
    };
    let letters: Vec<Letter> = letters
        .into_iter()
        .map(|d| Letter {
            notifier: d.notifier,
            approval_id: d.approval_id.to_string(),
            event: d.event,
            attempts: d.attempts,
            last_error: d.last_error,
            created_at: when(Some(d.created_at)),
        })
        .collect();
    let configured: Vec<String> = crate::notify::delivery::configured(&ctx.settings)
        .into_iter()
        .map(|n| n.name)
        .collect();
    let mut c = context(ctx, s, "notifiers");
    c.insert("notifiers", &notifiers);
    c.insert("configured", &configured);
    c.insert("letters", &letters);
    c.insert("keyed", &ctx.notifier_key.is_some());
    c.insert("error", &error);
    view::page(ctx, "notifiers.html", c, status)
}

/// `GET /notifiers`
pub async fn list(ctx: web::Data<Arc<ApproverContext>>, req: HttpRequest) -> HttpResponse {
    match signed_in(&ctx, &req).await {
        Ok(s) => list_page(&ctx, &s, StatusCode::OK, None).await,
        Err(res) => res,
    }
}

/// Done: the generated secret shown once, or back to the list.
fn done(ctx: &ApproverContext, req: &HttpRequest, s: &Session, n: NotifierResponse) -> HttpResponse {
    view::audit(ctx, req, StatusCode::OK, None, &s.user.username);
    match &n.signing_secret {
        Some(secret) => super::shown_once(
            ctx,
            s,
            "notifiers",
            &format!("Signing secret of {}", n.name),
            "The receiver checks each notification's signature with it (see docs/protocol.md).",
            secret,
            "/notifiers",
        ),
        None => view::redirect("/notifiers"),
    }
}

/// `POST /notifiers/new`: name, kind, URL, and optionally a secret (else one is generated).
pub async fn create(ctx: web::Data<Arc<ApproverContext>>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let form = Form::parse(&body);
    let s = match change(&ctx, &req, &form, admins).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let request = CreateNotifierRequest {
        name: form.text("name").unwrap_or_default(),
        kind: form.text("kind").unwrap_or_default(),
        url: form.text("url").unwrap_or_default(),
        secret: form.text("secret"),
        enabled: Some(true),
    };
    match api::create(&ctx, &acting(&s), request).await {
        Ok(n) => done(&ctx, &req, &s, n),
        Err(e) => {
            let msg = form_error(&ctx, &req, &s, &e);
            list_page(&ctx, &s, actix_web::ResponseError::status_code(&e), Some(&msg)).await
        }
    }
}

/// `POST /notifiers/{id}`: `enabled` ticked or not, and optionally a new URL, a new secret, or
/// `regenerate` for a generated one.
pub async fn edit(
    ctx: web::Data<Arc<ApproverContext>>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (form, s, id) = match admin_post::<NotifierId>(&ctx, &req, &body, &path, "notifier").await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let request = UpdateNotifierRequest {
        name: None,
        url: form.text("url"),
        secret: form.text("secret"),
        regenerate_secret: form.checked("regenerate"),
        enabled: Some(form.checked("enabled")),
    };
    match api::update(&ctx, &acting(&s), &id.to_string(), request).await {
        Ok(n) => done(&ctx, &req, &s, n),
        Err(e) => {
            let msg = form_error(&ctx, &req, &s, &e);
            list_page(&ctx, &s, actix_web::ResponseError::status_code(&e), Some(&msg)).await
        }
    }
}

/// `POST /notifiers/{id}/delete`
pub async fn remove(
    ctx: web::Data<Arc<ApproverContext>>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (_, s, id) = match admin_post::<NotifierId>(&ctx, &req, &body, &path, "notifier").await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let deleted = api::delete(&ctx, &acting(&s), &id.to_string()).await;
    finish(&ctx, &req, &s, deleted.map(|()| "/notifiers".to_string()))
}
