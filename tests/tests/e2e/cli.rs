//! The CLI: helpful failures when Postgres or NATS are missing, keygen, config from TOML.

use std::process::Command;

use shellgate_tests::process::binary;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(args: &[&str], env: &[(&str, String)]) -> (bool, String) {
    let out = Command::new(binary())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn unreachable_postgres_is_named_with_where_and_how() {
    let url = format!("postgres://postgres:hunter2@127.0.0.1:{}/x", free_port());
    let (ok, text) = run(
        &["up"],
        &[
            ("SHELLGATE_DATABASE_URL", url),
            ("SHELLGATE_DATABASE_CONNECT_TIMEOUT_MS", "2000".into()),
        ],
    );
    assert!(!ok);
    assert!(text.contains("cannot reach Postgres at"), "{text}");
    assert!(text.contains("SHELLGATE_DATABASE_URL"), "{text}");
    assert!(!text.contains("hunter2"), "the password must not be printed: {text}");
}

#[test]
fn unreachable_nats_is_named_with_where_and_how() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // Settings from a TOML file (SHELLGATE_CONFIG), environment on top.
    let toml = dir.path().join("shellgate.toml");
    std::fs::write(
        &toml,
        format!("nats_url = \"nats://127.0.0.1:{port}\"\nnats_connect_timeout_ms = 1000\n"),
    )
    .unwrap();
    let db = shellgate_tests::block_on_thread(shellgate_tests::db::TestDb::create());
    let (ok, text) = run(
        &["gateway"],
        &[
            ("SHELLGATE_CONFIG", toml.display().to_string()),
            ("SHELLGATE_DATABASE_URL", db.url.clone()),
        ],
    );
    assert!(!ok);
    assert!(
        text.contains(&format!("cannot reach NATS at nats://127.0.0.1:{port}")),
        "{text}"
    );
    assert!(text.contains("SHELLGATE_NATS_URL"), "{text}");
}

#[test]
fn invalid_settings_are_refused_before_anything_starts() {
    let (ok, text) = run(&["up"], &[("SHELLGATE_NATS_PREFIX", "a.b".into())]);
    assert!(!ok);
    assert!(text.contains("SHELLGATE_NATS_PREFIX"), "{text}");
    // An unknown setting is reported (a typo should be visible) but is not fatal.
    let (ok, text) = run(
        &["up"],
        &[
            ("SHELLGATE_BOGUS_SETTING", "1".into()),
            ("SHELLGATE_STREAM_CHUNK_BYTES", "1".into()),
        ],
    );
    assert!(!ok);
    assert!(text.contains("unknown setting \"bogus_setting\""), "{text}");
    assert!(text.contains("SHELLGATE_STREAM_CHUNK_BYTES"), "{text}");
}

#[test]
fn keygen_prints_a_matching_pair() {
    let (ok, text) = run(&["keygen"], &[]);
    assert!(ok);
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap()
            .to_string()
    };
    let public = get("SHELLGATE_VAULT_PUBLIC_KEY");
    let secret = get("SHELLGATE_VAULT_SECRET_KEY");
    let sk = shellgate_shared::crypto::VaultSecretKey::from_base64(&secret.into()).unwrap();
    assert_eq!(sk.public_key().to_base64(), public);
    // Roles refuse to start without their key, and say which variable to set.
    let (ok, text) = run(&["executor"], &[]);
    assert!(!ok);
    assert!(text.contains("SHELLGATE_VAULT_SECRET_KEY"), "{text}");
}
