//! Rendering: the templates (embedded in the binary, autoescaped), the headers every page gets,
//! redirects, the static files under content-hashed names, and the audit record of a page action.

use std::sync::OnceLock;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpMessage as _, HttpRequest, HttpResponse};
use sha2::{Digest as _, Sha256};
use shellgate_shared::audit::AuditEvent;
use shellgate_shared::client_addr::ClientAddr;

use crate::context::ApproverContext;

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    ("error.html", include_str!("../../templates/error.html")),
    ("setup.html", include_str!("../../templates/setup.html")),
    ("login.html", include_str!("../../templates/login.html")),
    ("home.html", include_str!("../../templates/home.html")),
    ("approvals.html", include_str!("../../templates/approvals.html")),
    (
        "approval_queue.html",
        include_str!("../../templates/approval_queue.html"),
    ),
    ("approval_card.html", include_str!("../../templates/approval_card.html")),
    ("approval.html", include_str!("../../templates/approval.html")),
    ("targets.html", include_str!("../../templates/targets.html")),
    ("target_new.html", include_str!("../../templates/target_new.html")),
    (
        "target_credential_fields.html",
        include_str!("../../templates/target_credential_fields.html"),
    ),
    ("target.html", include_str!("../../templates/target.html")),
    ("tokens.html", include_str!("../../templates/tokens.html")),
    ("token.html", include_str!("../../templates/token.html")),
    ("token_secret.html", include_str!("../../templates/token_secret.html")),
    ("token_fields.html", include_str!("../../templates/token_fields.html")),
    ("guard.html", include_str!("../../templates/guard.html")),
    ("audit.html", include_str!("../../templates/audit.html")),
    ("connect.html", include_str!("../../templates/connect.html")),
    ("audit_event.html", include_str!("../../templates/audit_event.html")),
    ("code.html", include_str!("../../templates/code.html")),
    ("account.html", include_str!("../../templates/account.html")),
    ("users.html", include_str!("../../templates/users.html")),
    ("shown_once.html", include_str!("../../templates/shown_once.html")),
    ("notifiers.html", include_str!("../../templates/notifiers.html")),
];

/// The static files pages use: (name, content type, content). Each is served under a
/// content-hashed path (see `asset_path`), cached for good.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../static/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/app.js"),
    ),
    (
        "htmx.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/vendor/htmx-2.0.11.min.js"),
    ),
    (
        "htmx-sse.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/vendor/htmx-ext-sse-2.2.4.min.js"),
    ),
];

/// No inline script or style, nothing from elsewhere, never in a frame.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

pub fn templates() -> tera::TeraResult<tera::Tera> {
    let mut tera = tera::Tera::new();
    tera.add_raw_templates(TEMPLATES.iter().copied())?;
    tera.autoescape_on([".html"]);
    Ok(tera)
}

/// Every asset's path, `/static/<stem>-<hash>.<ext>`: a new name whenever the content changes.
fn asset_paths() -> &'static [String] {
    static PATHS: OnceLock<Vec<String>> = OnceLock::new();
    PATHS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|(name, _, content)| {
                let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
                format!("/static/{stem}-{}.{ext}", &hex::encode(Sha256::digest(content))[..12])
            })
            .collect()
    })
}

/// The path of the asset called `name` (one of `ASSETS`).
pub fn asset_path(name: &str) -> &'static str {
    ASSETS
        .iter()
        .zip(asset_paths())
        .find(|((n, _, _), _)| *n == name)
        .map_or("/static/missing", |(_, p)| p.as_str())
}

/// Routes for every asset.
pub fn assets(cfg: &mut actix_web::web::ServiceConfig) {
    for ((_, content_type, content), path) in ASSETS.iter().zip(asset_paths()) {
        cfg.route(
            path,
            actix_web::web::get().to(move || async move {
                HttpResponse::Ok()
                    .insert_header((header::CONTENT_TYPE, *content_type))
                    .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
                    .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                    .body(*content)
            }),
        );
    }
}

