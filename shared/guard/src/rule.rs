//! Rules as data: the JSON format admins write (and the built-in pack is written in), its
//! validation and compilation, and matching compiled rules against the facts the analysers
//! extract (an invocation, a SQL statement, inline code, a signal, an HTTP request). The facts
//! are defined in `fact`; `view` prepares an invocation for matching.

mod fact;
mod view;

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize};

use super::glob::{Glob, GlobSet, Subject};
use super::word::display_text;
use super::{Decision, GuardError, Verdict};

pub(crate) use fact::{Fact, HttpFacts, Invocation, Redirect, basename, truncate};
use view::InvocationView;

/// What a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// Shell commands run over SSH.
    Ssh,
    /// Requests on the agent HTTP path.
    Http,
}

/// Conditions the analysers raise themselves; rules give them a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// The command could not be parsed.
    ParseError,
    /// The command nests or expands beyond the analyser's limits.
    TooComplex,
    /// A command, script or code only known at run time (`$CMD`, `eval "$X"`).
    Unresolved,
    /// Downloaded or decoded content reaches an interpreter (`curl … | sh`).
    DownloadExec,
    /// A function that spawns itself in a pipeline or in the background.
    ForkBomb,
    /// A shell wired to a network socket (`/dev/tcp`, `nc … | sh`).
    ReverseShell,
    /// Shell history disabled through `HISTFILE`/`HISTSIZE`.
    HistoryTamper,
    /// HTTP: a query API body that cannot be inspected (not text, persisted query).
    OpaqueBody,
}

/// One rule. A rule whose `id` is a built-in rule's id overrides it field by field (so
/// `{"id": "process_kill", "verdict": "allow"}` or `{"id": "power", "enabled": false}` is a
/// complete rule); a new rule needs `kind`, `verdict` and `match`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<RuleKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Alternatives: the rule matches when any of them does.
    #[serde(
        default,
        rename = "match",
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub matchers: Vec<Matcher>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// One alternative of a rule: every condition given must hold. Patterns are globs (see
/// `docs/guard.md`); `code` entries are regular expressions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Matcher {
    /// SSH: the program (basename after resolution; a pattern with `/` matches the path).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// SSH: leading words among the positional arguments (`"stop"`, `"system prune"`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subcommand: Vec<String>,
    /// SSH: any of these flags (`r` matches `-r`, `-fr`; `recursive` matches `--recursive`, `-recursive`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// SSH: all of these flags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub all_flags: Vec<String>,
    /// SSH: any argument matches any pattern.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// SSH: every pattern matches some argument.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub all_args: Vec<String>,
    /// SSH: the last positional argument (a copy's destination).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub last_arg: Vec<String>,
    /// SSH: the alternative does not match when any argument matches one of these.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub except_args: Vec<String>,
    /// SSH: a redirection writes to a matching path (`>`, `>>`, `&>`, `<>`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub redirect_write: Vec<String>,
    /// SSH: a redirection reads from a matching path (`<`, `<>`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub redirect_read: Vec<String>,
    /// SSH: the command was started through one of these wrappers (`xargs`, `find`, `sudo`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub via: Vec<String>,
    /// SSH and HTTP: SQL statement kinds (`drop`, `truncate`, `delete`, or a leading keyword).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sql: Vec<String>,
    /// SSH: regular expressions that must all match an interpreter's inline code.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub code: Vec<String>,
    /// SSH and HTTP: a condition raised by the analyser.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<Signal>,
    /// HTTP: the method, or a method override (`X-HTTP-Method-Override`, `_method`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// HTTP: the path (case-insensitive; matched as sent and percent-decoded).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub path: Vec<String>,
    /// HTTP: a query parameter as `name=value` (or `name`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub query: Vec<String>,
    /// HTTP: top-level fields of GraphQL mutations (case-insensitive).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub graphql: Vec<String>,
    /// Compare `command`, `subcommand`, `flags` and argument patterns case-insensitively.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ignore_case: bool,
}

/// `match`: one matcher or a list. Read through a JSON value (not an untagged enum) so that a
/// mistake is reported as what it is — e.g. "unknown field `method`, expected one of …" — rather
/// than as "did not match any variant".
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Matcher>, D::Error> {
    use serde::de::Error as _;
    let value = serde_json::Value::deserialize(d)?;
    let read = if value.is_array() {
        serde_json::from_value(value)
    } else {
        serde_json::from_value(value).map(|m| vec![m])
    };
    read.map_err(|e| D::Error::custom(format!("in \"match\": {e}")))
}

