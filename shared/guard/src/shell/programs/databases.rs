//! Database clients (`psql`, `mysql`, `sqlite3`, `sqlcmd`, `clickhouse`, `bq`, …): the SQL they
//! are given in options, positionals or on stdin, classified and matched by `sql` rules.

use super::{Analyzer, Output, option_values};
use crate::rule::{Fact, Signal};
use crate::sql;
use crate::word::{Field, Taint, plain_text};

pub(super) const DB_CLIENTS: &[&str] = &[
    "psql",
    "pgcli",
    "usql",
    "mysql",
    "mariadb",
    "mycli",
    "sqlite3",
    "litecli",
    "duckdb",
    "sqlcmd",
    "clickhouse-client",
    "clickhouse",
    "cockroach",
    "cqlsh",
    "bq",
    "snowsql",
    "trino",
    "presto",
];

impl Analyzer<'_> {
    pub(super) fn sql_text(&mut self, client: &str, text: &str, require_verb: bool) {
        let (statements, shell) = sql::classify(text);
        for st in &statements {
            if require_verb && !st.kinds.first().is_some_and(|k| sql::VERBS.contains(&k.as_str())) {
                continue;
            }
            self.report(&Fact::Sql { client, statement: st });
        }
        if !require_verb {
            for cmd in shell {
                self.script(&cmd, Output::dynamic());
            }
        }
    }

    pub(super) fn db_client(&mut self, prog: &str, args: &[Field], stdin: &Output) -> Output {
        let args = if prog == "clickhouse" || prog == "cockroach" {
            args.get(1..).unwrap_or_default()
        } else {
            args
        };
        let (mut sqls, file) = match prog {
            "psql" | "pgcli" | "usql" => (
                option_values(
                    args,
                    &['c'],
                    &["command"],
                    &['h', 'p', 'U', 'd', 'o', 'L', 'P', 'R', 'T', 'v', 'F'],
                ),
                option_values(
                    args,
                    &['f'],
                    &["file"],
                    &['h', 'p', 'U', 'd', 'o', 'L', 'P', 'R', 'T', 'v', 'F'],
                ),
            ),
            "mysql" | "mariadb" | "mycli" | "cockroach" | "cqlsh" => (
                option_values(args, &['e'], &["execute"], &['u', 'h', 'P', 'D', 'S', 'p', 'o']),
                Vec::new(),
            ),
            "sqlcmd" => (
                option_values(args, &['Q', 'q'], &[], &['S', 'U', 'P', 'd', 'i', 'o']),
                option_values(args, &['i'], &[], &[]),
            ),
            "clickhouse-client" | "clickhouse" | "snowsql" => (
                option_values(args, &['q'], &["query"], &['h', 'u', 'd', 'a', 'c']),
                option_values(args, &[], &["queries-file"], &[]),
            ),
            "trino" | "presto" => (
                option_values(args, &[], &["execute"], &[]),
                option_values(args, &['f'], &["file"], &[]),
            ),
            "bq" => {
                let pos: Vec<Field> = args.iter().filter(|a| !a.text.starts_with('-')).cloned().collect();
                let sql = if pos.first().is_some_and(|a| a.text == "query") {
                    pos[1..].to_vec()
                } else {
                    Vec::new()
                };
                (sql, Vec::new())
            }
            _ => {
                // sqlite3, litecli, duckdb: DATABASE [SQL…], plus -cmd SQL.
                let mut sql = Vec::new();
                let mut pos = 0;
                let mut i = 0;
                while let Some(a) = args.get(i) {
                    let t = a.text.as_str();
                    if matches!(t, "-cmd" | "-c" | "-s") {
                        sql.extend(args.get(i + 1).cloned());
                        i += 2;
                        continue;
                    }
                    if matches!(
                        t,
                        "-separator" | "-newline" | "-nullvalue" | "-init" | "-vfs" | "-mmap" | "-heap" | "-maxsize"
                    ) {
                        i += 2;
                        continue;
                    }
                    if !t.starts_with('-') {
                        if pos > 0 {
                            sql.push(a.clone());
                        }
                        pos += 1;
                    }
                    i += 1;
                }
                (sql, Vec::new())
            }
        };
        let from_stdin = sqls.is_empty() && file.iter().all(|f| f.text == "-");
        if from_stdin {
            match stdin {
                Output::Known(t) => sqls.push(Field::lit(t)),
                // Like `cat x.sh | bash`: statements only known at run time.
                Output::Unknown(t) => self.opaque(*t, &format!("SQL given to {prog}")),
            }
        }
        for s in file {
            if self.is_downloaded(&s) {
                self.signal(
                    Signal::DownloadExec,
                    &format!("{prog} runs a downloaded file: {}", s.display()),
                );
            }
        }
        for s in sqls {
            if s.taint >= Taint::Decoded {
                self.opaque(s.taint, &format!("SQL given to {prog}"));
                continue;
            }
            self.sql_text(prog, &plain_text(&s.text), false);
        }
        Output::dynamic()
    }
}
