//! HTTP requests: unsafe paths are rejected first (the same check the gateway and executor
//! apply); then rules see the method and every override of it (`X-HTTP-Method-Override`,
//! `X-HTTP-Method`, `X-Method-Override`, `_method` in the query or a form body), the path as
//! sent and decoded, the query parameters and, for query APIs, the SQL statements or GraphQL
//! mutations in the body.

use serde_json::Value;

use super::graphql;
use super::rule::{Fact, HttpFacts, RuleSet, Signal, truncate};
use super::sql;
use super::{Decision, HttpRequestView, QueryApi, Verdict};
use crate::http_path::{check_path, check_query};

const OVERRIDE_HEADERS: &[&str] = &["x-http-method-override", "x-http-method", "x-method-override"];
/// Every request header the guard's verdict can depend on (lower case): the method overrides, and
/// `Content-Type` (whether a form body's `_method` counts). An approval binds their values.
pub const VERDICT_HEADERS: &[&str] = &[
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "content-type",
];
/// Bodies larger than this are not parsed for queries (and count as opaque).
const MAX_BODY: usize = 4 * 1024 * 1024;

pub(crate) fn analyze(rules: &RuleSet, req: &HttpRequestView<'_>) -> Option<Decision> {
    let unsafe_path = check_path(req.path)
        .err()
        .or_else(|| req.query.and_then(|q| check_query(q).err()));
    if let Some(e) = unsafe_path {
        return Some(Decision {
            verdict: Verdict::Reject,
            rule: Some("unsafe_path".into()),
            reason: e.to_string(),
            matched: Some(e.code().into()),
        });
    }
    let facts = facts(req);
    rules.evaluate(&Fact::Http(&facts))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|c| (*c as char).to_digit(16)),
                b.get(i + 2).and_then(|c| (*c as char).to_digit(16)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn facts(req: &HttpRequestView<'_>) -> HttpFacts {
    let mut f = HttpFacts::default();
    let method = req.method.trim().to_ascii_uppercase();
    f.methods.push(method.clone());
    for (name, value) in req.headers {
        if OVERRIDE_HEADERS.iter().any(|h| name.eq_ignore_ascii_case(h)) {
            f.methods.push(value.trim().to_ascii_uppercase());
        }
    }
    let pairs: Vec<(String, String)> = req
        .query
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    for (k, v) in &pairs {
        if k == "_method" {
            f.methods.push(v.trim().to_ascii_uppercase());
        }
        f.query.push(k.clone());
        f.query.push(format!("{k}={v}"));
    }
    let body = req.body.filter(|b| !b.is_empty());
    let content_type = req
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.to_ascii_lowercase())
        .unwrap_or_default();
    if let Some(b) = body
        && (content_type.starts_with("application/x-www-form-urlencoded") || content_type.is_empty())
        && b.len() <= MAX_BODY
    {
        for (k, v) in url::form_urlencoded::parse(b) {
            if k == "_method" {
                f.methods.push(v.trim().to_ascii_uppercase());
            }
        }
    }
    f.methods.dedup();
    let path = if req.path.is_empty() { "/" } else { req.path };
    let trimmed = |p: &str| {
        let p = p.to_lowercase();
        if p.len() > 1 {
            p.trim_end_matches('/').to_string()
        } else {
            p
        }
    };
    f.paths.push(trimmed(path));
    let decoded = percent_decode(path);
    if decoded != path {
        f.paths.push(trimmed(&decoded));
    }
    f.display = truncate(
        &format!(
            "{} {}{}",
            f.methods.join("/"),
            path,
            req.query.map(|q| format!("?{q}")).unwrap_or_default()
        ),
        300,
    );
    if let Some(api) = req.query_api {
        query_api_facts(&mut f, api, body, &pairs);
    }
    f
}

fn query_api_facts(f: &mut HttpFacts, api: QueryApi, body: Option<&[u8]>, pairs: &[(String, String)]) {
    let mut texts: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| matches!(k.as_str(), "query" | "sql" | "q" | "statement"))
        .map(|(_, v)| v.clone())
        .collect();
    if let Some(b) = body {
        if b.len() > MAX_BODY {
            f.signals.push(Signal::OpaqueBody);
        } else {
            match std::str::from_utf8(b) {
                Err(_) => f.signals.push(Signal::OpaqueBody),
                Ok(text) => match serde_json::from_str::<Value>(text) {
                    Ok(json) => {
                        if api == QueryApi::GraphQl && persisted_only(&json) {
                            f.signals.push(Signal::OpaqueBody);
                        }
                        collect_strings(&json, &mut texts, 0);
                    }
                    Err(_) => texts.push(text.to_string()),
                },
            }
        }
    }
    for t in texts {
        match api {
            QueryApi::Sql => {
                let (statements, _) = sql::classify(&t);
                f.statements.extend(statements);
            }
            QueryApi::GraphQl => match graphql::mutation_fields(&t) {
                Ok(fields) => f.graphql.extend(fields),
                Err(_) => {
                    // Not GraphQL: fine for variables and such, unless it names a mutation.
                    if t.split(|c: char| !c.is_alphanumeric()).any(|w| w == "mutation") {
                        f.signals.push(Signal::OpaqueBody);
                    }
                }
            },
        }
    }
}

/// An Apollo persisted query: a hash and no query text.
fn persisted_only(json: &Value) -> bool {
    let one = |v: &Value| {
        v.get("extensions").and_then(|e| e.get("persistedQuery")).is_some()
            && v.get("query").and_then(Value::as_str).is_none()
    };
    match json {
        Value::Array(items) => items.iter().any(one),
        v => one(v),
    }
}

fn collect_strings(v: &Value, out: &mut Vec<String>, depth: usize) {
    if depth > 32 || out.len() > 1000 {
        return;
    }
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|i| collect_strings(i, out, depth + 1)),
        Value::Object(map) => map.values().for_each(|i| collect_strings(i, out, depth + 1)),
        _ => {}
    }
}
