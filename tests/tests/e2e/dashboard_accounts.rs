//! Accounts on the dashboard, through HTTP as a browser sends the forms: TOTP enrolment with
//! recovery codes, the code asked at login, the step-up that deciding approvals needs when
//! SHELLGATE_REQUIRE_MFA_FOR_APPROVALS is set (a code is never accepted twice), admin keys that
//! need the `approvals` scope then, `shellgate user reset-mfa`; the Users page (create, roles,
//! disable, new password, the last admin kept) and My account's password change; the Notifiers
//! page with its dead letters.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shellgate_tests::Cluster;
use shellgate_tests::client::read_body;
use shellgate_tests::pages::{PASSWORD, Page, csrf, element_text, first_admin, login, send, totp_code};
use shellgate_tests::process::run_command;
use shellgate_tests::upstream::Upstream;

/// A signed-in browser: its cookie (replaced when the server rotates the session) and CSRF token.
struct Browser<'a> {
    c: &'a Cluster,
    cookie: String,
    csrf: String,
}

impl<'a> Browser<'a> {
    async fn new(c: &'a Cluster, cookie: String) -> Self {
        let mut b = Self {
            c,
            cookie,
            csrf: String::new(),
        };
        b.refresh().await;
        b
    }

    /// Reads the CSRF token of the current session (it changes with the session id).
    async fn refresh(&mut self) {
        let page = self.get("/account").await;
        assert_eq!(page.status, 200, "{}", page.body);
        self.csrf = csrf(&page.body);
    }

    async fn get(&self, path: &str) -> Page {
        send(self.c, path, None, Some(&self.cookie), &[]).await
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut form = vec![("csrf", self.csrf.as_str())];
        form.extend_from_slice(fields);
        let page = send(self.c, path, Some(&form), Some(&self.cookie), &[]).await;
        if page.set_cookie.as_deref().is_some_and(|c| !c.contains("Max-Age=0")) {
            self.cookie = page.session();
            self.refresh().await;
        }
        page
    }
}

/// An agent request the guard holds; the approval's id.
async fn held(c: &Cluster, token: &str, item: &str) -> String {
    let url = format!("{}/gateway/api/items/{item}", c.gateway());
    let mut res = c.http.agent("DELETE", &url, token).send().await.unwrap();
    let v: Value = serde_json::from_slice(&read_body(&mut res).await).unwrap();
    assert_eq!(res.status().as_u16(), 202, "{v}");
    v["approval_id"].as_str().unwrap().to_string()
}

async fn decide_by_key(c: &Cluster, key: &str, id: &str) -> (u16, Value) {
    post_by_key(c, key, &format!("/api/approvals/{id}/approve")).await
}

