//! The management API: validation, ids, secrets shown once, permissions, audit queries, health.

use std::time::Duration;

use serde_json::{Value, json};
use shellgate_tests::Cluster;
use shellgate_tests::upstream::Upstream;

#[actix_web::test]
async fn tokens_are_shown_once_and_validated() {
    let c = Cluster::up().await;
    let (s, created) = c
        .admin(
            "POST",
            "/api/tokens",
            Some(json!({"name": "ci-agent", "expiresInSeconds": 3600})),
        )
        .await;
    assert_eq!(s, 201);
    let token = created["token"].as_str().unwrap();
    assert!(token.starts_with("sg_") && token.len() == 67);
    assert_eq!(created["status"], "active");
    assert!(created["expiresAt"].is_string());
    let id = created["id"].as_str().unwrap();
    let (s, listed) = c.admin("GET", "/api/tokens", None).await;
    assert_eq!(s, 200);
    assert!(!listed.to_string().contains(token), "a token is shown only at creation");
    let (s, one) = c.admin("GET", &format!("/api/tokens/{id}"), None).await;
    assert_eq!(s, 200);
    assert!(one.get("token").is_none());
    // Only the hash is stored.
    let rows = c.db.query("SELECT encode(token_hash, 'hex') FROM tokens").await;
    assert!(rows.iter().all(|r| !token.contains(&r.get::<_, String>(0))));
    assert!(
        c.db.query("SELECT 1 FROM tokens WHERE token_hash::text LIKE '%sg_%'")
            .await
            .is_empty()
    );

    let bad: [(&str, &str, Option<Value>, u16, &str); 10] = [
        ("POST", "/api/tokens", Some(json!({"name": ""})), 400, "invalid_name"),
        (
            "POST",
            "/api/tokens",
            Some(json!({"name": "x", "bogus": 1})),
            400,
            "invalid_json",
        ),
        (
            "POST",
            "/api/tokens",
            Some(json!({"name": "x", "expiresAt": "2001-01-01T00:00:00Z"})),
            400,
            "invalid_expiry",
        ),
        (
            "POST",
            "/api/tokens",
            Some(json!({"name": "x", "targetIds": ["nope"]})),
            400,
            "invalid_id",
        ),
        (
            "POST",
            "/api/tokens",
            Some(json!({"name": "x", "targetIds": [uuid::Uuid::new_v4()]})),
            404,
            "not_found",
        ),
        ("GET", "/api/tokens/not-a-uuid", None, 400, "invalid_id"),
        (
            "GET",
            &format!("/api/tokens/{}", uuid::Uuid::new_v4()),
            None,
            404,
            "not_found",
        ),
        (
            "PATCH",
            &format!("/api/tokens/{}", uuid::Uuid::new_v4()),
            Some(json!({"name": "y"})),
            404,
            "not_found",
        ),
        ("DELETE", "/api/tokens/123", None, 400, "invalid_id"),
        (
            "POST",
            &format!("/api/tokens/{}/regenerate", uuid::Uuid::new_v4()),
            None,
            404,
            "not_found",
        ),
    ];
    for (method, path, body, status, code) in bad {
        let (s, v) = c.admin(method, path, body).await;
        assert_eq!((s, v["error"].as_str()), (status, Some(code)), "{method} {path}: {v}");
        assert!(v["message"].is_string());
    }
    // Revoking twice keeps the token revoked; a revoked token cannot be regenerated.
    let (s, v) = c.admin("DELETE", &format!("/api/tokens/{id}"), None).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("revoked")));
    let (s, v) = c.admin("POST", &format!("/api/tokens/{id}/regenerate"), None).await;
    assert_eq!((s, v["error"].as_str()), (409, Some("token_revoked")));
}

