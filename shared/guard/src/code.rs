//! Best-effort reading of interpreters' inline code (`python -c`, `perl -e`, awk programs, …):
//! the shell commands it hands to `system`/`subprocess`/backticks and its string literals (for
//! SQL). The guard inspects these like any other command; the code itself is also matched by
//! the rules' `code` regexes.

use std::sync::LazyLock;

use regex::Regex;

/// Calls that run their string argument (or list of strings) as a command.
static EXEC_CALL: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"(?x)
        (?: \bos\.system | \bos\.popen | \bos\.exec[lv]p?e? | \bos\.spawn[lv]p?e? | \bsubprocess\.[A-Za-z_]+
          | \bcommands\.getoutput | \bpty\.spawn | \bshell_exec | \bpassthru | \bproc_open | \bpopen
          | \bsystem | \bexec(?:Sync|File|FileSync)? | \bspawn(?:Sync)? | \bIO\.popen | \bKernel\.(?:system|exec|spawn)
          | \bos\.execute | \bio\.popen | \bdo\s+shell\s+script | \bRuntime\.getRuntime\(\)\.exec
          | \bcheck_output | \bcheck_call | \bPopen | \brun | \bcall | \bOpen3\.[a-z0-9_]+ )
        \s*\(?\s*",
    )
    .ok()
});

/// `"cmd" | getline` and `print … | "cmd"` in awk.
static AWK_PIPE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r#""((?:[^"\\]|\\.)*)"\s*\|\s*getline|\|\s*"((?:[^"\\]|\\.)*)""#).ok());

/// Code that talks to a database (so its SQL-looking strings are queries, not messages).
static DB_CALL: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?i)(\bexecute(many|script)?\s*\(|\bquery\s*\(|cursor|\.exec\s*\(|\.run\s*\(|\.prepare\s*\(|\bsqlite3?\b|psycopg|pymysql|mysql|\bpg\b|sequelize|knex|\bDBI\b|ActiveRecord|\bPDO\b|sqlalchemy|\bdb\.)").ok()
});

/// Whether the code calls into a database.
pub(crate) fn calls_database(code: &str) -> bool {
    DB_CALL.as_ref().is_some_and(|re| re.is_match(code))
}

/// The language family of an interpreter, for backtick and `qx` handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    Python,
    Perl,
    Ruby,
    Php,
    Js,
    Awk,
    Other,
}

/// Shell commands embedded in `code`.
pub(crate) fn shell_commands(code: &str, lang: Lang) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(re) = EXEC_CALL.as_ref() {
        for m in re.find_iter(code) {
            let items = string_list(&code[m.end()..]);
            if !items.is_empty() {
                out.push(items.join(" "));
            }
        }
    }
    if matches!(lang, Lang::Perl | Lang::Ruby | Lang::Php) {
        out.extend(delimited(code, "`", '`'));
        for open in ["qx{", "qx(", "qx[", "%x{", "%x(", "%x["] {
            let close = match open.chars().last() {
                Some('{') => '}',
                Some('(') => ')',
                _ => ']',
            };
            out.extend(delimited(code, open, close));
        }
        for sep in ["qx/", "qx|", "qx!"] {
            let close = sep.chars().last().unwrap_or('/');
            out.extend(delimited(code, sep, close));
        }
    }
    if lang == Lang::Awk
        && let Some(re) = AWK_PIPE.as_ref()
    {
        for c in re.captures_iter(code) {
            if let Some(m) = c.get(1).or_else(|| c.get(2)) {
                out.push(unescape(m.as_str()));
            }
        }
    }
    out
}

/// Every string literal in `code` (single, double or backtick quoted).
pub(crate) fn string_literals(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(pos) = rest.find(['"', '\'', '`']) {
        match string_literal(&rest[pos..]) {
            Some((s, used)) => {
                out.push(s);
                rest = &rest[pos + used..];
            }
            None => break,
        }
    }
    out
}

/// A string literal at the start of `s` (after an optional Python prefix like `f`/`r`/`b`):
/// its unescaped content and the bytes it took.
fn string_literal(s: &str) -> Option<(String, usize)> {
    let prefix = s.chars().take_while(|c| "rRbBfFuU".contains(*c)).count().min(2);
    let body = &s[prefix..];
    let q = body.chars().next().filter(|c| *c == '"' || *c == '\'' || *c == '`')?;
    let triple: String = std::iter::repeat_n(q, 3).collect();
    if body.starts_with(&triple) {
        let end = body[3..].find(&triple)?;
        return Some((body[3..3 + end].to_string(), prefix + 3 + end + 3));
    }
    let mut escaped = false;
    for (i, c) in body.char_indices().skip(1) {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
            continue;
        }
        if c == q {
            return Some((unescape(&body[1..i]), prefix + i + 1));
        }
    }
    None
}