async fn post_by_key(c: &Cluster, key: &str, path: &str) -> (u16, Value) {
    let url = format!("{}{path}", c.approver());
    let mut res = c
        .http
        .request("POST", &url)
        .insert_header(("authorization", format!("Bearer {key}")))
        .send()
        .await
        .unwrap();
    let body = read_body(&mut res).await;
    (
        res.status().as_u16(),
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

/// The admin audit trail once it holds a dashboard event of Ann's for each (path, error code).
async fn audited(c: &Cluster, wanted: &[(&str, Option<&str>)]) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = c.audit("kind=admin").await;
        let seen = |(path, code): &(&str, Option<&str>)| {
            rows.iter()
                .any(|r| r["path"] == *path && r["errorCode"].as_str() == *code && r["detail"]["user"] == "ann")
        };
        if wanted.iter().all(seen) {
            return rows;
        }
        let missing: Vec<_> = wanted.iter().filter(|w| !seen(w)).collect();
        assert!(Instant::now() < deadline, "not audited: {missing:?} in {rows:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn status_of(c: &Cluster, id: &str) -> String {
    let (_, v) = c.admin("GET", &format!("/api/approvals/{id}"), None).await;
    v["status"].as_str().unwrap_or("").to_string()
}

#[actix_web::test]
async fn totp_guards_login_and_deciding_approvals() {
    let up = Upstream::start();
    let c = Cluster::up_with(&[("SHELLGATE_REQUIRE_MFA_FOR_APPROVALS", "true")]).await;
    let target = c.create_http_target("api", &up.url, None).await;
    let (_, token) = c.create_token(&[&target]).await;
    let mut ann = Browser::new(&c, first_admin(&c).await).await;
    let first = held(&c, &token, "1").await;

    // The bootstrap admin key has no `approvals` scope: it may manage, not decide.
    let (status, v) = decide_by_key(&c, &c.admin_key, &first).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (403, Some("approvals_scope_required")),
        "{v}"
    );
    // However the path is spelled (the router decodes %61 to `a`; the check is the handler's).
    let (status, v) = post_by_key(&c, &c.admin_key, &format!("/api/approvals/{first}/%61pprove")).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (403, Some("approvals_scope_required")),
        "{v}"
    );

    // Without a second factor Ann cannot decide, on the page or through the API.
    let page = ann.get("/approvals").await;
    assert!(page.body.contains("needs two-factor authentication"), "{}", page.body);
    let page = ann.post(&format!("/approvals/{first}/approve"), &[]).await;
    assert_eq!(page.status, 403, "{}", page.body);
    let url = format!("{}/api/approvals/{first}/%61pprove", c.approver());
    let origin = c.approver();
    let mut res = c
        .http
        .request("POST", &url)
        .insert_header(("cookie", ann.cookie.clone()))
        .insert_header(("x-csrf-token", ann.csrf.clone()))
        .insert_header(("origin", origin.as_str()))
        .send()
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&read_body(&mut res).await).unwrap();
    assert_eq!(v["error"], "second_factor_required", "{v}");
    assert_eq!(status_of(&c, &first).await, "pending");

    // Enrolment: a secret (QR and text), confirmed by a first code; a wrong one is refused.
    let page = ann
        .post("/account/totp/start", &[("current", "not her password")])
        .await;
    assert_eq!(page.status, 400, "a stolen session alone cannot enrol: {}", page.body);
    let page = ann.post("/account/totp/start", &[("current", PASSWORD)]).await;
    assert_eq!(
        (page.status, page.location.as_deref()),
        (303, Some("/account")),
        "{}",
        page.body
    );
    let page = ann.get("/account").await;
    assert!(page.body.contains("<svg"), "a QR code: {}", page.body);
    let secret = element_text(&page.body, "totp-secret");
    assert_eq!(secret.len(), 32, "160 bits in base32: {secret}");
    let page = ann.post("/account/totp/confirm", &[("code", "000000")]).await;
    assert_eq!(page.status, 400, "{}", page.body);
    let code = totp_code(&secret, 0);
    let page = ann.post("/account/totp/confirm", &[("code", &code)]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let recovery: Vec<String> = page
        .body
        .split("<li><code>")
        .skip(1)
        .map(|s| s.split('<').next().unwrap().to_string())
        .collect();
    assert_eq!(recovery.len(), 10, "{}", page.body);
    assert!(!ann.get("/account").await.body.contains(&recovery[0]), "shown once");

    // Deciding now asks for a fresh code first; the code that enrolled is not fresh.
    let page = ann.post(&format!("/approvals/{first}/approve"), &[]).await;
    assert_eq!(page.status, 303);
    let step_up = format!("/step-up?next=/approvals/{first}");
    assert_eq!(page.location.as_deref(), Some(step_up.as_str()));
    assert_eq!(status_of(&c, &first).await, "pending");
    let page = ann.get(&step_up).await;
    assert!(page.body.contains("Confirm it is you"), "{}", page.body);
    let fields = [("code", code.as_str()), ("next", "/approvals")];
    let page = ann.post("/step-up", &fields).await;
    assert_eq!(page.status, 401, "a used code: {}", page.body);
    let old_cookie = ann.cookie.clone();
    let next_code = totp_code(&secret, 1);
    let page = ann
        .post("/step-up", &[("code", &next_code), ("next", "/approvals")])
        .await;
    assert_eq!(
        (page.status, page.location.as_deref()),
        (303, Some("/approvals")),
        "{}",
        page.body
    );
    assert_ne!(ann.cookie, old_cookie, "a step-up gives the session a new id");
    let page = send(&c, "/approvals", None, Some(&old_cookie), &[]).await;
    assert_eq!(page.status, 303, "the old id signs in nobody");
    let page = ann
        .post(&format!("/approvals/{first}/approve"), &[("comment", "ok")])
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(status_of(&c, &first).await, "approved");

    // Login asks for the code; the password alone signs in nobody. A recovery code works once.
    let page = send(
        &c,
        "/login",
        Some(&[("username", "ann"), ("password", PASSWORD), ("next", "/tokens")]),
        None,
        &[],
    )
    .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/login/code?next=%2Ftokens"),
        "{}",
        page.body
    );
    let mut pending = Browser {
        c: &c,
        cookie: page.session(),
        csrf: String::new(),
    };
    assert_eq!(pending.get("/tokens").await.status, 303, "not signed in yet");
    let page = pending.get("/login/code?next=/tokens").await;
    pending.csrf = csrf(&page.body);
    let page = pending
        .post("/login/code", &[("code", "123456"), ("next", "/tokens")])
        .await;
    assert_eq!(page.status, 401, "{}", page.body);
    let fields = [("code", recovery[0].as_str()), ("next", "/tokens")];
    let page = send(
        &c,
        "/login/code",
        Some(&[("csrf", pending.csrf.as_str()), fields[0], fields[1]]),
        Some(&pending.cookie),
        &[],
    )
    .await;
    assert_eq!(
        (page.status, page.location.as_deref()),
        (303, Some("/tokens")),
        "{}",
        page.body
    );
    let signed = page.session();
    assert_eq!(send(&c, "/tokens", None, Some(&signed), &[]).await.status, 200);
    // The same recovery code is used up.
    let again = send(
        &c,
        "/login",
        Some(&[("username", "ann"), ("password", PASSWORD)]),
        None,
        &[],
    )
    .await;
    let cookie = again.session();
    let form_token = csrf(&send(&c, "/login/code", None, Some(&cookie), &[]).await.body);
    let page = send(
        &c,
        "/login/code",
        Some(&[("csrf", form_token.as_str()), ("code", recovery[0].as_str())]),
        Some(&cookie),
        &[],
    )
    .await;
    assert_eq!(page.status, 401, "{}", page.body);

    // An admin key made with the `approvals` scope decides.
    let second = held(&c, &token, "2").await;
    let out = run_command(
        &["admin-key", "create", "--name", "pager", "--scope", "approvals"],
        &c.env,
    );
    let (status, v) = decide_by_key(&c, out.trim(), &second).await;
    assert_eq!(status, 200, "{v}");

    // Locked out: the operator's way back in.
    run_command(&["user", "reset-mfa", "--name", "ann"], &c.env);
    assert_eq!(
        send(&c, "/tokens", None, Some(&signed), &[]).await.status,
        303,
        "sessions ended"
    );
    let cookie = login(&c, "ann", PASSWORD).await;
    assert_eq!(send(&c, "/tokens", None, Some(&cookie), &[]).await.status, 200);

    // Every step is audited with the user; neither the secret nor a recovery code reached the
    // audit trail or the logs.
    let decide = format!("/approvals/{first}/approve");
    let rows = audited(
        &c,
        &[
            ("/account/totp/confirm", None),
            ("/step-up", Some("second_factor_failed")),
            ("/login/code", None),
            ("/login/code", Some("second_factor_failed")),
            (decide.as_str(), Some("second_factor_required")),
        ],
    )
    .await;
    let text = format!("{}{}", serde_json::to_string(&rows).unwrap(), c.logs());
    for secret in std::iter::once(&secret).chain(&recovery) {
        assert!(!text.contains(secret.as_str()), "{secret} leaked");
    }
}