fn secure_headers(res: &mut HttpResponse) {
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// What the layout needs besides a page's own values: the assets' paths, and defaults.
fn layout(context: &mut tera::Context) {
    // Pages for nobody signed in have no user (the layout shows no navigation), and only the
    // live pages load htmx.
    for key in ["user", "live", "is_admin"] {
        if !context.contains_key(key) {
            context.insert(key, &false);
        }
    }
    context.insert("stylesheet", asset_path("app.css"));
    context.insert("htmx", asset_path("htmx.js"));
    context.insert("htmx_sse", asset_path("htmx-sse.js"));
    context.insert("app_js", asset_path("app.js"));
}

/// Renders a page (the layout's values are added to `context`).
pub fn page(ctx: &ApproverContext, template: &str, mut context: tera::Context, status: StatusCode) -> HttpResponse {
    let Some(tera) = &ctx.dashboard.tera else {
        return HttpResponse::InternalServerError()
            .body("the dashboard templates did not load; see the approver's log");
    };
    layout(&mut context);
    let mut res = match tera.render(template, &context) {
        Ok(html) => HttpResponse::build(status)
            .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
            .body(html),
        Err(e) => {
            tracing::error!(error = %e, template, "rendering a dashboard page failed");
            HttpResponse::InternalServerError().body("this page could not be rendered; see the approver's log")
        }
    };
    secure_headers(&mut res);
    res
}

/// A page that only says what went wrong (and what to do).
pub fn message(ctx: &ApproverContext, status: StatusCode, title: &str, text: &str) -> HttpResponse {
    let mut c = tera::Context::new();
    c.insert("title", title);
    c.insert("text", text);
    page(ctx, "error.html", c, status)
}

/// The answer to a form sent from another site (or without the session's CSRF token).
pub fn refused(ctx: &ApproverContext) -> HttpResponse {
    message(
        ctx,
        StatusCode::FORBIDDEN,
        "Refused",
        "This form may only be sent from this site.",
    )
}

/// 303 See Other to a path of ours.
pub fn redirect(location: &str) -> HttpResponse {
    let mut res = HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish();
    secure_headers(&mut res);
    res
}

/// A `next` path to return to after login: only a path on this site.
pub fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') && !p.contains("://") => p,
        _ => "/",
    }
}

/// The client's address, as the edge resolved it (trusted proxies) or the peer's.
pub fn client_ip(req: &HttpRequest) -> Option<String> {
    req.extensions()
        .get::<ClientAddr>()
        .map(|c| c.0)
        .or_else(|| req.peer_addr().map(|a| a.ip()))
        .map(|ip| ip.to_string())
}

