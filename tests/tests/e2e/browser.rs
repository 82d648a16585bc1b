//! The dashboard in real headless Chromium: the first run with the setup code, a forged
//! cross-site form refused, logging in and out — with a screenshot of every page
//! (`target/screenshots/`).

use shellgate_tests::Cluster;
use shellgate_tests::browser::Browser;
use shellgate_tests::process::run_command;
use thirtyfour::By;

const PASSWORD: &str = "correct horse battery staple";

/// Types into the fields of the page's form and sends it.
async fn submit(b: &Browser, fields: &[(&str, &str)]) {
    for (id, text) in fields {
        let input = b.driver().find(By::Id(*id)).await.unwrap();
        input.clear().await.unwrap();
        input.send_keys(*text).await.unwrap();
    }
    b.driver()
        .find(By::Css("main button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

#[actix_web::test]
async fn first_run_login_and_logout_in_chromium() {
    let c = Cluster::up().await;
    let code = run_command(&["setup-code"], &c.env).trim().to_string();
    let mut b = Browser::start("first-run").await;
    let base = c.approver();

    // A page on another site that posts the setup form to us: refused, nobody created.
    let forged = format!(
        "data:text/html,<form method=post action='{base}/setup'>\
         <input name=code value='{code}'><input name=username value=mallory>\
         <input name=password value='{PASSWORD}'><input name=password_again value='{PASSWORD}'>\
         </form><script>document.forms[0].submit()</script>"
    );
    b.driver().goto(&forged).await.unwrap();
    b.wait_for("This form may only be sent from this site.").await;
    b.screenshot("forged-setup-refused").await;

    // The first run: every page leads to /setup; a wrong code is refused; the right one signs in.
    b.driver().goto(&base).await.unwrap();
    b.wait_for("Set up Shellgate").await;
    assert!(b.driver().current_url().await.unwrap().path().ends_with("/setup"));
    b.screenshot("setup").await;
    let form = |code: &str| {
        [
            ("code", code.to_string()),
            ("username", "ann".into()),
            ("password", PASSWORD.into()),
            ("password_again", PASSWORD.into()),
        ]
    };
    let wrong = form("AAAA-BBBB-CCCC-DDDD");
    submit(&b, &wrong.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>()).await;
    b.wait_for("That setup code is not valid").await;
    b.screenshot("setup-wrong-code").await;
    let right = form(&code);
    submit(&b, &right.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>()).await;
    let html = b.wait_for("ann (admin)").await;
    assert!(html.contains("Next: add a target"), "{html}");
    b.screenshot("overview").await;

    // Log out (the form carries the CSRF token), then a wrong password, then in again.
    b.driver()
        .find(By::Css("form.logout button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_for("<h1>Log in</h1>").await;
    b.driver().goto(&base).await.unwrap();
    b.wait_for("<h1>Log in</h1>").await;
    assert!(
        b.driver().current_url().await.unwrap().path().ends_with("/login"),
        "signed out"
    );
    submit(&b, &[("username", "ann"), ("password", "not the password at all")]).await;
    b.wait_for("Wrong user name or password.").await;
    b.screenshot("login-failed").await;
    submit(&b, &[("username", "ann"), ("password", PASSWORD)]).await;
    b.wait_for("ann (admin)").await;
    b.quit().await;
}

/// Targets and a token are made on their pages; then the Approvals page is live: an agent's
/// held request appears without a reload, is approved with a click, and the agent's repeat runs.
#[actix_web::test]
async fn targets_a_token_and_a_live_approval_in_chromium() {
    let up = shellgate_tests::upstream::Upstream::start();
    let c = Cluster::up().await;
    let code = run_command(&["setup-code"], &c.env).trim().to_string();
    let mut b = Browser::start("approvals").await;
    let base = c.approver();
    b.driver().goto(&format!("{base}/setup")).await.unwrap();
    b.wait_for("Set up Shellgate").await;
    submit(
        &b,
        &[
            ("code", &code),
            ("username", "ann"),
            ("password", PASSWORD),
            ("password_again", PASSWORD),
        ],
    )
    .await;
    b.wait_for("ann (admin)").await;

    // An HTTP API and an SSH server, added on the Targets page.
    b.driver().goto(&format!("{base}/targets")).await.unwrap();
    b.wait_for("No targets yet").await;
    b.screenshot("targets-empty").await;
    b.driver().goto(&format!("{base}/targets/new?kind=http")).await.unwrap();
    b.wait_for("Add an HTTP API").await;
    b.screenshot("target-new-http").await;
    submit(&b, &[("name", "Items API"), ("slug", "api"), ("base_url", &up.url)]).await;
    b.wait_for("id=\"target-slug\">api<").await;
    b.screenshot("target-http").await;
    b.driver().goto(&format!("{base}/targets/new?kind=ssh")).await.unwrap();
    b.wait_for("Add an SSH server").await;
    submit(
        &b,
        &[("name", "Build box"), ("host", "127.0.0.1"), ("username", "deploy")],
    )
    .await;
    b.wait_for("id=\"target-slug\">build-box<").await;
    b.screenshot("target-ssh").await;
    b.driver().goto(&format!("{base}/targets?kind=ssh")).await.unwrap();
    b.wait_for("deploy@127.0.0.1:22").await;
    b.screenshot("targets-ssh").await;

    // A token for the API, shown once.
    b.driver().goto(&format!("{base}/tokens")).await.unwrap();
    b.wait_for("No tokens yet").await;
    b.driver()
        .find(By::Css("input[name=target]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.screenshot("tokens-empty").await;
    submit(&b, &[("name", "agent")]).await;
    b.wait_for("Copy it now").await;
    b.screenshot("token-created").await;
    let token = b
        .driver()
        .find(By::Id("token-secret"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(token.starts_with("sg_"), "{token}");
    b.driver().goto(&format!("{base}/tokens")).await.unwrap();
    b.wait_for(">agent</a>").await;
    b.screenshot("tokens").await;
    b.driver()
        .find(By::Css("td a[href^='/tokens/']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_for("Targets it may use").await;
    b.screenshot("token").await;
    b.driver().goto(&format!("{base}/connect?agent=codex")).await.unwrap();
    b.wait_for("codex mcp add shellgate").await;
    b.screenshot("connect").await;
    b.driver().goto(&format!("{base}/guard?target=api")).await.unwrap();
    b.wait_for("The built-in pack").await;
    b.screenshot("guard").await;

    b.driver().goto(&format!("{base}/approvals")).await.unwrap();
    b.wait_for("Nothing waits for a decision").await;
    // Let the live feed connect before the request it must show.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    b.screenshot("empty-queue").await;

    let gateway = c.gateway();
    let (held_status, held) = {
        let mut res = c
            .http
            .agent("DELETE", &format!("{gateway}/gateway/api/items/42"), &token)
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = res.json().await.unwrap();
        (res.status().as_u16(), body)
    };
    assert_eq!(held_status, 202, "{held}");
    let id = held["approval_id"].as_str().unwrap().to_string();
    b.wait_for(&format!("id=\"approval-{id}\"")).await;
    b.screenshot("held-request-live").await;
    // The time left counts down in the page (app.js), also in a list htmx swapped in.
    let countdown = || async {
        b.driver()
            .find(By::Css(format!("#approval-{id} .countdown")))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let first = countdown().await;
    assert!(
        // 15 min at most (it may round to "in 15 min 0 s").
        first.starts_with("in 1") && first.contains(" min "),
        "{first:?}"
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        let later = countdown().await;
        if later != first && later.starts_with("in 1") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the countdown stands still: {first:?} then {later:?}"
        );
    }

    b.driver()
        .find(By::Css(format!("#approval-{id} button.approve")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_for("user:ann").await;
    b.screenshot("approved").await;
    let res = c
        .http
        .agent("DELETE", &format!("{gateway}/gateway/api/items/42"), &token)
        .insert_header(("x-shellgate-approval", id.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // Found by the audit search, and in its export (fetched by the page, with its session).
    c.wait_for_audit("kind=http", 2, std::time::Duration::from_secs(5))
        .await;
    b.driver().goto(&format!("{base}/audit")).await.unwrap();
    b.wait_for("Path or command contains").await;
    submit(&b, &[("q", "items/42")]).await;
    b.wait_for("DELETE /gateway/api/items/42").await;
    b.screenshot("audit-search").await;
    let export = b
        .driver()
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             fetch(document.getElementById('export-csv').href).then(r => r.text()).then(done, e => done(String(e)));",
            vec![],
        )
        .await
        .unwrap();
    let csv = export.json().as_str().unwrap_or_default().to_string();
    assert!(
        csv.starts_with("occurredAt,") && csv.contains("/gateway/api/items/42"),
        "{csv}"
    );
    b.quit().await;
}

/// Clicks the element `css` selects.
async fn click(b: &Browser, css: &str) {
    b.driver().find(By::Css(css)).await.unwrap().click().await.unwrap();
}

/// Types `text` into the field with this id.
async fn type_in(b: &Browser, id: &str, text: &str) {
    let input = b.driver().find(By::Id(id)).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
}

/// With MFA required for approvals: an admin enrols TOTP (QR, recovery codes), is sent to the
/// step-up page by her first Approve and decides after a fresh code; a viewer sees the queue
/// without buttons; an expired session leads back to the login page, then to where it was.
#[actix_web::test]
async fn step_up_a_viewer_and_an_expired_session_in_chromium() {
    use shellgate_tests::pages::{totp_code, user_cli};
    let up = shellgate_tests::upstream::Upstream::start();
    let c = Cluster::up_with(&[("SHELLGATE_REQUIRE_MFA_FOR_APPROVALS", "true")]).await;
    let target = c.create_http_target("api", &up.url, None).await;
    let (_, token) = c.create_token(&[&target]).await;
    for (name, role) in [("ann", "admin"), ("vic", "viewer")] {
        let out = user_cli(&c, &["create", "--name", name, "--role", role], PASSWORD);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let base = c.approver();
    let mut ann = Browser::start("step-up").await;
    ann.driver().goto(&format!("{base}/account")).await.unwrap();
    ann.wait_for("<h1>Log in</h1>").await;
    submit(&ann, &[("username", "ann"), ("password", PASSWORD)]).await;
    ann.wait_for("Two-factor authentication").await;

    // Enrol: the QR code and the secret, then the first code; the recovery codes once.
    type_in(&ann, "current-totp", PASSWORD).await;
    click(&ann, "form[action='/account/totp/start'] button").await;
    let html = ann.wait_for("id=\"totp-secret\"").await;
    assert!(html.contains("<svg"), "{html}");
    ann.screenshot("totp-enrol").await;
    let secret = ann
        .driver()
        .find(By::Id("totp-secret"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    type_in(&ann, "code-confirm", &totp_code(&secret, 0)).await;
    click(&ann, "form[action='/account/totp/confirm'] button").await;
    ann.wait_for("Your recovery codes").await;
    ann.screenshot("recovery-codes").await;

    // An agent's request waits; Ann's first Approve asks for a fresh code, then decides.
    let url = format!("{}/gateway/api/items/1", c.gateway());
    let res = c.http.agent("DELETE", &url, &token).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 202);
    ann.driver().goto(&format!("{base}/approvals")).await.unwrap();
    ann.wait_for("Deciding needs a fresh code").await;
    click(&ann, "button.approve").await;
    ann.wait_for("Confirm it is you").await;
    ann.screenshot("step-up").await;
    type_in(&ann, "code", &totp_code(&secret, 1)).await;
    click(&ann, "main button[type=submit]").await;
    ann.wait_for("class=\"approve\">Approve").await;
    assert!(
        ann.driver()
            .current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/approvals/")
    );
    click(&ann, "button.approve").await;
    ann.wait_for("Decided</dt>").await;
    ann.screenshot("approved-after-step-up").await;
    ann.quit().await;

    // A viewer sees what waits, and no button to decide it.
    let res = c
        .http
        .agent("DELETE", &format!("{}/gateway/api/items/2", c.gateway()), &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 202);
    let mut vic = Browser::start("viewer").await;
    vic.driver().goto(&format!("{base}/approvals")).await.unwrap();
    vic.wait_for("<h1>Log in</h1>").await;
    submit(&vic, &[("username", "vic"), ("password", PASSWORD)]).await;
    let html = vic.wait_for("/items/2").await;
    assert!(!html.contains("class=\"approve\""), "{html}");
    assert!(!html.contains("href=\"/users\""), "no Users page for a viewer");
    vic.screenshot("viewer-approvals").await;

    // Idle past the limit (as if two hours went by): the next page is the login, and after it
    // the page that was asked for.
    c.db.query(
        "UPDATE user_sessions SET last_seen_at = now() - interval '2 hours' \
         WHERE user_id = (SELECT id FROM users WHERE username = 'vic')",
    )
    .await;
    vic.driver().goto(&format!("{base}/audit")).await.unwrap();
    vic.wait_for("<h1>Log in</h1>").await;
    vic.screenshot("session-expired").await;
    submit(&vic, &[("username", "vic"), ("password", PASSWORD)]).await;
    vic.wait_for("vic (viewer)").await;
    assert!(vic.driver().current_url().await.unwrap().path().ends_with("/audit"));
    vic.quit().await;
}