/// The recovery codes Ann's page shows once.
fn shown_codes(body: &str) -> Vec<String> {
    body.split("<li><code>")
        .skip(1)
        .map(|s| s.split('<').next().unwrap().to_string())
        .collect()
}

#[actix_web::test]
async fn recovery_codes_are_renewed_and_totp_turned_off_only_with_a_code() {
    let c = Cluster::up().await;
    let mut ann = Browser::new(&c, first_admin(&c).await).await;
    ann.post("/account/totp/start", &[("current", PASSWORD)]).await;
    let secret = element_text(&ann.get("/account").await.body, "totp-secret");
    let page = ann
        .post("/account/totp/confirm", &[("code", &totp_code(&secret, 0))])
        .await;
    let first = shown_codes(&page.body);
    assert_eq!(first.len(), 10, "{}", page.body);

    // New recovery codes need a current code, and the old ones stop working.
    let page = ann.post("/account/recovery-codes", &[("code", "000000")]).await;
    assert_eq!(page.status, 401, "{}", page.body);
    let page = ann
        .post("/account/recovery-codes", &[("code", first[0].as_str())])
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("the old ones no longer work"), "{}", page.body);
    let renewed = shown_codes(&page.body);
    assert_eq!(renewed.len(), 10);
    let page = ann.post("/account/totp/off", &[("code", first[1].as_str())]).await;
    assert_eq!(page.status, 401, "an old recovery code: {}", page.body);
    assert!(
        ann.get("/account").await.body.contains("10 unused recovery codes"),
        "the new ten"
    );

    // Off with a current code: every session ends, and the next login asks for no code.
    let page = ann.post("/account/totp/off", &[("code", renewed[0].as_str())]).await;
    assert_eq!(
        (page.status, page.location.as_deref()),
        (303, Some("/login")),
        "{}",
        page.body
    );
    assert_eq!(ann.get("/tokens").await.status, 303, "sessions ended");
    let cookie = login(&c, "ann", PASSWORD).await;
    assert_eq!(
        send(&c, "/tokens", None, Some(&cookie), &[]).await.status,
        200,
        "no code asked"
    );
}

