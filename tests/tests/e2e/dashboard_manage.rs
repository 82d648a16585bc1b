//! The Targets and Tokens pages, through HTTP as a browser sends their forms: an admin creates,
//! changes, disables and deletes targets, sets and removes credentials (never shown back), pins
//! SSH host keys, creates a token shown once, changes its targets, regenerates and revokes it —
//! and the gateway follows each change at once. Viewers and forged forms change nothing; every
//! action is audited with the user.

use std::time::Duration;

use shellgate_tests::Cluster;
use shellgate_tests::pages::{Page, csrf, first_admin, login, send, user_cli};
use shellgate_tests::upstream::Upstream;

const CANARY: &str = "canary-bearer-5d1e7a3c9b";
const PASSWORD_CANARY: &str = "canary-ssh-password-77f0";
const PIN: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJQVCtHRppXylZ78jVjY4xBAdgudOpxEWq1hQycDv9xg pin-test";
const PIN_FINGERPRINT: &str = "SHA256:WrLCQGe06v4I9PRjsERKJXZFT7RAZjPAERCrRLlEdn4";

/// The page's secret token (`#token-secret`).
fn shown_token(body: &str) -> String {
    let at = body.find("id=\"token-secret\">").unwrap() + "id=\"token-secret\">".len();
    body[at..].split('<').next().unwrap().to_string()
}

/// Posts a page's form with the session and its CSRF token; every answer is kept for the
/// secret check at the end.
struct Admin<'a> {
    c: &'a Cluster,
    cookie: String,
    csrf: String,
    seen: Vec<String>,
}

impl Admin<'_> {
    async fn get(&mut self, path: &str) -> Page {
        let page = send(self.c, path, None, Some(&self.cookie), &[]).await;
        self.seen.push(page.body.clone());
        page
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut form = vec![("csrf", self.csrf.as_str())];
        form.extend_from_slice(fields);
        let page = send(self.c, path, Some(&form), Some(&self.cookie), &[]).await;
        self.seen.push(page.body.clone());
        page
    }
}

