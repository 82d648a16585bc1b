//! The facts rules are matched against: a resolved invocation (with its redirections), a SQL
//! statement, inline code, a signal, or what the HTTP analyser extracted from a request.

use crate::rule::Signal;
use crate::sql::Statement;
use crate::word::Field;

/// A resolved redirection of a command.
#[derive(Debug, Clone)]
pub(crate) struct Redirect {
    pub read: bool,
    pub write: bool,
    pub target: Field,
}

/// A command about to run, after resolution: `argv[0]` is the command word.
#[derive(Debug, Clone, Default)]
pub(crate) struct Invocation {
    pub argv: Vec<Field>,
    pub redirects: Vec<Redirect>,
    /// Wrappers it was started through, outermost first.
    pub via: Vec<String>,
    /// The working directory, when the command set it literally (`cd /; rm -rf *`).
    pub cwd: Option<String>,
}

impl Invocation {
    pub(crate) fn program(&self) -> &str {
        self.argv.first().map_or("", |f| basename(&f.text))
    }

    pub(crate) fn display(&self) -> String {
        let mut s = self
            .argv
            .iter()
            .map(|f| {
                let d = f.display();
                if d.is_empty() || d.contains(char::is_whitespace) {
                    format!("'{d}'")
                } else {
                    d
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        for r in &self.redirects {
            let op = match (r.read, r.write) {
                (true, true) => "<>",
                (true, false) => "<",
                _ => ">",
            };
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(op);
            s.push_str(&r.target.display());
        }
        truncate(&s, 300)
    }
}

pub(crate) fn basename(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

/// What the HTTP analyser extracted from a request.
#[derive(Debug, Clone, Default)]
pub(crate) struct HttpFacts {
    /// The method and every override, uppercase.
    pub methods: Vec<String>,
    /// The path as sent and percent-decoded, lowercase.
    pub paths: Vec<String>,
    /// `name=value` and `name` of every query parameter, decoded.
    pub query: Vec<String>,
    pub statements: Vec<Statement>,
    pub graphql: Vec<String>,
    pub signals: Vec<Signal>,
    pub display: String,
}

/// A fact rules are matched against.
pub(crate) enum Fact<'a> {
    Invocation(&'a Invocation),
    Sql { client: &'a str, statement: &'a Statement },
    Code { interpreter: &'a str, code: &'a str },
    Signal { signal: Signal, detail: &'a str },
    Http(&'a HttpFacts),
}