/// Records a dashboard action (`kind: admin`) with the user it was for.
pub fn audit(ctx: &ApproverContext, req: &HttpRequest, status: StatusCode, code: Option<&str>, user: &str) {
    let mut event = AuditEvent::for_admin_change(
        req.method().as_str(),
        req.path(),
        status.as_u16(),
        code,
        None,
        client_ip(req),
        std::time::Duration::ZERO,
    );
    event.detail = serde_json::json!({"via": "dashboard", "user": user});
    ctx.audit.publish(event);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a page has when an admin is signed in, plus the layout's values.
    fn admin_context(page: &str) -> tera::Context {
        let mut c = tera::Context::new();
        layout(&mut c);
        for (k, v) in [("user", "admin"), ("role", "admin"), ("page", page), ("csrf", "tok")] {
            c.insert(k, v);
        }
        c.insert("is_admin", &true);
        c
    }

    const EVIL: &str = "<script>alert(1)</script>\"'><img src=x>";

    /// `html` shows `EVIL` only as text.
    fn escaped(what: &str, html: &str) {
        assert!(
            !html.contains("<script>alert") && !html.contains("<img src=x"),
            "{what}: {html}"
        );
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{what}: {html}");
    }

    #[test]
    fn every_template_loads_and_escapes_what_it_is_given() {
        let tera = templates().unwrap();
        let mut c = tera::Context::new();
        layout(&mut c);
        c.insert("username", "<script>alert(1)</script>\"'");
        c.insert("next", "/\"><img src=x>");
        c.insert("error", &Some("<b>bad</b>"));
        let html = tera.render("login.html", &c).unwrap();
        assert!(
            !html.contains("<script>alert") && !html.contains("<img") && !html.contains("<b>bad"),
            "{html}"
        );
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;"),
            "{html}"
        );
    }

    #[test]
    fn approval_cards_render_agent_text_as_text() {
        let tera = templates().unwrap();
        let card = serde_json::json!({
            "id": "a1", "status": "pending", "kind": "ssh", "target": "box", "token": "<b>bot</b>",
            "address": "h:22", "method": "", "path": "", "query": "", "headers": [], "body_sha256": "",
            "excerpt": "</pre><script>x</script>",
            "command": "rm -rf / <script>alert(1)</script>", "env": [["X", "\"><svg onload=x>"]],
            "stdin_sha256": "e3b0", "rule": "r", "reason": "dangerous", "matched": "", "created_at": "t",
            "expires_at": "t", "expires_in": "1 min 0 s", "decided_by": "", "decided_at": "", "comment": "",
            "used_at": ""
        });
        let mut c = tera::Context::new();
        c.insert("pending", &vec![card]);
        c.insert("settled", &Vec::<serde_json::Value>::new());
        c.insert("may_decide", &true);
        c.insert("csrf", "tok");
        let html = tera.render("approval_queue.html", &c).unwrap();
        assert!(
            html.contains("rm -rf / &lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(
            !html.contains("<script>") && !html.contains("<svg") && !html.contains("<b>bot"),
            "{html}"
        );
        assert!(
            html.contains("action=\"/approvals/a1/approve\"") && html.contains("name=\"csrf\" value=\"tok\""),
            "{html}"
        );
        c.insert("may_decide", &false);
        assert!(
            !tera.render("approval_queue.html", &c).unwrap().contains("<form"),
            "a viewer gets no form"
        );
    }

    #[test]
    fn management_pages_render_names_and_values_as_text() {
        let tera = templates().unwrap();
        let evil = EVIL;
        let mut c = admin_context("targets");
        c.insert("kind", "ssh");
        let target = serde_json::json!({
            "id": "t1", "slug": "box", "name": evil, "kind": "ssh", "host": evil, "port": 22,
            "username": evil, "pool": "default", "enabled": true, "description": evil, "queryApi": null,
            "credential": {"type": "password", "hint": evil, "updatedAt": "t"}, "createdAt": "t",
            "updatedAt": "t", "lastUsedAt": null
        });
        c.insert("target", &target);
        c.insert("targets", &vec![&target]);
        c.insert("total", &1);
        c.insert(
            "host_keys",
            &vec![serde_json::json!({"id": "k1", "algorithm": "ssh-ed25519", "fingerprint": evil, "status": "pending", "decidedBy": evil})],
        );
        c.insert(
            "rules",
            &vec![serde_json::json!({"id": evil, "verdict": "block", "rule": evil})],
        );
        c.insert(
            "entered",
            &serde_json::json!({"name": evil, "slug": evil, "base_url": evil, "host": evil, "port": evil,
                "username": evil, "pool": evil, "description": evil, "query_api": "", "credential_type": evil}),
        );
        c.insert("error", &Some(evil));
        let token = serde_json::json!({
            "id": "k1", "name": evil, "enabled": true, "status": "active", "createdAt": "t", "updatedAt": "t",
            "expiresAt": null, "revokedAt": null, "lastUsedAt": null, "approvalPolicy": "human",
            "capabilities": ["http"], "allowedCidrs": [evil], "token": "sg_secret"
        });
        c.insert("token", &token);
        c.insert("tokens", &vec![&token]);
        c.insert("created", &true);
        c.insert("gateway", evil);
        c.insert("capabilities", &vec![("http", true)]);
        c.insert("policies", &vec!["human"]);
        c.insert("expiries", &vec![(0, "never")]);
        c.insert("held", &vec!["http"]);
        c.insert(
            "choices",
            &vec![serde_json::json!({"id": "t1", "slug": "box", "name": evil, "kind": "ssh", "granted": true})],
        );
        for template in [
            "targets.html",
            "target.html",
            "target_new.html",
            "tokens.html",
            "token.html",
            "token_secret.html",
        ] {
            let html = tera
                .render(template, &c)
                .unwrap_or_else(|e| panic!("{template}: {e:?}"));
            escaped(template, &html);
        }
    }

    #[test]
    fn the_guard_page_renders_rules_and_trials_as_text() {
        let tera = templates().unwrap();
        let evil = EVIL;
        let mut c = admin_context("guard");
        c.insert("draft", evil);
        c.insert("targets", &vec![evil]);
        c.insert("scope", &Some(evil));
        c.insert("scope_kind", &Some("http"));
        let line = serde_json::json!({"id": evil, "kind": "ssh", "verdict": "block", "reason": evil, "json": evil});
        c.insert("own", &vec![&line]);
        c.insert("builtin", &vec![&line]);
        c.insert(
            "trial",
            &serde_json::json!({"kind": "ssh", "command": evil, "stdin": evil, "method": evil, "path": evil,
                "query": evil, "body": evil, "with_draft": true, "verdict": "block", "rule": evil,
                "reason": evil, "matched": evil}),
        );
        c.insert("error", &Some(evil));
        let html = tera.render("guard.html", &c).unwrap();
        escaped("page", &html);
    }

    #[test]
    fn the_audit_pages_render_events_as_text() {
        let tera = templates().unwrap();
        let evil = EVIL;
        let mut c = admin_context("audit");
        c.insert("json", evil);
        let event = serde_json::json!({"id": evil, "at": "t", "kind": "ssh", "token": evil, "target": evil,
            "what": evil, "status": "", "outcome": "allowed", "code": evil});
        c.insert("event", &event);
        c.insert("events", &vec![&event]);
        c.insert("tokens", &vec![(evil, evil)]);
        c.insert("targets", &vec![(evil, evil)]);
        c.insert("kinds", &vec!["ssh"]);
        c.insert("outcomes", &vec!["allowed"]);
        c.insert(
            "f",
            &serde_json::json!({"kind": "", "tokenId": "", "targetId": "", "outcome": "", "since": evil, "until": "", "q": evil}),
        );
        c.insert("export_query", "q=%3Cscript%3E");
        c.insert("next", &Some(evil));
        c.insert("error", &Some(evil));
        for template in ["audit.html", "audit_event.html"] {
            let html = tera
                .render(template, &c)
                .unwrap_or_else(|e| panic!("{template}: {e:?}"));
            assert!(
                !html.contains("<script>alert") && !html.contains("<img src=x"),
                "{template}: {html}"
            );
        }
    }

    #[test]
    fn the_overview_renders_executors_and_activity_as_text() {
        let tera = templates().unwrap();
        let evil = EVIL;
        let mut c = admin_context("overview");
        c.insert(
            "f",
            &serde_json::json!({"pending": 1, "targets": 1, "tokens": 1, "tokens_active": 1, "requests": 4,
                "failed": 0, "refused": 1}),
        );
        c.insert(
            "executors",
            &vec![serde_json::json!({"id": evil, "pool": evil, "version": evil, "workers": 1, "inFlight": 0, "startedAt": "t"})],
        );
        c.insert(
            "recent",
            &vec![
                serde_json::json!({"id": "i", "at": "t", "kind": "ssh", "token": evil, "target": evil,
                "what": evil, "status": "", "outcome": "allowed", "code": ""}),
            ],
        );
        let html = tera.render("home.html", &c).unwrap_or_else(|e| panic!("{e:?}"));
        escaped("page", &html);
    }

    #[test]
    fn the_connect_page_renders_commands_as_text() {
        let tera = templates().unwrap();
        let evil = EVIL;
        let mut c = admin_context("connect");
        c.insert("url", evil);
        c.insert("agents", &[("custom", evil)]);
        c.insert("agent", &Some("custom"));
        c.insert("agent_name", &Some(evil));
        c.insert("secret", &None::<String>);
        c.insert("error", &Some(evil));
        c.insert("install", &Some(evil));
        c.insert("manual", &vec![serde_json::json!({"title": evil, "text": evil})]);
        c.insert("targets", &vec![(evil, evil, evil)]);
        let html = tera.render("connect.html", &c).unwrap_or_else(|e| panic!("{e:?}"));
        escaped("page", &html);
    }

    #[test]
    fn every_asset_a_page_names_is_served() {
        for name in ["app.css", "app.js", "htmx.js", "htmx-sse.js"] {
            let path = asset_path(name);
            assert!(
                path.starts_with("/static/") && path != "/static/missing",
                "{name}: {path}"
            );
        }
    }

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path(Some("/approvals/1?x=2")), "/approvals/1?x=2");
        for bad in ["//evil.example/", "https://evil.example/", "/\\\\evil", "approvals", ""] {
            assert_eq!(local_path(Some(bad)), "/", "{bad}");
        }
        assert_eq!(local_path(None), "/");
    }

    #[test]
    fn account_users_notifiers_and_code_pages_render_names_as_text() {
        let tera = templates().unwrap();
        let mut c = admin_context("account");
        c.insert("user", EVIL);
        for (k, v) in [
            ("totp_since", ""),
            ("totp_secret", "ABC"),
            ("totp_url", "otpauth://x"),
            ("totp_qr", "<svg></svg>"),
        ] {
            c.insert(k, v);
        }
        for k in ["totp_on", "enrolling", "mfa_required"] {
            c.insert(k, &false);
        }
        c.insert("codes_left", &0);
        c.insert("min_chars", &12);
        c.insert(
            "sessions",
            &[serde_json::json!({"created_at": "t", "last_seen_at": "t", "client_ip": EVIL, "current": true})],
        );
        c.insert("error", &Some(EVIL));
        c.insert("notice", &None::<String>);
        c.insert("recovery_codes", &["abcde-fghjk"]);
        let html = tera.render("account.html", &c).unwrap();
        escaped("account", &html);
        assert!(html.contains("abcde-fghjk") && html.contains("this one"), "{html}");
        c.insert("enrolling", &true);
        let html = tera.render("account.html", &c).unwrap();
        assert!(
            html.contains("<svg></svg>") && html.contains("id=\"totp-secret\">ABC<"),
            "{html}"
        );

        let mut c = admin_context("users");
        c.insert(
            "users",
            &[serde_json::json!({"id": "u1", "username": EVIL, "role": "viewer", "disabled": true, "totp": true, "created_at": "t"})],
        );
        c.insert("roles", &["admin", "approver", "viewer"]);
        c.insert("error", &None::<String>);
        escaped("users", &tera.render("users.html", &c).unwrap());

        let mut c = admin_context("notifiers");
        c.insert(
            "notifiers",
            &[
                serde_json::json!({"id": "n1", "name": "pager", "kind": "webhook", "urlHint": EVIL,
                "enabled": true, "createdBy": "ann"}),
            ],
        );
        c.insert("configured", &["webhook"]);
        c.insert(
            "letters",
            &[
                serde_json::json!({"notifier": "webhook", "approval_id": "a1", "event": "requested",
                "attempts": 2, "last_error": EVIL, "created_at": "t"}),
            ],
        );
        c.insert("keyed", &true);
        c.insert("error", &None::<String>);
        let html = tera.render("notifiers.html", &c).unwrap();
        escaped("notifiers", &html);
        assert!(
            html.contains("<code>webhook</code>") && html.contains("/approvals/a1"),
            "{html}"
        );

        let mut c = admin_context("");
        for (k, v) in [("action", "/step-up"), ("next", "/\"><img src=x>")] {
            c.insert(k, v);
        }
        c.insert("step_up", &true);
        c.insert("minutes", &5);
        c.insert("error", &Some(EVIL));
        escaped("code", &tera.render("code.html", &c).unwrap());

        let mut c = admin_context("users");
        for (k, v) in [("title", EVIL), ("text", "t"), ("secret", "s3cret"), ("back", "/users")] {
            c.insert(k, v);
        }
        escaped("shown once", &tera.render("shown_once.html", &c).unwrap());
    }
}
