//! The dashboard: pages the approver serves at `/` (the REST API stays at `/api`), rendered on the
//! server with tera (autoescaping on; templates in `approver/templates/`), working without
//! JavaScript. A page is one handler in `pages/`, one template and one nav entry.
//!
//! This part holds what every page stands on: the first run (a one-time setup code creates the
//! first admin), accounts with argon2id passwords, server-side sessions in Postgres (the cookie
//! carries a random id signed with `SHELLGATE_SESSION_SECRET`; the table only its SHA-256),
//! CSRF tokens derived from the same secret, and login limits (per client address in this
//! replica's memory, per account name in Postgres for all replicas). See docs/dashboard.md.

pub(crate) mod csrf;
pub mod mfa;
mod pages;
pub mod password;
pub(crate) mod session;
pub mod setup_code;
mod view;

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use secrecy::ExposeSecret as _;
use shellgate_shared::config::Settings;

pub use pages::setup::username;
pub use session::SessionKeys;

/// Logins per client address and minute, in one replica (each replica counts its own).
const LOGINS_PER_MINUTE: NonZeroU32 = NonZeroU32::MIN.saturating_add(9);

/// What the pages share, built once per approver.
pub struct Dashboard {
    tera: Option<tera::Tera>,
    pub(crate) keys: Option<SessionKeys>,
    logins: DefaultKeyedRateLimiter<IpAddr>,
    /// A session unused this long ends.
    pub idle: Duration,
    /// A session ends this long after login, used or not.
    pub absolute: Duration,
    /// Deciding approvals needs TOTP and a step-up within `step_up`.
    pub require_mfa: bool,
    pub step_up: Duration,
    /// The overview's 24-hour counts by outcome (a scan of a day of audit events), reused for a
    /// few seconds.
    pub(crate) day_outcomes: Recent<Vec<(shellgate_shared::audit::Outcome, i64)>>,
}

/// A value computed lately, reused until it is `Recent::TTL` old.
pub(crate) struct Recent<T> {
    value: std::sync::Mutex<Option<(std::time::Instant, T)>>,
}

impl<T: Clone> Recent<T> {
    const TTL: Duration = Duration::from_secs(5);

    fn new() -> Self {
        Self {
            value: std::sync::Mutex::new(None),
        }
    }

    /// The value, unless it is older than the TTL.
    pub(crate) fn fresh(&self) -> Option<T> {
        let kept = self.value.lock().ok()?;
        kept.as_ref()
            .filter(|(at, _)| at.elapsed() < Self::TTL)
            .map(|(_, v)| v.clone())
    }

    pub(crate) fn keep(&self, value: T) {
        if let Ok(mut kept) = self.value.lock() {
            *kept = Some((std::time::Instant::now(), value));
        }
    }
}

impl Dashboard {
    pub fn new(settings: &Settings) -> Self {
        let tera = match view::templates() {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::error!(error = %e, "the dashboard templates do not load");
                None
            }
        };
        let keys = settings.session_secret.as_ref().and_then(|s| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(s.expose_secret().trim())
                .ok()
                .map(|secret| SessionKeys::from_secret(&secret))
        });
        Self {
            tera,
            keys,
            logins: RateLimiter::keyed(Quota::per_minute(LOGINS_PER_MINUTE)),
            idle: Duration::from_secs(settings.session_idle_secs),
            absolute: Duration::from_secs(settings.session_max_secs),
            require_mfa: settings.require_mfa_for_approvals,
            step_up: Duration::from_secs(settings.step_up_secs),
            day_outcomes: Recent::new(),
        }
    }

    /// Forgets addresses that have not tried to log in lately (called by a timer).
    pub fn forget_idle_addresses(&self) {
        self.logins.retain_recent();
        self.logins.shrink_to_fit();
    }
}