#[actix_web::test]
async fn admin_key_is_required() {
    let c = Cluster::up().await;
    let url = format!("{}/api/tokens", c.approver());
    let mut res = c.http.request("GET", &url).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "missing_admin_key");
    for key in [
        "sga_nope".to_string(),
        format!("sga_{}", "a".repeat(64)),
        format!("sg_{}", "a".repeat(64)),
    ] {
        let mut res = c
            .http
            .request("GET", &url)
            .insert_header(("authorization", format!("Bearer {key}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_admin_key");
    }
}

#[actix_web::test]
async fn targets_never_return_their_credential() {
    let up = Upstream::start();
    let c = Cluster::up().await;
    let secret = "CANARY-target-secret-9f8e7d6c";
    let (s, t) = c
        .admin(
            "POST",
            "/api/targets",
            Some(json!({"name": "Prod API (EU)", "baseUrl": format!("{}/", up.url), "credential": {"type": "bearer", "token": secret}})),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    assert_eq!(t["slug"], "prod-api-eu");
    assert_eq!(t["baseUrl"], up.url.as_str());
    assert_eq!(t["credential"]["type"], "bearer");
    assert_eq!(t["credential"]["hint"], "…7d6c");
    let id = t["id"].as_str().unwrap().to_string();
    // Rename keeps the slug; a slug change is refused.
    let (s, t2) = c
        .admin("PATCH", &format!("/api/targets/{id}"), Some(json!({"name": "Renamed"})))
        .await;
    assert_eq!(
        (s, t2["slug"].as_str(), t2["name"].as_str()),
        (200, Some("prod-api-eu"), Some("Renamed"))
    );
    let (s, v) = c
        .admin("PATCH", &format!("/api/targets/{id}"), Some(json!({"slug": "other"})))
        .await;
    assert_eq!((s, v["error"].as_str()), (400, Some("slug_immutable")));
    // Set, replace and delete the credential.
    let (s, v) = c
        .admin(
            "PUT",
            &format!("/api/targets/{id}/credential"),
            Some(json!({"type": "header", "headers": {"X-Key": "short"}})),
        )
        .await;
    assert_eq!(
        (s, v["type"].as_str(), v["hint"].as_str()),
        (200, Some("header"), Some("…"))
    );
    let (s, v) = c
        .admin(
            "PUT",
            &format!("/api/targets/{id}/credential"),
            Some(json!({"type": "bearer"})),
        )
        .await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_json")));
    let (s, v) = c
        .admin(
            "PUT",
            &format!("/api/targets/{id}/credential"),
            Some(json!({"type": "header", "headers": {"Host": "x"}})),
        )
        .await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_credential")));
    let (s, _) = c.admin("DELETE", &format!("/api/targets/{id}/credential"), None).await;
    assert_eq!(s, 204);
    let (s, v) = c.admin("GET", &format!("/api/targets/{id}"), None).await;
    assert_eq!((s, v["credential"].is_null()), (200, true));
    let (s, _) = c.admin("DELETE", &format!("/api/targets/{id}/credential"), None).await;
    assert_eq!(s, 404);

    let bad: [(Value, u16, &str); 7] = [
        (json!({"name": "x", "baseUrl": "ftp://h"}), 400, "invalid_base_url"),
        (
            json!({"name": "x", "baseUrl": "https://u:p@h"}),
            400,
            "invalid_base_url",
        ),
        (json!({"name": "x"}), 400, "invalid_base_url"),
        (
            json!({"name": "x", "slug": "Bad_Slug", "baseUrl": "http://h"}),
            400,
            "invalid_slug",
        ),
        (
            json!({"name": "x", "pool": "a.b", "baseUrl": "http://h"}),
            400,
            "invalid_pool",
        ),
        (
            json!({"name": "x", "kind": "ftp", "baseUrl": "http://h"}),
            400,
            "invalid_kind",
        ),
        (
            json!({"name": "dup", "slug": "prod-api-eu", "baseUrl": "http://h"}),
            409,
            "slug_taken",
        ),
    ];
    for (body, status, code) in bad {
        let (s, v) = c.admin("POST", "/api/targets", Some(body.clone())).await;
        assert_eq!((s, v["error"].as_str()), (status, Some(code)), "{body}: {v}");
    }
    let (s, v) = c.admin("GET", "/api/targets/xyz", None).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_id")));
    let (s, _) = c
        .admin("DELETE", &format!("/api/targets/{}", uuid::Uuid::new_v4()), None)
        .await;
    assert_eq!(s, 404);
    let (_, all) = c.admin("GET", "/api/targets", None).await;
    assert!(!all.to_string().contains(secret));
    let (s, _) = c.admin("DELETE", &format!("/api/targets/{id}"), None).await;
    assert_eq!(s, 204);
    let (s, _) = c.admin("GET", &format!("/api/targets/{id}"), None).await;
    assert_eq!(s, 404);
}

#[actix_web::test]
async fn permissions_grant_list_and_revoke() {
    let up = Upstream::start();
    let c = Cluster::up().await;
    let a = c.create_http_target("a", &up.url, None).await;
    let (token_id, token) = c.create_token(&[]).await;
    let url = format!("{}/gateway/a/x", c.gateway());
    assert_eq!(c.http.agent("GET", &url, &token).send().await.unwrap().status(), 404);
    let (s, p) = c
        .admin(
            "POST",
            &format!("/api/tokens/{token_id}/permissions"),
            Some(json!({"targetId": a})),
        )
        .await;
    assert_eq!((s, p["slug"].as_str()), (201, Some("a")));
    // Granting twice is fine.
    let (s, _) = c
        .admin(
            "POST",
            &format!("/api/tokens/{token_id}/permissions"),
            Some(json!({"targetId": a})),
        )
        .await;
    assert_eq!(s, 201);
    let (s, list) = c
        .admin("GET", &format!("/api/tokens/{token_id}/permissions"), None)
        .await;
    assert_eq!((s, list.as_array().map(Vec::len)), (200, Some(1)));
    let second = Duration::from_secs(1);
    assert_eq!(c.agent_status_within(&url, &token, 200, second).await, 200);
    let (s, _) = c
        .admin("DELETE", &format!("/api/tokens/{token_id}/permissions/{a}"), None)
        .await;
    assert_eq!(s, 204);
    assert_eq!(c.agent_status_within(&url, &token, 404, second).await, 404);
    let (s, v) = c
        .admin("DELETE", &format!("/api/tokens/{token_id}/permissions/{a}"), None)
        .await;
    assert_eq!((s, v["error"].as_str()), (404, Some("not_found")));
    let (s, v) = c
        .admin("DELETE", &format!("/api/tokens/{token_id}/permissions/zzz"), None)
        .await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_id")));
    let (s, v) = c
        .admin(
            "POST",
            &format!("/api/tokens/{token_id}/permissions"),
            Some(json!({"targetId": uuid::Uuid::new_v4()})),
        )
        .await;
    assert_eq!((s, v["error"].as_str()), (404, Some("not_found")));
}

#[actix_web::test]
async fn audit_filters_and_pages() {
    let up = Upstream::start();
    let c = Cluster::up().await;
    let a = c.create_http_target("a", &up.url, None).await;
    let (t1, tok1) = c.create_token(&[&a]).await;
    let (_t2, tok2) = c.create_token(&[&a]).await;
    let gw = c.gateway();
    for _ in 0..5 {
        c.http
            .agent("GET", &format!("{gw}/gateway/a/ok"), &tok1)
            .send()
            .await
            .unwrap();
    }
    for _ in 0..3 {
        c.http
            .agent("GET", &format!("{gw}/gateway/missing/x"), &tok2)
            .send()
            .await
            .unwrap();
    }
    let all = c.wait_for_audit("", 8, Duration::from_secs(10)).await;
    assert_eq!(all.len(), 8);
    assert_eq!(c.audit(&format!("tokenId={t1}")).await.len(), 5);
    assert_eq!(c.audit("outcome=refused").await.len(), 3);
    assert_eq!(c.audit(&format!("targetId={a}")).await.len(), 5);
    let future = "2999-01-01T00:00:00Z";
    assert_eq!(c.audit(&format!("since={future}")).await.len(), 0);
    assert_eq!(c.audit(&format!("until={future}")).await.len(), 8);
    // Paging: 3 + 3 + 2, no overlap, newest first.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(cur) => format!("/api/audit?limit=3&kind=http&cursor={cur}"),
            None => "/api/audit?limit=3&kind=http".into(),
        };
        let (s, page) = c.admin("GET", &q, None).await;
        assert_eq!(s, 200);
        for e in page["events"].as_array().unwrap() {
            seen.push(e["occurredAt"].as_str().unwrap().to_string() + e["id"].as_str().unwrap());
        }
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 8);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.reverse();
    sorted.dedup();
    assert_eq!(sorted.len(), 8);
    for (q, code) in [
        ("limit=0", "invalid_query"),
        ("limit=abc", "invalid_query"),
        ("outcome=maybe", "invalid_query"),
        ("kind=everything", "invalid_query"),
        ("since=yesterday", "invalid_query"),
        ("cursor=zzz", "invalid_cursor"),
        ("tokenId=nope", "invalid_id"),
    ] {
        let (s, v) = c.admin("GET", &format!("/api/audit?{q}"), None).await;
        assert_eq!((s, v["error"].as_str()), (400, Some(code)), "{q}");
    }
}

