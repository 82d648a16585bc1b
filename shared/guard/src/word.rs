//! Resolved shell words. After quote removal and expansion a word becomes one or more fields:
//! text in which an unquoted `*`/`?`/class is a wildcard marker and a value only known at run
//! time is an `UNKNOWN` marker, with a taint saying where such values came from (downloaded or
//! decoded content must never reach an interpreter).

use super::glob::{DIRS, ONE, STAR, UNKNOWN};

/// Where the run-time parts of a field came from, in increasing order of distrust.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Taint {
    /// Fully known.
    #[default]
    None,
    /// Some part is only known at run time (environment, a command's output).
    Dynamic,
    /// Some part is the output of a decoder (base64 -d, xxd -r, tr, rev, …).
    Decoded,
    /// Some part was downloaded (curl, wget, nc, …).
    Downloaded,
}

/// One field of a resolved word.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Field {
    pub text: String,
    pub taint: Taint,
}

impl Field {
    pub(crate) fn lit(s: &str) -> Self {
        Field {
            text: s.to_string(),
            taint: Taint::None,
        }
    }

    pub(crate) fn unknown(taint: Taint) -> Self {
        Field {
            text: UNKNOWN.to_string(),
            taint: taint.max(Taint::Dynamic),
        }
    }

    /// Fully known: no run-time part.
    pub(crate) fn is_static(&self) -> bool {
        !self.text.contains(UNKNOWN)
    }

    pub(crate) fn has_wildcard(&self) -> bool {
        self.text.contains([STAR, ONE, DIRS])
    }

    /// The literal text when the field is known and has no wildcard.
    pub(crate) fn literal(&self) -> Option<&str> {
        (!self.text.contains([STAR, ONE, DIRS, UNKNOWN])).then_some(self.text.as_str())
    }

    /// The text as a shell user would read it (`*`, `?`, `…` for run-time parts).
    pub(crate) fn display(&self) -> String {
        display_text(&self.text)
    }
}

pub(crate) fn display_text(s: &str) -> String {
    markers_to_text(s, Some('…'))
}

/// The text with wildcard markers back to plain characters (for re-parsing, e.g. `eval`).
pub(crate) fn plain_text(s: &str) -> String {
    markers_to_text(s, None)
}

/// The text to parse again as code (`bash -c`, `eval`): wildcards back to `*`/`?`, run-time
/// parts kept as `UNKNOWN` so they stay unknown in the nested analysis.
pub(crate) fn code_text(s: &str) -> String {
    markers_to_text(s, Some(UNKNOWN))
}

/// Wildcard markers as glob text (`DIRS` as `**/`); `UNKNOWN` as `unknown` (dropped if `None`).
fn markers_to_text(s: &str, unknown: Option<char>) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            STAR => out.push('*'),
            ONE => out.push('?'),
            DIRS => out.push_str("**/"),
            UNKNOWN => out.extend(unknown),
            c => out.push(c),
        }
    }
    out
}

/// Builds the fields of one word (one alternative of it).
#[derive(Debug, Clone, Default)]
pub(crate) struct FieldBuilder {
    fields: Vec<Field>,
    cur: String,
    taint: Taint,
    /// The current field exists even if empty (`""`, a literal character).
    has: bool,
}

impl FieldBuilder {
    /// Quoted or escaped text: no splitting, no wildcards.
    pub(crate) fn push_quoted(&mut self, s: &str) {
        self.cur.push_str(s);
        self.has = true;
    }

    /// Unquoted literal text from the command line: wildcards become markers.
    pub(crate) fn push_unquoted(&mut self, s: &str) {
        let chars: Vec<char> = s.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '*' => self.cur.push(STAR),
                '?' => self.cur.push(ONE),
                '[' => {
                    // A bracket class needs a closing ']' after at least one character.
                    if let Some(end) = chars[i + 1..].iter().skip(1).position(|&c| c == ']') {
                        self.cur.push(ONE);
                        i += end + 3;
                        continue;
                    }
                    self.cur.push('[');
                }
                c => self.cur.push(c),
            }
            i += 1;
        }
        self.has = true;
    }

    /// The value of an expansion (may hold markers). Unquoted, it is split on `ifs` and its
    /// `*`/`?` become wildcards.
    pub(crate) fn push_expansion(&mut self, value: &str, taint: Taint, quoted: bool, ifs: &str) {
        if value.contains(UNKNOWN) {
            self.taint = self.taint.max(taint.max(Taint::Dynamic));
        }
        if quoted {
            self.cur.push_str(value);
            self.has = true;
            return;
        }
        for c in value.chars() {
            if ifs.contains(c) {
                self.end_field();
                continue;
            }
            match c {
                '*' => self.cur.push(STAR),
                '?' => self.cur.push(ONE),
                c => self.cur.push(c),
            }
            self.has = true;
        }
    }

    pub(crate) fn push_unknown(&mut self, taint: Taint) {
        self.cur.push(UNKNOWN);
        self.taint = self.taint.max(taint.max(Taint::Dynamic));
        self.has = true;
    }

    /// Ends the current field (quoted `"$@"` elements, IFS splits).
    pub(crate) fn end_field(&mut self) {
        if self.has || !self.cur.is_empty() {
            self.fields.push(Field {
                text: std::mem::take(&mut self.cur),
                taint: self.taint,
            });
        }
        self.taint = Taint::None;
        self.has = false;
    }

    /// Marks that the current field exists (a `""` or an element of `"$@"`).
    pub(crate) fn mark(&mut self) {
        self.has = true;
    }

    pub(crate) fn finish(mut self) -> Vec<Field> {
        self.end_field();
        self.fields
    }
}

