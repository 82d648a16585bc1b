//! `/targets`: the APIs and servers agents may use, in HTTP and SSH tabs with pool, status and
//! last use; creating and editing them, enabling and disabling, replacing or removing the
//! credential (never shown back: only its type and hint), an SSH target's host keys (accept a
//! key a server presented, reject it, or pin one), its guard rules, and deleting it after typing
//! its slug. Every change goes through the same functions as the management API.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use shellgate_shared::credential::Credential;
use shellgate_shared::db::queries;
use shellgate_shared::ids::TargetId;
use shellgate_shared::states::TargetKind;

use super::{Form, acting, admin_post, admins, change, context, finish, form_error, signed_in, unavailable};
use crate::context::ApproverContext;
use crate::dashboard::view;
use crate::error::ApiError;
use crate::handlers::targets::create::CreateTargetRequest;
use crate::handlers::targets::host_keys::AcceptHostKey;
use crate::handlers::targets::update::UpdateTargetRequest;
use crate::handlers::targets::{create, credential, delete, host_keys, update};
use crate::views::TargetResponse;

#[derive(Debug, Deserialize)]
pub struct Tab {
    kind: Option<String>,
}

fn tab(q: &Tab) -> TargetKind {
    match q.kind.as_deref() {
        Some("ssh") => TargetKind::Ssh,
        _ => TargetKind::Http,
    }
}

async fn all_targets(ctx: &ApproverContext) -> Result<Vec<TargetResponse>, ApiError> {
    let mut conn = ctx.conn().await?;
    let mut creds: std::collections::HashMap<_, _> = queries::credentials::list_credentials(&mut conn)
        .await?
        .into_iter()
        .map(|c| (c.target_id, c))
        .collect();
    Ok(queries::targets::list_targets(&mut conn)
        .await?
        .into_iter()
        .map(|t| {
            let c = creds.remove(&t.id);
            TargetResponse::new(t, c.as_ref())
        })
        .collect())
}

/// `GET /targets?kind=http|ssh`: one tab of the list.
pub async fn list(ctx: web::Data<Arc<ApproverContext>>, req: HttpRequest, q: web::Query<Tab>) -> HttpResponse {
    let s = match signed_in(&ctx, &req).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let kind = tab(&q);
    let Ok(targets) = all_targets(&ctx).await else {
        return unavailable(&ctx);
    };
    let total = targets.len();
    let shown: Vec<_> = targets.into_iter().filter(|t| t.kind == kind).collect();
    let mut c = context(&ctx, &s, "targets");
    c.insert("kind", kind.as_str());
    c.insert("targets", &shown);
    c.insert("total", &total);
    view::page(&ctx, "targets.html", c, StatusCode::OK)
}

/// What the new-target form shows again after a refusal (never a credential's value).
#[derive(Debug, Default, Serialize)]
struct Entered {
    name: String,
    slug: String,
    base_url: String,
    host: String,
    port: String,
    username: String,
    pool: String,
    description: String,
    query_api: String,
    credential_type: String,
}

impl Entered {
    fn from(form: &Form) -> Self {
        let v = |name: &str| form.raw(name).unwrap_or_default().to_string();
        Self {
            name: v("name"),
            slug: v("slug"),
            base_url: v("base_url"),
            host: v("host"),
            port: v("port"),
            username: v("username"),
            pool: v("pool"),
            description: v("description"),
            query_api: v("query_api"),
            credential_type: v("credential_type"),
        }
    }
}

fn new_form(
    ctx: &ApproverContext,
    s: &super::Session,
    kind: TargetKind,
    entered: &Entered,
    error: Option<&str>,
) -> HttpResponse {
    let mut c = context(ctx, s, "targets");
    c.insert("kind", kind.as_str());
    c.insert("entered", entered);
    c.insert("error", &error);
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    view::page(ctx, "target_new.html", c, status)
}

/// `GET /targets/new?kind=http|ssh`
pub async fn new(ctx: web::Data<Arc<ApproverContext>>, req: HttpRequest, q: web::Query<Tab>) -> HttpResponse {
    match signed_in(&ctx, &req).await {
        Ok(s) => new_form(
            &ctx,
            &s,
            tab(&q),
            &Entered {
                pool: "default".into(),
                ..Entered::default()
            },
            None,
        ),
        Err(res) => res,
    }
}

fn port(form: &Form) -> Result<Option<u16>, ApiError> {
    form.text("port")
        .map(|p| {
            p.parse()
                .map_err(|_| ApiError::validation("invalid_port", "the port is a number from 1 to 65535"))
        })
        .transpose()
}

