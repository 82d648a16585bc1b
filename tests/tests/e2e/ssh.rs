//! SSH execution against a real OpenSSH server: authentication, host keys, exec semantics,
//! streaming, connection reuse and the errors an agent sees.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use shellgate_tests::Cluster;
use shellgate_tests::sshd::{SSH_PASSWORD, Sshd, process_running, user_key};

/// A cluster with one key-authenticated, pinned SSH target and a token for it.
async fn setup(sshd: &Sshd, extra: &[(&str, &str)]) -> (Cluster, String, String, String) {
    let c = Cluster::up_with(extra).await;
    let (private, public) = user_key(sshd.dir.path(), "ed25519", None);
    sshd.authorize(&public);
    let id = c
        .create_ssh_target(sshd, "box", json!({"type": "ssh_key", "privateKey": private}))
        .await;
    c.pin_host_key(&id, &sshd.host_key()).await;
    let (_, token) = c.create_token(&[&id]).await;
    (c, id, token, private)
}

fn unique_seconds() -> u64 {
    90_000 + u64::from(uuid::Uuid::new_v4().as_u128() as u16)
}

#[actix_web::test]
async fn key_auth_runs_commands_with_exit_codes_stderr_stdin_env_and_signals() {
    let sshd = Sshd::start();
    let (c, id, token, private) = setup(&sshd, &[("RUST_LOG", "debug")]).await;

    let (status, v) = c
        .ssh_exec("box", &token, json!({"command": "echo hi; echo oops >&2; exit 3"}))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["exitCode"], 3);
    assert_eq!(v["stdout"], "hi\n");
    assert_eq!(v["stderr"], "oops\n");
    assert_eq!(v["signal"], Value::Null);
    assert_eq!(v["truncated"], false);
    assert!(v["durationMs"].as_u64().is_some());

    let (status, v) = c
        .ssh_exec(
            "box",
            &token,
            json!({"command": "cat; echo \"[$GREETING]\"", "stdin": "from stdin\n", "env": {"GREETING": "it's me"}}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["stdout"], "from stdin\n[it's me]\n");
    assert_eq!(v["exitCode"], 0);

    // Without stdin a command reading it sees EOF at once (it does not hang).
    let (status, v) = c.ssh_exec("box", &token, json!({"command": "wc -c"})).await;
    assert_eq!((status, v["stdout"].as_str().map(str::trim)), (200, Some("0")), "{v}");

    // Bytes that are not UTF-8 come back losslessly.
    let (status, v) = c
        .ssh_exec("box", &token, json!({"command": "printf '\\377\\376ok'"}))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["stdoutEncoding"], "base64");
    assert_eq!(v["stdout"], "//5vaw==");
    assert_eq!(v["stderrEncoding"], "utf-8");

    // `kill` needs a human: held (202), approved by an admin, re-sent with the approval id.
    let kill = json!({"command": "kill -KILL $$"});
    let (status, held) = c.ssh_exec("box", &token, kill.clone()).await;
    assert_eq!(status, 202, "{held}");
    assert_eq!(held["status"], "approval_required");
    assert_eq!(held["request"]["command"], "kill -KILL $$");
    let approval = held["approval_id"].as_str().unwrap().to_string();
    let (status, again) = c.ssh_exec_with("box", &token, kill.clone(), Some(&approval)).await;
    assert_eq!(
        (status, again["error"].as_str()),
        (403, Some("approval_pending")),
        "{again}"
    );
    let (status, decided) = c
        .admin("POST", &format!("/api/approvals/{approval}/approve"), Some(json!({})))
        .await;
    assert_eq!(status, 200, "{decided}");
    // Killed by a signal: reported as such, never as exit 0.
    let (status, v) = c.ssh_exec_with("box", &token, kill.clone(), Some(&approval)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["signal"], "KILL", "{v}");
    assert_eq!(v["exitCode"], 137);
    // Single use.
    let (status, v) = c.ssh_exec_with("box", &token, kill, Some(&approval)).await;
    assert_eq!((status, v["error"].as_str()), (403, Some("approval_used")), "{v}");

    // The audit record holds the command as sent, with its outcome.
    let events = c
        .wait_for_audit(&format!("targetId={id}"), 9, Duration::from_secs(10))
        .await;
    let first = events
        .iter()
        .find(|e| e["detail"]["command"] == "echo hi; echo oops >&2; exit 3")
        .expect("audit record of the first command");
    assert_eq!(first["kind"], "ssh");
    assert_eq!(first["outcome"], "allowed");
    assert_eq!(first["detail"]["exitCode"], 3);
    assert_eq!(first["detail"]["stdoutBytes"], 3);
    assert!(first["executor"].as_str().is_some_and(|e| !e.is_empty()), "{first}");
    let killed = events
        .iter()
        .find(|e| e["detail"]["command"] == "kill -KILL $$" && e["outcome"] == "allowed")
        .expect("audit record of the killed command");
    assert_eq!(killed["detail"]["signal"], "KILL");
    assert_eq!(killed["detail"]["approvalId"], approval.as_str());
    let outcomes: Vec<&str> = events
        .iter()
        .filter(|e| e["detail"]["command"] == "kill -KILL $$")
        .filter_map(|e| e["outcome"].as_str())
        .collect();
    for expected in ["approval_required", "refused", "allowed"] {
        assert!(outcomes.contains(&expected), "{outcomes:?}");
    }

    // The private key never leaves Shellgate: not in answers, the admin API, audit or logs.
    let key_line = private.lines().nth(2).expect("a key body line").to_string();
    let (_, target) = c.admin("GET", &format!("/api/targets/{id}"), None).await;
    let all = format!("{target}{}{}", Value::Array(events), c.logs());
    assert!(!all.contains(&key_line), "private key material leaked");
    assert!(
        target["credential"]["hint"]
            .as_str()
            .is_some_and(|h| h.starts_with("SHA256:")),
        "{target}"
    );

    // What the agent sends on stdin is guarded like the command: a shell fed `rm -rf /` is
    // blocked, a harmless script runs, and a held stdin-fed command is bound to that stdin.
    let (status, v) = c
        .ssh_exec("box", &token, json!({"command": "sh", "stdin": "rm -rf /\n"}))
        .await;
    assert_eq!((status, v["error"].as_str()), (403, Some("blocked")), "{v}");
    let (status, v) = c
        .ssh_exec("box", &token, json!({"command": "sh", "stdin": "echo fed\n"}))
        .await;
    assert_eq!((status, v["stdout"].as_str()), (200, Some("fed\n")), "{v}");
    let fed_kill = json!({"command": "sh", "stdin": "kill -KILL $$\n"});
    let (status, held) = c.ssh_exec("box", &token, fed_kill.clone()).await;
    assert_eq!(status, 202, "{held}");
    let approval = held["approval_id"].as_str().expect("approval id").to_string();
    let (status, _) = c
        .admin("POST", &format!("/api/approvals/{approval}/approve"), Some(json!({})))
        .await;
    assert_eq!(status, 200);
    let other_stdin = json!({"command": "sh", "stdin": "kill -KILL 1\n"});
    let (status, v) = c.ssh_exec_with("box", &token, other_stdin, Some(&approval)).await;
    assert_eq!((status, v["error"].as_str()), (403, Some("approval_mismatch")), "{v}");
    let (status, v) = c.ssh_exec_with("box", &token, fed_kill, Some(&approval)).await;
    // The fed `sh` killed itself: the approved command ran with the approved stdin.
    assert_eq!((status, v["exitCode"].as_i64()), (200, Some(137)), "{v}");
}

