//! Just enough SQL lexing to classify statements: comments, string literals, quoted identifiers
//! and dollar quotes are skipped, so `select 'drop table x'` is a select, while
//! `SeLeCt 1; DrOp TaBlE users` holds a drop. psql/mysql `\!` shell escapes are returned so the
//! guard can inspect them as shell commands.

/// One classified statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Statement {
    /// Lowercase kinds: the leading keyword (`select`, `update`, …) and, wherever they appear as
    /// keywords, `drop`, `truncate` and `delete` (`delete` only as `DELETE FROM` or leading).
    pub kinds: Vec<String>,
    /// The statement text (trimmed).
    pub text: String,
}

/// SQL verbs that make a string literal in inline code look like a statement.
pub(crate) const VERBS: &[&str] = &[
    "select", "insert", "update", "delete", "drop", "truncate", "alter", "create", "grant", "revoke", "with",
    "replace", "merge", "copy",
];

/// Classifies every statement of `sql`; also returns the shell commands of `\!` meta-commands.
/// Lexes twice, with and without backslash escapes in literals (MySQL vs standard SQL), so a
/// quote that one dialect escapes cannot hide a statement from the other.
pub(crate) fn classify(sql: &str) -> (Vec<Statement>, Vec<String>) {
    let (mut statements, shell) = classify_with(sql, false);
    let (escaped, _) = classify_with(sql, true);
    for st in escaped {
        if !statements.contains(&st) {
            statements.push(st);
        }
    }
    (statements, shell)
}

fn classify_with(sql: &str, backslash_escapes: bool) -> (Vec<Statement>, Vec<String>) {
    let chars: Vec<char> = sql.chars().collect();
    let mut statements = Vec::new();
    let mut shell = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut tokens = 0usize;
    let mut start = 0usize;
    let mut i = 0usize;
    let mut line_start = true;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line_start = true;
            i += 1;
            continue;
        }
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let at_line_start = line_start;
        line_start = false;
        match c {
            '\\' if at_line_start || tokens == 0 => {
                // psql / mysql client meta-command: runs to the end of the line.
                let end = chars[i..]
                    .iter()
                    .position(|&c| c == '\n')
                    .map_or(chars.len(), |p| i + p);
                let meta: String = chars[i + 1..end].iter().collect();
                if let Some(cmd) = meta.strip_prefix('!') {
                    shell.push(cmd.trim().to_string());
                }
                i = end;
                start = end;
                continue;
            }
            '-' if chars.get(i + 1) == Some(&'-') => {
                i = chars[i..]
                    .iter()
                    .position(|&c| c == '\n')
                    .map_or(chars.len(), |p| i + p);
                continue;
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                let mut depth = 0;
                while i < chars.len() {
                    if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                        depth += 1;
                        i += 2;
                    } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                continue;
            }
            '\'' | '"' | '`' => {
                i = skip_quoted(&chars, i, c, backslash_escapes);
                tokens += 1;
                words.push(String::new());
                continue;
            }
            '$' => {
                if let Some(end) = skip_dollar_quote(&chars, i) {
                    i = end;
                    tokens += 1;
                    words.push(String::new());
                    continue;
                }
                i += 1;
                tokens += 1;
                continue;
            }
            ';' => {
                push_statement(&mut statements, &words, tokens, &chars[start..i]);
                words.clear();
                tokens = 0;
                i += 1;
                start = i;
                continue;
            }
            c if c.is_alphanumeric() || c == '_' => {
                let s = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$') {
                    i += 1;
                }
                words.push(chars[s..i].iter().collect::<String>().to_ascii_uppercase());
                tokens += 1;
                continue;
            }
            _ => {
                words.push(String::new());
                tokens += 1;
                i += 1;
            }
        }
    }
    push_statement(&mut statements, &words, tokens, &chars[start.min(chars.len())..]);
    (statements, shell)
}

fn push_statement(out: &mut Vec<Statement>, words: &[String], tokens: usize, text: &[char]) {
    if tokens < 2 {
        return;
    }
    let mut kinds: Vec<String> = Vec::new();
    if let Some(first) = words.first().filter(|w| !w.is_empty()) {
        kinds.push(first.to_ascii_lowercase());
    }
    for (i, w) in words.iter().enumerate() {
        let kind = match w.as_str() {
            "DROP" => "drop",
            "TRUNCATE" => "truncate",
            "DELETE" if i == 0 || words.get(i + 1).is_some_and(|n| n == "FROM") => "delete",
            _ => continue,
        };
        if !kinds.iter().any(|k| k == kind) {
            kinds.push(kind.to_string());
        }
    }
    let text: String = text.iter().collect();
    out.push(Statement {
        kinds,
        text: text.trim().to_string(),
    });
}

/// Index after a quoted literal opened at `i` (doubled quotes and backslashes escape).
fn skip_quoted(chars: &[char], i: usize, q: char, backslash_escapes: bool) -> usize {
    let mut j = i + 1;
    while j < chars.len() {
        if backslash_escapes && chars[j] == '\\' && q != '`' {
            j += 2;
            continue;
        }
        if chars[j] == q {
            if chars.get(j + 1) == Some(&q) {
                j += 2;
                continue;
            }
            return j + 1;
        }
        j += 1;
    }
    chars.len()
}

/// `$tag$…$tag$` (PostgreSQL): the index after it, if `i` opens one.
fn skip_dollar_quote(chars: &[char], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
        j += 1;
    }
    if chars.get(j) != Some(&'$') || chars.get(i + 1).is_some_and(char::is_ascii_digit) {
        return None;
    }
    let tag: Vec<char> = chars[i..=j].to_vec();
    let mut k = j + 1;
    while k + tag.len() <= chars.len() {
        if chars[k..k + tag.len()] == tag[..] {
            return Some(k + tag.len());
        }
        k += 1;
    }
    Some(chars.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for k in classify(sql).0.into_iter().flat_map(|s| s.kinds) {
            if !out.contains(&k) {
                out.push(k);
            }
        }
        out
    }

    #[test]
    fn statements() {
        let cases: &[(&str, &[&str])] = &[
            ("drop table users", &["drop"]),
            ("DrOp TaBlE users;", &["drop"]),
            ("select 1; drop table x", &["select", "drop"]),
            ("select * from t where name = 'drop table'", &["select"]),
            ("select \"drop\" from t", &["select"]),
            ("select $$ drop table x $$", &["select"]),
            ("select 1 -- drop table x", &["select"]),
            ("select /* drop table x */ 1", &["select"]),
            ("truncate logs", &["truncate"]),
            ("delete from users where id = 1", &["delete"]),
            (
                "with d as (delete from t returning *) select * from d",
                &["with", "delete"],
            ),
            ("grant delete on t to bob", &["grant"]),
            ("create table t (id int references u on delete cascade)", &["create"]),
            ("alter table t drop column c", &["alter", "drop"]),
            ("update t set a = 1", &["update"]),
            ("delete", &[]),
            ("", &[]),
            ("select drop_count from stats", &["select"]),
            ("select 'a\\'; drop table x; --'", &["select", "drop"]),
        ];
        for (sql, want) in cases {
            assert_eq!(kinds(sql), *want, "{sql}");
        }
    }

    #[test]
    fn shell_escape() {
        let (_, shell) = classify("\\! rm -rf /tmp/x\nselect 1;");
        assert_eq!(shell, ["rm -rf /tmp/x"]);
    }
}
