//! `shellgate guard`: lets an admin see what the guard decides for a command or an HTTP request,
//! with the built-in rules or with their own (`--rules FILE`), before deploying anything. Needs
//! no Postgres, NATS or configuration. Decisions are printed as one JSON object per line; the
//! exit code is 0 whatever the verdict, 2 for usage errors.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;
use shellgate_shared::guard::{Decision, Guard, HttpRequestView, QueryApi, parse_rules};

#[derive(Subcommand)]
pub enum GuardCommand {
    /// Print the decision for a shell command, an HTTP request (--http) or JSONL cases (--jsonl).
    Check(CheckArgs),
    /// Print the built-in rule pack as JSON (the ids admin rules override).
    Rules,
}

#[derive(Args)]
pub struct CheckArgs {
    /// The shell command to check.
    #[arg(conflicts_with_all = ["http", "jsonl"])]
    command: Option<String>,
    /// Check an HTTP request instead: METHOD and PATH (as sent; may end with ?query).
    #[arg(long, num_args = 2, value_names = ["METHOD", "PATH"], conflicts_with = "jsonl")]
    http: Option<Vec<String>>,
    /// The request body, read from FILE ("-" for stdin).
    #[arg(long, value_name = "FILE", requires = "http")]
    body: Option<PathBuf>,
    /// What the command reads on its standard input, from FILE (default: nothing).
    #[arg(long = "stdin", value_name = "FILE", requires = "command")]
    stdin_file: Option<PathBuf>,
    /// A request header, "Name: value" (repeatable).
    #[arg(long = "header", short = 'H', value_name = "HEADER", requires = "http")]
    headers: Vec<String>,
    /// The target is a query API: inspect the SQL or GraphQL in the body.
    #[arg(long, value_enum)]
    query_api: Option<QueryApiArg>,
    /// Read cases from stdin, one JSON object a line:
    /// {"id", "kind": "ssh", "command", "stdin"} or {"id", "kind": "http", "method", "path", "query", "body", "headers", "query_api"}.
    #[arg(long)]
    jsonl: bool,
    /// Admin rules (a JSON array) applied over the built-in pack, as the gateway would.
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum QueryApiArg {
    Sql,
    Graphql,
}

impl From<QueryApiArg> for QueryApi {
    fn from(a: QueryApiArg) -> Self {
        match a {
            QueryApiArg::Sql => QueryApi::Sql,
            QueryApiArg::Graphql => QueryApi::GraphQl,
        }
    }
}

/// A usage problem (exit code 2) or a failure to write the output (exit code 1).
enum CliError {
    Usage(String),
    Io(std::io::Error),
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Io(e)
    }
}

