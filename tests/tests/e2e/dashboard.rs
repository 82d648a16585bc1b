//! The dashboard's first part, through HTTP as a browser sends it: the first run (only the
//! setup code creates the first admin), login and logout with server-side sessions, CSRF and
//! origin checks, login limits, escaping, security headers, and the audit of each step.

use std::time::Duration;

use serde_json::Value;
use shellgate_tests::Cluster;
use shellgate_tests::client::read_body;
use shellgate_tests::pages::{PASSWORD, csrf, first_admin, login, send, setup_code, user_cli};

#[actix_web::test]
async fn only_the_setup_code_creates_the_first_admin() {
    let c = Cluster::up().await;
    // With no user, every page leads to /setup.
    for path in ["/", "/login"] {
        let page = send(&c, path, None, None, &[]).await;
        assert_eq!((page.status, page.location.as_deref()), (303, Some("/setup")), "{path}");
    }
    let page = send(&c, "/setup", None, None, &[]).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("setup code"), "{}", page.body);
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    // The stylesheet the page names is served, cacheable for good.
    let css = page
        .body
        .split("href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let sheet = send(&c, &css, None, None, &[]).await;
    assert_eq!(sheet.status, 200, "{css}");
    assert!(sheet.header("cache-control").unwrap().contains("immutable"));

    let code = setup_code(&c);
    let form = |code: &'static str, password: &'static str| {
        vec![
            ("code", code),
            ("username", "ann"),
            ("password", password),
            ("password_again", password),
        ]
    };
    let code: &'static str = Box::leak(code.into_boxed_str());
    // A wrong code, a weak password, another site's form: nothing is created.
    let page = send(&c, "/setup", Some(&form("AAAA-BBBB-CCCC-DDDD", PASSWORD)), None, &[]).await;
    assert_eq!(page.status, 403);
    assert!(page.body.contains("not valid"), "{}", page.body);
    let page = send(&c, "/setup", Some(&form(code, "short")), None, &[]).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("at least 12 characters"), "{}", page.body);
    let page = send(&c, "/setup", Some(&form(code, "password1234")), None, &[]).await;
    assert!(page.body.contains("too easy to guess"), "{}", page.body);
    let evil = [("origin", "http://evil.example")];
    let page = send(&c, "/setup", Some(&form(code, PASSWORD)), None, &evil).await;
    assert_eq!(page.status, 403);
    let cross = [("sec-fetch-site", "cross-site")];
    let page = send(&c, "/setup", Some(&form(code, PASSWORD)), None, &cross).await;
    assert_eq!(page.status, 403);
    assert_eq!(
        send(&c, "/login", None, None, &[]).await.location.as_deref(),
        Some("/setup")
    );

    // A new code replaces the old one; the right one creates the admin and signs them in.
    let newer = setup_code(&c);
    let page = send(&c, "/setup", Some(&form(code, PASSWORD)), None, &[]).await;
    assert_eq!(page.status, 403, "the replaced code still worked");
    let newer: &'static str = Box::leak(newer.into_boxed_str());
    let page = send(&c, "/setup", Some(&form(newer, PASSWORD)), None, &[]).await;
    assert_eq!(
        (page.status, page.location.as_deref()),
        (303, Some("/")),
        "{}",
        page.body
    );
    let cookie = page.set_cookie.clone().unwrap();
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    let home = send(&c, "/", None, Some(&page.session()), &[]).await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("ann (admin)"), "{}", home.body);
    assert!(home.body.contains("Next: add a target"), "{}", home.body);

    // Setup is over: the code is used up and the page leads to /login.
    let page = send(&c, "/setup", Some(&form(newer, PASSWORD)), None, &[]).await;
    assert_eq!(page.status, 403);
    assert_eq!(
        send(&c, "/setup", None, None, &[]).await.location.as_deref(),
        Some("/login")
    );
    let out = std::process::Command::new(shellgate_tests::process::binary())
        .arg("setup-code")
        .envs(c.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap();
    assert!(!out.status.success(), "a setup code after setup");
}