#[actix_web::test]
async fn passphrase_keys_and_passwords_authenticate_and_bad_credentials_fail() {
    let sshd = Sshd::start();
    let c = Cluster::up().await;
    let (ecdsa, ecdsa_pub) = user_key(sshd.dir.path(), "ecdsa", Some("correct horse"));
    let (rsa, rsa_pub) = user_key(sshd.dir.path(), "rsa", None);
    sshd.authorize(&ecdsa_pub);
    sshd.authorize(&rsa_pub);
    let (stranger_key, _) = user_key(sshd.dir.path(), "ed25519", None);
    let creds = [
        (
            "ecdsa-pass",
            json!({"type": "ssh_key", "privateKey": ecdsa, "passphrase": "correct horse"}),
        ),
        ("rsa", json!({"type": "ssh_key", "privateKey": rsa})),
        ("password", json!({"type": "password", "password": SSH_PASSWORD})),
        (
            "wrong-password",
            json!({"type": "password", "password": "not-the-password"}),
        ),
        ("unknown-key", json!({"type": "ssh_key", "privateKey": stranger_key})),
    ];
    let mut ids = Vec::new();
    for (slug, cred) in &creds {
        let id = c.create_ssh_target(&sshd, slug, cred.clone()).await;
        c.pin_host_key(&id, &sshd.host_key()).await;
        ids.push(id);
    }
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let (_, token) = c.create_token(&refs).await;
    for slug in ["ecdsa-pass", "rsa", "password"] {
        let (status, v) = c.ssh_exec(slug, &token, json!({"command": "id -un"})).await;
        assert_eq!(status, 200, "{slug}: {v}");
        assert_eq!(v["stdout"], "sgtest\n", "{slug}");
    }
    // Output that echoes the credential (raw, base64 or hex) reaches the agent scrubbed.
    let echo = format!(
        "printf '%s|' '{p}'; printf '%s' '{p}' | base64 | tr -d '\\n'; printf '|%s' '{hex}'",
        p = SSH_PASSWORD,
        hex = hex::encode(SSH_PASSWORD)
    );
    let (status, v) = c.ssh_exec("password", &token, json!({"command": echo})).await;
    assert_eq!(status, 200, "{v}");
    let out = v["stdout"].as_str().unwrap();
    let parts: Vec<&str> = out.split('|').collect();
    assert_eq!(parts.len(), 3, "{out}");
    assert_eq!(parts[0], "*".repeat(SSH_PASSWORD.len()), "{out}");
    assert!(parts[1].matches('*').count() + 4 >= SSH_PASSWORD.len() * 4 / 3, "{out}");
    assert_eq!(parts[2], "*".repeat(2 * SSH_PASSWORD.len()), "{out}");
    for slug in ["wrong-password", "unknown-key"] {
        let (status, v) = c.ssh_exec(slug, &token, json!({"command": "id -un"})).await;
        assert_eq!(
            (status, v["error"].as_str()),
            (502, Some("ssh_auth_failed")),
            "{slug}: {v}"
        );
    }
    // A wrong passphrase is caught when the credential is stored.
    let mut body = sshd.target_body("bad-pass");
    body["credential"] = json!({"type": "ssh_key", "privateKey": ecdsa, "passphrase": "wrong"});
    let (status, v) = c.admin("POST", "/api/targets", Some(body)).await;
    assert_eq!((status, v["error"].as_str()), (400, Some("invalid_credential")), "{v}");
    // So is an HTTP credential on an SSH target.
    let mut body = sshd.target_body("bearer-ssh");
    body["credential"] = json!({"type": "bearer", "token": "abc"});
    let (status, _) = c.admin("POST", "/api/targets", Some(body)).await;
    assert_eq!(status, 400);
    // The password is never echoed anywhere.
    let (_, targets) = c.admin("GET", "/api/targets", None).await;
    assert!(!format!("{targets}{}", c.logs()).contains(SSH_PASSWORD));
}

