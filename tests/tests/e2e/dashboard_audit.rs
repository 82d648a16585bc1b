//! The Audit page over HTTP: filters and free-text search (wildcards taken literally), keyset
//! paging, an event's page, CSV and JSON Lines exports of the filtered set (formulas neutralised),
//! the API's `q`, and the retention job deleting what is past its days.

use std::time::Duration;

use serde_json::Value;
use shellgate_tests::Cluster;
use shellgate_tests::pages::{first_admin, send};
use shellgate_tests::upstream::Upstream;

/// The events rows of an Audit page.
fn rows(body: &str) -> usize {
    body.matches("<tr class=\"event\">").count()
}

#[actix_web::test]
async fn audit_is_searched_paged_and_exported() {
    let up = Upstream::start();
    let c = Cluster::up().await;
    let target = c.create_http_target("api", &up.url, None).await;
    // A token whose name a spreadsheet would read as a formula.
    let (status, created) = c
        .admin(
            "POST",
            "/api/tokens",
            Some(serde_json::json!({"name": "=SUM(1)", "targetIds": [target]})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let token = created["token"].as_str().unwrap().to_string();
    let gateway = c.gateway();
    for i in 0..55 {
        assert_eq!(
            c.agent_get(&format!("{gateway}/gateway/api/items/{i}"), &token).await.0,
            200
        );
    }
    assert_eq!(
        c.agent_get(&format!("{gateway}/gateway/api/orders/7"), &token).await.0,
        200
    );
    c.wait_for_audit("kind=http", 56, Duration::from_secs(10)).await;
    let ann = first_admin(&c).await;
    let page = |path: String| {
        let ann = ann.clone();
        let c = &c;
        async move { send(c, &path, None, Some(&ann), &[]).await }
    };

    // Search: a substring of the path, case-insensitive; `%` is a character, not a wildcard.
    let found = page("/audit?q=ORDERS".into()).await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(rows(&found.body), 1, "{}", found.body);
    assert!(found.body.contains("GET /gateway/api/orders/7"), "{}", found.body);
    assert_eq!(rows(&page("/audit?q=%25".into()).await.body), 0);

    // Paging: 50 a page, then the older ones.
    let first = page("/audit?kind=http&q=items".into()).await;
    assert_eq!(rows(&first.body), 50, "{}", first.body);
    let older = first
        .body
        .split("id=\"older\" href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    let second = page(older).await;
    assert_eq!(rows(&second.body), 5, "{}", second.body);
    assert!(!second.body.contains("id=\"older\""));

    // A bad filter is said so; a datetime-local time is read as UTC.
    let bad = page("/audit?since=yesterday".into()).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("since must be an RFC 3339 time"), "{}", bad.body);
    assert_eq!(
        rows(&page("/audit?kind=http&until=2000-01-01T00:00".into()).await.body),
        0
    );

    // An event's own page.
    let id = found
        .body
        .split("href=\"/audit/")
        .find_map(|rest| rest.split('"').next().filter(|id| id.len() == 36))
        .unwrap()
        .to_string();
    let event = page(format!("/audit/{id}")).await;
    assert!(event.body.contains("/gateway/api/orders/7") && event.body.contains("id=\"event-json\""));

    // Exports: every match (not one page), streamed; formulas stay text.
    let csv = page("/audit/export.csv?kind=http".into()).await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(csv.header("content-disposition").unwrap().starts_with("attachment;"));
    let lines: Vec<&str> = csv.body.lines().collect();
    assert!(lines[0].starts_with("occurredAt,kind,outcome"), "{}", lines[0]);
    assert_eq!(lines.len(), 1 + 56, "{}", csv.body);
    assert!(lines[1..].iter().all(|l| l.contains(",'=SUM(1),")), "{}", csv.body);
    assert!(
        !csv.body.contains(",=SUM"),
        "a cell begins with a formula: {}",
        csv.body
    );
    let jsonl = page("/audit/export.jsonl?q=items".into()).await;
    let events: Vec<Value> = jsonl.body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.len(), 55);
    assert!(events.iter().all(|e| e["path"].as_str().unwrap().contains("/items/")));

    // The API searches the same way; the export itself is audited.
    let (status, v) = c.admin("GET", "/api/audit?q=orders/7", None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["events"].as_array().unwrap().len(), 1, "{v}");
    let admin = c.audit("kind=admin").await;
    assert!(
        admin
            .iter()
            .any(|e| e["path"] == "/audit/export.csv" && e["detail"]["user"] == "ann"),
        "{admin:?}"
    );
}

#[actix_web::test]
async fn events_past_their_retention_are_deleted() {
    let mut c = Cluster::prepare(&[("SHELLGATE_AUDIT_RETENTION_DAYS", "30")]).await;
    // An event of 40 days ago and one of 10 days ago, already in the database at start.
    for (id, days) in [
        ("00000000-0000-4000-8000-000000000040", 40),
        ("00000000-0000-4000-8000-000000000010", 10),
    ] {
        c.db.query(&format!(
            "INSERT INTO audit_events (id, occurred_at, recorded_at, request_id, kind, outcome, duration_ms, \
             bytes_in, bytes_out, detail, path) VALUES ('{id}', now() - interval '{days} days', now(), \
             gen_random_uuid(), 'http', 'allowed', 0, 0, 0, '{{}}', '/old/{days}')"
        ))
        .await;
    }
    c.start("up", &[]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left =
            c.db.query("SELECT path FROM audit_events WHERE path LIKE '/old/%'")
                .await;
        let paths: Vec<String> = left.iter().map(|r| r.get(0)).collect();
        if paths == ["/old/10"] {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still there: {paths:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(c.logs().contains("audit events past their retention deleted"));
}

/// Polls the overview until it contains `needle` (or `within` passed); the last page.
async fn overview_with(c: &Cluster, session: &str, needle: &str, within: Duration) -> String {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let page = send(c, "/", None, Some(session), &[]).await;
        if page.body.contains(needle) || tokio::time::Instant::now() > deadline {
            return page.body;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[actix_web::test]
async fn the_overview_counts_the_day_and_shows_live_executors() {
    let up = Upstream::start();
    // Roles started one by one: the approver needs the session secret `up` would keep.
    let mut c = Cluster::prepare(&[(
        "SHELLGATE_SESSION_SECRET",
        "c2hlbGxnYXRlLW92ZXJ2aWV3LXRlc3Qtc2Vzc2lvbi1zZWNyZXQ=",
    )])
    .await;
    c.start("approver", &[]);
    let ann = first_admin(&c).await;
    let body = overview_with(&c, &ann, "id=\"no-executors\"", Duration::from_secs(1)).await;
    assert!(body.contains("id=\"no-executors\""), "{body}");

    // An executor of pool "blue" announces itself and appears; then a gateway, and the day's
    // agent requests are counted.
    c.start(
        "executor",
        &[
            ("SHELLGATE_EXECUTOR_POOL", "blue"),
            ("SHELLGATE_EXECUTOR_ID", "exec-<b>1</b>"),
        ],
    );
    let body = overview_with(&c, &ann, "<td>blue</td>", Duration::from_secs(12)).await;
    assert!(
        body.contains("<tr class=\"executor\"><td>blue</td><td>exec-&lt;b&gt;1&lt;&#x2F;b&gt;</td>")
            || body.contains("<tr class=\"executor\"><td>blue</td><td>exec-&lt;b&gt;1&lt;/b&gt;</td>"),
        "{body}"
    );
    c.start("gateway", &[]);
    let (status, target) = c
        .admin(
            "POST",
            "/api/targets",
            Some(serde_json::json!({"name": "api", "baseUrl": up.url, "pool": "blue"})),
        )
        .await;
    assert_eq!(status, 201, "{target}");
    let (_, token) = c.create_token(&[target["id"].as_str().unwrap()]).await;
    let gateway = c.gateway();
    for _ in 0..3 {
        assert_eq!(c.agent_get(&format!("{gateway}/gateway/api/x"), &token).await.0, 200);
    }
    assert_eq!(c.agent_get(&format!("{gateway}/gateway/nope/x"), &token).await.0, 404);
    c.wait_for_audit("", 4, Duration::from_secs(10)).await;
    // The day's counts are reused for up to 5 s.
    let body = overview_with(&c, &ann, "id=\"requests\">4<", Duration::from_secs(10)).await;
    for figure in [
        "id=\"requests\">4<",
        "id=\"refused\">1<",
        "id=\"failed\">0<",
        "id=\"tokens-active\">1<",
    ] {
        assert!(body.contains(figure), "{figure}: {body}");
    }
    assert!(body.contains("GET /gateway/api/x"), "latest activity: {body}");
}