/// The credential a form describes (`credential_type` and its fields), if any. Secret fields are
/// taken as typed (a pasted key's CRLF line ends become LF).
fn credential_of(form: &Form) -> Result<Option<Credential>, ApiError> {
    let need = |name: &str, label: &str| {
        form.raw(name)
            .filter(|v| !v.trim().is_empty())
            .map(str::to_string)
            .ok_or_else(|| {
                ApiError::validation(
                    "invalid_credential",
                    format!("{label} is needed for this credential type"),
                )
            })
    };
    Ok(Some(match form.text("credential_type").as_deref() {
        None | Some("none") => return Ok(None),
        Some("bearer") => Credential::Bearer {
            token: need("cred_token", "the token")?,
        },
        Some("basic") => Credential::Basic {
            username: need("cred_username", "the user name")?,
            password: need("cred_password", "the password")?,
        },
        Some("header") => Credential::Header {
            headers: BTreeMap::from([(
                need("cred_header", "the header's name")?.trim().to_string(),
                need("cred_value", "the value")?,
            )]),
        },
        Some("query") => Credential::Query {
            param: need("cred_param", "the parameter's name")?.trim().to_string(),
            value: need("cred_value", "the value")?,
        },
        Some("ssh_key") => Credential::SshKey {
            private_key: need("cred_private_key", "the private key")?.replace("\r\n", "\n"),
            passphrase: form
                .raw("cred_passphrase")
                .filter(|p| !p.is_empty())
                .map(str::to_string),
        },
        Some("password") => Credential::Password {
            password: need("cred_password", "the password")?,
        },
        Some(_) => {
            return Err(ApiError::validation(
                "invalid_credential",
                "choose one of the credential types offered",
            ));
        }
    }))
}

fn query_api(form: &Form) -> Option<String> {
    form.text("query_api").filter(|q| q != "none")
}

/// `POST /targets/new`: creates the target, then shows it.
pub async fn create(ctx: web::Data<Arc<ApproverContext>>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let form = Form::parse(&body);
    let s = match change(&ctx, &req, &form, admins).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let kind = if form.raw("kind") == Some("ssh") {
        TargetKind::Ssh
    } else {
        TargetKind::Http
    };
    let request = async {
        let ssh = kind == TargetKind::Ssh;
        Ok::<_, ApiError>(CreateTargetRequest {
            name: form.text("name").unwrap_or_default(),
            slug: form.text("slug"),
            kind: Some(kind.as_str().to_string()),
            base_url: form.text("base_url").filter(|_| !ssh),
            host: form.text("host").filter(|_| ssh),
            port: port(&form)?.filter(|_| ssh),
            username: form.text("username").filter(|_| ssh),
            pool: form.text("pool"),
            enabled: Some(true),
            description: form.text("description"),
            credential: credential_of(&form)?,
            query_api: query_api(&form).filter(|_| !ssh),
        })
    };
    let created = match request.await {
        Ok(r) => create::create(&ctx, r).await,
        Err(e) => Err(e),
    };
    match created {
        Ok(t) => finish(&ctx, &req, &s, Ok(format!("/targets/{}", t.id))),
        Err(e) => {
            let message = form_error(&ctx, &req, &s, &e);
            new_form(&ctx, &s, kind, &Entered::from(&form), Some(&message))
        }
    }
}

/// One guard rule of the target, as the page lists it.
#[derive(Debug, Serialize)]
struct RuleLine {
    id: String,
    verdict: String,
    rule: String,
}

/// `GET /targets/{id}`: the target, its edit form, credential, host keys, rules, and delete.
pub async fn detail(ctx: web::Data<Arc<ApproverContext>>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let s = match signed_in(&ctx, &req).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let id: TargetId = match super::path_id(&ctx, &path, "target") {
        Ok(id) => id,
        Err(res) => return *res,
    };
    let found = async {
        let mut conn = ctx.conn().await?;
        let Some((target, cred)) = queries::credentials::find_target_with_credential(&mut conn, id).await? else {
            return Ok(None);
        };
        let keys = if target.kind == TargetKind::Ssh {
            queries::host_keys::list_for_target(&mut conn, id).await?
        } else {
            Vec::new()
        };
        let rules = queries::guard_rules::list_rules(&mut conn, Some(id)).await?;
        Ok::<_, ApiError>(Some((TargetResponse::new(target, cred.as_ref()), keys, rules)))
    };
    let (target, keys, rules) = match found.await {
        Ok(Some(found)) => found,
        Ok(None) => {
            return view::message(
                &ctx,
                StatusCode::NOT_FOUND,
                "No such target",
                "It may have been deleted.",
            );
        }
        Err(_) => return unavailable(&ctx),
    };
    let rules: Vec<RuleLine> = rules
        .into_iter()
        .map(|r| RuleLine {
            verdict: r.rule["verdict"].as_str().unwrap_or_default().to_string(),
            rule: serde_json::to_string_pretty(&r.rule).unwrap_or_default(),
            id: r.rule_id,
        })
        .collect();
    let mut c = context(&ctx, &s, "targets");
    c.insert("target", &target);
    c.insert("host_keys", &keys);
    c.insert("rules", &rules);
    view::page(&ctx, "target.html", c, StatusCode::OK)
}

