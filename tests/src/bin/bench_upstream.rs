//! A fast local upstream for `bench/proxy.sh`: the direct baseline and the target behind
//! Shellgate are the same server. Prints `listening http://…` and serves until killed.

use actix_web::{App, HttpResponse, HttpServer, web};
use bytes::Bytes;

async fn small() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"ok":true}"#)
}

async fn upload(body: Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(format!(r#"{{"bytes":{}}}"#, body.len()))
}

async fn sse() -> HttpResponse {
    let events = futures_util::stream::iter([
        Ok::<_, std::io::Error>(Bytes::from_static(b"data: first\n\n")),
        Ok(Bytes::from_static(b"data: [DONE]\n\n")),
    ]);
    HttpResponse::Ok().content_type("text/event-stream").streaming(events)
}

fn main() -> std::io::Result<()> {
    let workers = std::env::var("BENCH_UPSTREAM_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(1);
    actix_rt::System::new().block_on(async move {
        let server = HttpServer::new(|| {
            App::new()
                .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
                .route("/small", web::get().to(small))
                .route("/upload", web::post().to(upload))
                .route("/sse", web::get().to(sse))
        })
        .workers(workers)
        .bind("127.0.0.1:0")?;
        println!("listening http://{}", server.addrs()[0]);
        server.run().await
    })
}
