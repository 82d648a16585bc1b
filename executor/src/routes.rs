//! The executor's own HTTP endpoints: liveness and readiness only (it takes work from NATS).

use actix_web::web;

use crate::handlers::health;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health::get_health))
        .route("/ready", web::get().to(health::get_ready))
        .route("/metrics", web::get().to(health::get_metrics));
}