#[actix_web::test]
async fn admins_manage_users_and_everyone_their_own_password() {
    let c = Cluster::up().await;
    let mut ann = Browser::new(&c, first_admin(&c).await).await;

    // A new user gets a generated password, shown once.
    let page = ann.post("/users/new", &[("username", "Vic"), ("role", "viewer")]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let vic_password = element_text(&page.body, "shown-once");
    assert_eq!(vic_password.len(), 24);
    let page = ann.post("/users/new", &[("username", "vic"), ("role", "viewer")]).await;
    assert_eq!(page.status, 409, "{}", page.body);
    let page = ann.post("/users/new", &[("username", "<b>"), ("role", "viewer")]).await;
    assert_eq!(page.status, 400, "{}", page.body);
    let page = ann.get("/users").await;
    let vic_id = page_user_id(&page.body, "vic");
    assert!(
        page.body.find("ann (you)").unwrap() < page.body.find(">vic<").unwrap(),
        "sorted by name"
    );

    // Vic reads but manages nothing.
    let vic = Browser::new(&c, login(&c, "vic", &vic_password).await).await;
    assert_eq!(vic.get("/users").await.status, 403);
    assert!(
        !vic.get("/").await.body.contains("href=\"/users\""),
        "no Users entry in the nav"
    );
    let page = vic.get("/notifiers").await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("Add a notifier"), "{}", page.body);

    // The last admin is kept.
    let ann_id = page_user_id(&ann.get("/users").await.body, "ann");
    let page = ann.post(&format!("/users/{ann_id}"), &[("role", "viewer")]).await;
    assert_eq!(page.status, 409, "{}", page.body);
    assert!(page.body.contains("leave no enabled admin"), "{}", page.body);
    let page = ann
        .post(&format!("/users/{ann_id}"), &[("role", "admin"), ("disabled", "1")])
        .await;
    assert_eq!(page.status, 409, "{}", page.body);

    // Promoting Vic ends his sessions (a privilege change: he signs in again).
    let page = ann.post(&format!("/users/{vic_id}"), &[("role", "approver")]).await;
    assert_eq!(
        (page.status, page.location.as_deref()),
        (303, Some("/users")),
        "{}",
        page.body
    );
    assert_eq!(vic.get("/approvals").await.status, 303, "his session ended");
    let vic = Browser::new(&c, login(&c, "vic", &vic_password).await).await;
    assert!(vic.get("/").await.body.contains("vic (approver)"));

    // Disabled, he is out and cannot log in.
    let page = ann
        .post(&format!("/users/{vic_id}"), &[("role", "approver"), ("disabled", "1")])
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(vic.get("/").await.status, 303);
    let page = send(
        &c,
        "/login",
        Some(&[("username", "vic"), ("password", &vic_password)]),
        None,
        &[],
    )
    .await;
    assert_eq!(page.status, 401);
    ann.post(&format!("/users/{vic_id}"), &[("role", "approver")]).await;

    // A new password from an admin: the old one stops working.
    let page = ann.post(&format!("/users/{vic_id}/reset-password"), &[]).await;
    let new_password = element_text(&page.body, "shown-once");
    assert_ne!(new_password, vic_password);
    let page = send(
        &c,
        "/login",
        Some(&[("username", "vic"), ("password", &vic_password)]),
        None,
        &[],
    )
    .await;
    assert_eq!(page.status, 401);
    login(&c, "vic", &new_password).await;

    // Ann changes her own: the current one is checked, the new one twice; her other sessions end.
    let elsewhere = login(&c, "ann", PASSWORD).await;
    let new = "a much longer passphrase 2026";
    let page = ann
        .post(
            "/account/password",
            &[("current", "wrong"), ("new", new), ("confirm", new)],
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("current password is wrong"));
    let page = ann
        .post(
            "/account/password",
            &[("current", PASSWORD), ("new", new), ("confirm", "other")],
        )
        .await;
    assert_eq!(page.status, 400);
    let page = ann
        .post(
            "/account/password",
            &[
                ("current", PASSWORD),
                ("new", "password1234"),
                ("confirm", "password1234"),
            ],
        )
        .await;
    assert_eq!(page.status, 400, "a common password: {}", page.body);
    let page = ann
        .post(
            "/account/password",
            &[("current", PASSWORD), ("new", new), ("confirm", new)],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(ann.get("/account").await.status, 200, "this session goes on");
    assert_eq!(
        send(&c, "/", None, Some(&elsewhere), &[]).await.status,
        303,
        "the other one ended"
    );
    login(&c, "ann", new).await;

    // Every change is audited with who made it, and no password is in the trail.
    let rows = audited(
        &c,
        &[
            ("/users/new", None),
            ("/users/new", Some("username_taken")),
            ("/account/password", None),
        ],
    )
    .await;
    let text = serde_json::to_string(&rows).unwrap();
    for secret in [vic_password.as_str(), new_password.as_str(), new] {
        assert!(
            !text.contains(secret) && !c.logs().contains(secret),
            "a password leaked"
        );
    }
}

fn page_user_id(body: &str, name: &str) -> String {
    let row = body
        .find(&format!("{name} (you)"))
        .or_else(|| body.find(&format!(">{name}<")))
        .unwrap();
    let at = body[row..].find("/users/").unwrap() + row + "/users/".len();
    body[at..at + 36].to_string()
}

#[actix_web::test]
async fn the_notifiers_page_adds_notifiers_and_shows_what_was_not_delivered() {
    let up = Upstream::start();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("http://127.0.0.1:{port}/hook");
    let c = Cluster::up_with(&[
        ("SHELLGATE_NOTIFY_WEBHOOK_URL", dead.as_str()),
        ("SHELLGATE_NOTIFY_WEBHOOK_SECRET", "whsec_configured_canary_1234"),
        ("SHELLGATE_NOTIFY_MAX_ATTEMPTS", "2"),
        ("SHELLGATE_NOTIFY_RETRY_BASE_MS", "50"),
    ])
    .await;
    let mut ann = Browser::new(&c, first_admin(&c).await).await;
    let page = ann.get("/notifiers").await;
    assert!(
        page.body.contains("<code>webhook</code>"),
        "the configured one is named: {}",
        page.body
    );
    assert!(page.body.contains("Every notification was delivered."));

    // Added here: the generated signing secret is shown once.
    let fields = [
        ("name", "pager"),
        ("kind", "webhook"),
        ("url", "https://hooks.example/<x>?token=abc"),
    ];
    let page = ann.post("/notifiers/new", &fields).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let secret = element_text(&page.body, "shown-once");
    assert!(secret.starts_with("whsec_"), "{secret}");
    let page = ann.get("/notifiers").await;
    assert!(
        page.body.contains("pager") && !page.body.contains(&secret),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("token=abc"),
        "only the URL's hint is shown: {}",
        page.body
    );
    let page = ann
        .post(
            "/notifiers/new",
            &[("name", "webhook"), ("kind", "webhook"), ("url", "https://x.example/")],
        )
        .await;
    assert_eq!(page.status, 409, "{}", page.body);
    let page = ann
        .post(
            "/notifiers/new",
            &[("name", "bad"), ("kind", "webhook"), ("url", "ftp://x")],
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.body);

    // Disabled, then deleted, through the API's own functions.
    let (_, list) = c.admin("GET", "/api/notifiers", None).await;
    let id = list["notifiers"][0]["id"].as_str().unwrap().to_string();
    let page = ann.post(&format!("/notifiers/{id}"), &[]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let (_, n) = c.admin("GET", &format!("/api/notifiers/{id}"), None).await;
    assert_eq!(n["enabled"], json!(false), "{n}");
    let page = ann.post(&format!("/notifiers/{id}/delete"), &[]).await;
    assert_eq!(page.status, 303);
    let (status, _) = c.admin("GET", &format!("/api/notifiers/{id}"), None).await;
    assert_eq!(status, 404);

    // A notification the configured webhook never took is listed, with its approval.
    let target = c.create_http_target("api", &up.url, None).await;
    let (_, token) = c.create_token(&[&target]).await;
    let approval = held(&c, &token, "1").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let page = ann.get("/notifiers").await;
        if page.body.contains(&format!("/approvals/{approval}")) {
            assert!(page.body.contains("requested"), "{}", page.body);
            break;
        }
        assert!(Instant::now() < deadline, "no dead letter shown: {}", page.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