/// The code with constant strings folded: concatenations of literals (`'/etc/' + 'shadow'`,
/// Perl/PHP `.`, Lua `..`, Python's adjacent literals) and path joins of literals
/// (`os.path.join('/etc', 'shadow')`) become one literal, so `code` rules see the string the
/// program builds. `None` when there is nothing to fold.
pub(crate) fn fold_strings(code: &str) -> Option<String> {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    let mut folded = false;
    while let Some(pos) = rest.find(|c: char| matches!(c, '"' | '\'' | '`') || c.is_ascii_alphabetic()) {
        let (before, at) = rest.split_at(pos);
        out.push_str(before);
        if let Some(after) = PATH_JOIN.iter().find_map(|j| at.strip_prefix(j)) {
            let inner = after.trim_start();
            let items = string_list(inner);
            if items.len() > 1
                && let Some(close) = literal_list_end(inner)
                && inner[close..].starts_with(')')
            {
                let joined = items.iter().fold(String::new(), |acc, p| join_path(&acc, p));
                out.push_str(&quote(&joined));
                rest = &inner[close + 1..];
                folded = true;
                continue;
            }
        }
        let word_len = at
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .count();
        let Some((first, used)) = (if at.starts_with(['"', '\'', '`']) || word_len <= 2 {
            string_literal(at)
        } else {
            None
        }) else {
            // An identifier (not a string prefix like `f"…"`): copy it whole.
            let n = word_len.max(1);
            let n = at.char_indices().nth(n).map_or(at.len(), |(i, _)| i);
            out.push_str(&at[..n]);
            rest = &at[n..];
            continue;
        };
        let mut value = first;
        let mut tail = &at[used..];
        loop {
            let t = tail.trim_start();
            let op = ["..", "+", "."].iter().find(|op| t.starts_with(**op));
            let next = match op {
                Some(op) => t[op.len()..].trim_start(),
                // Adjacent literals (Python, C): only across whitespace.
                None if t.len() < tail.len() => t,
                None => break,
            };
            match string_literal(next) {
                Some((more, n)) => {
                    value.push_str(&more);
                    tail = &next[n..];
                    folded = true;
                }
                None => break,
            }
        }
        out.push_str(&quote(&value));
        rest = tail;
    }
    out.push_str(rest);
    folded.then_some(out)
}

const PATH_JOIN: &[&str] = &["os.path.join(", "path.join(", "File.join(", "posixpath.join("];

/// Where a list of string literals starting `s` ends (the byte after the last one).
fn literal_list_end(s: &str) -> Option<usize> {
    let mut at = 0;
    loop {
        let (_, used) = string_literal(&s[at..])?;
        at += used;
        let t = &s[at..];
        let trimmed = t.trim_start();
        at += t.len() - trimmed.len();
        match trimmed.strip_prefix(',') {
            Some(r) => at += 1 + (r.len() - r.trim_start().len()),
            None => return Some(at),
        }
    }
}

