//! Logging setup: human-readable text by default, JSON lines with `SHELLGATE_LOG_FORMAT=json`.
//! `RUST_LOG` filters; tracing-actix-web's request spans stay at INFO so request ids survive.

use tracing_subscriber::EnvFilter;

pub fn init(format: &str) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info"))
        .add_directive("tracing_actix_web=info".parse().unwrap_or_default());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if format == "json" {
        builder.json().with_current_span(true).try_init()
    } else {
        builder.try_init()
    };
}
