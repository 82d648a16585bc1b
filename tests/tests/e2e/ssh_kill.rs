//! Every process of an SSH command dies when it times out, when the agent cancels it, and when
//! the executor running it dies: children that ignore TERM, background children and deep process
//! trees included. `ps` on the server (this machine) shows none left.

use std::time::{Duration, Instant};

use serde_json::json;
use shellgate_tests::Cluster;
use shellgate_tests::sshd::{Sshd, process_running};

/// A distinct `sleep` duration per use, so `pgrep -f "sleep N"` finds only this test's processes.
fn unique_seconds() -> u64 {
    200_000 + u64::from(uuid::Uuid::new_v4().as_u128() as u16)
}

async fn ssh_target(c: &Cluster, sshd: &Sshd) -> String {
    let id = c.create_pinned_ssh_target(sshd, "box").await;
    c.create_token(&[&id]).await.1
}

/// The `sleep <n>` a command starts: what `pgrep -f` looks for.
fn sleeper(command: &str) -> String {
    let n = command.split("sleep ").nth(1).unwrap_or_default();
    let digits: String = n.chars().take_while(char::is_ascii_digit).collect();
    format!("sleep {digits}")
}

/// Commands that each leave `sleep <n>` processes behind unless the whole tree is killed.
fn stubborn_commands(n: u64) -> Vec<(&'static str, String)> {
    vec![
        ("a child ignoring TERM", format!("sh -c \"trap '' TERM; sleep {n}\"")),
        ("a background child", format!("sleep {n} & sleep {n} & wait")),
        (
            "a deep tree ignoring TERM",
            format!("sh -c 'sh -c \"sh -c \\\"trap \\\\\\\"\\\\\\\" TERM; sleep {n}\\\"\"'"),
        ),
    ]
}

async fn gone_within(needle: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while process_running(needle) {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    true
}

#[actix_web::test]
async fn a_timed_out_command_leaves_no_process_behind() {
    let sshd = Sshd::start();
    let c = Cluster::up().await;
    let token = ssh_target(&c, &sshd).await;
    // All at once: each is on its own channel, and each waits out its own timeout.
    let runs = stubborn_commands(unique_seconds())
        .into_iter()
        .enumerate()
        .map(|(i, (what, command))| {
            let (c, token) = (&c, &token);
            async move {
                // A distinct needle per command.
                let command = command.replace("sleep ", &format!("sleep {i}"));
                let needle = sleeper(&command);
                let started = Instant::now();
                let (status, v) = c
                    .ssh_exec("box", token, json!({"command": command, "timeout": 2}))
                    .await;
                assert_eq!(
                    (status, v["error"].as_str()),
                    (504, Some("command_timeout")),
                    "{what}: {v}"
                );
                assert_ne!(v["exitCode"], 0, "{what}: {v}");
                assert!(
                    started.elapsed() < Duration::from_secs(12),
                    "{what}: {:?}",
                    started.elapsed()
                );
                assert!(
                    gone_within(&needle, Duration::from_secs(8)).await,
                    "{what}: a process survived the timeout"
                );
            }
        });
    futures_util::future::join_all(runs).await;
}

#[actix_web::test]
async fn a_cancelled_command_leaves_no_process_behind() {
    let sshd = Sshd::start();
    let c = Cluster::up().await;
    let token = ssh_target(&c, &sshd).await;
    for (what, command) in stubborn_commands(unique_seconds()) {
        let needle = sleeper(&command);
        // A streaming agent that hangs up: the gateway sees it go and the executor cancels.
        let sock = c
            .ssh_exec_raw_stream("box", &token, &json!({"command": command, "timeout": 50}))
            .await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !process_running(&needle) {
            assert!(Instant::now() < deadline, "{what}: the command did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        drop(sock);
        assert!(
            gone_within(&needle, Duration::from_secs(10)).await,
            "{what}: a process survived the cancel"
        );
    }
}

#[actix_web::test]
async fn what_a_finished_command_left_running_is_ended_with_it() {
    let sshd = Sshd::start();
    let c = Cluster::up().await;
    let token = ssh_target(&c, &sshd).await;
    let n = unique_seconds();
    // Background children (one ignoring TERM, one with its output elsewhere) outlive the shell
    // that started them; they end with the command: TERM at once, KILL 2 s later.
    let command = format!("(trap '' TERM; sleep {n}) & sleep {n} >/dev/null 2>&1 & echo started; exit 3");
    let started = Instant::now();
    let (status, v) = c
        .ssh_exec("box", &token, json!({"command": command, "timeout": 30}))
        .await;
    assert_eq!((status, v["exitCode"].as_u64()), (200, Some(3)), "{v}");
    assert_eq!(v["stdout"], "started\n");
    assert!(started.elapsed() < Duration::from_secs(8), "{:?}", started.elapsed());
    assert!(
        gone_within(&format!("sleep {n}"), Duration::from_secs(5)).await,
        "a background child outlived its command"
    );
}

#[actix_web::test]
async fn a_command_whose_executor_dies_still_dies_at_its_deadline() {
    let sshd = Sshd::start();
    let mut c = Cluster::prepare(&[]).await;
    c.start("approver", &[]);
    c.start("gateway", &[]);
    let executor = c.start("executor", &[]);
    let token = ssh_target(&c, &sshd).await;
    let n = unique_seconds();
    let command = format!("sh -c \"trap '' TERM; sleep {n}\" & sleep {n}");
    let url = format!("{}/ssh/box/exec", c.gateway());
    let request = c
        .http
        .agent("POST", &url, &token)
        .timeout(Duration::from_secs(30))
        .send_json(&json!({"command": command, "timeout": 4}));
    let killer = async {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !process_running(&format!("sleep {n}")) {
            assert!(Instant::now() < deadline, "the command did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        c.procs[executor].kill();
        Instant::now()
    };
    let (_, killed_at) = futures_util::join!(request, killer);
    // Nobody is left to signal it: the server-side deadline (4 s + 1) and KILL (2 s later) do.
    assert!(
        gone_within(&format!("sleep {n}"), Duration::from_secs(12)).await,
        "the command outlived its executor and its deadline"
    );
    assert!(killed_at.elapsed() < Duration::from_secs(12));
}
