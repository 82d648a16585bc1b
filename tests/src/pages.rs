//! The dashboard as a browser's HTTP client sees it: pages, forms with their CSRF token, the
//! first admin, logins, and the `shellgate user` CLI.
#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

use crate::Cluster;
use crate::client::read_body;
use crate::process::run_command;

/// The password the helpers give users.
pub const PASSWORD: &str = "correct horse battery staple";

/// One page request's answer.
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookie: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The `name=value` of the session cookie it sets.
    pub fn session(&self) -> String {
        let c = self.set_cookie.as_deref().unwrap();
        c.split(';').next().unwrap().to_string()
    }
}

/// GET (form: None) or POST a form to the approver, with an optional cookie and extra headers.
pub async fn send(
    c: &Cluster,
    path: &str,
    form: Option<&[(&str, &str)]>,
    cookie: Option<&str>,
    extra: &[(&str, &str)],
) -> Page {
    let url = format!("{}{path}", c.approver());
    let mut req = c.http.request(if form.is_some() { "POST" } else { "GET" }, &url);
    if let Some(cookie) = cookie {
        req = req.insert_header(("cookie", cookie.to_string()));
    }
    for h in extra {
        req = req.insert_header(*h);
    }
    let mut res = match form {
        Some(f) => req.send_form(&f.to_vec()).await,
        None => req.send().await,
    }
    .unwrap();
    let headers: Vec<(String, String)> = res
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    Page {
        status: res.status().as_u16(),
        location: get("location"),
        set_cookie: get("set-cookie"),
        body: String::from_utf8_lossy(&read_body(&mut res).await).into_owned(),
        headers,
    }
}

/// The CSRF token in a page's forms.
pub fn csrf(body: &str) -> String {
    let at = body.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    body[at..].split('"').next().unwrap().to_string()
}

pub fn setup_code(c: &Cluster) -> String {
    run_command(&["setup-code"], &c.env).trim().to_string()
}

/// Sets up the first admin `ann`; the session cookie.
pub async fn first_admin(c: &Cluster) -> String {
    let code = setup_code(c);
    let form = [
        ("code", code.as_str()),
        ("username", "Ann"),
        ("password", PASSWORD),
        ("password_again", PASSWORD),
    ];
    let page = send(c, "/setup", Some(&form), None, &[]).await;
    assert_eq!(
        (page.status, page.location.as_deref()),
        (303, Some("/")),
        "{}",
        page.body
    );
    page.session()
}

/// `shellgate user …` with `stdin` as the password's input.
pub fn user_cli(c: &Cluster, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write as _;
    let mut child = std::process::Command::new(crate::process::binary())
        .arg("user")
        .args(args)
        .envs(c.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// Logs `user` in; the session cookie.
pub async fn login(c: &Cluster, user: &str, password: &str) -> String {
    let page = send(
        c,
        "/login",
        Some(&[("username", user), ("password", password)]),
        None,
        &[],
    )
    .await;
    assert_eq!(page.status, 303, "{}", page.body);
    page.session()
}

/// The text of the element with this `id` in a page (its content up to the next tag).
pub fn element_text(body: &str, id: &str) -> String {
    let open = format!("id=\"{id}\">");
    let at = body.find(&open).unwrap_or_else(|| panic!("no #{id} in {body}")) + open.len();
    body[at..].split('<').next().unwrap().to_string()
}

/// The TOTP code an authenticator app with this base32 secret shows, `steps` 30-second steps
/// from now.
pub fn totp_code(secret_base32: &str, steps: i64) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret_base32).unwrap();
    let totp = totp_rs::Builder::new()
        .with_secret(secret.as_bytes().to_vec())
        .with_account_name("test")
        .build()
        .unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp() + steps * 30;
    totp.generate(u64::try_from(now).unwrap()).to_string()
}
