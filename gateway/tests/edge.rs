//! The gateway's refusals before any target is reached, in process: its routes in an actix test
//! service (with a database of their own and NATS, as the gateway needs), each request's status
//! and JSON body compared with the answer recorded here. The e2e suite covers the same paths
//! through the real binary.

use actix_web::{App, test, web};
use serde_json::{Value, json};
use shellgate_shared::bus::Bus;
use shellgate_shared::config::Settings;
use shellgate_shared::db;
use shellgate_shared::metrics::Metrics;
use shellgate_tests::db::TestDb;

/// One request and the answer it must get.
struct Case {
    method: &'static str,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    status: u16,
    answer: Value,
}

const UNKNOWN_TOKEN: &str = "Bearer sg_0000000000000000000000000000000000000000000000000000000000000000";

fn case(
    method: &'static str,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    status: u16,
    answer: Value,
) -> Case {
    Case {
        method,
        path,
        headers,
        status,
        answer,
    }
}

#[actix_web::test]
async fn refusals_at_the_edge() {
    let test_db = TestDb::create().await;
    let settings = Settings {
        database_url: test_db.url.clone().into(),
        nats_url: shellgate_tests::cluster::nats_url(),
        nats_prefix: format!("edg{}", &uuid::Uuid::new_v4().simple().to_string()[..10]),
        ..Settings::default()
    };
    db::run_migrations(&settings).await.unwrap();
    let pool = db::connect_pool(&settings).await.unwrap();
    let bus = Bus::connect(&settings, "edge-test").await.unwrap();
    let ctx = shellgate_gateway::GatewayContext::new(&settings, bus, pool, Metrics::new());
    let mcp = shellgate_gateway::McpEndpoint::new(ctx.clone(), &settings);
    let data = web::Data::new(ctx);
    let app = test::init_service(App::new().configure(move |cfg| {
        cfg.app_data(data.clone());
        shellgate_gateway::configure(cfg, &mcp);
    }))
    .await;

    let auth: &'static [(&str, &str)] = &[("authorization", UNKNOWN_TOKEN)];
    let missing = json!({"error": "missing_token", "message": "missing bearer token"});
    let invalid = json!({"error": "invalid_token", "message": "invalid token"});
    let not_found = json!({"error": "not_found", "message": "no such endpoint"});
    let cases = [
        case("GET", "/gateway/api/items", &[], 401, missing.clone()),
        case(
            "GET",
            "/gateway/api/items",
            &[("authorization", "Bearer not-a-token")],
            401,
            invalid.clone(),
        ),
        case("GET", "/gateway/api/items", auth, 401, invalid),
        case(
            "GET",
            "/gateway/api/a/../../etc/passwd",
            auth,
            400,
            json!({"error": "unsafe_path_dot_segment", "message": "path has a '.' or '..' segment"}),
        ),
        case("GET", "/bootstrap", &[], 401, missing.clone()),
        case(
            "POST",
            "/mcp",
            &[("origin", "https://evil.example"), ("authorization", UNKNOWN_TOKEN)],
            403,
            json!({"error": "origin_not_allowed", "message": "this origin may not call the MCP endpoint"}),
        ),
        case("POST", "/mcp", &[], 401, missing),
        case("GET", "/install/nope.sh", &[], 404, not_found.clone()),
        case(
            "GET",
            "/install/codex.sh",
            &[("host", "a b")],
            400,
            json!({"error": "bad_request", "message": "bad request: this gateway's URL (from the Host header) cannot be written into a script: set SHELLGATE_PUBLIC_URL"}),
        ),
        case("GET", "/nowhere", &[], 404, not_found),
    ];
    let mut failures = Vec::new();
    for c in cases {
        let mut req = test::TestRequest::default()
            .method(c.method.parse().unwrap())
            .uri(c.path)
            .peer_addr("127.0.0.1:40000".parse().unwrap());
        for h in c.headers {
            req = req.insert_header(*h);
        }
        // A middleware's refusal is an error the server turns into its response.
        let res = match test::try_call_service(&app, req.to_request()).await {
            Ok(res) => res.into_parts().1.map_into_boxed_body(),
            Err(e) => e.error_response(),
        };
        let status = res.status().as_u16();
        let www = res
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap_or("").to_string());
        let bytes = actix_web::body::to_bytes(res.into_body()).await.unwrap();
        let answer: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes)));
        if status == 401 && www.as_deref() != Some("Bearer") {
            failures.push(format!(
                "{} {}: a 401 without WWW-Authenticate: Bearer",
                c.method, c.path
            ));
        }
        if (status, &answer) != (c.status, &c.answer) {
            failures.push(format!(
                "{} {} {:?}\n  expected {} {}\n  got      {status} {answer}",
                c.method, c.path, c.headers, c.status, c.answer
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} answers changed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
