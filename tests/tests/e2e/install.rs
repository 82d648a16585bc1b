//! One-line agent setup: the scripts `GET /install/<agent>.sh` serves, checked by shellcheck and
//! run by `sh` (as `curl … | sh` would) against temporary HOMEs, with stub `claude`, `codex` and
//! `openclaw` commands that keep their entries and record their arguments the way the real CLIs
//! behave (Hermes has no non-interactive command: its files are written and checked).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};
use shellgate_tests::Cluster;
use shellgate_tests::client::read_body;

const AGENTS: [&str; 4] = ["claude-code", "codex", "openclaw", "hermes"];

/// `claude mcp remove|add-json`: the entry kept in `$STUB_DIR/claude.entry`; like the real CLI,
/// removing a missing entry and adding an existing one fail.
const CLAUDE_STUB: &str = r#"#!/bin/sh
printf '%s\n' "$*" >>"$STUB_DIR/claude.calls"
case "$1 $2" in
"mcp remove") [ -f "$STUB_DIR/claude.entry" ] || { echo 'No MCP server named "shellgate"' >&2; exit 1; }
	rm -f "$STUB_DIR/claude.entry" ;;
"mcp add-json") [ ! -f "$STUB_DIR/claude.entry" ] || { echo 'already exists' >&2; exit 1; }
	cat >"$STUB_DIR/claude.entry" ;;
*) exit 3 ;;
esac
"#;

/// `codex mcp remove|add`: the arguments of the entry kept in `$STUB_DIR/codex.entry`.
const CODEX_STUB: &str = r#"#!/bin/sh
printf '%s\n' "$*" >>"$STUB_DIR/codex.calls"
case "$1 $2" in
"mcp remove") rm -f "$STUB_DIR/codex.entry" ;;
"mcp add") shift 2; printf '%s\n' "$*" >"$STUB_DIR/codex.entry" ;;
*) exit 3 ;;
esac
"#;

/// `openclaw mcp set|unset` (OpenClaw with the `mcp` commands): entries in `$STUB_DIR/openclaw.<name>`.
const OPENCLAW_STUB: &str = r#"#!/bin/sh
printf '%s\n' "$*" >>"$STUB_DIR/openclaw.calls"
case "$1 $2" in
"mcp set") [ "$3" != --help ] || exit 0
	printf '%s\n' "$4" >"$STUB_DIR/openclaw.$3" ;;
"mcp unset") [ -f "$STUB_DIR/openclaw.$3" ] || { echo "no server $3" >&2; exit 1; }
	rm -f "$STUB_DIR/openclaw.$3" ;;
*) exit 3 ;;
esac
"#;

/// An OpenClaw without the `mcp` commands.
const OLD_OPENCLAW_STUB: &str = "#!/bin/sh\nprintf '%s\\n' \"$*\" >>\"$STUB_DIR/openclaw.calls\"\nexit 1\n";

/// A temporary HOME, and a directory of stub agent CLIs (first on PATH) with their records.
struct Machine {
    _dir: tempfile::TempDir,
    home: PathBuf,
    stubs: PathBuf,
    path: String,
}