pub fn run(command: &GuardCommand) -> ExitCode {
    let result = match command {
        GuardCommand::Rules => print_rules(),
        GuardCommand::Check(args) => check(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(CliError::Io(e)) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_rules() -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(Guard::builtin_rules()).map_err(|e| CliError::Io(e.into()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    Ok(())
}

fn load_guard(rules: Option<&PathBuf>) -> Result<Guard, CliError> {
    let Some(path) = rules else { return Ok(Guard::builtin()) };
    let text = std::fs::read_to_string(path).map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
    let rules = parse_rules(&text).map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
    Guard::with_rules(&rules).map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))
}

fn check(args: &CheckArgs) -> Result<(), CliError> {
    let guard = load_guard(args.rules.as_ref())?;
    let mut out = std::io::stdout().lock();
    if args.jsonl {
        let stdin = std::io::stdin().lock();
        for line in stdin.lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let answer = check_case(&guard, &line, args.query_api.map(QueryApi::from));
            writeln!(out, "{answer}")?;
        }
        out.flush()?;
        return Ok(());
    }
    let decision = if let Some(http) = &args.http {
        let [method, target] = http.as_slice() else {
            return Err(CliError::Usage("--http takes METHOD and PATH".into()));
        };
        let body = match &args.body {
            None => None,
            Some(p) if p.as_os_str() == "-" => {
                let mut buf = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut buf)?;
                Some(buf)
            }
            Some(p) => Some(std::fs::read(p).map_err(|e| CliError::Usage(format!("{}: {e}", p.display())))?),
        };
        let headers = args
            .headers
            .iter()
            .map(|h| match h.split_once(':') {
                Some((name, value)) => Ok((name.trim().to_string(), value.trim().to_string())),
                None => Err(CliError::Usage(format!("header {h:?} is not \"Name: value\""))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target.as_str(), None),
        };
        guard.check_http(&HttpRequestView {
            method,
            path,
            query,
            headers: &headers,
            body: body.as_deref(),
            query_api: args.query_api.map(QueryApi::from),
        })
    } else if let Some(command) = &args.command {
        let stdin = match &args.stdin_file {
            None => None,
            Some(p) => Some(std::fs::read_to_string(p).map_err(|e| CliError::Usage(format!("{}: {e}", p.display())))?),
        };
        guard.check_ssh(command, stdin.as_deref())
    } else {
        return Err(CliError::Usage("give a COMMAND, --http METHOD PATH, or --jsonl".into()));
    };
    let text = serde_json::to_string(&decision).map_err(|e| CliError::Io(e.into()))?;
    writeln!(out, "{text}")?;
    Ok(())
}

/// One JSONL case: the decision as `{"id", "verdict", "rule", "reason", "matched"}`, or
/// `{"id", "error"}` when the case is malformed (fields in that order).
fn check_case(guard: &Guard, line: &str, default_api: Option<QueryApi>) -> String {
    let (id, answer) = match serde_json::from_str::<Value>(line) {
        Ok(case @ Value::Object(_)) => {
            let id = case.get("id").cloned().unwrap_or(Value::Null);
            (id, decide(guard, &case, default_api))
        }
        Ok(_) => (Value::Null, Err("a case must be a JSON object".to_string())),
        Err(e) => (Value::Null, Err(format!("not JSON: {e}"))),
    };
    let body = match answer {
        // `{"verdict", …}` without its opening brace.
        Ok(d) => serde_json::to_string(&d)
            .ok()
            .and_then(|j| j.strip_prefix('{').map(str::to_string)),
        Err(e) => serde_json::to_string(&e).ok().map(|e| format!("\"error\":{e}}}")),
    };
    format!(
        "{{\"id\":{id},{}",
        body.unwrap_or_else(|| "\"error\":\"internal error\"}".into())
    )
}

fn decide(guard: &Guard, case: &Value, default_api: Option<QueryApi>) -> Result<Decision, String> {
    let text = |key: &str| -> Result<Option<&str>, String> {
        match case.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("\"{key}\" must be a string")),
        }
    };
    let kind = match text("kind")? {
        Some(k) => k,
        None if case.get("command").is_some() => "ssh",
        None => return Err("missing \"kind\" (ssh or http)".into()),
    };
    match kind {
        "ssh" => {
            let command = text("command")?.ok_or("an ssh case needs \"command\"")?;
            Ok(guard.check_ssh(command, text("stdin")?))
        }
        "http" => {
            let method = text("method")?.unwrap_or("GET");
            let target = text("path")?.ok_or("an http case needs \"path\"")?;
            let (path, mut query) = match target.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (target, None),
            };
            if let Some(q) = text("query")? {
                query = Some(q);
            }
            let headers = match case.get("headers") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Object(map)) => map
                    .iter()
                    .map(|(k, v)| {
                        v.as_str()
                            .map(|v| (k.clone(), v.to_string()))
                            .ok_or("header values must be strings")
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                Some(Value::Array(pairs)) => pairs
                    .iter()
                    .map(|p| match p.as_array().map(Vec::as_slice) {
                        Some([Value::String(k), Value::String(v)]) => Ok((k.clone(), v.clone())),
                        _ => Err("headers must be an object or a list of [name, value] pairs"),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                Some(_) => return Err("headers must be an object or a list of [name, value] pairs".into()),
            };
            let query_api = match case.get("query_api") {
                None | Some(Value::Null) => default_api,
                Some(v) => Some(serde_json::from_value(v.clone()).map_err(|_| "\"query_api\" must be sql or graphql")?),
            };
            let body = text("body")?;
            Ok(guard.check_http(&HttpRequestView {
                method,
                path,
                query,
                headers: &headers,
                body: body.map(str::as_bytes),
                query_api,
            }))
        }
        other => Err(format!("unknown kind {other:?} (ssh or http)")),
    }
}