/// Decodes the body of an ANSI-C quoted string (`$'…'`).
pub(crate) fn ansi_c_decode(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' || i + 1 >= chars.len() {
            out.push(c);
            i += 1;
            continue;
        }
        let e = chars[i + 1];
        i += 2;
        match e {
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'e' | 'E' => out.push('\x1b'),
            'f' => out.push('\x0c'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\x0b'),
            '\\' | '\'' | '"' | '?' => out.push(e),
            'x' => {
                let (v, used) = read_radix(&chars[i..], 16, 2);
                i += used;
                push_code(&mut out, v, used, "\\x");
            }
            'u' => {
                let (v, used) = read_radix(&chars[i..], 16, 4);
                i += used;
                push_code(&mut out, v, used, "\\u");
            }
            'U' => {
                let (v, used) = read_radix(&chars[i..], 16, 8);
                i += used;
                push_code(&mut out, v, used, "\\U");
            }
            'c' => {
                if let Some(&k) = chars.get(i) {
                    out.push(char::from_u32((k as u32) & 0x1f).unwrap_or(k));
                    i += 1;
                }
            }
            '0'..='7' => {
                let (v, used) = read_radix(&chars[i - 1..], 8, 3);
                i += used - 1;
                push_code(&mut out, v, used, "\\");
            }
            other => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    out
}

/// Decodes `echo -e`/`printf` escapes (like ANSI-C, with `\0NNN` octal).
pub(crate) fn echo_decode(s: &str) -> String {
    ansi_c_decode(&s.replace("\\0", "\\"))
}

fn read_radix(chars: &[char], radix: u32, max: usize) -> (u32, usize) {
    let mut v: u32 = 0;
    let mut used = 0;
    for &c in chars.iter().take(max) {
        let Some(d) = c.to_digit(radix) else { break };
        v = v.saturating_mul(radix).saturating_add(d);
        used += 1;
    }
    (v, used)
}

fn push_code(out: &mut String, v: u32, used: usize, prefix: &str) {
    if used == 0 {
        out.push_str(prefix);
        return;
    }
    if let Some(c) = char::from_u32(v) {
        out.push(c);
    }
}

/// Lexically normalised path: no empty or `.` segments, `..` applied, no trailing `/`.
/// Going above `~` is treated as reaching `/` (root's home is `/root`). Words that are not
/// paths come back unchanged.
pub(crate) fn normalize_path(s: &str) -> String {
    // Run-time parts are read as empty here, as in matching: `$UNSET/` is `/`.
    let s: String = s.chars().filter(|&c| c != UNKNOWN).collect();
    if !s.contains('/') {
        return s;
    }
    let mut root = s.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for seg in s.split('/') {
        match seg {
            "" | "." => {}
            ".." => match out.last() {
                Some(&"~") => {
                    out.pop();
                    root = true;
                }
                Some(&"..") | None => {
                    if !root {
                        out.push("..");
                    }
                }
                Some(_) => {
                    out.pop();
                }
            },
            _ => out.push(seg),
        }
    }
    let joined = out.join("/");
    if root { format!("/{joined}") } else { joined }
}

/// Quotes a field for re-parsing as part of a shell command (aliases, `eval`).
pub(crate) fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c)) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansi_c() {
        let cases = [
            (r"\x72\x6d", "rm"),
            (r"\162\155", "rm"),
            (r"\u0072m", "rm"),
            (r"a\'b", "a'b"),
            (r"tab\there", "tab\there"),
            (r"\q", r"\q"),
            (r"\x", r"\x"),
        ];
        for (input, want) in cases {
            assert_eq!(ansi_c_decode(input), want, "{input}");
        }
    }

    #[test]
    fn paths() {
        let cases = [
            ("/", "/"),
            ("//", "/"),
            ("/.", "/"),
            ("/usr/..", "/"),
            ("/usr/../", "/"),
            ("/etc/./shadow", "/etc/shadow"),
            ("/etc//shadow", "/etc/shadow"),
            ("/../../etc", "/etc"),
            ("a/../../b", "../b"),
            ("~/..", "/"),
            ("~/.ssh/", "~/.ssh"),
            ("./.ssh/id_rsa", ".ssh/id_rsa"),
            ("file.txt", "file.txt"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_path(input), want, "{input}");
        }
        let unk_root = format!("{UNKNOWN}/");
        assert_eq!(normalize_path(&unk_root), "/");
    }

    #[test]
    fn splitting_and_globs() {
        let mut b = FieldBuilder::default();
        b.push_unquoted("rm");
        b.push_expansion(" -rf ", Taint::None, false, " \t\n");
        b.push_unquoted("/*");
        let f = b.finish();
        let texts: Vec<String> = f.iter().map(Field::display).collect();
        assert_eq!(texts, ["rm", "-rf", "/*"]);
        assert!(f[2].has_wildcard());

        let mut b = FieldBuilder::default();
        b.push_expansion("", Taint::None, false, " ");
        assert!(b.finish().is_empty(), "an empty unquoted expansion is no field");
        let mut b = FieldBuilder::default();
        b.push_quoted("");
        assert_eq!(b.finish().len(), 1, "\"\" is an empty field");
    }
}