/// Every page route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use pages::{
        account, approvals, audit, connect, guard, home, login, notifiers, second_factor, setup, targets, tokens, users,
    };
    cfg.route("/", web::get().to(home::overview))
        .route("/approvals", web::get().to(approvals::list))
        .route("/approvals/queue", web::get().to(approvals::fragment))
        .route("/approvals/events", web::get().to(approvals::events))
        .route("/approvals/{id}", web::get().to(approvals::detail))
        .route(
            "/approvals/{id}/{decision:approve|deny}",
            web::post().to(approvals::decide),
        )
        .route("/targets", web::get().to(targets::list))
        .route("/targets/new", web::get().to(targets::new))
        .route("/targets/new", web::post().to(targets::create))
        .route("/targets/{id}", web::get().to(targets::detail))
        .route("/targets/{id}", web::post().to(targets::edit))
        .route("/targets/{id}/{state:enable|disable}", web::post().to(targets::switch))
        .route("/targets/{id}/credential", web::post().to(targets::set_credential))
        .route(
            "/targets/{id}/credential/remove",
            web::post().to(targets::remove_credential),
        )
        .route("/targets/{id}/host-keys", web::post().to(targets::accept_host_key))
        .route(
            "/targets/{id}/host-keys/{key}/remove",
            web::post().to(targets::remove_host_key),
        )
        .route("/targets/{id}/delete", web::post().to(targets::remove))
        .route("/tokens", web::get().to(tokens::list))
        .route("/tokens/new", web::post().to(tokens::create))
        .route("/tokens/{id}", web::get().to(tokens::detail))
        .route("/tokens/{id}", web::post().to(tokens::edit))
        .route("/tokens/{id}/permissions", web::post().to(tokens::permissions))
        .route("/tokens/{id}/regenerate", web::post().to(tokens::regenerate))
        .route("/tokens/{id}/revoke", web::post().to(tokens::revoke))
        .route("/notifiers", web::get().to(notifiers::list))
        .route("/notifiers/new", web::post().to(notifiers::create))
        .route("/notifiers/{id}", web::post().to(notifiers::edit))
        .route("/notifiers/{id}/delete", web::post().to(notifiers::remove))
        .route("/users", web::get().to(users::list))
        .route("/users/new", web::post().to(users::create))
        .route("/users/{id}", web::post().to(users::edit))
        .route("/users/{id}/reset-password", web::post().to(users::reset_password))
        .route("/users/{id}/reset-mfa", web::post().to(users::reset_mfa))
        .route("/audit", web::get().to(audit::list))
        .route("/audit/export.{format:csv|jsonl}", web::get().to(audit::export))
        .route("/audit/{id}", web::get().to(audit::detail))
        .route("/connect", web::get().to(connect::page))
        .route("/connect", web::post().to(connect::create))
        .route("/guard", web::get().to(guard::page))
        .route("/guard/try", web::post().to(guard::try_it))
        .route("/guard/rules", web::post().to(guard::save))
        .route("/guard/rules/remove", web::post().to(guard::remove))
        .route("/setup", web::get().to(setup::form))
        .route("/setup", web::post().to(setup::submit))
        .route("/login", web::get().to(login::form))
        .route("/login", web::post().to(login::submit))
        .route("/logout", web::post().to(login::logout))
        .route("/login/code", web::get().to(second_factor::login_form))
        .route("/login/code", web::post().to(second_factor::login_submit))
        .route("/step-up", web::get().to(second_factor::step_up_form))
        .route("/step-up", web::post().to(second_factor::step_up_submit))
        .route("/account", web::get().to(account::page))
        .route("/account/password", web::post().to(account::set_password))
        .route("/account/totp/start", web::post().to(account::start_totp))
        .route("/account/totp/confirm", web::post().to(account::confirm_totp))
        .route("/account/totp/off", web::post().to(account::turn_off_totp))
        .route("/account/recovery-codes", web::post().to(account::new_recovery_codes))
        .configure(view::assets);
}

/// At start: offers the first-run setup code when no user exists, and keeps the login limits
/// small (forgetting idle addresses every minute).
pub async fn start(ctx: Arc<crate::context::ApproverContext>) {
    if let Err(e) = setup_code::offer_at_start(&ctx.db).await {
        tracing::warn!(error = %e, "could not offer a dashboard setup code (`shellgate setup-code` makes one)");
    }
    actix_rt::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            ctx.dashboard.forget_idle_addresses();
        }
    });
}
