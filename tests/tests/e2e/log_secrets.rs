//! Agent commands and bodies never reach the logs, at any level: a canary the agent typed into an
//! SSH command, its stdin and env (and the output that echoes it), and an HTTP body sent and
//! echoed back, with every role logging at `trace`.

use serde_json::json;
use shellgate_tests::Cluster;
use shellgate_tests::sshd::Sshd;
use shellgate_tests::upstream::Upstream;

#[actix_web::test]
async fn commands_and_bodies_stay_out_of_logs_even_at_trace_level() {
    let sshd = Sshd::start();
    let up = Upstream::start();
    let c = Cluster::up_with(&[("RUST_LOG", "trace")]).await;
    let ssh = c.create_pinned_ssh_target(&sshd, "box").await;
    let api = c.create_http_target("api", &up.url, None).await;
    let (_, token) = c.create_token(&[&ssh, &api]).await;
    let canary = |what: &str| format!("CANARY{what}{}", uuid::Uuid::new_v4().simple());
    let (in_command, in_stdin, in_env, in_body, in_held) = (
        canary("CMD"),
        canary("STDIN"),
        canary("ENV"),
        canary("BODY"),
        canary("HELD"),
    );

    let (status, v) = c
        .ssh_exec(
            "box",
            &token,
            json!({
                "command": format!("echo $((1+2)) \"${{X:-{in_command}}}\" >/dev/null; cat"),
                "stdin": in_stdin,
                "env": {"SG_TEST": in_env},
            }),
        )
        .await;
    assert_eq!((status, v["stdout"].as_str()), (200, Some(in_stdin.as_str())), "{v}");
    // A held command is parsed and stored, but not logged either.
    let (status, v) = c
        .ssh_exec("box", &token, json!({"command": format!("rm -rf /tmp/{in_held}")}))
        .await;
    assert_eq!(status, 202, "{v}");
    let res = c
        .http
        .agent("POST", &format!("{}/gateway/api/mirror", c.gateway()), &token)
        .insert_header(("content-type", "application/json"))
        .send_body(json!({"note": in_body}).to_string())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    c.wait_for_audit("", 3, std::time::Duration::from_secs(10)).await;

    let logs = c.logs();
    assert!(logs.len() > 10_000, "trace logging is on ({} bytes)", logs.len());
    for secret in [&in_command, &in_stdin, &in_env, &in_body, &in_held] {
        let line = logs.lines().find(|l| l.contains(secret.as_str()));
        assert!(line.is_none(), "{secret} logged: {}", line.unwrap_or_default());
    }
}
