//! The management API's validation and error bodies, in process: the approver's routes in an
//! actix test service (on a database of their own on the machine's Postgres, and NATS), each
//! request's status and JSON body compared with the answer recorded here. A validation rule is
//! checked in milliseconds; the e2e suite covers the same API through the real binary.

use actix_web::{App, test, web};
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
use shellgate_shared::bus::Bus;
use shellgate_shared::config::Settings;
use shellgate_shared::crypto::{ADMIN_KEY_PREFIX, NotifierKey, VaultSecretKey, generate_secret, hash_secret};
use shellgate_shared::db::models::NewAdminKey;
use shellgate_shared::db::{self, queries};
use shellgate_shared::ids::AdminKeyId;
use shellgate_shared::metrics::Metrics;
use shellgate_tests::db::TestDb;

/// One request and the answer it must get. `key`: whether it carries a valid admin key.
struct Case {
    method: &'static str,
    path: &'static str,
    key: bool,
    body: Option<&'static str>,
    status: u16,
    answer: Value,
}

fn case(method: &'static str, path: &'static str, body: Option<&'static str>, status: u16, answer: Value) -> Case {
    Case {
        method,
        path,
        key: true,
        body,
        status,
        answer,
    }
}

#[actix_web::test]
async fn validation_and_error_bodies() {
    let test_db = TestDb::create().await;
    let settings = Settings {
        database_url: test_db.url.clone().into(),
        nats_url: shellgate_tests::cluster::nats_url(),
        nats_prefix: format!("hnd{}", &uuid::Uuid::new_v4().simple().to_string()[..10]),
        ..Settings::default()
    };
    db::run_migrations(&settings).await.unwrap();
    let pool = db::connect_pool(&settings).await.unwrap();
    let key = generate_secret(ADMIN_KEY_PREFIX);
    {
        let mut conn = pool.get().await.unwrap();
        let hash = hash_secret(key.expose_secret());
        let new = NewAdminKey {
            id: AdminKeyId::new(),
            name: "handlers",
            key_hash: &hash,
            scopes: Vec::new(),
        };
        queries::admin_keys::insert_admin_key(&mut conn, &new).await.unwrap();
    }
    let bus = Bus::connect(&settings, "handlers-test").await.unwrap();
    let vault = VaultSecretKey::generate().public_key();
    let notifier_key = NotifierKey::from_base64(&NotifierKey::generate()).unwrap();
    let ctx = shellgate_approver::ApproverContext::new(&settings, bus, pool, vault, Some(notifier_key), Metrics::new());
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(ctx))
            .configure(shellgate_approver::configure),
    )
    .await;

    let cases = [
        // The key is checked before anything else, whatever the body.
        Case {
            key: false,
            ..case(
                "POST",
                "/api/tokens",
                Some("{not json"),
                401,
                json!({"error": "missing_admin_key", "message": "missing admin API key"}),
            )
        },
        case(
            "GET",
            "/api/tokens/nope",
            None,
            400,
            json!({"error": "invalid_id", "message": "malformed id"}),
        ),
        case(
            "GET",
            "/api/tokens/0190b6a8-0000-7000-8000-000000000000",
            None,
            404,
            json!({"error": "not_found", "message": "token not found"}),
        ),
        case(
            "POST",
            "/api/tokens",
            Some(r#"{"name": ""}"#),
            400,
            json!({"error": "invalid_name", "message": "name must be 1-200 characters without control characters"}),
        ),
        case(
            "POST",
            "/api/tokens",
            Some(r#"{"name": "a", "capabilities": ["root"]}"#),
            400,
            json!({"error": "invalid_capability", "message": "each capability must be \"http\", \"ssh\", \"webhooks\", \"vault\", \"memory:read\", \"memory:write\", \"skills:read\", \"skills:write\", \"wiki:read\" or \"wiki:write\""}),
        ),
        case(
            "POST",
            "/api/tokens",
            Some(r#"{"name": "a", "allowedCidrs": ["10.0.0.0/33"]}"#),
            400,
            json!({"error": "invalid_allowed_cidrs", "message": "allowedCidrs: \"10.0.0.0/33\" is not an IP address or CIDR block"}),
        ),
        case(
            "POST",
            "/api/tokens",
            Some(r#"{"name": "a", "approvalPolicy": "yolo"}"#),
            400,
            json!({"error": "invalid_approval_policy", "message": "approvalPolicy must be \"human\" or \"agent_confirm\""}),
        ),
        case(
            "POST",
            "/api/tokens",
            Some(r#"{"name": "a", "expiresInSeconds": -5}"#),
            400,
            json!({"error": "invalid_json", "message": "request body: Json deserialize error: invalid value: integer `-5`, expected u32 at line 1 column 36"}),
        ),
        case(
            "POST",
            "/api/tokens",
            Some(r#"{"name": "a", "surprise": 1}"#),
            400,
            json!({"error": "invalid_json", "message": "request body: Json deserialize error: unknown field `surprise`, expected one of `name`, `expiresAt`, `expiresInSeconds`, `enabled`, `permissions`, `targetIds`, `approvalPolicy`, `capabilities`, `allowedCidrs` at line 1 column 24"}),
        ),
        case(
            "POST",
            "/api/tokens",
            Some("{not json"),
            400,
            json!({"error": "invalid_json", "message": "request body: Json deserialize error: key must be a string at line 1 column 2"}),
        ),
        case(
            "POST",
            "/api/targets",
            Some(r#"{"name": "a", "slug": "-bad", "baseUrl": "http://x"}"#),
            400,
            json!({"error": "invalid_slug", "message": "\"-bad\" must be 1-63 lowercase letters, digits or '-', not starting with '-'"}),
        ),
        case(
            "POST",
            "/api/targets",
            Some(r#"{"name": "a", "baseUrl": "ftp://x"}"#),
            400,
            json!({"error": "invalid_base_url", "message": "base URL must use http or https"}),
        ),
        case(
            "POST",
            "/api/targets",
            Some(r#"{"name": "a", "baseUrl": "http://x", "credential": {"type": "magic"}}"#),
            400,
            json!({"error": "invalid_json", "message": "request body: Json deserialize error: unknown variant `magic`, expected one of `bearer`, `basic`, `header`, `query`, `ssh_key`, `password` at line 1 column 67"}),
        ),
        case(
            "POST",
            "/api/targets",
            Some(r#"{"name": "a", "kind": "ssh", "host": "-oProxyCommand=x", "username": "u"}"#),
            400,
            json!({"error": "invalid_ssh_target", "message": "host is not a valid host name or address"}),
        ),
        case(
            "PUT",
            "/api/guard/rules/r1",
            Some(r#"{"verdict": "maybe"}"#),
            400,
            json!({"error": "invalid_rule", "message": "not a guard rule: unknown variant `maybe`, expected one of `allow`, `approve`, `block`, `reject`"}),
        ),
        case(
            "PUT",
            "/api/policy",
            Some(r#"{"text": "bell\u0007"}"#),
            400,
            json!({"error": "invalid_policy", "message": "the policy may not contain control characters other than newlines and tabs"}),
        ),
        case(
            "POST",
            "/api/notifiers",
            Some(r#"{"name": "n", "kind": "pager", "url": "https://x"}"#),
            400,
            json!({"error": "invalid_kind", "message": "kind must be \"webhook\" or \"slack\""}),
        ),
        case(
            "GET",
            "/api/audit?limit=abc",
            None,
            400,
            json!({"error": "invalid_query", "message": "query: Query deserialize error: invalid digit found in string"}),
        ),
        case(
            "GET",
            "/api/audit?outcome=great",
            None,
            400,
            json!({"error": "invalid_query", "message": "outcome must be \"allowed\", \"refused\", \"failed\", \"cancelled\", \"approval_required\", \"blocked\", \"approved\", \"denied\" or \"expired\""}),
        ),
    ];
    let mut failures = Vec::new();
    for c in cases {
        let mut req = test::TestRequest::default()
            .method(c.method.parse().unwrap())
            .uri(c.path);
        if c.key {
            req = req.insert_header(("authorization", format!("Bearer {}", key.expose_secret())));
        }
        if let Some(body) = c.body {
            req = req
                .insert_header(("content-type", "application/json"))
                .set_payload(body);
        }
        let res = test::call_service(&app, req.to_request()).await;
        let status = res.status().as_u16();
        let bytes = test::read_body(res).await;
        let answer: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes)));
        if (status, &answer) != (c.status, &c.answer) {
            failures.push(format!(
                "{} {} {:?}\n  expected {} {}\n  got      {status} {answer}",
                c.method, c.path, c.body, c.status, c.answer
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