impl Rule {
    /// Applies an admin rule with the same id on top of this one.
    pub(crate) fn merge(&mut self, over: &Rule) {
        if over.kind.is_some() {
            self.kind = over.kind;
        }
        if over.verdict.is_some() {
            self.verdict = over.verdict;
        }
        if over.reason.is_some() {
            self.reason.clone_from(&over.reason);
        }
        if !over.matchers.is_empty() {
            self.matchers.clone_from(&over.matchers);
        }
        if over.enabled.is_some() {
            self.enabled = over.enabled;
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FactKind {
    Invocation,
    Sql,
    Code,
    Signal,
    Http,
}

#[derive(Debug, Clone)]
struct CompiledMatcher {
    fact: FactKind,
    /// Command names without wildcards (compared directly), and the others as globs.
    literal_names: HashSet<String>,
    glob_names: GlobSet,
    command_names: GlobSet,
    command_paths: GlobSet,
    subcommand: Vec<Vec<GlobSet>>,
    flags: GlobSet,
    all_flags: Vec<GlobSet>,
    args: GlobSet,
    all_args: Vec<GlobSet>,
    last_arg: GlobSet,
    except_args: GlobSet,
    redirect_write: GlobSet,
    redirect_read: GlobSet,
    via: GlobSet,
    sql: Vec<String>,
    code: Vec<Regex>,
    signal: Option<Signal>,
    methods: Vec<String>,
    path: GlobSet,
    query: GlobSet,
    graphql: GlobSet,
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledRule {
    pub id: String,
    pub kind: RuleKind,
    pub verdict: Verdict,
    pub reason: String,
    pub enabled: bool,
    alts: Vec<CompiledMatcher>,
}

fn invalid(id: &str, message: impl Into<String>) -> GuardError {
    GuardError::InvalidRule {
        id: id.to_string(),
        message: message.into(),
    }
}

fn globs(id: &str, field: &str, patterns: &[String], ignore_case: bool) -> Result<GlobSet, GuardError> {
    let mut out = Vec::new();
    for p in patterns {
        out.extend(Glob::compile(p, ignore_case).map_err(|e| invalid(id, format!("{field}: {p:?}: {e}")))?);
    }
    Ok(GlobSet::new(out))
}

fn glob_sets(id: &str, field: &str, patterns: &[String], ignore_case: bool) -> Result<Vec<GlobSet>, GuardError> {
    patterns
        .iter()
        .map(|p| globs(id, field, std::slice::from_ref(p), ignore_case))
        .collect()
}

impl CompiledRule {
    pub(crate) fn compile(rule: &Rule) -> Result<CompiledRule, GuardError> {
        let id = rule.id.as_str();
        if id.is_empty() || id.len() > 100 || !id.chars().all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c)) {
            return Err(invalid(
                id,
                "id must be 1-100 characters of letters, digits, '_', '-', '.', ':'",
            ));
        }
        let kind = rule
            .kind
            .ok_or_else(|| invalid(id, "a new rule needs a kind (ssh or http)"))?;
        let verdict = rule.verdict.ok_or_else(|| invalid(id, "a new rule needs a verdict"))?;
        if verdict == Verdict::Reject {
            return Err(invalid(id, "reject is reserved for unsafe HTTP paths; use block"));
        }
        if rule.matchers.is_empty() {
            return Err(invalid(id, "a new rule needs at least one match"));
        }
        if rule.reason.as_ref().is_some_and(|r| r.len() > 500) {
            return Err(invalid(id, "reason is longer than 500 characters"));
        }
        let alts = rule
            .matchers
            .iter()
            .map(|m| compile_matcher(id, kind, m))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CompiledRule {
            id: id.to_string(),
            kind,
            verdict,
            reason: rule.reason.clone().unwrap_or_else(|| format!("matched rule {id}")),
            enabled: rule.enabled.unwrap_or(true),
            alts,
        })
    }

    /// The first alternative matching the fact: what matched, for the decision.
    fn matches(&self, fact: &Fact<'_>, view: Option<&InvocationView<'_>>) -> Option<String> {
        self.alts.iter().find_map(|alt| alt.matches(fact, view))
    }
}

fn compile_matcher(id: &str, kind: RuleKind, m: &Matcher) -> Result<CompiledMatcher, GuardError> {
    let ic = m.ignore_case;
    // What only a command invocation has (beyond its program name).
    let invocation_parts = !m.subcommand.is_empty()
        || !m.flags.is_empty()
        || !m.all_flags.is_empty()
        || !m.args.is_empty()
        || !m.all_args.is_empty()
        || !m.last_arg.is_empty()
        || !m.except_args.is_empty()
        || !m.redirect_write.is_empty()
        || !m.redirect_read.is_empty()
        || !m.via.is_empty();
    let ssh_only = !m.command.is_empty() || invocation_parts || !m.code.is_empty();
    let http_only = !m.methods.is_empty() || !m.path.is_empty() || !m.query.is_empty() || !m.graphql.is_empty();
    let fact = match kind {
        RuleKind::Http => {
            if ssh_only {
                return Err(invalid(
                    id,
                    "an http rule can only use methods, path, query, sql, graphql and signal",
                ));
            }
            if !http_only && m.sql.is_empty() && m.signal.is_none() {
                return Err(invalid(id, "empty match"));
            }
            FactKind::Http
        }
        RuleKind::Ssh => {
            if http_only {
                return Err(invalid(id, "an ssh rule cannot use methods, path, query or graphql"));
            }
            let special =
                usize::from(m.signal.is_some()) + usize::from(!m.sql.is_empty()) + usize::from(!m.code.is_empty());
            if special > 1 {
                return Err(invalid(id, "one alternative can use only one of signal, sql and code"));
            }
            if m.signal.is_some() {
                if ssh_only {
                    return Err(invalid(id, "a signal alternative takes no other condition"));
                }
                FactKind::Signal
            } else if !m.sql.is_empty() {
                FactKind::Sql
            } else if !m.code.is_empty() {
                FactKind::Code
            } else if ssh_only {
                FactKind::Invocation
            } else {
                return Err(invalid(id, "empty match"));
            }
        }
    };
    if matches!(fact, FactKind::Sql | FactKind::Code) && invocation_parts {
        return Err(invalid(id, "sql and code alternatives can only be narrowed by command"));
    }
    let (paths, names): (Vec<String>, Vec<String>) = m.command.iter().cloned().partition(|c| c.contains('/'));
    let code = m
        .code
        .iter()
        .map(|r| {
            regex::RegexBuilder::new(r)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| invalid(id, format!("code: {r:?}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let subcommand = m
        .subcommand
        .iter()
        .map(|s| {
            let words: Vec<String> = s.split_whitespace().map(str::to_string).collect();
            if words.is_empty() {
                return Err(invalid(id, "empty subcommand"));
            }
            glob_sets(id, "subcommand", &words, ic)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let command_names = globs(id, "command", &names, ic)?;
    let (literal, glob): (Vec<&Glob>, Vec<&Glob>) = command_names.iter().partition(|g| g.literal().is_some() && !ic);
    let literal_names = literal.iter().filter_map(|g| g.literal()).collect();
    let glob_names = GlobSet::new(glob.into_iter().cloned().collect());
    Ok(CompiledMatcher {
        fact,
        literal_names,
        glob_names,
        command_names,
        command_paths: globs(id, "command", &paths, ic)?,
        subcommand,
        flags: globs(id, "flags", &m.flags, ic)?,
        all_flags: glob_sets(id, "all_flags", &m.all_flags, ic)?,
        args: globs(id, "args", &m.args, ic)?,
        all_args: glob_sets(id, "all_args", &m.all_args, ic)?,
        last_arg: globs(id, "last_arg", &m.last_arg, ic)?,
        except_args: globs(id, "except_args", &m.except_args, ic)?,
        redirect_write: globs(id, "redirect_write", &m.redirect_write, false)?,
        redirect_read: globs(id, "redirect_read", &m.redirect_read, false)?,
        via: globs(id, "via", &m.via, false)?,
        sql: m.sql.iter().map(|s| s.to_ascii_lowercase()).collect(),
        code,
        signal: m.signal,
        methods: m.methods.iter().map(|s| s.to_ascii_uppercase()).collect(),
        path: globs(id, "path", &m.path, true)?,
        query: globs(id, "query", &m.query, false)?,
        graphql: globs(id, "graphql", &m.graphql, true)?,
    })
}

fn any_glob(globs: &GlobSet, s: &Subject) -> bool {
    globs.matches(s)
}

impl CompiledMatcher {
    fn matches(&self, fact: &Fact<'_>, view: Option<&InvocationView<'_>>) -> Option<String> {
        match (self.fact, fact) {
            (FactKind::Invocation, Fact::Invocation(inv)) => {
                let v = view?;
                self.matches_invocation(v).then(|| inv.display())
            }
            (FactKind::Sql, Fact::Sql { client, statement }) => {
                if !self.command_ok_name(client) {
                    return None;
                }
                let hit = statement.kinds.iter().any(|k| self.sql.iter().any(|s| s == k));
                hit.then(|| truncate(&statement.text, 300))
            }
            (FactKind::Code, Fact::Code { interpreter, code }) => {
                if !self.command_ok_name(interpreter) {
                    return None;
                }
                let mut first = None;
                for re in &self.code {
                    let m = re.find(code)?;
                    first.get_or_insert(m.as_str().to_string());
                }
                first.map(|m| truncate(&display_text(&m), 300))
            }
            (FactKind::Signal, Fact::Signal { signal, detail }) => {
                (self.signal == Some(*signal)).then(|| truncate(detail, 300))
            }
            (FactKind::Http, Fact::Http(h)) => self.matches_http(h),
            _ => None,
        }
    }

    fn command_ok_name(&self, name: &str) -> bool {
        if self.command_names.is_empty() && self.command_paths.is_empty() {
            return true;
        }
        self.literal_names.contains(name) || any_glob(&self.glob_names, &Subject::new(name))
    }

    /// Whether the program is one this alternative names (true when it names none).
    fn names_program(&self, v: &InvocationView<'_>) -> bool {
        if self.command_names.is_empty() && self.command_paths.is_empty() {
            return true;
        }
        if v.program.is_empty() && !self.command_names.is_empty() {
            return false;
        }
        self.literal_names.contains(v.program)
            || any_glob(&self.glob_names, &v.program_subject)
            || any_glob(&self.command_paths, v.path())
    }

    fn matches_invocation(&self, v: &InvocationView<'_>) -> bool {
        // Cheap conditions first: most alternatives fail on the program or a missing redirection.
        if !self.redirect_write.is_empty() && !v.has_redirect(true)
            || !self.redirect_read.is_empty() && !v.has_redirect(false)
        {
            return false;
        }
        if !self.names_program(v) {
            return false;
        }
        if !self.via.is_empty() && !v.via().iter().any(|w| any_glob(&self.via, w)) {
            return false;
        }
        if !self.flags.is_empty() && !v.flags().iter().any(|f| any_glob(&self.flags, f)) {
            return false;
        }
        if !self
            .all_flags
            .iter()
            .all(|set| v.flags().iter().any(|f| any_glob(set, f)))
        {
            return false;
        }
        if !self.subcommand.is_empty() && !self.subcommand.iter().any(|words| v.subcommand(words)) {
            return false;
        }
        if !self.args.is_empty() && !v.any_arg(&self.args) {
            return false;
        }
        if !self.all_args.iter().all(|set| v.any_arg(set)) {
            return false;
        }
        if !self.last_arg.is_empty() {
            let Some(&(idx, _)) = v.positionals().last() else {
                return false;
            };
            if !v
                .forms()
                .get(idx)
                .is_some_and(|f| f.iter().any(|s| any_glob(&self.last_arg, s)))
            {
                return false;
            }
        }
        let (reads, writes) = if self.redirect_write.is_empty() && self.redirect_read.is_empty() {
            (&[][..], &[][..])
        } else {
            let (r, w) = v.redirects();
            (&r[..], &w[..])
        };
        if !self.redirect_write.is_empty() && !writes.iter().any(|r| any_glob(&self.redirect_write, r)) {
            return false;
        }
        if !self.redirect_read.is_empty() && !reads.iter().any(|r| any_glob(&self.redirect_read, r)) {
            return false;
        }
        if !self.except_args.is_empty() && v.any_arg(&self.except_args) {
            return false;
        }
        true
    }

    fn matches_http(&self, h: &HttpFacts) -> Option<String> {
        if let Some(sig) = self.signal
            && !h.signals.contains(&sig)
        {
            return None;
        }
        if !self.methods.is_empty()
            && !h
                .methods
                .iter()
                .any(|m| self.methods.iter().any(|x| x == "*" || x == m))
        {
            return None;
        }
        if !self.path.is_empty() && !h.paths.iter().any(|p| any_glob(&self.path, &Subject::new(p))) {
            return None;
        }
        if !self.query.is_empty() && !h.query.iter().any(|q| any_glob(&self.query, &Subject::new(q))) {
            return None;
        }
        let mut matched = h.display.clone();
        if !self.sql.is_empty() {
            let st = h
                .statements
                .iter()
                .find(|s| s.kinds.iter().any(|k| self.sql.contains(k)))?;
            matched = truncate(&st.text, 300);
        }
        if !self.graphql.is_empty() {
            let f = h.graphql.iter().find(|f| any_glob(&self.graphql, &Subject::new(f)))?;
            matched = format!("mutation {f}");
        }
        Some(matched)
    }
}

/// One known program's install paths (`rm`, `/bin/rm`, …), each with its compiled pattern.
pub(crate) type ProgramPaths = Vec<(String, Vec<Glob>)>;

/// Compiled rules in order, with the invocation rules indexed by literal program name.
#[derive(Debug, Clone, Default)]
pub(crate) struct RuleSet {
    pub rules: Vec<CompiledRule>,
    /// Invocation alternatives by the literal program names they name (with `any_program`).
    by_program: HashMap<String, Vec<(usize, usize)>>,
    /// Invocation alternatives that must be tried on every program.
    any_program: Vec<(usize, usize)>,
    /// Where known programs are installed, as patterns, built on first use (matching a command
    /// name that is itself a glob, `/???/r?`).
    pub(crate) program_paths: OnceLock<Vec<ProgramPaths>>,
}

impl RuleSet {
    pub(crate) fn new(rules: Vec<CompiledRule>) -> Self {
        let mut set = RuleSet {
            rules,
            ..RuleSet::default()
        };
        set.reindex();
        set
    }

    fn reindex(&mut self) {
        self.program_paths = OnceLock::new();
        self.by_program.clear();
        self.any_program.clear();
        for (i, r) in self.rules.iter().enumerate() {
            if r.kind != RuleKind::Ssh || !r.enabled {
                continue;
            }
            for (j, alt) in r
                .alts
                .iter()
                .enumerate()
                .filter(|(_, a)| a.fact == FactKind::Invocation)
            {
                let literal_only =
                    !alt.literal_names.is_empty() && alt.glob_names.is_empty() && alt.command_paths.is_empty();
                if literal_only {
                    for n in &alt.literal_names {
                        self.by_program.entry(n.clone()).or_default().push((i, j));
                    }
                } else {
                    self.any_program.push((i, j));
                }
            }
        }
        // Each program's list also holds the alternatives tried on every program, in rule order,
        // so a decision needs no merging.
        for v in self.by_program.values_mut() {
            v.extend(&self.any_program);
            v.sort_unstable();
            v.dedup();
        }
    }

    /// Every program some invocation rule names literally.
    pub(crate) fn programs(&self) -> impl Iterator<Item = &str> {
        self.by_program.keys().map(String::as_str)
    }

    /// The most severe decision of any enabled rule matching the fact (the first rule wins a tie).
    pub(crate) fn evaluate(&self, fact: &Fact<'_>) -> Option<Decision> {
        let mut best: Option<Decision> = None;
        let mut consider = |rule: &CompiledRule, matched: String| {
            if best.as_ref().is_none_or(|b| rule.verdict > b.verdict) {
                best = Some(Decision {
                    verdict: rule.verdict,
                    rule: Some(rule.id.clone()),
                    reason: rule.reason.clone(),
                    matched: Some(matched),
                });
            }
        };
        match fact {
            Fact::Invocation(inv) => {
                let view = InvocationView::new(inv);
                let candidates = self.by_program.get(view.program).unwrap_or(&self.any_program);
                let mut last_rule = usize::MAX;
                for &(i, j) in candidates {
                    if i == last_rule {
                        continue;
                    }
                    let rule = &self.rules[i];
                    if let Some(m) = rule.alts[j].matches(fact, Some(&view)) {
                        last_rule = i;
                        consider(rule, m);
                    }
                }
            }
            _ => {
                let kind = if matches!(fact, Fact::Http(_)) {
                    RuleKind::Http
                } else {
                    RuleKind::Ssh
                };
                for rule in self.rules.iter().filter(|r| r.enabled && r.kind == kind) {
                    if let Some(m) = rule.matches(fact, None) {
                        consider(rule, m);
                    }
                }
            }
        }
        best
    }
}
