//! Prometheus metrics on every role, with bounded labels.

use std::time::Duration;

use shellgate_tests::Cluster;
use shellgate_tests::client::read_body;
use shellgate_tests::upstream::Upstream;

async fn metrics(c: &Cluster, base: &str) -> String {
    let mut res = c.http.request("GET", &format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let ct = res.headers().get("content-type").unwrap().to_str().unwrap().to_string();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    String::from_utf8(read_body(&mut res).await).unwrap()
}

#[actix_web::test]
async fn metrics_count_requests_by_target_status_and_outcome_without_raw_paths() {
    let up = Upstream::start();
    let c = Cluster::up().await;
    let id = c.create_http_target("api", &up.url, None).await;
    let (_, token) = c.create_token(&[&id]).await;
    let gw = c.gateway();
    for _ in 0..2 {
        assert_eq!(
            c.agent_get(&format!("{gw}/gateway/api/v1/secret-path-a1"), &token)
                .await
                .0,
            200
        );
    }
    let (status, _) = c
        .agent_get(&format!("{gw}/gateway/made-up-slug-zz9/secret-path-b2"), &token)
        .await;
    assert_eq!(status, 404);
    c.wait_for_audit("", 3, Duration::from_secs(10)).await;

    let text = metrics(&c, &gw).await;
    assert!(
        text.contains(r#"shellgate_gateway_requests_total{kind="http",target="api",status="200",outcome="allowed"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"shellgate_gateway_requests_total{kind="http",target="unknown",status="404",outcome="refused"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"shellgate_gateway_request_duration_seconds_count{kind="http"} 3"#),
        "{text}"
    );
    assert!(
        text.contains("shellgate_gateway_executor_first_frame_seconds_count 2"),
        "{text}"
    );
    assert!(text.contains("shellgate_gateway_inflight_streams 0"), "{text}");
    assert!(
        text.contains(r#"shellgate_gateway_guard_verdicts_total{kind="http",verdict="allow",rule="none"} 2"#),
        "{text}"
    );
    // Nothing an agent can vary becomes a label.
    for raw in ["secret-path", "made-up-slug", "v1/"] {
        assert!(!text.contains(raw), "{raw} leaked into a label");
    }
    let executor = c.procs[0].url("executor");
    let text = metrics(&c, &executor).await;
    assert!(
        text.contains(r#"shellgate_executor_upstream_duration_seconds_count{kind="http"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(r#"shellgate_executor_workers{pool="default"} 1"#),
        "{text}"
    );
    let approver = c.approver();
    c.wait_for_audit("kind=admin", 2, Duration::from_secs(10)).await;
    let text = metrics(&c, &approver).await;
    // The 3 agent requests and the 2 admin changes (the target, the token).
    assert!(text.contains("shellgate_audit_events_written_total 5"), "{text}");
    assert!(text.contains("shellgate_audit_pending_events"), "{text}");
    assert!(text.contains("shellgate_approvals_pending 0"), "{text}");
    assert!(text.contains("shellgate_approvals_decision_seconds_count 0"), "{text}");
}

#[actix_web::test]
async fn one_request_is_one_trace_across_gateway_and_executor_without_credentials() {
    use shellgate_tests::otlp::OtlpReceiver;
    let otlp = OtlpReceiver::start();
    let up = Upstream::start();
    let mut c = Cluster::prepare(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.url.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ])
    .await;
    c.start("approver", &[]);
    c.start("gateway", &[]);
    c.start("executor", &[]);
    let canary = format!("CANARY-trace-{}", uuid::Uuid::new_v4().simple());
    let id = c
        .create_http_target(
            "api",
            &up.url,
            Some(serde_json::json!({"type": "query", "param": "key", "value": canary})),
        )
        .await;
    let (_, token) = c.create_token(&[&id]).await;
    let (status, _) = c
        .agent_get(&format!("{}/gateway/api/v1/things?page=2", c.gateway()), &token)
        .await;
    assert_eq!(status, 200);

    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let (gateway_span, executor_span, upstream_span) = loop {
        let spans = otlp.spans();
        let gateway = spans
            .iter()
            .find(|s| s.service == "shellgate-gateway" && s.name.contains("gateway"))
            .cloned();
        let executor = spans
            .iter()
            .find(|s| s.service == "shellgate-executor" && s.name == "exec_http")
            .cloned();
        let upstream = spans
            .iter()
            .find(|s| s.service == "shellgate-executor" && s.name == "upstream_http")
            .cloned();
        if let (Some(g), Some(e), Some(u)) = (gateway, executor, upstream) {
            break (g, e, u);
        }
        assert!(std::time::Instant::now() < deadline, "spans missing: {spans:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(gateway_span.trace_id, executor_span.trace_id, "one trace across NATS");
    assert_eq!(executor_span.trace_id, upstream_span.trace_id);
    assert_eq!(upstream_span.parent_span_id, executor_span.span_id);
    assert!(
        upstream_span
            .attributes
            .iter()
            .any(|a| a == "http.response.status_code=200"),
        "{upstream_span:?}"
    );
    for span in otlp.spans() {
        for a in &span.attributes {
            assert!(!a.contains(&canary), "a credential reached a trace: {a}");
            assert!(!a.contains(&token), "the agent's token reached a trace: {a}");
        }
    }
}