impl Machine {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let stubs = dir.path().join("stubs");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&stubs).unwrap();
        for (name, text) in [
            ("claude", CLAUDE_STUB),
            ("codex", CODEX_STUB),
            ("openclaw", OPENCLAW_STUB),
        ] {
            let path = stubs.join(name);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let path = format!("{}:/usr/bin:/bin", stubs.display());
        Self {
            _dir: dir,
            home,
            stubs,
            path,
        }
    }

    /// A machine whose PATH lacks `missing` (every other program of /usr/bin is there).
    fn without(missing: &[&str]) -> Self {
        let mut m = Self::new();
        let bin = m.stubs.parent().unwrap().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        for entry in std::fs::read_dir("/usr/bin").unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name();
            if !missing.iter().any(|m| name == *m) {
                std::os::unix::fs::symlink(entry.path(), bin.join(&name)).unwrap();
            }
        }
        m.path = format!("{}:{}", m.stubs.display(), bin.display());
        m
    }

    /// Replaces the `openclaw` stub with an older OpenClaw (no `mcp` commands) installed as npm
    /// installs it — a link to its package folder — with the json5 parser it ships, or without.
    fn old_openclaw(self, json5: bool) -> Self {
        let package = self.stubs.parent().unwrap().join("lib/node_modules/openclaw");
        std::fs::create_dir_all(package.join("node_modules")).unwrap();
        let main = package.join("openclaw.mjs");
        std::fs::write(&main, OLD_OPENCLAW_STUB).unwrap();
        std::fs::set_permissions(&main, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::remove_file(self.stubs.join("openclaw")).unwrap();
        std::os::unix::fs::symlink(&main, self.stubs.join("openclaw")).unwrap();
        if json5 {
            let parser = shellgate_tests::sdk::cache().join("node/node_modules/json5");
            assert!(parser.exists(), "{} is missing: run scripts/test", parser.display());
            std::os::unix::fs::symlink(parser, package.join("node_modules/json5")).unwrap();
        }
        self
    }

    /// Pipes `script` into `sh -s -- args` with no terminal, as `curl … | sh -s -- args` does.
    fn run(&self, script: &str, token: Option<&str>, args: &[&str]) -> Output {
        let mut cmd = Command::new("setsid");
        cmd.arg("sh")
            .arg("-s")
            .arg("--")
            .args(args)
            .env_clear()
            .env("HOME", &self.home)
            .env("PATH", &self.path)
            .env("STUB_DIR", &self.stubs)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(t) = token {
            cmd.env("SHELLGATE_TOKEN", t);
        }
        let mut child = cmd.spawn().unwrap();
        {
            use std::io::Write as _;
            child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
        }
        child.wait_with_output().unwrap()
    }

    fn stub_file(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.stubs.join(name)).ok()
    }

    fn read(&self, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.home.join(rel)).ok()
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.home.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn mode(&self, rel: &str) -> u32 {
        std::fs::metadata(self.home.join(rel)).unwrap().permissions().mode() & 0o777
    }

    /// Every file and directory under HOME with its mode and content.
    fn snapshot(&self) -> BTreeMap<PathBuf, (u32, Vec<u8>)> {
        fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, (u32, Vec<u8>)>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                let meta = std::fs::metadata(&path).unwrap();
                let rel = path.strip_prefix(root).unwrap().to_path_buf();
                let content = if meta.is_dir() {
                    Vec::new()
                } else {
                    std::fs::read(&path).unwrap()
                };
                out.insert(rel, (meta.permissions().mode() & 0o777, content));
                if meta.is_dir() {
                    walk(root, &path, out);
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(&self.home, &self.home, &mut out);
        out
    }
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn fetch(c: &Cluster, gw: &str, path: &str, host: Option<&str>) -> (u16, String, String) {
    let mut req = c.http.request("GET", &format!("{gw}{path}"));
    if let Some(h) = host {
        req = req.insert_header(("host", h));
    }
    let mut res = req.send().await.unwrap();
    let content_type = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = String::from_utf8(read_body(&mut res).await).unwrap();
    (res.status().as_u16(), content_type, body)
}

/// A cluster with one HTTP target and a token for it; the scripts from its gateway.
async fn setup() -> (Cluster, String, BTreeMap<&'static str, String>) {
    let c = Cluster::up().await;
    let api = c.create_http_target("api", "http://127.0.0.1:9/", None).await;
    let (_, token) = c.create_token(&[&api]).await;
    let mut scripts = BTreeMap::new();
    for agent in AGENTS {
        let (status, _, body) = fetch(&c, &c.gateway(), &format!("/install/{agent}.sh"), None).await;
        assert_eq!(status, 200, "{body}");
        scripts.insert(agent, body);
    }
    (c, token, scripts)
}

#[actix_web::test]
async fn scripts_are_static_shellcheck_clean_and_embed_only_a_safe_url() {
    let mut c = Cluster::up().await;
    let gw = c.gateway();
    for agent in AGENTS {
        let (status, content_type, body) = fetch(&c, &gw, &format!("/install/{agent}.sh"), None).await;
        assert_eq!(
            (status, content_type.as_str()),
            (200, "text/x-shellscript; charset=utf-8")
        );
        assert!(body.starts_with("#!/bin/sh\n"), "{body}");
        assert!(body.contains(&format!("SHELLGATE_DEFAULT_URL='{gw}'")), "{body}");
        assert!(
            !body.contains("sg_0") && !body.contains("Bearer sg_"),
            "no token in a script"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(format!("{agent}.sh"));
        std::fs::write(&file, &body).unwrap();
        let out = Command::new("shellcheck")
            .arg(&file)
            .output()
            .expect("run shellcheck (scripts/test installs it)");
        assert!(out.status.success(), "shellcheck {agent}.sh:\n{}", text(&out));
    }
    for missing in ["/install/nope.sh", "/install/claude-code", "/install/..%2Fcodex.sh"] {
        let (status, _, body) = fetch(&c, &gw, missing, None).await;
        assert_eq!(status, 404, "{missing}: {body}");
    }
    // A Host header that is not a plain host name is never written into a script.
    let (status, _, body) = fetch(&c, &gw, "/install/codex.sh", Some("x';touch${IFS}pwned;'")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("SHELLGATE_PUBLIC_URL"), "{body}");

    // With SHELLGATE_PUBLIC_URL, that is the URL, whatever the request's Host.
    let i = c.start("gateway", &[("SHELLGATE_PUBLIC_URL", "https://sg.example.com/")]);
    let public = c.procs[i].urls["gateway"].clone();
    let (_, _, body) = fetch(&c, &public, "/install/claude-code.sh", Some("evil.example")).await;
    assert!(
        body.contains("SHELLGATE_DEFAULT_URL='https://sg.example.com'"),
        "{body}"
    );
    assert!(!body.contains("evil.example"));
}

#[actix_web::test]
async fn claude_code_is_connected_idempotently_and_uninstalled_exactly() {
    let (c, token, scripts) = setup().await;
    let script = &scripts["claude-code"];
    let gw = c.gateway();
    let m = Machine::new();
    // An existing configuration with another hook and setting, which must survive.
    let existing = json!({
        "model": "opus",
        "hooks": {
            "SessionStart": [{"hooks": [{"type": "command", "command": "echo hello"}]}],
            "Stop": [{"hooks": [{"type": "command", "command": "echo bye"}]}]
        }
    });
    m.write(".claude/settings.json", &existing.to_string());

    let out = m.run(script, Some(&token), &[]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{gw}/mcp")) && stdout.contains("- api (http)"),
        "{stdout}"
    );
    // Added with the token on standard input, never on a command line.
    let calls = m.stub_file("claude.calls").unwrap();
    assert_eq!(
        calls,
        "mcp remove shellgate --scope user\nmcp add-json --scope user shellgate -\n"
    );
    let entry: Value = serde_json::from_str(&m.stub_file("claude.entry").unwrap()).unwrap();
    assert_eq!(
        entry,
        json!({"type": "http", "url": format!("{gw}/mcp"), "headers": {"Authorization": format!("Bearer {token}")}})
    );
    // The session-start hook, next to the user's own, reads the token from a 0600 file.
    let settings: Value = serde_json::from_str(&m.read(".claude/settings.json").unwrap()).unwrap();
    assert_eq!(settings["model"], "opus");
    assert_eq!(settings["hooks"]["Stop"], existing["hooks"]["Stop"]);
    let starts = settings["hooks"]["SessionStart"].as_array().unwrap();
    assert_eq!(starts.len(), 2, "{settings}");
    assert_eq!(starts[0], existing["hooks"]["SessionStart"][0]);
    let hook = starts[1]["hooks"][0]["command"].as_str().unwrap();
    assert!(!hook.contains(&token), "{hook}");
    assert_eq!(m.mode(".claude/shellgate.curlrc"), 0o600);
    assert!(m.read(".claude/shellgate.curlrc").unwrap().contains(&token));
    // Run as Claude Code runs it, the hook prints Shellgate's policy for the session.
    let printed = Command::new("sh").arg("-c").arg(hook).output().unwrap();
    let printed = String::from_utf8_lossy(&printed.stdout);
    assert!(
        printed.contains("Shellgate adds each target's credentials") && printed.contains("- api (api)"),
        "{printed}"
    );

    // A second run (also how a new token is installed) changes nothing.
    let before = m.snapshot();
    let out = m.run(script, Some(&token), &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(m.snapshot(), before);
    assert_eq!(m.stub_file("claude.calls").unwrap().lines().count(), 4);

    // Uninstall removes exactly what was added.
    let out = m.run(script, None, &["--uninstall"]);
    assert!(out.status.success(), "{}", text(&out));
    let settings: Value = serde_json::from_str(&m.read(".claude/settings.json").unwrap()).unwrap();
    assert_eq!(settings, existing);
    assert_eq!(m.read(".claude/shellgate.curlrc"), None);
    assert_eq!(m.stub_file("claude.entry"), None);
    // …and a second uninstall finds nothing to do.
    assert!(m.run(script, None, &["--uninstall"]).status.success());

    // A fresh HOME, and one with an empty settings file (edited with Python where there is no
    // Node.js).
    for (empty, m) in [(None, Machine::new()), (Some(""), Machine::without(&["node"]))] {
        if let Some(e) = empty {
            m.write(".claude/settings.json", e);
        }
        let out = m.run(script, Some(&token), &[]);
        assert!(out.status.success(), "{}", text(&out));
        let settings: Value = serde_json::from_str(&m.read(".claude/settings.json").unwrap()).unwrap();
        assert_eq!(
            settings["hooks"]["SessionStart"].as_array().unwrap().len(),
            1,
            "{settings}"
        );
        let out = m.run(script, None, &["--uninstall"]);
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(m.read(".claude/settings.json").as_deref(), Some("{}\n"));
    }
}

#[actix_web::test]
async fn codex_gets_the_server_and_a_token_in_its_env_file() {
    let (c, token, scripts) = setup().await;
    let script = &scripts["codex"];
    let gw = c.gateway();
    let m = Machine::new();
    m.write(".codex/.env", "OPENAI_API_KEY=keep-me\n");

    for _ in 0..2 {
        let out = m.run(script, Some(&token), &[]);
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(
            m.stub_file("codex.entry").unwrap(),
            format!("shellgate --url {gw}/mcp --bearer-token-env-var SHELLGATE_MCP_TOKEN\n")
        );
        assert_eq!(
            m.read(".codex/.env").unwrap(),
            format!("OPENAI_API_KEY=keep-me\nSHELLGATE_MCP_TOKEN={token}\n")
        );
        assert_eq!(m.mode(".codex/.env"), 0o600);
    }
    assert!(
        !m.stub_file("codex.calls").unwrap().contains(&token),
        "the token was on a command line"
    );

    let out = m.run(script, None, &["--uninstall"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(m.read(".codex/.env").unwrap(), "OPENAI_API_KEY=keep-me\n");
    assert_eq!(m.stub_file("codex.entry"), None);

    // A fresh HOME: the env file holds the token alone, and goes with it.
    let m = Machine::new();
    assert!(m.run(script, Some(&token), &[]).status.success());
    assert_eq!(m.mode(".codex"), 0o700);
    assert!(m.run(script, None, &["--uninstall"]).status.success());
    assert_eq!(m.read(".codex/.env"), None);
}

#[actix_web::test]
async fn a_bad_token_or_config_changes_nothing() {
    let (c, token, scripts) = setup().await;
    let unknown = format!("sg_{}", "0".repeat(64));
    for agent in AGENTS {
        let script = &scripts[agent];
        let m = Machine::new();
        m.write(".claude/settings.json", r#"{"model": "opus"}"#);
        m.write(".codex/.env", "A=1\n");
        m.write(".openclaw/openclaw.json", "{}");
        m.write(".hermes/config.yaml", "model: x\n");
        let before = m.snapshot();
        for (token, expect) in [
            (Some(unknown.as_str()), "refused the token (invalid_token)"),
            (Some("sg_short"), "not a Shellgate token"),
            (Some(""), "no token"),
            (None, "no token"),
        ] {
            let out = m.run(script, token, &[]);
            assert!(!out.status.success(), "{agent} {token:?}: {}", text(&out));
            assert!(
                String::from_utf8_lossy(&out.stderr).contains(expect),
                "{agent}: {}",
                text(&out)
            );
            assert_eq!(m.snapshot(), before, "{agent} {token:?} changed files");
            for stub in ["claude", "codex", "openclaw"] {
                assert_eq!(m.stub_file(&format!("{stub}.calls")), None, "{agent} ran {stub}");
            }
        }
        let out = m.run(script, Some(&token), &["--frobnicate"]);
        assert!(!out.status.success() && m.snapshot() == before, "{}", text(&out));
        let out = m.run(script, None, &["--help"]);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("--uninstall"),
            "{}",
            text(&out)
        );
    }
    // A gateway that cannot be reached, and a settings file that is not JSON.
    let m = Machine::new();
    let moved = scripts["codex"].replace(&c.gateway(), "http://127.0.0.1:9");
    let out = m.run(&moved, Some(&token), &[]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot reach Shellgate"),
        "{}",
        text(&out)
    );
    m.write(".claude/settings.json", "{not json");
    let before = m.snapshot();
    let out = m.run(&scripts["claude-code"], Some(&token), &[]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not valid JSON"),
        "{}",
        text(&out)
    );
    assert_eq!(m.snapshot(), before);
    assert_eq!(m.stub_file("claude.entry"), None);
}

/// The OpenClaw entry the script writes: the token stays a placeholder OpenClaw fills from .env.
fn openclaw_entry(gw: &str) -> Value {
    json!({"url": format!("{gw}/mcp"), "transport": "streamable-http",
        "headers": {"Authorization": "Bearer ${SHELLGATE_MCP_TOKEN}"}})
}

#[actix_web::test]
async fn openclaw_is_configured_through_its_cli_or_its_json5_file() {
    let (c, token, scripts) = setup().await;
    let script = &scripts["openclaw"];
    let gw = c.gateway();
    let env_file = format!("SHELLGATE_MCP_TOKEN={token}\n");

    // With `openclaw mcp set`: through it, the token only in the 0600 .env.
    let m = Machine::new();
    for _ in 0..2 {
        let out = m.run(script, Some(&token), &[]);
        assert!(out.status.success(), "{}", text(&out));
        let entry: Value = serde_json::from_str(&m.stub_file("openclaw.shellgate").unwrap()).unwrap();
        assert_eq!(entry, openclaw_entry(&gw));
        assert_eq!(m.read(".openclaw/.env").unwrap(), env_file);
        assert_eq!(m.mode(".openclaw/.env"), 0o600);
    }
    assert!(!m.stub_file("openclaw.calls").unwrap().contains(&token));
    assert!(m.run(script, None, &["--uninstall"]).status.success());
    assert_eq!(m.stub_file("openclaw.shellgate"), None);
    assert_eq!(m.read(".openclaw/.env"), None);

    // An older OpenClaw: its JSON5 file edited with the json5 parser it ships; other entries kept,
    // the commented original kept aside.
    let m = Machine::new().old_openclaw(true);
    let original =
        "// my OpenClaw\n{\n  agent: {model: 'opus'},\n  mcp: {servers: {other: {url: 'http://o/mcp',},},},\n}\n";
    m.write(".openclaw/openclaw.json", original);
    for _ in 0..2 {
        let out = m.run(script, Some(&token), &[]);
        assert!(out.status.success(), "{}", text(&out));
        let config: Value = serde_json::from_str(&m.read(".openclaw/openclaw.json").unwrap()).unwrap();
        assert_eq!(config["agent"], json!({"model": "opus"}));
        assert_eq!(config["mcp"]["servers"]["other"], json!({"url": "http://o/mcp"}));
        assert_eq!(config["mcp"]["servers"]["shellgate"], openclaw_entry(&gw));
    }
    assert_eq!(
        m.read(".openclaw/openclaw.json.shellgate-backup").as_deref(),
        Some(original)
    );
    assert!(m.run(script, None, &["--uninstall"]).status.success());
    let config: Value = serde_json::from_str(&m.read(".openclaw/openclaw.json").unwrap()).unwrap();
    assert_eq!(
        config,
        json!({"agent": {"model": "opus"}, "mcp": {"servers": {"other": {"url": "http://o/mcp"}}}})
    );

    // Without a JSON5 parser: plain JSON (or no file) is still edited; JSON5 is never rewritten —
    // the script stops with the snippet to paste.
    let m = Machine::new().old_openclaw(false);
    assert!(m.run(script, Some(&token), &[]).status.success());
    let config: Value = serde_json::from_str(&m.read(".openclaw/openclaw.json").unwrap()).unwrap();
    assert_eq!(config, json!({"mcp": {"servers": {"shellgate": openclaw_entry(&gw)}}}));
    m.write(".openclaw/openclaw.json", original);
    std::fs::remove_file(m.home.join(".openclaw/.env")).unwrap();
    let before = m.snapshot();
    let out = m.run(script, Some(&token), &[]);
    assert!(!out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(r#""mcp": {"servers": {"shellgate": {"url":"#) && !stdout.contains(&token),
        "{stdout}"
    );
    assert_eq!(m.snapshot(), before);
}

/// A YAML file as JSON (read with the same PyYAML Hermes uses).
fn yaml(path: &Path) -> Value {
    let out = Command::new("python3")
        .arg("-c")
        .arg("import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))")
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[actix_web::test]
async fn hermes_gets_its_yaml_config_and_env_file() {
    let (c, token, scripts) = setup().await;
    let script = &scripts["hermes"];
    let gw = c.gateway();
    let m = Machine::new();
    let original = "# my Hermes\nmodel: opus\nmcp_servers:\n  other:\n    command: npx\n    args: [other-mcp]\n";
    m.write(".hermes/config.yaml", original);
    m.write(".hermes/.env", "OPENROUTER_API_KEY=keep\n");
    let config = m.home.join(".hermes/config.yaml");
    for _ in 0..2 {
        let out = m.run(script, Some(&token), &[]);
        assert!(out.status.success(), "{}", text(&out));
        let v = yaml(&config);
        assert_eq!(v["model"], "opus");
        assert_eq!(
            v["mcp_servers"]["other"],
            json!({"command": "npx", "args": ["other-mcp"]})
        );
        assert_eq!(
            v["mcp_servers"]["shellgate"],
            json!({"url": format!("{gw}/mcp"), "headers": {"Authorization": "Bearer ${SHELLGATE_MCP_TOKEN}"}, "enabled": true})
        );
        assert_eq!(
            m.read(".hermes/.env").unwrap(),
            format!("OPENROUTER_API_KEY=keep\nSHELLGATE_MCP_TOKEN={token}\n")
        );
        assert_eq!(m.mode(".hermes/.env"), 0o600);
        assert!(!m.read(".hermes/config.yaml").unwrap().contains(&token));
    }
    assert_eq!(
        m.read(".hermes/config.yaml.shellgate-backup").as_deref(),
        Some(original)
    );
    let out = m.run(script, None, &["--uninstall"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        yaml(&config),
        json!({"model": "opus", "mcp_servers": {"other": {"command": "npx", "args": ["other-mcp"]}}})
    );
    assert_eq!(m.read(".hermes/.env").unwrap(), "OPENROUTER_API_KEY=keep\n");

    // A file that is not a mapping, or no Python with PyYAML: the snippet, nothing changed.
    for (m, file) in [
        (Machine::new(), "- a list\n"),
        (Machine::without(&["python3"]), "model: x\n"),
    ] {
        m.write(".hermes/config.yaml", file);
        let before = m.snapshot();
        let out = m.run(script, Some(&token), &[]);
        assert!(!out.status.success(), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("mcp_servers:"),
            "{}",
            text(&out)
        );
        assert_eq!(m.snapshot(), before);
    }
}