#[actix_web::test]
async fn every_role_has_health_and_readiness() {
    let mut c = Cluster::prepare(&[]).await;
    for role in ["gateway", "executor", "approver"] {
        let i = c.start(role, &[]);
        let base = c.procs[i].url(role);
        let mut res = c.http.request("GET", &format!("{base}/health")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.json::<Value>().await.unwrap(), json!({"status": "ok"}));
        let mut res = c.http.request("GET", &format!("{base}/ready")).send().await.unwrap();
        assert_eq!(res.status(), 200, "{role}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(
            (body["postgres"].as_str(), body["nats"].as_str()),
            (Some("ok"), Some("ok"))
        );
    }
}

#[actix_web::test]
async fn a_bootstrap_admin_key_is_registered_once() {
    let key = format!("sga_{}", "b".repeat(64));
    let mut c = Cluster::prepare(&[("SHELLGATE_ADMIN_BOOTSTRAP_KEY", key.as_str())]).await;
    let i = c.start("approver", &[]);
    let url = format!("{}/api/tokens", c.procs[i].url("approver"));
    let auth = ("authorization", format!("Bearer {key}"));
    assert_eq!(
        c.http
            .request("GET", &url)
            .insert_header(auth.clone())
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // A second replica (or a restart) does not register it twice.
    let j = c.start("approver", &[]);
    let url2 = format!("{}/api/tokens", c.procs[j].url("approver"));
    assert_eq!(
        c.http
            .request("GET", &url2)
            .insert_header(auth)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let rows =
        c.db.query("SELECT count(*) FROM admin_api_keys WHERE name = 'bootstrap'")
            .await;
    assert_eq!(rows[0].get::<_, i64>(0), 1);
    // A malformed one is refused at start, naming the variable.
    let out = std::process::Command::new(shellgate_tests::process::binary())
        .arg("approver")
        .env("SHELLGATE_ADMIN_BOOTSTRAP_KEY", "sga_short")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SHELLGATE_ADMIN_BOOTSTRAP_KEY"));
}

#[actix_web::test]
async fn admin_changes_are_audited_with_who_made_them_and_never_a_secret() {
    let up = Upstream::start();
    let c = Cluster::up().await;
    let secret = "CANARY-admin-audit-credential-5a4b3c";
    let target = c
        .create_http_target("a", &up.url, Some(json!({"type": "bearer", "token": secret})))
        .await;
    let (token_id, token) = c.create_token(&[&target]).await;
    let (s, _) = c
        .admin(
            "PATCH",
            &format!("/api/tokens/{token_id}"),
            Some(json!({"name": "renamed"})),
        )
        .await;
    assert_eq!(s, 200);
    // Reads are not changes.
    assert_eq!(c.admin("GET", "/api/targets", None).await.0, 200);
    // Refused: a change not allowed, an unknown approval, and no admin key at all.
    let (s, _) = c
        .admin(
            "PATCH",
            &format!("/api/targets/{target}"),
            Some(json!({"slug": "other"})),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = c
        .admin(
            "POST",
            "/api/approvals/00000000-0000-0000-0000-000000000000/approve",
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 404);
    let res = c
        .http
        .request("DELETE", &format!("{}/api/targets/{target}", c.approver()))
        .send()
        .await
        .expect("unauthenticated request");
    assert_eq!(res.status().as_u16(), 401);
    let (s, _) = c.admin("DELETE", &format!("/api/targets/{target}"), None).await;
    assert_eq!(s, 204);

    let events = c.wait_for_audit("kind=admin", 7, Duration::from_secs(10)).await;
    let mut seen: Vec<Value> = events
        .iter()
        .map(|e| {
            json!([
                e["method"],
                e["path"],
                e["status"],
                e["outcome"],
                e["errorCode"],
                e["detail"]["actor"]
            ])
        })
        .collect();
    seen.reverse(); // oldest first
    let expected = vec![
        json!(["POST", "/api/targets", 201, "allowed", null, "test"]),
        json!(["POST", "/api/tokens", 201, "allowed", null, "test"]),
        json!(["PATCH", format!("/api/tokens/{token_id}"), 200, "allowed", null, "test"]),
        json!([
            "PATCH",
            format!("/api/targets/{target}"),
            400,
            "refused",
            "slug_immutable",
            "test"
        ]),
        json!([
            "POST",
            "/api/approvals/00000000-0000-0000-0000-000000000000/approve",
            404,
            "refused",
            "not_found",
            "test"
        ]),
        json!([
            "DELETE",
            format!("/api/targets/{target}"),
            401,
            "refused",
            "missing_admin_key",
            null
        ]),
        json!(["DELETE", format!("/api/targets/{target}"), 204, "allowed", null, "test"]),
    ];
    assert_eq!(seen, expected);
    // The records name the admin key, and carry neither the credential nor the agent token.
    let key_ids: Vec<&Value> = events
        .iter()
        .filter(|e| e["detail"]["actor"].is_string())
        .map(|e| &e["detail"]["actorKeyId"])
        .collect();
    assert!(key_ids.iter().all(|k| k.is_string() && *k == key_ids[0]), "{key_ids:?}");
    let text = serde_json::to_string(&events).unwrap();
    for canary in [secret, token.as_str(), c.admin_key.as_str()] {
        assert!(!text.contains(canary), "a secret in the admin audit: {text}");
        assert!(!c.logs().contains(canary), "a secret in the logs");
    }
    // Agent-facing queries still see only agent actions.
    assert!(c.audit("").await.iter().all(|e| e["kind"] != "admin"));
}
