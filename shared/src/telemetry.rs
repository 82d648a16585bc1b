//! Logging and tracing setup. Logs: human-readable text by default, JSON lines with
//! `SHELLGATE_LOG_FORMAT=json`; `RUST_LOG` filters, and tracing-actix-web's request spans stay at
//! INFO so request and trace ids survive a quieter filter. Traces: OpenTelemetry, exported over
//! OTLP/HTTP only when the standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or `…_TRACES_ENDPOINT`) is set;
//! W3C `traceparent` is always propagated, including through NATS headers (`inject` / `extract`),
//! so one agent request is one trace across gateway, executor and upstream call.
//!
//! Span attributes are chosen, never dumped: ids, methods, status codes, slugs — no URLs with
//! query strings, no headers, no bodies, so no credential can reach a trace.

use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Keeps the trace exporter alive; flushes pending spans when dropped (at shutdown).
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take()
            && let Err(e) = p.shutdown()
        {
            eprintln!("warning: trace exporter shutdown: {e}");
        }
    }
}

fn otlp_configured() -> bool {
    ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
        .iter()
        .any(|k| std::env::var(k).is_ok_and(|v| !v.trim().is_empty()))
}

/// The most any library may log, whatever `RUST_LOG` asks: some write what agents send (their
/// commands, request and response bodies) into the logs at debug or trace level. brush-parser (the
/// guard's shell parser) logs each command's tokens, words and parse tree under `tokenize`,
/// `parse`, `expansion` and `arithmetic`; async-nats logs every message's payload at trace.
pub fn log_caps() -> Targets {
    Targets::new().with_default(LevelFilter::TRACE).with_targets([
        ("tokenize", LevelFilter::OFF),
        ("parse", LevelFilter::OFF),
        ("expansion", LevelFilter::OFF),
        ("arithmetic", LevelFilter::OFF),
        ("brush_parser", LevelFilter::OFF),
        ("async_nats", LevelFilter::DEBUG),
    ])
}

/// Sets up logging and, when configured, trace export. `service` names the process in traces
/// unless `OTEL_SERVICE_NAME` says otherwise; without `RUST_LOG` the level is `default_level`
/// (`up` on a laptop is quiet: `warn`; the roles run apart log `info`).
pub fn init(format: &str, service: &str, default_level: &str) -> Telemetry {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(default_level))
        .add_directive("tracing_actix_web=info".parse().unwrap_or_default());
    let provider = if otlp_configured() {
        match opentelemetry_otlp::SpanExporter::builder().with_http().build() {
            Ok(exporter) => {
                let name = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| service.to_string());
                let resource = opentelemetry_sdk::Resource::builder().with_service_name(name).build();
                let provider = SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(resource)
                    .build();
                opentelemetry::global::set_tracer_provider(provider.clone());
                Some(provider)
            }
            Err(e) => {
                eprintln!("warning: OTLP trace export disabled: {e}");
                None
            }
        }
    } else {
        None
    };
    let otel = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("shellgate")));
    let registry = tracing_subscriber::registry().with(filter).with(log_caps()).with(otel);
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let _ = if format == "json" {
        registry.with(fmt.json().with_current_span(true)).try_init()
    } else {
        registry.with(fmt).try_init()
    };
    Telemetry { provider }
}

/// Writes the current trace context into NATS headers.
pub fn inject(cx: &opentelemetry::Context, headers: &mut async_nats::HeaderMap) {
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(cx, &mut NatsInjector(headers)));
}

/// Reads a trace context from NATS headers (empty when there is none).
pub fn extract(headers: Option<&async_nats::HeaderMap>) -> opentelemetry::Context {
    match headers {
        Some(h) => opentelemetry::global::get_text_map_propagator(|p| p.extract(&NatsExtractor(h))),
        None => opentelemetry::Context::new(),
    }
}

struct NatsInjector<'a>(&'a mut async_nats::HeaderMap);

impl Injector for NatsInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key, value.as_str());
    }
}

struct NatsExtractor<'a>(&'a async_nats::HeaderMap);

impl Extractor for NatsExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_ref()).collect()
    }
}
