//! Every route of the approver, in one place.

use actix_web::middleware::from_fn;
use actix_web::web;

use crate::error::{json_config, query_config};
use crate::handlers::{
    approvals, audit, dead_letters, guard_rules, health, notifiers, permissions, policy, targets, tokens,
};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(json_config())
        .app_data(query_config())
        .route("/health", web::get().to(health::get_health))
        .route("/ready", web::get().to(health::get_ready))
        .route("/metrics", web::get().to(health::get_metrics))
        .configure(crate::dashboard::configure)
        .service(
            web::scope("/api")
                // Outermost last: the audit sees the authentication's refusals too.
                .wrap(from_fn(crate::auth::authenticate_first))
                .wrap(from_fn(crate::admin_audit::record_changes))
                .route("/tokens", web::post().to(tokens::create::create_token))
                .route("/tokens", web::get().to(tokens::list::list_tokens))
                .route("/tokens/{id}", web::get().to(tokens::list::get_token))
                .route("/tokens/{id}", web::patch().to(tokens::update::update_token))
                .route("/tokens/{id}", web::delete().to(tokens::revoke::revoke_token))
                .route(
                    "/tokens/{id}/regenerate",
                    web::post().to(tokens::regenerate::regenerate_token),
                )
                .route(
                    "/tokens/{id}/permissions",
                    web::get().to(permissions::list::list_permissions),
                )
                .route(
                    "/tokens/{id}/permissions",
                    web::post().to(permissions::grant::grant_permission),
                )
                .route(
                    "/tokens/{id}/permissions/{target_id}",
                    web::delete().to(permissions::revoke::revoke_permission),
                )
                .route("/targets", web::post().to(targets::create::create_target))
                .route("/targets", web::get().to(targets::list::list_targets))
                .route("/targets/{id}", web::get().to(targets::get::get_target))
                .route("/targets/{id}", web::patch().to(targets::update::update_target))
                .route("/targets/{id}", web::delete().to(targets::delete::delete_target))
                .route(
                    "/targets/{id}/credential",
                    web::put().to(targets::credential::set_credential),
                )
                .route(
                    "/targets/{id}/credential",
                    web::delete().to(targets::credential::delete_credential),
                )
                .route(
                    "/targets/{id}/host-keys",
                    web::get().to(targets::host_keys::list_host_keys),
                )
                .route(
                    "/targets/{id}/host-keys",
                    web::post().to(targets::host_keys::accept_host_key),
                )
                .route(
                    "/targets/{id}/host-keys/{key_id}",
                    web::delete().to(targets::host_keys::delete_host_key),
                )
                .route("/notifiers", web::post().to(notifiers::create_notifier))
                .route("/notifiers", web::get().to(notifiers::list_notifiers))
                .route("/notifiers/{id}", web::get().to(notifiers::get_notifier))
                .route("/notifiers/{id}", web::patch().to(notifiers::update_notifier))
                .route("/notifiers/{id}", web::delete().to(notifiers::delete_notifier))
                .route(
                    "/notifications/dead-letters",
                    web::get().to(dead_letters::list_dead_letters),
                )
                .route("/audit", web::get().to(audit::list::list_audit))
                .route("/policy", web::get().to(policy::get_policy))
                .route("/policy", web::put().to(policy::put_policy))
                .route("/guard/builtin", web::get().to(guard_rules::list_builtin_rules))
                .route("/guard/rules", web::get().to(guard_rules::list_global_rules))
                .route("/guard/rules/{rule_id}", web::put().to(guard_rules::put_global_rule))
                .route(
                    "/guard/rules/{rule_id}",
                    web::delete().to(guard_rules::delete_global_rule),
                )
                .route(
                    "/targets/{id}/guard/rules",
                    web::get().to(guard_rules::list_target_rules),
                )
                .route(
                    "/targets/{id}/guard/rules/{rule_id}",
                    web::put().to(guard_rules::put_target_rule),
                )
                .route(
                    "/targets/{id}/guard/rules/{rule_id}",
                    web::delete().to(guard_rules::delete_target_rule),
                )
                .route("/approvals", web::get().to(approvals::list::list_approvals))
                .route("/approvals/stream", web::get().to(approvals::stream::stream_approvals))
                .route("/approvals/{id}", web::get().to(approvals::list::get_approval))
                .route(
                    "/approvals/{id}/{decision:approve|deny}",
                    web::post().to(approvals::decide::decide_approval),
                ),
        );
}
