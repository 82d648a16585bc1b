//! The guard: decides whether an agent's SSH command or HTTP request may run (`allow`), must
//! wait for a human (`approve`), never runs (`block`), or — for HTTP only — is refused as
//! unsafe (`reject`). Pure: no I/O, no async, nothing shared between calls.
//!
//! Shell commands are parsed with a real bash grammar (brush-parser) and everything in them
//! that can execute is resolved and inspected — list and pipeline elements, subshells, `$(…)`,
//! process substitutions, here-docs fed to interpreters, called functions, wrappers (`sudo`,
//! `xargs`, `ssh host …`), `bash -c` strings, interpreters' inline code and SQL given to database
//! clients. Words are resolved first (quotes, escapes, `$'…'`, constant variables, aliases,
//! brace expansion, paths), so `r''m -rf /` is `rm -rf /`. What cannot be resolved is at least
//! `approve`. Rules are data (`Rule`, JSON), with a built-in pack admins extend or override.
//! `docs/guard.md` documents the rule format and the default pack. Its own crate
//! (`shellgate-guard`): the only code that needs the shell parser, regex and aho-corasick, with
//! its corpus, fuzz test and benchmark beside it; `shellgate-shared` re-exports it as `guard`
//! (and the path-safety checks it shares with the transports as `http_path`) and keeps the
//! per-target rule cache.

mod code;
mod glob;
mod graphql;
mod http;
pub mod http_path;
mod rule;
mod shell;
mod sql;
mod word;

use std::sync::{Arc, LazyLock};

use serde::{Deserialize, Serialize};

pub use http::VERDICT_HEADERS;
use rule::{CompiledRule, RuleSet};
pub use rule::{Matcher, Rule, RuleKind, Signal};

/// The built-in rule pack, as data.
const BUILTIN_RULES: &str = include_str!("rules.json");

/// Verdicts, ordered by severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Runs.
    Allow,
    /// Runs only once a human approved it.
    Approve,
    /// Never runs.
    Block,
    /// HTTP only: the path is unsafe (answered 400).
    Reject,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Approve => "approve",
            Verdict::Block => "block",
            Verdict::Reject => "reject",
        }
    }
}

/// A verdict with the rule that decided it, a reason for humans and what matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub verdict: Verdict,
    pub rule: Option<String>,
    pub reason: String,
    pub matched: Option<String>,
}

impl Decision {
    fn allow() -> Self {
        Decision {
            verdict: Verdict::Allow,
            rule: None,
            reason: "no rule matched".into(),
            matched: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error("rule {id:?}: {message}")]
    InvalidRule { id: String, message: String },
    #[error("rules: {0}")]
    Parse(String),
}

/// Targets whose JSON bodies carry queries the guard should read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryApi {
    Sql,
    #[serde(rename = "graphql")]
    GraphQl,
}

/// The parts of an agent HTTP request the guard looks at. `path` and `query` are as sent
/// (still percent-encoded); `query` has no `?`.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequestView<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a [(String, String)],
    pub body: Option<&'a [u8]>,
    pub query_api: Option<QueryApi>,
}

/// Compiled rules. Build one per rule set and share it: it is `Send + Sync`, and clones share
/// the compiled rules.
#[derive(Debug, Clone)]
pub struct Guard {
    rules: Arc<RuleSet>,
}

struct Builtin {
    rules: Vec<Rule>,
    compiled: Vec<CompiledRule>,
    guard: Guard,
}

