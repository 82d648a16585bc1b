//! An approval is bound to the target it was asked for, and to that target's address when the
//! human decided: the same request sent to another target the token may use, or to its own
//! target after an admin moved it, is refused (403 `approval_mismatch`) and never runs — over
//! HTTP and SSH. The headers that decided the guard's verdict are bound too.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};
use shellgate_tests::Cluster;
use shellgate_tests::client::read_body;
use shellgate_tests::sshd::Sshd;
use shellgate_tests::upstream::Upstream;

/// An agent request to `/gateway/<slug><path>`: status and JSON body (Null when not JSON).
async fn send(
    c: &Cluster,
    token: &str,
    method: &str,
    slug: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let mut req = c
        .http
        .agent(method, &format!("{}/gateway/{slug}{path}", c.gateway()), token);
    for (k, v) in headers {
        req = req.insert_header((*k, *v));
    }
    let mut res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let bytes = read_body(&mut res).await;
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn hits(up: &Upstream) -> usize {
    up.controls.requests.load(Ordering::SeqCst)
}

async fn approve(c: &Cluster, held: &Value) -> String {
    let id = held["approval_id"].as_str().unwrap().to_string();
    let (status, v) = c.admin("POST", &format!("/api/approvals/{id}/approve"), None).await;
    assert_eq!(status, 200, "{v}");
    id
}

/// Repeats `attempt` until it gives `want` or 5 s have passed (target changes reach gateway and
/// executor caches over NATS); returns the last answer.
async fn eventually<F, Fut>(want: (u16, &str), mut attempt: F) -> (u16, Value)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (u16, Value)>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (status, v) = attempt().await;
        if (status, v["error"].as_str().unwrap_or_default()) == want || tokio::time::Instant::now() > deadline {
            return (status, v);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn an_http_approval_runs_only_on_its_own_target_at_its_own_address() {
    let (a, b, moved_to) = (Upstream::start(), Upstream::start(), Upstream::start());
    let c = Cluster::up().await;
    let a_id = c.create_http_target("a", &a.url, None).await;
    let b_id = c.create_http_target("b", &b.url, None).await;
    let (_, token) = c.create_token(&[&a_id, &b_id]).await;

    let (status, held) = send(&c, &token, "DELETE", "a", "/users/42", &[]).await;
    assert_eq!(status, 202, "{held}");
    // The human sees which target, and where it points.
    assert_eq!(held["request"]["target"]["id"], a_id.as_str(), "{held}");
    assert_eq!(held["request"]["target"]["kind"], "http");
    assert_eq!(held["request"]["target"]["address"], a.url.as_str());
    let id = approve(&c, &held).await;

    // The same request on another target the token may use: refused, never sent.
    let (status, v) = send(&c, &token, "DELETE", "b", "/users/42", &[("x-shellgate-approval", &id)]).await;
    assert_eq!((status, v["error"].as_str()), (403, Some("approval_mismatch")), "{v}");
    assert_eq!(hits(&b), 0);

    // A deciding header that differs: refused too.
    let (status, v) = send(
        &c,
        &token,
        "DELETE",
        "a",
        "/users/42",
        &[("x-shellgate-approval", &id), ("x-http-method-override", "PURGE")],
    )
    .await;
    assert_eq!((status, v["error"].as_str()), (403, Some("approval_mismatch")), "{v}");
    assert_eq!(hits(&a), 0);

    // Its own target, unchanged: runs, once.
    let (status, v) = send(&c, &token, "DELETE", "a", "/users/42", &[("x-shellgate-approval", &id)]).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(hits(&a), 1);

    // Approved, then an admin points the target elsewhere: the approval no longer runs.
    let (_, held) = send(&c, &token, "DELETE", "a", "/users/43", &[]).await;
    let id = approve(&c, &held).await;
    let (status, v) = c
        .admin(
            "PATCH",
            &format!("/api/targets/{a_id}"),
            Some(json!({"baseUrl": moved_to.url})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let with_approval = [("x-shellgate-approval", id.as_str())];
    let (status, v) = eventually((403, "approval_mismatch"), || {
        send(&c, &token, "DELETE", "a", "/users/43", &with_approval)
    })
    .await;
    assert_eq!((status, v["error"].as_str()), (403, Some("approval_mismatch")), "{v}");
    assert_eq!((hits(&a), hits(&moved_to)), (1, 0));
    // Still approved, not used up: the refusal consumed nothing.
    let (_, approval) = c.admin("GET", &format!("/api/approvals/{id}"), None).await;
    assert_eq!(approval["status"], "approved", "{approval}");
}

#[actix_web::test]
async fn an_ssh_approval_runs_only_on_its_own_server_at_its_own_address() {
    let sshd = Sshd::start();
    let c = Cluster::up().await;
    let mut ids = Vec::new();
    for slug in ["one", "two"] {
        ids.push(c.create_pinned_ssh_target(&sshd, slug).await);
    }
    let (_, token) = c.create_token(&[&ids[0], &ids[1]]).await;
    // `rm -rf` needs a human; the marker (written as the SSH user) shows whether the command ran.
    let marker = std::path::PathBuf::from(format!("/tmp/sg-binding-{}", uuid::Uuid::new_v4()));
    let cmd = json!({"command": format!("touch {0} ; rm -rf {0}.d", marker.display())});

    let (status, held) = c.ssh_exec("one", &token, cmd.clone()).await;
    assert_eq!(status, 202, "{held}");
    assert_eq!(held["request"]["target"]["id"], ids[0].as_str(), "{held}");
    assert_eq!(held["request"]["target"]["kind"], "ssh");
    let address = held["request"]["target"]["address"].as_str().unwrap().to_string();
    assert!(address.starts_with("sgtest@127.0.0.1:"), "{address}");
    let id = approve(&c, &held).await;

    let (status, v) = c.ssh_exec_with("two", &token, cmd.clone(), Some(&id)).await;
    assert_eq!((status, v["error"].as_str()), (403, Some("approval_mismatch")), "{v}");
    assert!(!marker.exists(), "the command ran on the other server");

    // Same server, another address for it: the human did not approve that.
    let (status, v) = c
        .admin(
            "PATCH",
            &format!("/api/targets/{}", ids[0]),
            Some(json!({"host": "localhost"})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = eventually((403, "approval_mismatch"), || {
        c.ssh_exec_with("one", &token, cmd.clone(), Some(&id))
    })
    .await;
    assert_eq!((status, v["error"].as_str()), (403, Some("approval_mismatch")), "{v}");
    assert!(!marker.exists(), "the command ran after its target moved");

    // Approved at the new address: runs.
    let (status, held) = c.ssh_exec("one", &token, cmd.clone()).await;
    assert_eq!(status, 202, "{held}");
    assert!(
        held["request"]["target"]["address"]
            .as_str()
            .unwrap()
            .starts_with("sgtest@localhost:")
    );
    let id = approve(&c, &held).await;
    let (status, v) = c.ssh_exec_with("one", &token, cmd, Some(&id)).await;
    assert_eq!((status, v["exitCode"].as_u64()), (200, Some(0)), "{v}");
    assert!(marker.exists());
    let _ = std::fs::remove_file(&marker);
}