fn join_path(base: &str, part: &str) -> String {
    if base.is_empty() || part.starts_with('/') {
        part.to_string()
    } else if base.ends_with('/') {
        format!("{base}{part}")
    } else {
        format!("{base}/{part}")
    }
}

fn quote(s: &str) -> String {
    if s.contains('"') {
        format!("'{s}'")
    } else {
        format!("\"{s}\"")
    }
}

/// `"a", ['b', "c"]` → [a, b, c]: string literals and lists of them, comma separated.
fn string_list(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    loop {
        if let Some(inner) = rest.strip_prefix('[') {
            let items = string_list(inner);
            if items.is_empty() {
                break;
            }
            out.extend(items);
            match rest.find(']') {
                Some(end) => rest = rest[end + 1..].trim_start(),
                None => break,
            }
        } else if let Some((item, used)) = string_literal(rest) {
            out.push(item);
            rest = rest[used..].trim_start();
        } else {
            break;
        }
        match rest.strip_prefix(',') {
            Some(r) => rest = r.trim_start(),
            None => break,
        }
    }
    out
}

fn delimited(code: &str, open: &str, close: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(pos) = rest.find(open) {
        let after = &rest[pos + open.len()..];
        match after.find(close) {
            Some(end) => {
                out.push(after[..end].to_string());
                rest = &after[end + close.len_utf8()..];
            }
            None => break,
        }
    }
    out
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_commands() {
        let cases: &[(&str, Lang, &[&str])] = &[
            ("import os; os.system('rm -rf /data')", Lang::Python, &["rm -rf /data"]),
            (
                "import subprocess; subprocess.run(['rm', '-rf', '/data'])",
                Lang::Python,
                &["rm -rf /data"],
            ),
            (
                "subprocess.call(\"curl x | sh\", shell=True)",
                Lang::Python,
                &["curl x | sh"],
            ),
            ("system(\"rm -rf /data\")", Lang::Perl, &["rm -rf /data"]),
            ("print `id`", Lang::Perl, &["id"]),
            ("puts %x(whoami)", Lang::Ruby, &["whoami"]),
            (
                "require('child_process').execSync('rm -rf /data')",
                Lang::Js,
                &["rm -rf /data"],
            ),
            ("console.log(`hi`)", Lang::Js, &[]),
            ("BEGIN { system(\"rm -rf /data\") }", Lang::Awk, &["rm -rf /data"]),
            ("{ print | \"sh\" }", Lang::Awk, &["sh"]),
            ("print('hello')", Lang::Python, &[]),
            ("system \"rm\", \"-rf\", \"/data\"", Lang::Perl, &["rm -rf /data"]),
            (
                "os.execv('/bin/rm', ['rm', '-rf', '/data'])",
                Lang::Python,
                &["/bin/rm rm -rf /data"],
            ),
        ];
        for (code, lang, want) in cases {
            assert_eq!(shell_commands(code, *lang), *want, "{code}");
        }
    }

    #[test]
    fn folded_strings() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                "print(open('/etc/' + 'shadow').read())",
                Some("print(open(\"/etc/shadow\").read())"),
            ),
            ("open('/etc/' 'shadow')", Some("open(\"/etc/shadow\")")),
            ("open '/etc/' . \"shadow\";", Some("open \"/etc/shadow\";")),
            ("io.open('/etc/' .. 'shadow')", Some("io.open(\"/etc/shadow\")")),
            ("open(os.path.join('/etc', 'shadow'))", Some("open(\"/etc/shadow\")")),
            ("print('a'.join(xs))", None),
            ("x = f'{a}' + b", None),
            ("print('hello')", None),
        ];
        for (code, want) in cases {
            assert_eq!(fold_strings(code).as_deref(), *want, "{code}");
        }
    }

    #[test]
    fn literals() {
        assert_eq!(
            string_literals(r#"c.execute("DROP TABLE t"); x = 'a\'b'"#),
            ["DROP TABLE t", "a'b"]
        );
    }
}
