//! Rendering: the templates (embedded in the binary, autoescaped), the headers every page gets,
//! redirects, the stylesheet under a content-hashed name, and the audit record of a page action.

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
];

const STYLESHEET: &str = include_str!("../../static/app.css");

/// No inline script or style, nothing from elsewhere, never in a frame.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

pub fn templates() -> tera::TeraResult<tera::Tera> {
    let mut tera = tera::Tera::new();
    tera.add_raw_templates(TEMPLATES.iter().copied())?;
    tera.autoescape_on([".html"]);
    Ok(tera)
}

/// `/static/app-<hash>.css`: a new name whenever the content changes, so it can be cached for good.
pub fn stylesheet_path() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| format!("/static/app-{}.css", &hex::encode(Sha256::digest(STYLESHEET))[..12]))
}

pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/css; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(STYLESHEET)
}

fn secure_headers(res: &mut HttpResponse) {
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// Renders a page (the stylesheet's path is added to `context`).
pub fn page(ctx: &ApproverContext, template: &str, mut context: tera::Context, status: StatusCode) -> HttpResponse {
    let Some(tera) = &ctx.dashboard.tera else {
        return HttpResponse::InternalServerError()
            .body("the dashboard templates did not load; see the approver's log");
    };
    context.insert("stylesheet", stylesheet_path());
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

    #[test]
    fn every_template_loads_and_escapes_what_it_is_given() {
        let tera = templates().unwrap();
        let mut c = tera::Context::new();
        c.insert("stylesheet", stylesheet_path());
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
    fn only_local_paths_are_followed() {
        assert_eq!(local_path(Some("/approvals/1?x=2")), "/approvals/1?x=2");
        for bad in ["//evil.example/", "https://evil.example/", "/\\\\evil", "approvals", ""] {
            assert_eq!(local_path(Some(bad)), "/", "{bad}");
        }
        assert_eq!(local_path(None), "/");
    }
}
