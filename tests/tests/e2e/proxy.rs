//! The agent HTTP path: credential injection, header policy, errors.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shellgate_tests::Cluster;
use shellgate_tests::client::read_body;
use shellgate_tests::upstream::Upstream;

fn canary(kind: &str) -> String {
    format!("CANARY-{kind}-{}", uuid::Uuid::new_v4().simple())
}

#[actix_web::test]
async fn each_credential_type_reaches_the_upstream_and_never_the_agent() {
    let up = Upstream::start();
    // Debug logging on, so even verbose logs are checked for credentials.
    let c = Cluster::up_with(&[("RUST_LOG", "debug")]).await;
    let bearer = canary("bearer");
    let basic = canary("basic");
    let header1 = canary("header1");
    let header2 = canary("header2");
    let query = canary("query");
    let canaries = [&bearer, &basic, &header1, &header2, &query];
    let targets = [
        ("bearer-api", json!({"type": "bearer", "token": bearer})),
        (
            "basic-api",
            json!({"type": "basic", "username": "svc", "password": basic}),
        ),
        (
            "header-api",
            json!({"type": "header", "headers": {"X-Api-Key": header1, "X-Second-Key": header2}}),
        ),
        (
            "query-api",
            json!({"type": "query", "param": "api_key", "value": query}),
        ),
    ];
    let mut ids = Vec::new();
    for (slug, cred) in &targets {
        ids.push(c.create_http_target(slug, &up.url, Some(cred.clone())).await);
    }
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let (token_id, token) = c.create_token(&id_refs).await;

    let mut agent_saw = String::new();
    for (slug, _) in &targets {
        let url = format!("{}/gateway/{slug}/v1/echo?x=1&api_key=agent-chosen", c.gateway());
        let mut res = c
            .http
            .agent("GET", &url, &token)
            .insert_header(("cookie", "agent_cookie=1"))
            .insert_header(("x-forwarded-for", "10.9.9.9"))
            .insert_header(("x-real-ip", "10.9.9.9"))
            .insert_header(("x-shellgate-approved", "true"))
            .insert_header(("x-custom", "kept"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{slug}");
        assert!(
            res.headers().get("set-cookie").is_none(),
            "upstream Set-Cookie must not reach the agent"
        );
        assert!(res.headers().get("x-shellgate-request-id").is_some());
        for (n, v) in res.headers() {
            agent_saw.push_str(&format!("{n}: {}\n", v.to_str().unwrap_or_default()));
        }
        let body = read_body(&mut res).await;
        agent_saw.push_str(&String::from_utf8_lossy(&body));

        let got = up.controls.last();
        assert_eq!(got.path, "/v1/echo");
        assert_eq!(got.header("x-custom"), Some("kept"));
        for dropped in ["cookie", "x-forwarded-for", "x-real-ip", "x-shellgate-approved"] {
            assert_eq!(got.header(dropped), None, "{dropped} must not be forwarded ({slug})");
        }
        let auth = got.header("authorization").map(str::to_string);
        assert!(
            !auth.as_deref().unwrap_or_default().contains(&token),
            "the agent's token must not be forwarded"
        );
        match *slug {
            "bearer-api" => assert_eq!(auth, Some(format!("Bearer {bearer}"))),
            "basic-api" => {
                use base64_check::encode;
                assert_eq!(auth, Some(format!("Basic {}", encode(&format!("svc:{basic}")))));
            }
            "header-api" => {
                assert_eq!(got.header("x-api-key"), Some(header1.as_str()));
                assert_eq!(got.header("x-second-key"), Some(header2.as_str()));
                assert_eq!(auth, None);
            }
            "query-api" => {
                let q = got.query.clone().unwrap_or_default();
                assert!(q.contains(&format!("api_key={query}")), "{q}");
                assert!(
                    !q.contains("agent-chosen"),
                    "the agent cannot override the injected parameter: {q}"
                );
                assert!(q.contains("x=1"));
            }
            _ => unreachable!(),
        }
    }
    // The echo reflected every credential back: the executor must have scrubbed them.
    for secret in canaries {
        assert!(!agent_saw.contains(secret.as_str()), "a credential reached the agent");
    }
    assert!(
        agent_saw.contains("x-echo-authorization"),
        "the reflected header is still there, scrubbed"
    );

    // Never in the admin API, the audit trail, the stored rows or the logs.
    let (_, listed) = c.admin("GET", "/api/targets", None).await;
    let events = c
        .wait_for_audit(&format!("tokenId={token_id}"), targets.len(), Duration::from_secs(10))
        .await;
    assert_eq!(events.len(), targets.len());
    let sealed =
        c.db.query("SELECT encode(sealed, 'escape') FROM target_credentials")
            .await;
    let audit_rows = c.db.query("SELECT row_to_json(a)::text FROM audit_events a").await;
    let mut everywhere = listed.to_string();
    everywhere.push_str(&Value::Array(events).to_string());
    for r in sealed.iter().chain(audit_rows.iter()) {
        everywhere.push_str(&r.get::<_, String>(0));
    }
    everywhere.push_str(&c.logs());
    for secret in canaries {
        assert!(
            !everywhere.contains(secret.as_str()),
            "a credential leaked into the API, audit, database or logs"
        );
    }
    assert!(listed.to_string().contains("\"hint\""));
}

/// Minimal base64 for the Basic check, so the test does not trust the code under test.
mod base64_check {
    pub fn encode(s: &str) -> String {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let b = s.as_bytes();
        let mut out = String::new();
        for chunk in b.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, &x)| acc | (u32::from(x) << (16 - 8 * i)));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

#[actix_web::test]
async fn redirects_are_returned_not_followed() {
    let up = Upstream::start();
    let c = Cluster::up().await;
    let id = c.create_http_target("api", &up.url, None).await;
    let (_, token) = c.create_token(&[&id]).await;
    let res = c
        .http
        .agent("GET", &format!("{}/gateway/api/redirect", c.gateway()), &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(res.headers().get("location").unwrap(), "/elsewhere");
}

#[actix_web::test]
async fn no_executor_answers_503_at_once() {
    let up = Upstream::start();
    let c = Cluster::up().await;
    let (status, t) = c
        .admin(
            "POST",
            "/api/targets",
            Some(json!({"name": "far", "baseUrl": up.url, "pool": "nowhere"})),
        )
        .await;
    assert_eq!(status, 201);
    let (_, token) = c.create_token(&[t["id"].as_str().unwrap()]).await;
    let started = Instant::now();
    let mut res = c
        .http
        .agent("GET", &format!("{}/gateway/far/x", c.gateway()), &token)
        .send()
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "no_executor");
    // The accept timeout is 5 s: an answer well before it comes from NATS's no-responders.
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
}

#[actix_web::test]
async fn bodies_over_the_limit_are_refused_with_413() {
    let up = Upstream::start();
    let c = Cluster::up_with(&[("SHELLGATE_MAX_BODY_BYTES", "1048576")]).await;
    let id = c.create_http_target("api", &up.url, None).await;
    let (_, token) = c.create_token(&[&id]).await;
    let url = format!("{}/gateway/api/mirror", c.gateway());
    let big = bytes::Bytes::from(vec![b'x'; 2 * 1024 * 1024]);
    let mut res = c.http.agent("POST", &url, &token).send_body(big.clone()).await.unwrap();
    assert_eq!(res.status(), 413);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "payload_too_large");
    // Chunked (no Content-Length): counted while streaming.
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = (0..32).map(|_| Ok(big.slice(0..65536))).collect();
    let mut res = c
        .http
        .agent("POST", &url, &token)
        .send_stream(futures_util::stream::iter(chunks))
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "payload_too_large");
    // Under the limit still works.
    let res = c
        .http
        .agent("POST", &url, &token)
        .send_body(big.slice(0..1000))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[actix_web::test]
async fn tokens_and_permissions_are_enforced() {
    let up = Upstream::start();
    let c = Cluster::up().await;
    let allowed = c.create_http_target("allowed", &up.url, None).await;
    let _other = c.create_http_target("other", &up.url, None).await;
    let (token_id, token) = c.create_token(&[&allowed]).await;
    let gw = c.gateway();
    let get = |path: &str, token: Option<&str>| {
        let req = c.http.request("GET", &format!("{gw}{path}"));
        let req = match token {
            Some(t) => req.insert_header(("authorization", format!("Bearer {t}"))),
            None => req,
        };
        async move {
            let mut res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            (status, body)
        }
    };
    assert_eq!(get("/gateway/allowed/x", Some(&token)).await.0, 200);
    let (s, b) = get("/gateway/allowed/x", None).await;
    assert_eq!((s, b["error"].as_str()), (401, Some("missing_token")));
    let (s, b) = get("/gateway/allowed/x", Some("sg_short")).await;
    assert_eq!((s, b["error"].as_str()), (401, Some("invalid_token")));
    let unknown = format!("sg_{}", "0".repeat(64));
    let (s, b) = get("/gateway/allowed/x", Some(&unknown)).await;
    assert_eq!((s, b["error"].as_str()), (401, Some("invalid_token")));
    // A target that exists but is not granted answers exactly like one that does not exist.
    let forbidden = get("/gateway/other/x", Some(&token)).await;
    let missing = get("/gateway/no-such-target/x", Some(&token)).await;
    assert_eq!(forbidden.0, 404);
    assert_eq!(forbidden, missing);
    // Disabled, then expired tokens. Changes reach every gateway's cache over NATS within a
    // second (not synchronously with the admin API's answer).
    let within_a_second = |expected: u16| {
        let get = &get;
        let token = token.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(1);
            loop {
                let (s, b) = get("/gateway/allowed/x", Some(&token)).await;
                if s == expected || Instant::now() > deadline {
                    return (s, b);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    let (s, _) = c
        .admin(
            "PATCH",
            &format!("/api/tokens/{token_id}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, b) = within_a_second(401).await;
    assert_eq!((s, b["error"].as_str()), (401, Some("token_disabled")));
    let soon = (time::OffsetDateTime::now_utc() + time::Duration::seconds(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (s, _) = c
        .admin(
            "PATCH",
            &format!("/api/tokens/{token_id}"),
            Some(json!({"enabled": true, "expiresAt": soon})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(within_a_second(200).await.0, 200);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (s, b) = get("/gateway/allowed/x", Some(&token)).await;
    assert_eq!((s, b["error"].as_str()), (401, Some("token_expired")));
    // Refusals are audited too.
    let events = c.wait_for_audit("outcome=refused", 6, Duration::from_secs(10)).await;
    assert!(events.len() >= 6, "{events:?}");
    assert!(
        events
            .iter()
            .any(|e| e["errorCode"] == "target_not_found" && e["tokenId"] == token_id.as_str())
    );
}

#[actix_web::test]
async fn unreachable_upstream_is_502_and_audited_as_failed() {
    let c = Cluster::up().await;
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let id = c
        .create_http_target("dead", &format!("http://127.0.0.1:{port}"), None)
        .await;
    let (token_id, token) = c.create_token(&[&id]).await;
    let mut res = c
        .http
        .agent("GET", &format!("{}/gateway/dead/x", c.gateway()), &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 502);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "upstream_connect_failed");
    let events = c
        .wait_for_audit(
            &format!("tokenId={token_id}&outcome=failed"),
            1,
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["errorCode"], "upstream_connect_failed");
    assert!(events[0]["executor"].is_string());
}

#[actix_web::test]
async fn slow_upstreams_are_waited_for_up_to_the_upstream_timeout() {
    let up = Upstream::start();
    let c = Cluster::up_with(&[("SHELLGATE_UPSTREAM_TIMEOUT_MS", "1500")]).await;
    let id = c.create_http_target("slow", &up.url, None).await;
    let (token_id, token) = c.create_token(&[&id]).await;
    // Slower than the executor's accept grace (100 ms): it accepts first, answers later.
    let (status, body) = c
        .agent_get(&format!("{}/gateway/slow/slow/400", c.gateway()), &token)
        .await;
    assert_eq!((status, body.as_slice()), (200, b"late".as_slice()));
    let started = Instant::now();
    let mut res = c
        .http
        .agent("GET", &format!("{}/gateway/slow/slow/5000", c.gateway()), &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 504);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "upstream_timeout");
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    let events = c
        .wait_for_audit(
            &format!("tokenId={token_id}&outcome=failed"),
            1,
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(events[0]["errorCode"], "upstream_timeout");
    assert_eq!(events[0]["status"], 504);
}

#[actix_web::test]
async fn sigterm_lets_in_flight_requests_finish() {
    let up = Upstream::start();
    let mut c = Cluster::up_with(&[("SHELLGATE_SHUTDOWN_GRACE_MS", "5000")]).await;
    let id = c.create_http_target("api", &up.url, None).await;
    let (_, token) = c.create_token(&[&id]).await;
    let url = format!("{}/gateway/api/slow/1500", c.gateway());
    let http = c.http.clone();
    let token2 = token.clone();
    let in_flight = actix_web::rt::spawn(async move {
        let mut res = http.agent("GET", &url, &token2).send().await.unwrap();
        let body = shellgate_tests::client::read_body(&mut res).await;
        (res.status().as_u16(), body)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = c.procs[0].pid();
    let stopped = std::thread::spawn({
        let mut proc = c.procs.remove(0);
        move || proc.terminate(Duration::from_secs(10))
    });
    let (status, body) = in_flight.await.unwrap();
    assert_eq!((status, body.as_slice()), (200, b"late".as_slice()), "pid {pid}");
    assert!(stopped.join().unwrap(), "the process exited within the grace period");
}
