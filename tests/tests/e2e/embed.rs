//! `up` with its own PostgreSQL and NATS (SHELLGATE_EMBED=always, a temporary data directory, so
//! the machine's services are not used): a proxied request end to end; SIGTERM stops both (no
//! process left); the next start finds the data (a token made in the first run works); after
//! SIGKILL the next start adopts what was left running; an explicit unreachable URL still fails
//! with the clear message.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::Duration;

use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
use shellgate_shared::crypto::{ADMIN_KEY_PREFIX, generate_secret};
use shellgate_tests::client::{Client, read_body};
use shellgate_tests::process::Proc;
use shellgate_tests::upstream::Upstream;

fn env(data: &Path, admin_key: &str) -> Vec<(String, String)> {
    [
        ("SHELLGATE_EMBED", "always"),
        ("SHELLGATE_DATA_DIR", &data.display().to_string()),
        ("SHELLGATE_ADMIN_BOOTSTRAP_KEY", admin_key),
        ("SHELLGATE_GATEWAY_LISTEN", "127.0.0.1:0"),
        ("SHELLGATE_APPROVER_LISTEN", "127.0.0.1:0"),
        ("SHELLGATE_EXECUTOR_LISTEN", "127.0.0.1:0"),
        ("SHELLGATE_GATEWAY_WORKERS", "1"),
        ("SHELLGATE_EXECUTOR_WORKERS", "1"),
        ("SHELLGATE_SHUTDOWN_GRACE_MS", "2000"),
        ("RUST_LOG", "info"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

async fn admin(http: &Client, up: &Proc, key: &str, path: &str, body: Value) -> Value {
    let mut res = http
        .request("POST", &format!("{}{path}", up.url("approver")))
        .insert_header(("authorization", format!("Bearer {key}")))
        .send_json(&body)
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&read_body(&mut res).await).unwrap();
    assert!(res.status().is_success(), "{path}: {v}");
    v
}

async fn proxied(http: &Client, up: &Proc, token: &str) -> u16 {
    let url = format!("{}/gateway/api/items", up.url("gateway"));
    http.agent("GET", &url, token).send().await.unwrap().status().as_u16()
}

/// The first line a NATS server answers a client that connects without credentials.
fn nats_without_password(port: &str) -> String {
    use std::io::{BufRead as _, BufReader, Write as _};
    let mut s = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut lines = BufReader::new(s.try_clone().unwrap()).lines();
    let info = lines.next().unwrap().unwrap();
    assert!(info.starts_with("INFO"), "{info}");
    s.write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n").unwrap();
    lines.next().unwrap().unwrap().trim().to_string()
}

/// The pids of processes whose command line names `needle` (the data directory).
fn processes_of(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.contains(needle) && !text.contains("cargo") {
            found.push(format!("{}: {text}", entry.file_name().to_string_lossy()));
        }
    }
    found
}

#[actix_web::test]
async fn up_brings_its_own_postgres_and_nats_and_keeps_their_data() {
    let dir = tempfile::tempdir().unwrap();
    // When the tests run as root the cluster runs as `postgres`, which must reach the folder.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = dir.path().join("data");
    let needle = data.display().to_string();
    let key = generate_secret(ADMIN_KEY_PREFIX).expose_secret().to_string();
    let env = env(&data, &key);
    let upstream = Upstream::start();
    let http = Client::new();

    let mut up = Proc::spawn("up", &env);
    let said = up.logs();
    assert!(
        data.join("postgres/data/PG_VERSION").exists(),
        "a cluster was made: {said}"
    );
    assert!(data.join("nats/store").exists(), "JetStream stores under the data dir");
    let target = admin(
        &http,
        &up,
        &key,
        "/api/targets",
        json!({"name": "api", "baseUrl": upstream.url}),
    )
    .await;
    let token = admin(
        &http,
        &up,
        &key,
        "/api/tokens",
        json!({"name": "agent", "targetIds": [target["id"]]}),
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(proxied(&http, &up, &token).await, 200);
    // Its NATS takes only up's user: another local client is refused.
    let port = std::fs::read_to_string(data.join("nats/port")).unwrap();
    assert_eq!(nats_without_password(port.trim()), "-ERR 'Authorization Violation'");

    // SIGTERM: up, Postgres and NATS all stop.
    assert!(up.terminate(Duration::from_secs(30)), "up stops on SIGTERM");
    let left = processes_of(&needle);
    assert!(left.is_empty(), "left running: {left:?}");

    // The next start keeps the data: the token made in the first run works.
    let mut up = Proc::spawn("up", &env);
    assert_eq!(proxied(&http, &up, &token).await, 200, "{}", up.logs());

    // Killed without a chance to clean up: the next start adopts what it left, then stops it.
    up.kill();
    assert!(
        !processes_of(&needle).is_empty(),
        "Postgres and NATS outlive a killed up"
    );
    let mut up = Proc::spawn("up", &env);
    assert_eq!(proxied(&http, &up, &token).await, 200, "{}", up.logs());
    assert!(up.terminate(Duration::from_secs(30)));
    let left = processes_of(&needle);
    assert!(left.is_empty(), "left running after the adopted run: {left:?}");
    drop(upstream);
}

#[actix_web::test]
async fn an_explicit_unreachable_url_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(shellgate_tests::process::binary())
        .arg("up")
        .env("SHELLGATE_EMBED", "auto")
        .env("SHELLGATE_DATA_DIR", dir.path())
        .env("SHELLGATE_DATABASE_URL", "postgres://postgres@127.0.0.1:1/shellgate")
        .env("SHELLGATE_NATS_URL", "nats://127.0.0.1:4222")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("cannot reach Postgres at"), "{text}");
    assert!(!dir.path().join("postgres").exists(), "nothing embedded: {text}");
}