#[actix_web::test]
async fn targets_and_tokens_are_managed_on_their_pages() {
    let up = Upstream::start();
    let c = Cluster::up().await;
    let cookie = first_admin(&c).await;
    let token_csrf = csrf(&send(&c, "/targets", None, Some(&cookie), &[]).await.body);
    let mut ann = Admin {
        c: &c,
        cookie,
        csrf: token_csrf,
        seen: Vec::new(),
    };
    let gateway = c.gateway();

    // An empty install says what to do first.
    let page = ann.get("/targets").await;
    assert!(page.body.contains("No targets yet"), "{}", page.body);

    // A refused form is shown again with what was typed and why — never the secret.
    let page = ann
        .post(
            "/targets/new",
            &[
                ("kind", "http"),
                ("name", "Orders <API>"),
                ("base_url", "ftp://nope"),
                ("credential_type", "bearer"),
                ("cred_token", CANARY),
            ],
        )
        .await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert!(
        page.body.contains("id=\"form-error\"") && page.body.contains("Orders &lt;API&gt;"),
        "{}",
        page.body
    );

    // Created: the page shows the credential's type and hint only.
    let page = ann
        .post(
            "/targets/new",
            &[
                ("kind", "http"),
                ("name", "Orders <API>"),
                ("slug", "orders"),
                ("base_url", &up.url),
                ("pool", "default"),
                ("credential_type", "bearer"),
                ("cred_token", CANARY),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let target_path = page.location.unwrap();
    let target_id = target_path.strip_prefix("/targets/").unwrap().to_string();
    let page = ann.get(&target_path).await;
    assert!(
        page.body.contains("Orders &lt;API&gt;") && page.body.contains("id=\"credential-hint\">bearer"),
        "{}",
        page.body
    );

    // A token, shown once, that works at the gateway with the injected credential.
    let page = ann
        .post(
            "/tokens/new",
            &[
                ("name", "deploy bot"),
                ("target", &target_id),
                ("expires_in_days", "30"),
                ("approval_policy", "human"),
                ("capability", "http"),
            ],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.header("cache-control"), Some("no-store"));
    let secret = shown_token(&page.body);
    assert!(secret.starts_with("sg_"), "{secret}");
    let token_path = page
        .body
        .split("href=\"/tokens/")
        .nth(1)
        .map(|rest| format!("/tokens/{}", rest.split('"').next().unwrap()))
        .unwrap();
    let items = format!("{gateway}/gateway/orders/items");
    let (status, _) = c.agent_get(&items, &secret).await;
    assert_eq!(status, 200);
    assert_eq!(
        up.controls.last().header("authorization"),
        Some(format!("Bearer {CANARY}").as_str())
    );
    let page = ann.get(&token_path).await;
    assert!(
        page.body.contains("deploy bot") && !page.body.contains(&secret),
        "{}",
        page.body
    );

    // The target's last use is recorded (at most once a minute) and shown.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let page = ann.get(&target_path).await;
        if !page.body.contains("<dt>Last used</dt><dd>never</dd>") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "last use never shown");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Disabled on the page: refused at the gateway; enabled again: served.
    let page = ann.post(&format!("{target_path}/disable"), &[]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(
        c.agent_status_within(&items, &secret, 403, Duration::from_secs(2))
            .await,
        403
    );
    ann.post(&format!("{target_path}/enable"), &[]).await;
    assert_eq!(
        c.agent_status_within(&items, &secret, 200, Duration::from_secs(2))
            .await,
        200
    );

    // Edited: a bad base URL is refused with its reason; a good change is kept.
    let page = ann
        .post(&target_path, &[("kind", "http"), ("base_url", "not a url")])
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    let page = ann
        .post(
            &target_path,
            &[
                ("kind", "http"),
                ("name", "Orders"),
                ("description", "the <b>orders</b> API"),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let page = ann.get(&target_path).await;
    assert!(page.body.contains("the &lt;b&gt;orders&lt;/b&gt; API"), "{}", page.body);

    // The token's targets: none (the gateway forgets the grant), then the target again.
    let page = ann.post(&format!("{token_path}/permissions"), &[]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(
        c.agent_status_within(&items, &secret, 404, Duration::from_secs(2))
            .await,
        404
    );
    ann.post(&format!("{token_path}/permissions"), &[("target", &target_id)])
        .await;
    assert_eq!(
        c.agent_status_within(&items, &secret, 200, Duration::from_secs(2))
            .await,
        200
    );

    // Regenerated: the new secret works, the old one stops; revoked: nothing works.
    let page = ann.post(&format!("{token_path}/regenerate"), &[]).await;
    let renewed = shown_token(&page.body);
    assert_ne!(renewed, secret);
    assert_eq!(
        c.agent_status_within(&items, &secret, 401, Duration::from_secs(2))
            .await,
        401
    );
    assert_eq!(c.agent_get(&items, &renewed).await.0, 200);
    let page = ann.post(&format!("{token_path}/revoke"), &[]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(
        c.agent_status_within(&items, &renewed, 401, Duration::from_secs(2))
            .await,
        401
    );
    let page = ann.get(&token_path).await;
    assert!(page.body.contains("id=\"token-status\">revoked"), "{}", page.body);

    // An SSH server with a password; a host key pinned, then unpinned.
    let page = ann
        .post(
            "/targets/new",
            &[
                ("kind", "ssh"),
                ("name", "build box"),
                ("host", "127.0.0.1"),
                ("port", "2222"),
                ("username", "deploy"),
                ("credential_type", "password"),
                ("cred_password", PASSWORD_CANARY),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let ssh_path = page.location.unwrap();
    let page = ann.post(&format!("{ssh_path}/host-keys"), &[("public_key", PIN)]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let page = ann.get(&ssh_path).await;
    assert!(
        page.body.contains(PIN_FINGERPRINT) && page.body.contains("<span class=\"badge\">accepted</span>"),
        "{}",
        page.body
    );
    let key_id = page
        .body
        .split("/host-keys/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    ann.post(&format!("{ssh_path}/host-keys/{key_id}/remove"), &[]).await;
    assert!(!ann.get(&ssh_path).await.body.contains(PIN_FINGERPRINT));
    let page = ann.get("/targets?kind=ssh").await;
    assert!(
        page.body.contains("deploy@127.0.0.1:2222") && page.body.contains("password"),
        "{}",
        page.body
    );

    // The credential removed; deleting asks for the slug, typed.
    let page = ann.post(&format!("{target_path}/credential/remove"), &[]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(ann.get(&target_path).await.body.contains("No credential"));
    let page = ann.post(&format!("{target_path}/delete"), &[("confirm", "nope")]).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(
        page.body.contains("type the target&#39;s slug (orders)"),
        "{}",
        page.body
    );
    let page = ann
        .post(&format!("{target_path}/delete"), &[("confirm", "orders")])
        .await;
    assert_eq!(
        (page.status, page.location.as_deref()),
        (303, Some("/targets")),
        "{}",
        page.body
    );
    assert_eq!(ann.get(&target_path).await.status, 404);

    // Every action is audited with the user; no secret reached a page, the audit or a log.
    let admin_rows = c.audit("kind=admin").await;
    let by_ann = |path: &str| {
        admin_rows
            .iter()
            .any(|e| e["path"] == path && e["detail"]["user"] == "ann" && e["detail"]["via"] == "dashboard")
    };
    for path in [
        "/targets/new",
        "/tokens/new",
        &format!("{token_path}/revoke"),
        &format!("{target_path}/delete"),
    ] {
        assert!(by_ann(path), "{path} not audited: {admin_rows:?}");
    }
    let everything = format!(
        "{}{}{}",
        ann.seen.join("\n"),
        serde_json::to_string(&admin_rows).unwrap(),
        c.logs()
    );
    for secret in [CANARY, PASSWORD_CANARY] {
        assert!(!everything.contains(secret), "{secret} was shown or logged");
    }
}

#[actix_web::test]
async fn viewers_and_forged_forms_change_nothing() {
    let c = Cluster::up().await;
    let ann = first_admin(&c).await;
    let out = user_cli(
        &c,
        &["create", "--name", "vic", "--role", "viewer"],
        "a long password for the role\n",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let vic = login(&c, "vic", "a long password for the role").await;
    let vic_csrf = csrf(&send(&c, "/targets", None, Some(&vic), &[]).await.body);
    let target = [("kind", "http"), ("name", "api"), ("base_url", "http://127.0.0.1:9")];

    // A viewer reads the pages but gets no forms, and a post is refused (and audited).
    let page = send(&c, "/targets", None, Some(&vic), &[]).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("id=\"new-target\""), "{}", page.body);
    let page = send(&c, "/tokens", None, Some(&vic), &[]).await;
    assert!(!page.body.contains("action=\"/tokens/new\""), "{}", page.body);
    let mut form = vec![("csrf", vic_csrf.as_str())];
    form.extend_from_slice(&target);
    let page = send(&c, "/targets/new", Some(&form), Some(&vic), &[]).await;
    assert_eq!(page.status, 403, "{}", page.body);

    // An admin's form without the CSRF token, or from another site: refused.
    let ann_csrf = csrf(&send(&c, "/targets", None, Some(&ann), &[]).await.body);
    let mut form = vec![("csrf", "forged")];
    form.extend_from_slice(&target);
    assert_eq!(send(&c, "/targets/new", Some(&form), Some(&ann), &[]).await.status, 403);
    let mut form = vec![("csrf", ann_csrf.as_str())];
    form.extend_from_slice(&target);
    let page = send(
        &c,
        "/targets/new",
        Some(&form),
        Some(&ann),
        &[("sec-fetch-site", "cross-site")],
    )
    .await;
    assert_eq!(page.status, 403);
    // Signed out, a page leads to the login and back.
    let page = send(&c, "/tokens", None, None, &[]).await;
    assert_eq!(page.location.as_deref(), Some("/login?next=%2Ftokens"));

    let (_, targets) = c.admin("GET", "/api/targets", None).await;
    assert_eq!(targets, serde_json::json!([]), "nothing was created");
    let refused = c.audit("kind=admin").await;
    assert!(
        refused
            .iter()
            .any(|e| e["path"] == "/targets/new" && e["status"] == 403 && e["detail"]["user"] == "vic"),
        "{refused:?}"
    );
}

#[actix_web::test]
async fn guard_rules_are_tried_before_they_are_saved() {
    let up = Upstream::start();
    let c = Cluster::up().await;
    let target = c.create_http_target("shop", &up.url, None).await;
    let (_, token) = c.create_token(&[&target]).await;
    let cookie = first_admin(&c).await;
    let page = send(&c, "/guard?target=shop", None, Some(&cookie), &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("rm_root"), "the built-in pack is listed");
    let mut ann = Admin {
        c: &c,
        csrf: csrf(&page.body),
        cookie,
        seen: Vec::new(),
    };
    let orders = format!("{}/gateway/shop/orders/7", c.gateway());
    let rule = r#"{"id": "no-order-reads", "kind": "http", "verdict": "block", "reason": "orders are <private>", "match": {"methods": ["GET"], "path": ["/orders/**"]}}"#;

    // Tried: a built-in verdict, then the rule being written — nothing saved yet.
    let page = ann
        .post(
            "/guard/try",
            &[("target", "shop"), ("try_kind", "ssh"), ("command", "r''m -rf /")],
        )
        .await;
    assert!(
        page.body.contains("id=\"trial-verdict\">block<") && page.body.contains("id=\"trial-rule\">rm_root<"),
        "{}",
        page.body
    );
    let try_order = [
        ("target", "shop"),
        ("rule", rule),
        ("try_kind", "http"),
        ("method", "GET"),
        ("path", "/orders/7"),
    ];
    let page = ann.post("/guard/try", &try_order).await;
    assert!(
        page.body.contains("id=\"trial-rule\">no-order-reads<")
            && page.body.contains("orders are &lt;private&gt;")
            && page.body.contains("(with the rule above, not saved)"),
        "{}",
        page.body
    );
    assert_eq!(c.agent_get(&orders, &token).await.0, 200, "trying saved nothing");

    // A broken rule is refused with its reason and kept in the editor.
    let page = ann
        .post(
            "/guard/rules",
            &[("target", "shop"), ("rule", "{\"id\": \"x\", \"verdict\": \"maybe\"}")],
        )
        .await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert!(page.body.contains("id=\"form-error\""), "{}", page.body);

    // Saved for the target: the gateway blocks at once; removed: served again.
    let page = ann.post("/guard/rules", &try_order).await;
    assert_eq!(
        (page.status, page.location.as_deref()),
        (303, Some("/guard?target=shop")),
        "{}",
        page.body
    );
    assert_eq!(
        c.agent_status_within(&orders, &token, 403, Duration::from_secs(2))
            .await,
        403
    );
    let page = ann.get("/guard?target=shop").await;
    assert!(page.body.contains("id=\"rule-no-order-reads\""), "{}", page.body);
    assert!(
        !ann.get("/guard").await.body.contains("id=\"rule-no-order-reads\""),
        "a target's rule is not global"
    );
    ann.post(
        "/guard/rules/remove",
        &[("target", "shop"), ("rule_id", "no-order-reads")],
    )
    .await;
    assert_eq!(
        c.agent_status_within(&orders, &token, 200, Duration::from_secs(2))
            .await,
        200
    );
    // A scope that does not exist is said so, and nothing is saved globally by mistake.
    let page = ann.post("/guard/rules", &[("target", "gone"), ("rule", rule)]).await;
    assert_eq!(page.status, 404, "{}", page.body);
    let (_, global) = c.admin("GET", "/api/guard/rules", None).await;
    assert_eq!(global, serde_json::json!([]));
}

#[actix_web::test]
async fn an_agent_is_connected_from_the_connect_page() {
    let up = Upstream::start();
    let c = Cluster::up().await;
    let target = c.create_http_target("api", &up.url, None).await;
    let cookie = first_admin(&c).await;

    // Every agent has its way; the page knows the gateway's address only when told.
    let page = send(&c, "/connect?agent=codex", None, Some(&cookie), &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("/install/codex.sh | SHELLGATE_TOKEN=sg_… sh")
            && page.body.contains("codex mcp add shellgate --url"),
        "{}",
        page.body
    );
    let page = send(&c, "/connect?agent=custom", None, Some(&cookie), &[]).await;
    assert!(
        page.body.contains("/mcp\nHeader: Authorization: Bearer sg_…"),
        "{}",
        page.body
    );

    // A new token for Claude Code: shown once, inside the command, and it works.
    let mut ann = Admin {
        c: &c,
        csrf: csrf(&page.body),
        cookie,
        seen: Vec::new(),
    };
    let page = ann
        .post(
            "/connect",
            &[("agent", "claude-code"), ("name", "laptop claude"), ("target", &target)],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.header("cache-control"), Some("no-store"));
    let secret = shown_token(&page.body);
    assert!(
        page.body
            .contains(&format!("/install/claude-code.sh | SHELLGATE_TOKEN={secret} sh")),
        "{}",
        page.body
    );
    let (status, _) = c.agent_get(&format!("{}/gateway/api/x", c.gateway()), &secret).await;
    assert_eq!(status, 200);
    let (_, tokens) = c.admin("GET", "/api/tokens", None).await;
    assert!(
        tokens
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "laptop claude" && t["capabilities"].as_array().unwrap().len() == 6),
        "{tokens}"
    );
}
