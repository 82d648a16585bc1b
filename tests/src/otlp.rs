//! A minimal OTLP/HTTP trace receiver on loopback: collects the spans a process exports.

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message as _;

/// One received span, flattened for assertions.
#[derive(Debug, Clone)]
pub struct SpanRecord {
    pub service: String,
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    /// Every attribute (span and resource) as `key=value` text.
    pub attributes: Vec<String>,
}

pub struct OtlpReceiver {
    /// Base URL for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub url: String,
    pub spans: Arc<Mutex<Vec<SpanRecord>>>,
    handle: actix_web::dev::ServerHandle,
}

fn text(v: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

async fn traces(body: web::Bytes, spans: web::Data<Mutex<Vec<SpanRecord>>>) -> HttpResponse {
    let Ok(req) = ExportTraceServiceRequest::decode(body) else {
        return HttpResponse::BadRequest().finish();
    };
    let mut out = Vec::new();
    for rs in req.resource_spans {
        let resource: Vec<String> = rs
            .resource
            .map(|r| {
                r.attributes
                    .iter()
                    .map(|a| format!("{}={}", a.key, text(&a.value)))
                    .collect()
            })
            .unwrap_or_default();
        let service = resource
            .iter()
            .find_map(|a| a.strip_prefix("service.name=").map(str::to_string))
            .unwrap_or_default();
        for ss in rs.scope_spans {
            for s in ss.spans {
                let mut attributes = resource.clone();
                attributes.extend(s.attributes.iter().map(|a| format!("{}={}", a.key, text(&a.value))));
                for e in &s.events {
                    attributes.push(format!("event={}", e.name));
                    attributes.extend(e.attributes.iter().map(|a| format!("{}={}", a.key, text(&a.value))));
                }
                out.push(SpanRecord {
                    service: service.clone(),
                    name: s.name.clone(),
                    trace_id: hex::encode(&s.trace_id),
                    span_id: hex::encode(&s.span_id),
                    parent_span_id: hex::encode(&s.parent_span_id),
                    attributes,
                });
            }
        }
    }
    if let Ok(mut all) = spans.lock() {
        all.extend(out);
    }
    HttpResponse::Ok().content_type("application/x-protobuf").finish()
}

impl OtlpReceiver {
    pub fn start() -> Self {
        let spans = Arc::new(Mutex::new(Vec::new()));
        let data = web::Data::from(spans.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
                        .route("/v1/traces", web::post().to(traces))
                })
                .workers(1)
                .disable_signals()
                .bind("127.0.0.1:0")
                .expect("bind OTLP receiver");
                let addr = server.addrs()[0];
                let server = server.run();
                tx.send((format!("http://{addr}"), server.handle())).expect("send");
                let _ = server.await;
            });
        });
        let (url, handle) = rx.recv().expect("OTLP receiver started");
        Self { url, spans, handle }
    }

    pub fn spans(&self) -> Vec<SpanRecord> {
        self.spans.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        let h = self.handle.clone();
        crate::block_on_thread(async move { h.stop(false).await });
    }
}