#[actix_web::test]
async fn unknown_host_keys_wait_for_an_admin_and_changed_keys_are_refused() {
    let mut sshd = Sshd::start();
    let c = Cluster::up().await;
    let (private, public) = user_key(sshd.dir.path(), "ed25519", None);
    sshd.authorize(&public);
    let id = c
        .create_ssh_target(&sshd, "box", json!({"type": "ssh_key", "privateKey": private}))
        .await;
    let (_, token) = c.create_token(&[&id]).await;
    let marker = format!("/tmp/sg-hostkey-{}", uuid::Uuid::new_v4().simple());
    let touch = json!({"command": format!("touch {marker}")});

    // First contact: the key is recorded as pending and nothing runs.
    let (status, v) = c.ssh_exec("box", &token, touch.clone()).await;
    assert_eq!((status, v["error"].as_str()), (502, Some("host_key_unknown")), "{v}");
    assert!(v["message"].as_str().unwrap().contains(&sshd.host_fingerprint()), "{v}");
    assert!(!std::path::Path::new(&marker).exists());
    let (_, keys) = c.admin("GET", &format!("/api/targets/{id}/host-keys"), None).await;
    let pending = &keys["hostKeys"][0];
    assert_eq!(pending["status"], "pending", "{keys}");
    assert_eq!(pending["fingerprint"], sshd.host_fingerprint().as_str());
    // Still refused until accepted.
    let (status, _) = c.ssh_exec("box", &token, touch.clone()).await;
    assert_eq!(status, 502);

    let (status, accepted) = c
        .admin(
            "POST",
            &format!("/api/targets/{id}/host-keys"),
            Some(json!({"fingerprint": sshd.host_fingerprint()})),
        )
        .await;
    assert_eq!(
        (status, accepted["status"].as_str()),
        (200, Some("accepted")),
        "{accepted}"
    );
    let (status, v) = c.ssh_exec("box", &token, touch.clone()).await;
    assert_eq!((status, v["exitCode"].as_u64()), (200, Some(0)), "{v}");
    assert!(std::path::Path::new(&marker).exists());
    let _ = std::fs::remove_file(&marker);

    // The server's key changes: a hard failure, audited, never a silent re-trust.
    sshd.change_host_key();
    let (status, v) = c.ssh_exec("box", &token, touch.clone()).await;
    assert_eq!((status, v["error"].as_str()), (502, Some("host_key_mismatch")), "{v}");
    assert!(!std::path::Path::new(&marker).exists());
    let (status, v) = c.ssh_exec("box", &token, touch).await;
    assert_eq!((status, v["error"].as_str()), (502, Some("host_key_mismatch")), "{v}");
    let (_, keys) = c.admin("GET", &format!("/api/targets/{id}/host-keys"), None).await;
    let statuses: Vec<(&str, &str)> = keys["hostKeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["fingerprint"].as_str().unwrap(), k["status"].as_str().unwrap()))
        .collect();
    assert!(
        statuses.contains(&(sshd.host_fingerprint().as_str(), "pending")),
        "{statuses:?}"
    );
    let audit = c
        .wait_for_audit(&format!("targetId={id}&outcome=failed"), 4, Duration::from_secs(10))
        .await;
    let mismatches = audit.iter().filter(|e| e["errorCode"] == "host_key_mismatch").count();
    assert_eq!(mismatches, 2, "{audit:?}");

    // Bad pins are refused.
    let (status, v) = c
        .admin(
            "POST",
            &format!("/api/targets/{id}/host-keys"),
            Some(json!({"publicKey": "ssh-ed25519 not-a-key"})),
        )
        .await;
    assert_eq!((status, v["error"].as_str()), (400, Some("invalid_public_key")), "{v}");
}

#[actix_web::test]
async fn a_timeout_kills_the_remote_process_and_output_is_capped() {
    let sshd = Sshd::start();
    let (c, _, token, _) = setup(&sshd, &[("SHELLGATE_SSH_OUTPUT_CAP_BYTES", "1000")]).await;
    let secs = unique_seconds();
    let started = Instant::now();
    let (status, v) = c
        .ssh_exec(
            "box",
            &token,
            json!({"command": format!("echo started; sleep {secs}"), "timeout": 1}),
        )
        .await;
    assert_eq!((status, v["error"].as_str()), (504, Some("command_timeout")), "{v}");
    assert_eq!(v["timedOut"], true);
    assert_eq!(v["stdout"], "started\n", "partial output is kept");
    assert_ne!(v["exitCode"], 0);
    assert!(started.elapsed() < Duration::from_secs(8), "{:?}", started.elapsed());
    // Gone on the server, not just abandoned.
    let deadline = Instant::now() + Duration::from_secs(5);
    while process_running(&format!("sleep {secs}")) {
        assert!(Instant::now() < deadline, "the remote process survived its timeout");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (status, v) = c
        .ssh_exec(
            "box",
            &token,
            json!({"command": "head -c 5000 /dev/zero | tr '\\0' a; echo done >&2"}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["stdout"].as_str().unwrap().len(), 1000);
    assert_eq!(v["stdoutTruncated"], true);
    assert_eq!(v["truncated"], true);
    assert_eq!(v["stdoutBytes"], 5000);
    assert_eq!(v["stderr"], "done\n");
    assert_eq!(v["stderrTruncated"], false);
}

/// Reads server-sent events until `exit` or `error`: (event, data) pairs, with when each came.
async fn read_events<S>(res: &mut awc::ClientResponse<S>) -> Vec<(String, Value, Instant)>
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, awc::error::PayloadError>> + Unpin,
{
    let mut buf = String::new();
    let mut events = Vec::new();
    while let Some(chunk) = res.next().await {
        buf.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut name = String::new();
            let mut data = Value::Null;
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n.to_string();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(d).unwrap();
                }
            }
            let last = name == "exit" || name == "error";
            events.push((name, data, Instant::now()));
            if last {
                return events;
            }
        }
    }
    events
}

