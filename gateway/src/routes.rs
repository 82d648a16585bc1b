//! Every route of the gateway, in one place.

use actix_web::web;

use crate::bootstrap::get_bootstrap;
use crate::handlers::{approvals, gateway, health, ssh};
use crate::mcp::McpEndpoint;

pub fn configure(cfg: &mut web::ServiceConfig, mcp: &McpEndpoint) {
    cfg.service(
        web::scope("")
            .wrap(actix_web::middleware::from_fn(crate::edge::edge))
            .configure(|cfg| mcp.mount(cfg))
            .configure(routes)
            .default_service(web::to(health::not_found)),
    );
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health::get_health))
        .route("/ready", web::get().to(health::get_ready))
        .route("/metrics", web::get().to(health::get_metrics))
        .route("/bootstrap", web::get().to(get_bootstrap))
        .route("/discovery", web::get().to(get_bootstrap))
        .route("/install/{script}", web::get().to(crate::install::get_install_script))
        .route("/approvals/{id}", web::get().to(approvals::get::get_approval))
        .route("/ssh/{target}/exec", web::post().to(ssh::exec_command))
        .route("/gateway/{target}", web::route().to(gateway::forward::forward_request))
        .route(
            "/gateway/{target}/{tail:.*}",
            web::route().to(gateway::forward::forward_request),
        );
}
