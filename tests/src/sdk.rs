//! The official MCP SDKs as clients: the Python SDK (`mcp` 2.x) and the TypeScript SDK (1.x
//! `@modelcontextprotocol/sdk`, and the 2.x `@modelcontextprotocol/client`), driven by the small
//! programs in `tests/sdk/`. scripts/test installs the pinned packages once into a cache
//! (`SHELLGATE_TEST_CACHE`, default `~/.cache/shellgate-tests`).

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// One SDK, and the protocol revisions it can be made to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sdk {
    Python,
    TypeScript1,
    TypeScript2,
}

impl Sdk {
    pub const ALL: [Sdk; 3] = [Sdk::Python, Sdk::TypeScript1, Sdk::TypeScript2];

    pub fn revisions(self) -> &'static [&'static str] {
        match self {
            Sdk::Python | Sdk::TypeScript2 => &["2025-06-18", "2025-11-25", "2026-07-28"],
            // 1.x always offers its newest handshake revision.
            Sdk::TypeScript1 => &["2025-11-25"],
        }
    }
}

/// What one client run printed: its exit status, the JSON lines of stdout (`{"negotiated"}`,
/// `{"tools"}`, then one per tool call) and the JSON on stderr when it failed.
#[derive(Debug)]
pub struct Run {
    pub ok: bool,
    pub negotiated: Value,
    pub tools: Vec<String>,
    pub results: Vec<Value>,
    pub error: Value,
    pub output: String,
}

pub fn cache() -> PathBuf {
    std::env::var_os("SHELLGATE_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/shellgate-tests"))
}

fn sources() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sdk")
}

/// Runs `sdk`'s client against the gateways at `urls` (requests alternate between them), asking for `revision`,
/// calling each `{tool, args}` of `plan` in turn. Killed after 90 s.
pub fn run(sdk: Sdk, urls: &[String], token: &str, revision: &str, plan: &Value) -> Run {
    let cache = cache();
    let mut cmd = Command::new("timeout");
    cmd.arg("90");
    match sdk {
        Sdk::Python => {
            let python = cache.join("py/bin/python");
            assert!(
                python.exists(),
                "{} is missing: run scripts/test (it installs the MCP SDKs)",
                python.display()
            );
            cmd.arg(python).arg(sources().join("sg_mcp_client.py"));
        }
        Sdk::TypeScript1 | Sdk::TypeScript2 => {
            let modules = cache.join("node/node_modules");
            assert!(
                modules.exists(),
                "{} is missing: run scripts/test (it installs the MCP SDKs)",
                modules.display()
            );
            // ES modules resolve packages from the script's own folder up: the client runs from
            // the cache (copied under a unique name, then renamed, so parallel tests never race).
            let script = cache.join("node/sg_mcp_client.mjs");
            let tmp = cache.join(format!("node/.sg_mcp_client.{}.mjs", std::process::id()));
            std::fs::copy(sources().join("node/sg_mcp_client.mjs"), &tmp).expect("copy the node client");
            std::fs::rename(&tmp, &script).expect("place the node client");
            cmd.arg("node").arg(script);
            cmd.env("MCP_SDK", if sdk == Sdk::TypeScript2 { "v2" } else { "v1" });
        }
    }
    let out = cmd
        .arg(urls.iter().map(|u| format!("{u}/mcp")).collect::<Vec<_>>().join(","))
        .arg(token)
        .arg(revision)
        .arg(plan.to_string())
        .output()
        .expect("run the MCP client");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let mut run = Run {
        ok: out.status.success(),
        negotiated: Value::Null,
        tools: Vec::new(),
        results: Vec::new(),
        error: stderr
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str(l).ok())
            .unwrap_or(Value::Null),
        output: format!(
            "{sdk:?} {revision}: status {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
            out.status.code()
        ),
    };
    for line in stdout.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if let Some(n) = v.get("negotiated") {
            run.negotiated = n.clone();
        } else if let Some(t) = v.get("tools").and_then(Value::as_array) {
            run.tools = t.iter().filter_map(|t| t.as_str().map(str::to_string)).collect();
        } else {
            run.results.push(v);
        }
    }
    run
}