#[actix_web::test]
async fn output_streams_as_events_in_order_and_a_closed_client_cancels_the_command() {
    let sshd = Sshd::start();
    let (c, _, token, _) = setup(&sshd, &[]).await;
    let url = format!("{}/ssh/box/exec", c.gateway());
    let started = Instant::now();
    let mut res = c
        .http
        .agent("POST", &url, &token)
        .insert_header(("accept", "text/event-stream"))
        .timeout(Duration::from_secs(30))
        .send_json(&json!({"command": "for i in 1 2 3; do echo $i; sleep 0.4; done; echo fin >&2; exit 4"}))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers().get("content-type").unwrap(), "text/event-stream");
    let events = read_events(&mut res).await;
    let names: Vec<&str> = events.iter().map(|(n, _, _)| n.as_str()).collect();
    let stdout: String = events
        .iter()
        .filter(|(n, _, _)| n == "stdout")
        .map(|(_, d, _)| d["data"].as_str().unwrap())
        .collect();
    assert_eq!(stdout, "1\n2\n3\n", "{names:?}");
    assert_eq!(names.last(), Some(&"exit"), "{names:?}");
    assert_eq!(names[names.len() - 2], "stderr", "{names:?}");
    let (_, exit, ended) = events.last().unwrap();
    assert_eq!(exit["exitCode"], 4);
    // The first line arrived while the command was still running.
    let (_, _, first_at) = &events[0];
    assert!(
        ended.duration_since(*first_at) >= Duration::from_millis(600),
        "events were not streamed: first {:?}, end {:?}",
        first_at.duration_since(started),
        ended.duration_since(started)
    );

    // Closing the connection cancels the remote command.
    // (Over a raw socket, so that dropping it really closes the connection.)
    let secs = unique_seconds();
    let body = json!({"command": format!("echo go; sleep {secs}"), "timeout": 50});
    let mut sock = c.ssh_exec_raw_stream("box", &token, &body).await;
    use tokio::io::AsyncReadExt as _;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("event: stdout") {
        let n = tokio::time::timeout(Duration::from_secs(10), sock.read(&mut buf))
            .await
            .expect("no output event")
            .unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&seen).starts_with("HTTP/1.1 200"));
    assert!(process_running(&format!("sleep {secs}")));
    drop(sock);
    let deadline = Instant::now() + Duration::from_secs(15);
    while process_running(&format!("sleep {secs}")) {
        assert!(
            Instant::now() < deadline,
            "the remote command survived the client's disconnect"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn connections_are_reused_replaced_when_broken_and_multiplied_past_max_sessions() {
    let sshd = Sshd::start_with(2);
    let (c, _, token, _) = setup(&sshd, &[]).await;
    for i in 0..10 {
        let (status, v) = c.ssh_exec("box", &token, json!({"command": format!("echo {i}")})).await;
        assert_eq!(
            (status, v["stdout"].as_str()),
            (200, Some(format!("{i}\n").as_str())),
            "{v}"
        );
    }
    assert_eq!(sshd.connections(), 1, "sequential commands share one connection");

    // A killed connection is replaced for the next command, transparently.
    sshd.kill_connections();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, v) = c.ssh_exec("box", &token, json!({"command": "echo again"})).await;
    assert_eq!((status, v["stdout"].as_str()), (200, Some("again\n")), "{v}");
    assert_eq!(sshd.connections(), 2);

    // Six at once on a server allowing two sessions per connection: more connections open.
    let runs = (0..6).map(|i| {
        let (c, token) = (&c, &token);
        async move {
            c.ssh_exec("box", token, json!({"command": format!("sleep 1; echo {i}")}))
                .await
        }
    });
    let started = Instant::now();
    let results = futures_util::future::join_all(runs).await;
    for (i, (status, v)) in results.iter().enumerate() {
        assert_eq!(
            (*status, v["stdout"].as_str()),
            (200, Some(format!("{i}\n").as_str())),
            "{v}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(6), "{:?}", started.elapsed());
    assert!(sshd.connections() >= 4, "{} connections", sshd.connections());

    // The pool is visible in the executor's metrics.
    let executor = c.procs[0].url("executor");
    let mut res = c
        .http
        .request("GET", &format!("{executor}/metrics"))
        .send()
        .await
        .unwrap();
    let text = String::from_utf8(shellgate_tests::client::read_body(&mut res).await).unwrap();
    let connects = format!(
        r#"shellgate_executor_ssh_connects_total{{outcome="ok"}} {}"#,
        sshd.connections()
    );
    assert!(text.contains(&connects), "{connects} not in:\n{text}");
    assert!(text.contains("shellgate_executor_ssh_channels 0"), "{text}");
    assert!(text.contains("shellgate_executor_ssh_connections "), "{text}");
}

#[actix_web::test]
async fn bad_input_and_unknown_targets_get_clear_errors() {
    let sshd = Sshd::start();
    let (c, _, token, _) = setup(&sshd, &[]).await;
    let url = format!("{}/ssh/box/exec", c.gateway());
    let cases = [
        (json!({}), 400, "missing_command"),
        (json!({"command": ""}), 400, "missing_command"),
        (json!({"command": "ls", "timeout": 0}), 400, "bad_timeout"),
        (json!({"command": "ls", "timeout": 61}), 400, "bad_timeout"),
        (json!({"command": "ls", "timeout": "5"}), 400, "bad_body"),
        (json!({"command": "ls", "cwd": "/"}), 400, "bad_body"),
        (json!({"command": "ls", "env": {"LD_PRELOAD": "/x.so"}}), 400, "bad_env"),
        (json!({"command": "rm -rf /"}), 403, "blocked"),
    ];
    for (body, status, code) in cases {
        let (s, v) = c.ssh_exec("box", &token, body.clone()).await;
        assert_eq!((s, v["error"].as_str()), (status, Some(code)), "{body}: {v}");
    }
    let mut res = c.http.agent("POST", &url, &token).send_body("{not json").await.unwrap();
    assert_eq!(res.status(), 400);
    let v: Value = serde_json::from_slice(&shellgate_tests::client::read_body(&mut res).await).unwrap();
    assert_eq!(v["error"], "bad_body");

    // Missing, not permitted and non-SSH targets look the same.
    let up = shellgate_tests::upstream::Upstream::start();
    let http_id = c.create_http_target("api", &up.url, None).await;
    let other = c
        .create_ssh_target(&sshd, "other", json!({"type": "password", "password": "x"}))
        .await;
    let (_, token2) = c.create_token(&[&http_id]).await;
    for (slug, tok) in [("nope", &token), ("other", &token), ("api", &token2)] {
        let (s, v) = c.ssh_exec(slug, tok, json!({"command": "ls"})).await;
        assert_eq!((s, v["error"].as_str()), (404, Some("target_not_found")), "{slug}: {v}");
    }
    let _ = other;
    let (s, _) = c.ssh_exec("box", "sg_nope", json!({"command": "ls"})).await;
    assert_eq!(s, 401);

    // Nothing listening: a connect failure, said so.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut body = sshd.target_body("dead");
    body["port"] = json!(port);
    body["credential"] = json!({"type": "password", "password": "x"});
    let (_, dead) = c.admin("POST", "/api/targets", Some(body)).await;
    let dead_id = dead["id"].as_str().unwrap().to_string();
    let (_, token3) = c.create_token(&[&dead_id]).await;
    let (s, v) = c.ssh_exec("dead", &token3, json!({"command": "ls"})).await;
    assert_eq!((s, v["error"].as_str()), (502, Some("ssh_connect_failed")), "{v}");
    // Blocked and refused commands are audited too.
    let events = c.wait_for_audit("outcome=blocked", 1, Duration::from_secs(10)).await;
    assert_eq!(events[0]["detail"]["command"], "rm -rf /");
}

#[actix_web::test]
async fn one_command_is_one_trace_from_gateway_to_the_ssh_call_without_the_key() {
    use shellgate_tests::otlp::OtlpReceiver;
    let otlp = OtlpReceiver::start();
    let sshd = Sshd::start();
    let mut c = Cluster::prepare(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.url.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ])
    .await;
    c.start("approver", &[]);
    c.start("gateway", &[]);
    c.start("executor", &[]);
    let (private, public) = user_key(sshd.dir.path(), "ed25519", None);
    sshd.authorize(&public);
    let id = c
        .create_ssh_target(&sshd, "box", json!({"type": "ssh_key", "privateKey": private}))
        .await;
    c.pin_host_key(&id, &sshd.host_key()).await;
    let (_, token) = c.create_token(&[&id]).await;
    let (status, v) = c.ssh_exec("box", &token, json!({"command": "echo traced"})).await;
    assert_eq!(status, 200, "{v}");

    let deadline = Instant::now() + Duration::from_secs(15);
    let (gateway, exec, call) = loop {
        let spans = otlp.spans();
        let find = |service: &str, name: &str| {
            spans
                .iter()
                .find(|s| s.service == service && s.name.contains(name))
                .cloned()
        };
        if let (Some(g), Some(e), Some(s)) = (
            find("shellgate-gateway", "/ssh/"),
            find("shellgate-executor", "exec_ssh"),
            find("shellgate-executor", "ssh_command"),
        ) {
            break (g, e, s);
        }
        assert!(Instant::now() < deadline, "spans missing: {spans:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(gateway.trace_id, exec.trace_id, "one trace across NATS");
    assert_eq!(call.trace_id, exec.trace_id);
    assert_eq!(call.parent_span_id, exec.span_id);
    assert!(call.attributes.iter().any(|a| a == "ssh.exit_code=0"), "{call:?}");
    let key_line = private.lines().nth(2).unwrap().to_string();
    for span in otlp.spans() {
        for a in &span.attributes {
            assert!(!a.contains(&key_line), "key material reached a trace: {a}");
            assert!(!a.contains(&token), "the agent's token reached a trace: {a}");
        }
    }
}

/// Inputs that once crashed or exhausted a gateway (parser stack overflow, unbounded memory) are
/// answered like any other command, and the gateway and executor go on serving.
#[actix_web::test]
async fn parser_bombs_are_held_for_a_human_and_the_gateway_survives() {
    let sshd = Sshd::start();
    let (c, _id, token, _) = setup(&sshd, &[]).await;
    let nest = |open: &str, close: &str, n: usize| format!("{}echo x{}", open.repeat(n), close.repeat(n));
    let bombs = [
        (nest("if true; then ", "; fi", 5000), "too_complex"),
        (nest("while true; do ", "; done", 5000), "too_complex"),
        (format!("[[ {}a ]]", "! ".repeat(20_000)), "too_complex"),
        ("cat <<$( <<$(".to_string(), "parse_error"),
        (format!("{}echo x", "sudo ".repeat(10_000)), "too_complex"),
    ];
    for (command, rule) in bombs {
        let started = Instant::now();
        let (status, v) = c.ssh_exec("box", &token, json!({ "command": command })).await;
        assert_eq!((status, v["status"].as_str()), (202, Some("approval_required")), "{v}");
        assert!(v["reason"].is_string(), "{v}");
        let approval = c.held_approval(&v).await;
        assert_eq!(approval["rule"], rule, "{approval}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
    }
    let (status, v) = c.ssh_exec("box", &token, json!({"command": "echo still here"})).await;
    assert_eq!((status, v["stdout"].as_str()), (200, Some("still here\n")), "{v}");
}