/// `POST /targets/{id}`: the edit form.
pub async fn edit(
    ctx: web::Data<Arc<ApproverContext>>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (form, s, id) = match admin_post(&ctx, &req, &body, &path, "target").await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let ssh = form.raw("kind") == Some("ssh");
    let outcome = async {
        let changes = UpdateTargetRequest {
            name: form.text("name"),
            slug: None,
            base_url: form.text("base_url").filter(|_| !ssh),
            host: form.text("host").filter(|_| ssh),
            port: port(&form)?.filter(|_| ssh),
            username: form.text("username").filter(|_| ssh),
            pool: form.text("pool"),
            enabled: None,
            description: Some(form.raw("description").unwrap_or_default().trim().to_string()),
            credential: None,
            query_api: if ssh { None } else { Some(query_api(&form)) },
        };
        update::update(&ctx, id, changes).await?;
        Ok(format!("/targets/{id}"))
    };
    finish(&ctx, &req, &s, outcome.await)
}

/// `POST /targets/{id}/enable|disable`
pub async fn switch(
    ctx: web::Data<Arc<ApproverContext>>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (id, state) = path.into_inner();
    let (_, s, id) = match admin_post(&ctx, &req, &body, &id, "target").await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let changes = UpdateTargetRequest {
        enabled: Some(state == "enable"),
        ..UpdateTargetRequest::default()
    };
    let outcome = update::update(&ctx, id, changes)
        .await
        .map(|_| format!("/targets/{id}"));
    finish(&ctx, &req, &s, outcome)
}

/// `POST /targets/{id}/credential`: sets or replaces the credential.
pub async fn set_credential(
    ctx: web::Data<Arc<ApproverContext>>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (form, s, id) = match admin_post(&ctx, &req, &body, &path, "target").await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let outcome = async {
        let Some(c) = credential_of(&form)? else {
            return Err(ApiError::validation("invalid_credential", "choose a credential type"));
        };
        credential::set(&ctx, id, &c).await?;
        Ok(format!("/targets/{id}"))
    };
    finish(&ctx, &req, &s, outcome.await)
}

/// `POST /targets/{id}/credential/remove`
pub async fn remove_credential(
    ctx: web::Data<Arc<ApproverContext>>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (_, s, id) = match admin_post(&ctx, &req, &body, &path, "target").await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let outcome = credential::remove(&ctx, id).await.map(|()| format!("/targets/{id}"));
    finish(&ctx, &req, &s, outcome)
}

/// `POST /targets/{id}/host-keys`: accepts a presented key (`fingerprint`) or pins one
/// (`public_key`).
pub async fn accept_host_key(
    ctx: web::Data<Arc<ApproverContext>>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (form, s, id) = match admin_post(&ctx, &req, &body, &path, "target").await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let key = AcceptHostKey {
        fingerprint: form.text("fingerprint"),
        public_key: form.text("public_key"),
    };
    let by = acting(&s).by("admin");
    let outcome = host_keys::accept(&ctx, id, &by, &key)
        .await
        .map(|_| format!("/targets/{id}"));
    finish(&ctx, &req, &s, outcome)
}

/// `POST /targets/{id}/host-keys/{key}/remove`: rejects a presented key or unpins one.
pub async fn remove_host_key(
    ctx: web::Data<Arc<ApproverContext>>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (id, key) = path.into_inner();
    let (_, s, id) = match admin_post(&ctx, &req, &body, &id, "target").await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let outcome = match key.parse() {
        Ok(key) => host_keys::remove(&ctx, id, key)
            .await
            .map(|()| format!("/targets/{id}")),
        Err(_) => Err(ApiError::NotFound("host key")),
    };
    finish(&ctx, &req, &s, outcome)
}

/// `POST /targets/{id}/delete`: only when `confirm` is the target's slug (checked here, not only
/// in the browser).
pub async fn remove(
    ctx: web::Data<Arc<ApproverContext>>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (form, s, id) = match admin_post(&ctx, &req, &body, &path, "target").await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let outcome = async {
        let slug = {
            let mut conn = ctx.conn().await?;
            queries::targets::find_target(&mut conn, id)
                .await?
                .ok_or(ApiError::NotFound("target"))?
                .slug
        };
        if form.text("confirm").as_deref() != Some(slug.as_str()) {
            return Err(ApiError::validation(
                "confirmation_mismatch",
                format!("type the target's slug ({slug}) to delete it"),
            ));
        }
        delete::delete(&ctx, id).await?;
        Ok("/targets".to_string())
    };
    finish(&ctx, &req, &s, outcome.await)
}