#[actix_web::test]
async fn sessions_log_in_and_out_with_csrf_and_are_audited() {
    let c = Cluster::up().await;
    let setup_session = first_admin(&c).await;

    // Not signed in: to the login page.
    let page = send(&c, "/", None, None, &[]).await;
    assert_eq!(page.location.as_deref(), Some("/login"));
    let page = send(&c, "/", None, Some("sg_session=forged.value"), &[]).await;
    assert_eq!(page.location.as_deref(), Some("/login"));

    // A wrong password and an unknown user get the same answer.
    let wrong = send(
        &c,
        "/login",
        Some(&[("username", "ann"), ("password", "not the password")]),
        None,
        &[],
    )
    .await;
    let unknown = send(
        &c,
        "/login",
        Some(&[("username", "bob"), ("password", "not the password")]),
        None,
        &[],
    )
    .await;
    assert_eq!((wrong.status, unknown.status), (401, 401));
    assert!(wrong.body.contains("Wrong user name or password."));
    assert_eq!(wrong.body.replace("ann", "bob"), unknown.body);
    assert!(wrong.set_cookie.is_none());

    // What a user typed comes back as text.
    let xss = send(
        &c,
        "/login",
        Some(&[("username", "<script>alert(1)</script>\"'"), ("password", "x")]),
        None,
        &[],
    )
    .await;
    assert!(!xss.body.contains("<script>alert"), "{}", xss.body);
    assert!(xss.body.contains("&lt;script&gt;alert(1)&lt;"), "{}", xss.body);

    // Logging in: a new session, back to where the user was going (never another site).
    let form = [("username", "ANN"), ("password", PASSWORD), ("next", "/?from=login")];
    let page = send(&c, "/login", Some(&form), None, &[]).await;
    assert_eq!((page.status, page.location.as_deref()), (303, Some("/?from=login")));
    let session = page.session();
    assert_ne!(session, setup_session);
    let form = [("username", "ann"), ("password", PASSWORD), ("next", "//evil.example/")];
    let page = send(&c, "/login", Some(&form), None, &[]).await;
    assert_eq!(page.location.as_deref(), Some("/"));

    // Logging out needs the session's CSRF token and our own origin.
    let home = send(&c, "/", None, Some(&session), &[]).await;
    assert_eq!(home.status, 200);
    let token = csrf(&home.body);
    let other_token = csrf(&send(&c, "/", None, Some(&setup_session), &[]).await.body);
    assert_ne!(token, other_token);
    for (form, extra) in [
        (vec![("csrf", "")], vec![]),
        (vec![("csrf", other_token.as_str())], vec![]),
        (vec![("csrf", token.as_str())], vec![("origin", "http://evil.example")]),
    ] {
        let page = send(&c, "/logout", Some(&form), Some(&session), &extra).await;
        assert_eq!(page.status, 403, "{form:?} {extra:?}");
    }
    assert_eq!(
        send(&c, "/", None, Some(&session), &[]).await.status,
        200,
        "still signed in"
    );
    let page = send(&c, "/logout", Some(&[("csrf", token.as_str())]), Some(&session), &[]).await;
    assert_eq!((page.status, page.location.as_deref()), (303, Some("/login")));
    assert!(page.set_cookie.unwrap().contains("Max-Age=0"));
    assert_eq!(
        send(&c, "/", None, Some(&session), &[]).await.location.as_deref(),
        Some("/login")
    );
    // The other session is untouched — until "log out everywhere" from a third one.
    assert_eq!(send(&c, "/", None, Some(&setup_session), &[]).await.status, 200);
    let third = login(&c, "ann", PASSWORD).await;
    let token = csrf(&send(&c, "/", None, Some(&third), &[]).await.body);
    let page = send(
        &c,
        "/logout",
        Some(&[("csrf", token.as_str()), ("everywhere", "1")]),
        Some(&third),
        &[],
    )
    .await;
    assert_eq!(page.location.as_deref(), Some("/login"));
    for s in [&third, &setup_session] {
        assert_eq!(
            send(&c, "/", None, Some(s), &[]).await.location.as_deref(),
            Some("/login")
        );
    }

    // Every step is in the audit trail, with the user and never a password.
    let rows = c.wait_for_audit("kind=admin", 6, Duration::from_secs(10)).await;
    let dashboard: Vec<&Value> = rows.iter().filter(|r| r["detail"]["via"] == "dashboard").collect();
    let seen = |path: &str, code: Option<&str>, user: &str| {
        dashboard
            .iter()
            .any(|r| r["path"] == path && r["errorCode"].as_str() == code && r["detail"]["user"] == user)
    };
    assert!(seen("/setup", None, "ann"), "{dashboard:?}");
    assert!(seen("/login", Some("login_failed"), "ann"), "{dashboard:?}");
    assert!(seen("/login", Some("login_failed"), "bob"), "{dashboard:?}");
    assert!(seen("/login", None, "ann"), "{dashboard:?}");
    assert!(seen("/logout", None, "ann"), "{dashboard:?}");
    assert!(!serde_json::to_string(&rows).unwrap().contains(PASSWORD));
    assert!(!c.logs().contains(PASSWORD), "a password reached a log");
}