static BUILTIN: LazyLock<Builtin> = LazyLock::new(|| match load_builtin() {
    Ok(b) => b,
    Err(e) => {
        // Unreachable while the pack's own test passes; if it ever happens, fail safe:
        // every command and request needs approval.
        tracing::error!(error = %e, "the built-in guard rules do not load; everything needs approval");
        let rules = vec![
            fallback_rule(
                "builtin_pack_unavailable_ssh",
                RuleKind::Ssh,
                Matcher {
                    command: vec!["*".into()],
                    ..Matcher::default()
                },
            ),
            fallback_rule(
                "builtin_pack_unavailable_http",
                RuleKind::Http,
                Matcher {
                    methods: vec!["*".into()],
                    ..Matcher::default()
                },
            ),
        ];
        let compiled: Vec<CompiledRule> = rules.iter().filter_map(|r| CompiledRule::compile(r).ok()).collect();
        let guard = Guard {
            rules: Arc::new(RuleSet::new(compiled.clone())),
        };
        Builtin { rules, compiled, guard }
    }
});

fn fallback_rule(id: &str, kind: RuleKind, m: Matcher) -> Rule {
    Rule {
        id: id.into(),
        kind: Some(kind),
        verdict: Some(Verdict::Approve),
        reason: Some("the built-in guard rules are unavailable".into()),
        matchers: vec![m],
        enabled: None,
    }
}

fn load_builtin() -> Result<Builtin, GuardError> {
    let rules: Vec<Rule> = serde_json::from_str(BUILTIN_RULES).map_err(|e| GuardError::Parse(e.to_string()))?;
    let compiled = rules.iter().map(CompiledRule::compile).collect::<Result<Vec<_>, _>>()?;
    let guard = Guard {
        rules: Arc::new(RuleSet::new(compiled.clone())),
    };
    Ok(Builtin { rules, compiled, guard })
}

/// Parses a JSON array of rules (the format of `shellgate guard check --rules FILE`).
pub fn parse_rules(json: &str) -> Result<Vec<Rule>, GuardError> {
    serde_json::from_str(json).map_err(|e| GuardError::Parse(e.to_string()))
}

impl Guard {
    /// The built-in rule pack.
    pub fn builtin() -> Self {
        BUILTIN.guard.clone()
    }

    /// The built-in rules as data (for display; `with_rules` overrides them by id).
    pub fn builtin_rules() -> &'static [Rule] {
        &BUILTIN.rules
    }

    /// The built-in pack plus admin rules, applied in order: a rule with a built-in (or earlier)
    /// rule's id overrides it field by field (verdict, reason, match, `enabled: false`); other
    /// rules are added.
    pub fn with_rules(rules: &[Rule]) -> Result<Self, GuardError> {
        let mut merged: Vec<Rule> = BUILTIN.rules.clone();
        let mut compiled: Vec<Option<CompiledRule>> = BUILTIN.compiled.iter().cloned().map(Some).collect();
        for r in rules {
            match merged.iter().position(|m| m.id == r.id) {
                Some(i) => {
                    merged[i].merge(r);
                    compiled[i] = None;
                }
                None => {
                    merged.push(r.clone());
                    compiled.push(None);
                }
            }
        }
        let compiled = merged
            .iter()
            .zip(compiled)
            .map(|(rule, c)| match c {
                Some(c) => Ok(c),
                None => CompiledRule::compile(rule),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Guard {
            rules: Arc::new(RuleSet::new(compiled)),
        })
    }

    /// The decision for a shell command run over SSH with nothing on its standard input.
    pub fn check_command(&self, command: &str) -> Decision {
        self.check_ssh(command, None)
    }

    /// The decision for a shell command run over SSH with `stdin` (what the agent sends) as
    /// its standard input: SQL or code fed to a client on stdin is inspected like `-c` text.
    pub fn check_ssh(&self, command: &str, stdin: Option<&str>) -> Decision {
        shell::analyze(&self.rules, command, stdin).unwrap_or_else(Decision::allow)
    }

    /// The decision for an agent HTTP request.
    pub fn check_http(&self, req: &HttpRequestView<'_>) -> Decision {
        http::analyze(&self.rules, req).unwrap_or_else(Decision::allow)
    }
}

impl Default for Guard {
    fn default() -> Self {
        Guard::builtin()
    }
}

#[cfg(test)]
mod tests;