#[actix_web::test]
async fn repeated_failures_wait_per_account_and_per_address() {
    let c = Cluster::up().await;
    let session = first_admin(&c).await;
    let attempt = |user: &'static str, password: &'static str| {
        let c = &c;
        async move {
            send(
                c,
                "/login",
                Some(&[("username", user), ("password", password)]),
                None,
                &[],
            )
            .await
        }
    };
    // Five failures for a name (unknown names count the same way), then it must wait, told how
    // long; other accounts are not affected.
    for _ in 0..5 {
        assert_eq!(attempt("ghost", "wrong password!").await.status, 401);
    }
    let page = attempt("ghost", "wrong password!").await;
    assert_eq!(page.status, 429);
    assert!(page.body.contains("try again in"), "{}", page.body);
    assert!(page.header("retry-after").unwrap().parse::<u64>().unwrap() > 0);
    assert_eq!(attempt("ann", PASSWORD).await.status, 303);

    // Users from the command line: a password from stdin (weak ones refused); a reset ends the
    // user's sessions.
    let out = user_cli(&c, &["create", "--name", "dave", "--role", "approver"], "short\n");
    assert!(!out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = user_cli(
        &c,
        &["create", "--name", "dave", "--role", "approver"],
        "a long one for the approver\n",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = user_cli(
        &c,
        &["create", "--name", "dave", "--role", "root"],
        "another long password\n",
    );
    assert!(!out.status.success(), "a role that does not exist");
    assert_eq!(attempt("dave", "a long one for the approver").await.status, 303);
    let out = user_cli(&c, &["reset-password", "--name", "ann"], "a brand new passphrase\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        send(&c, "/", None, Some(&session), &[]).await.location.as_deref(),
        Some("/login")
    );

    // Ten tries a minute per address (in this replica; nine so far, give or take one refilled):
    // then even a right password waits.
    let mut limited = false;
    for _ in 0..4 {
        let page = attempt("carol", "anything at all").await;
        if page.status == 429 {
            limited = true;
            break;
        }
        assert_eq!(page.status, 401);
    }
    assert!(limited, "the address was never limited");
    let page = attempt("ann", "a brand new passphrase").await;
    assert_eq!(page.status, 429, "{}", page.body);
}

/// An agent's request through the gateway: (status, JSON answer).
async fn agent(c: &Cluster, method: &str, path: &str, token: &str, approval: Option<&str>) -> (u16, Value) {
    let mut req = c.http.agent(method, &format!("{}{path}", c.gateway()), token);
    if let Some(id) = approval {
        req = req.insert_header(("x-shellgate-approval", id.to_string()));
    }
    let mut res = req.send().await.unwrap();
    let body = read_body(&mut res).await;
    (
        res.status().as_u16(),
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

#[actix_web::test]
async fn approvals_are_decided_on_the_dashboard_by_those_who_may() {
    let up = shellgate_tests::upstream::Upstream::start();
    let c = Cluster::up().await;
    let ann = first_admin(&c).await;
    let out = user_cli(
        &c,
        &["create", "--name", "vic", "--role", "viewer"],
        "a long one for the viewer\n",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let vic = login(&c, "vic", "a long one for the viewer").await;
    let target = c.create_http_target("api", &up.url, None).await;
    let (_, token) = c.create_token(&[&target]).await;

    // Held by the guard: on the page, with exactly what would run.
    let (status, held) = agent(&c, "DELETE", "/gateway/api/items/7?force=1", &token, None).await;
    assert_eq!(status, 202, "{held}");
    let id = held["approval_id"].as_str().unwrap().to_string();
    c.wait_for_audit("outcome=approval_required", 1, std::time::Duration::from_secs(10))
        .await;
    let page = send(&c, "/approvals", None, Some(&ann), &[]).await;
    assert_eq!(page.status, 200);
    for needle in [
        &id,
        "DELETE /items/7?force=1",
        "api",
        "Approve",
        "Deny",
        "sse-connect=\"/approvals/events\"",
        "data-expires=",
        // What else the requesting token has done lately, from the audit trail.
        "Token's latest",
        "<code>DELETE /gateway/api/items/7?force=1</code> <span class=\"muted\">approval_required</span>",
    ] {
        assert!(page.body.contains(needle), "{needle}: {}", page.body);
    }
    // A held body is shown (its beginning, as text), never as markup.
    let mut res = c
        .http
        .agent("DELETE", &format!("{}/gateway/api/items/9", c.gateway()), &token)
        .send_body(r#"{"why": "cleanup <script>alert(1)</script>"}"#)
        .await
        .unwrap();
    assert_eq!(res.status(), 202, "{:?}", res.body().await);
    let page = send(&c, "/approvals", None, Some(&ann), &[]).await;
    assert!(
        page.body
            .contains("{&quot;why&quot;: &quot;cleanup &lt;script&gt;alert(1)&lt;/script&gt;&quot;}"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<script>alert"));
    // The live feed answers only a session.
    assert_eq!(send(&c, "/approvals/events", None, None, &[]).await.status, 303);

    // Not signed in: to the login page, and back to the approval after it.
    let detail = format!("/approvals/{id}");
    let page = send(&c, &detail, None, None, &[]).await;
    let next = format!("/login?next=%2Fapprovals%2F{id}");
    assert_eq!(page.location.as_deref(), Some(next.as_str()));
    let form = [("username", "ann"), ("password", PASSWORD), ("next", detail.as_str())];
    let page = send(&c, "/login", Some(&form), None, &[]).await;
    assert_eq!(page.location.as_deref(), Some(detail.as_str()));

    // A viewer sees it but cannot decide.
    let page = send(&c, "/approvals", None, Some(&vic), &[]).await;
    assert!(
        page.body.contains(&id) && !page.body.contains("Approve</button>"),
        "{}",
        page.body
    );
    let vic_csrf = csrf(&page.body);
    let decide = format!("/approvals/{id}/approve");
    let page = send(&c, &decide, Some(&[("csrf", vic_csrf.as_str())]), Some(&vic), &[]).await;
    assert_eq!(page.status, 403, "{}", page.body);
    // Without the session's CSRF token, nobody decides.
    let page = send(&c, &decide, Some(&[("csrf", vic_csrf.as_str())]), Some(&ann), &[]).await;
    assert_eq!(page.status, 403);
    assert_eq!(c.held_approval(&held).await["status"], "pending");

    // The admin denies with a comment: the agent is told why.
    let ann_csrf = csrf(&send(&c, "/approvals", None, Some(&ann), &[]).await.body);
    let deny = format!("/approvals/{id}/deny");
    let form = [
        ("csrf", ann_csrf.as_str()),
        ("comment", "not on a Friday <b>please</b>"),
    ];
    let page = send(&c, &deny, Some(&form), Some(&ann), &[]).await;
    assert_eq!(page.location.as_deref(), Some(detail.as_str()));
    let page = send(&c, &detail, None, Some(&ann), &[]).await;
    assert!(
        page.body.contains("user:ann") && page.body.contains("not on a Friday &lt;b&gt;please&lt;/b&gt;"),
        "{}",
        page.body
    );
    let (status, answer) = agent(&c, "DELETE", "/gateway/api/items/7?force=1", &token, Some(&id)).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (403, Some("approval_denied")),
        "{answer}"
    );
    assert!(
        answer["message"].as_str().unwrap().contains("not on a Friday"),
        "{answer}"
    );
    // Deciding twice: refused, clearly.
    let page = send(&c, &decide, Some(&[("csrf", ann_csrf.as_str())]), Some(&ann), &[]).await;
    assert_eq!(page.status, 409, "{}", page.body);

    // Approved on the dashboard: the agent's repeat runs once.
    let (_, held) = agent(&c, "DELETE", "/gateway/api/items/8", &token, None).await;
    let id = held["approval_id"].as_str().unwrap().to_string();
    let page = send(
        &c,
        &format!("/approvals/{id}/approve"),
        Some(&[("csrf", ann_csrf.as_str())]),
        Some(&ann),
        &[],
    )
    .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let before = up.controls.requests.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        agent(&c, "DELETE", "/gateway/api/items/8", &token, Some(&id)).await.0,
        200
    );
    assert_eq!(
        agent(&c, "DELETE", "/gateway/api/items/8", &token, Some(&id)).await.0,
        403
    );
    assert_eq!(
        up.controls.requests.load(std::sync::atomic::Ordering::SeqCst),
        before + 1
    );
    assert_eq!(c.held_approval(&held).await["decidedBy"], "user:ann");
}

/// A management API call made with a dashboard session (cookie, optional CSRF token): (status, JSON).
async fn api(
    c: &Cluster,
    method: &str,
    path: &str,
    session: &str,
    csrf: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = c
        .http
        .request(method, &format!("{}{path}", c.approver()))
        .insert_header(("cookie", session.to_string()));
    if let Some(token) = csrf {
        req = req.insert_header(("x-csrf-token", token.to_string()));
    }
    let mut res = match body {
        Some(b) => req.send_json(&b).await,
        None => req.send().await,
    }
    .unwrap();
    let bytes = read_body(&mut res).await;
    (
        res.status().as_u16(),
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[actix_web::test]
async fn the_api_takes_a_session_with_its_csrf_token_within_its_role() {
    let up = shellgate_tests::upstream::Upstream::start();
    let c = Cluster::up().await;
    let ann = first_admin(&c).await;
    for (name, role) in [("vic", "viewer"), ("ada", "approver")] {
        let out = user_cli(
            &c,
            &["create", "--name", name, "--role", role],
            "a long password for the role\n",
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let vic = login(&c, "vic", "a long password for the role").await;
    let ada = login(&c, "ada", "a long password for the role").await;
    let token_of = |body: &str| csrf(body);
    let ann_csrf = token_of(&send(&c, "/", None, Some(&ann), &[]).await.body);
    let vic_csrf = token_of(&send(&c, "/", None, Some(&vic), &[]).await.body);
    let ada_csrf = token_of(&send(&c, "/", None, Some(&ada), &[]).await.body);

    // Reading needs only the session; a change also needs its CSRF token and our origin.
    assert_eq!(api(&c, "GET", "/api/tokens", &ann, None, None).await.0, 200);
    let new_target = serde_json::json!({"name": "api", "baseUrl": up.url});
    let (status, v) = api(&c, "POST", "/api/targets", &ann, None, Some(new_target.clone())).await;
    assert_eq!((status, v["error"].as_str()), (403, Some("csrf_token_invalid")), "{v}");
    let (status, v) = api(
        &c,
        "POST",
        "/api/targets",
        &ann,
        Some(&vic_csrf),
        Some(new_target.clone()),
    )
    .await;
    assert_eq!(status, 403, "another session's token: {v}");
    let (status, target) = api(&c, "POST", "/api/targets", &ann, Some(&ann_csrf), Some(new_target)).await;
    assert_eq!(status, 201, "{target}");
    let (status, token) = api(
        &c,
        "POST",
        "/api/tokens",
        &ann,
        Some(&ann_csrf),
        Some(serde_json::json!({"name": "bot", "targetIds": [target["id"]]})),
    )
    .await;
    assert_eq!(status, 201, "{token}");
    let token = token["token"].as_str().unwrap().to_string();

    // A viewer reads but changes nothing; an approver decides approvals and nothing else.
    assert_eq!(api(&c, "GET", "/api/targets", &vic, None, None).await.0, 200);
    let (status, v) = api(
        &c,
        "DELETE",
        &format!("/api/targets/{}", target["id"].as_str().unwrap()),
        &vic,
        Some(&vic_csrf),
        None,
    )
    .await;
    assert_eq!((status, v["error"].as_str()), (403, Some("role_forbidden")), "{v}");
    let (status, v) = api(
        &c,
        "POST",
        "/api/tokens",
        &ada,
        Some(&ada_csrf),
        Some(serde_json::json!({"name": "x"})),
    )
    .await;
    assert_eq!((status, v["error"].as_str()), (403, Some("role_forbidden")), "{v}");
    let (_, held) = agent(&c, "DELETE", "/gateway/api/items/1", &token, None).await;
    let id = held["approval_id"].as_str().unwrap();
    let (status, v) = api(
        &c,
        "POST",
        &format!("/api/approvals/{id}/approve"),
        &vic,
        Some(&vic_csrf),
        None,
    )
    .await;
    assert_eq!(status, 403, "{v}");
    let (status, v) = api(
        &c,
        "POST",
        &format!("/api/approvals/{id}/approve"),
        &ada,
        Some(&ada_csrf),
        None,
    )
    .await;
    assert_eq!((status, v["decidedBy"].as_str()), (200, Some("user:ada")), "{v}");

    // Without a session or a key: as before.
    let res = c
        .http
        .request("GET", &format!("{}/api/tokens", c.approver()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // The admin audit names the user.
    let rows = c
        .wait_for_audit("kind=admin", 1, std::time::Duration::from_secs(10))
        .await;
    assert!(
        rows.iter()
            .any(|r| r["path"] == "/api/targets" && r["detail"]["actor"] == "user:ann"),
        "{rows:?}"
    );
}
