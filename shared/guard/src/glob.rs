//! Glob patterns of guard rules, matched against resolved shell words that may hold wildcards
//! themselves (`cat /etc/sha*`). A pattern matches a word when some name the word could expand to
//! matches the pattern, so a glob written to dodge a rule still meets it. `*` and `?` do not
//! cross `/`; `**` does; `[a-z]`/`[!a-z]` are classes; `{a,b}` alternatives are expanded when the
//! rule is compiled. A pattern starting with `=` is compared exactly, wildcards included, against
//! the word's canonical text (`=/*` is "every top-level entry", not "some top-level entry").
//!
//! `pattern` reads a pattern's syntax into tokens; this module compiles and matches them.

mod pattern;

use pattern::{Tok, expand_braces, parse_tokens};

/// An unquoted `*` in a resolved word.
pub(crate) const STAR: char = '\u{E000}';
/// An unquoted `?` or bracket class in a resolved word.
pub(crate) const ONE: char = '\u{E001}';
/// A value only known at run time (a variable from the environment, a command's output).
pub(crate) const UNKNOWN: char = '\u{E002}';
/// Zero or more directory levels (empty, or any text ending in `/`): where `find DIR -name X`
/// may find `X` below `DIR`.
pub(crate) const DIRS: char = '\u{E003}';

/// Why a rule pattern does not compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum GlobError {
    #[error("empty pattern")]
    Empty,
    #[error("pattern ends with a backslash")]
    TrailingBackslash,
    #[error("unterminated '[' in pattern")]
    UnterminatedClass,
    #[error("unbalanced '{{' in pattern")]
    UnbalancedBrace,
    #[error("pattern has too many brace alternatives")]
    TooManyAlternatives,
}

/// Longest word matched; longer words (after path normalisation) never match.
const MAX_SUBJECT: usize = 4096;

/// A word prepared for matching: its characters (run-time parts dropped), and lowercased; the
/// same as text for the literal prefilter of a `GlobSet`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Subject {
    chars: Vec<char>,
    lower: Vec<char>,
    text: String,
    lower_text: String,
    /// Holds a `STAR`/`ONE` wildcard.
    wild: bool,
}

impl Subject {
    pub(crate) fn new(s: &str) -> Self {
        let text: String = if s.contains(UNKNOWN) {
            s.chars().filter(|&c| c != UNKNOWN).collect()
        } else {
            s.to_string()
        };
        let chars: Vec<char> = text.chars().collect();
        let (lower, lower_text) = if chars.iter().any(|c| c.is_uppercase()) {
            let lower: Vec<char> = chars.iter().copied().flat_map(char::to_lowercase).collect();
            let lower_text = lower.iter().collect();
            (lower, lower_text)
        } else {
            (chars.clone(), text.clone())
        };
        let wild = chars.iter().any(|&c| c == STAR || c == ONE || c == DIRS);
        Subject {
            chars,
            lower,
            text,
            lower_text,
            wild,
        }
    }
}

/// Patterns matched as one list: a word matches when any of them does. A long list first looks
/// for its patterns' literal parts in a plain word (one Aho-Corasick pass), and tries only the
/// patterns whose literal part occurs there: a word is compared with a few dozen credential paths
/// in one scan. Words holding wildcards, `=` patterns and patterns without a literal character
/// are always tried one by one.
#[derive(Debug, Clone, Default)]
pub(crate) struct GlobSet {
    globs: Vec<Glob>,
    filter: Option<Prefilter>,
}

#[derive(Debug, Clone)]
struct Prefilter {
    /// The longest run of literal characters of each filtered pattern, distinct.
    literals: aho_corasick::AhoCorasick,
    /// For each literal, the patterns holding it.
    owners: Vec<Vec<usize>>,
    /// Patterns tried on every word.
    always: Vec<usize>,
    ignore_case: bool,
}

/// Shortest list worth a prefilter (a few patterns are cheaper to try directly).
const PREFILTER_MIN: usize = 4;

impl GlobSet {
    pub(crate) fn new(globs: Vec<Glob>) -> Self {
        let filter = Prefilter::build(&globs);
        GlobSet { globs, filter }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.globs.is_empty()
    }

    pub(crate) fn iter(&self) -> std::slice::Iter<'_, Glob> {
        self.globs.iter()
    }

    /// Whether any pattern matches the word.
    pub(crate) fn matches(&self, subject: &Subject) -> bool {
        let Some(f) = self.filter.as_ref().filter(|_| !subject.wild) else {
            return self.globs.iter().any(|g| g.matches_subject(subject));
        };
        if f.always.iter().any(|&i| self.globs[i].matches_subject(subject)) {
            return true;
        }
        let text = if f.ignore_case {
            &subject.lower_text
        } else {
            &subject.text
        };
        f.literals.find_overlapping_iter(text.as_str()).any(|m| {
            f.owners[m.pattern().as_usize()]
                .iter()
                .any(|&i| self.globs[i].matches_subject(subject))
        })
    }
}

impl Prefilter {
    fn build(globs: &[Glob]) -> Option<Prefilter> {
        let ignore_case = globs.first()?.ignore_case;
        if globs.len() < PREFILTER_MIN || globs.iter().any(|g| g.ignore_case != ignore_case) {
            return None;
        }
        let mut literals: Vec<String> = Vec::new();
        let mut owners: Vec<Vec<usize>> = Vec::new();
        let mut always = Vec::new();
        for (i, g) in globs.iter().enumerate() {
            match g.longest_literal() {
                Some(lit) if g.exact.is_none() => match literals.iter().position(|l| *l == lit) {
                    Some(k) => owners[k].push(i),
                    None => {
                        literals.push(lit);
                        owners.push(vec![i]);
                    }
                },
                _ => always.push(i),
            }
        }
        // A list that is mostly unfilterable gains nothing.
        if literals.is_empty() || always.len() * 2 > globs.len() {
            return None;
        }
        let literals = aho_corasick::AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::Standard)
            .build(&literals)
            .ok()?;
        Some(Prefilter {
            literals,
            owners,
            always,
            ignore_case,
        })
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Glob {
    toks: Vec<Tok>,
    /// Literal characters the pattern starts and ends with (a quick reject for plain words).
    prefix: Vec<char>,
    suffix: Vec<char>,
    /// `=` patterns: the canonical text to compare with.
    exact: Option<Vec<char>>,
    ignore_case: bool,
}

impl Glob {
    /// Compiles one pattern into its brace alternatives (and the `**/x` → `x`, `x/**` → `x`
    /// variants, so `/etc/**` also matches `/etc`).
    pub(crate) fn compile(pattern: &str, ignore_case: bool) -> Result<Vec<Glob>, GlobError> {
        if pattern.is_empty() {
            return Err(GlobError::Empty);
        }
        let pattern = if ignore_case {
            pattern.to_lowercase()
        } else {
            pattern.to_string()
        };
        let mut out = Vec::new();
        for alt in expand_braces(&pattern)? {
            if let Some(exact) = alt.strip_prefix('=') {
                out.push(Glob {
                    toks: Vec::new(),
                    prefix: Vec::new(),
                    suffix: Vec::new(),
                    exact: Some(exact.chars().collect()),
                    ignore_case,
                });
                continue;
            }
            let mut variants = vec![alt.clone()];
            if let Some(rest) = alt.strip_prefix("**/")
                && !rest.is_empty()
            {
                variants.push(rest.to_string());
            }
            if let Some(rest) = alt.strip_suffix("/**")
                && !rest.is_empty()
            {
                variants.push(rest.to_string());
            }
            for v in variants {
                let toks = parse_tokens(&v)?;
                let lit = |t: &Tok| if let Tok::Lit(c) = t { Some(*c) } else { None };
                let prefix: Vec<char> = toks.iter().map_while(lit).collect();
                let suffix: Vec<char> = if prefix.len() == toks.len() {
                    Vec::new()
                } else {
                    let mut s: Vec<char> = toks.iter().rev().map_while(lit).collect();
                    s.reverse();
                    s
                };
                out.push(Glob {
                    toks,
                    prefix,
                    suffix,
                    exact: None,
                    ignore_case,
                });
            }
        }
        Ok(out)
    }

    /// The pattern's text when it has no wildcard (for indexing rules by program name).
    pub(crate) fn literal(&self) -> Option<String> {
        if self.exact.is_some() {
            return None;
        }
        self.toks
            .iter()
            .map(|t| if let Tok::Lit(c) = t { Some(*c) } else { None })
            .collect()
    }

    /// The longest run of literal characters: every plain word the pattern matches holds it.
    fn longest_literal(&self) -> Option<String> {
        let mut best: &[Tok] = &[];
        for run in self.toks.split(|t| !matches!(t, Tok::Lit(_))) {
            if run.len() > best.len() {
                best = run;
            }
        }
        let lit: String = best
            .iter()
            .filter_map(|t| if let Tok::Lit(c) = t { Some(*c) } else { None })
            .collect();
        (!lit.is_empty()).then_some(lit)
    }

    /// Whether the word (with `STAR`/`ONE` markers; `UNKNOWN` is read as empty) matches.
    #[cfg(test)]
    pub(crate) fn matches(&self, subject: &str) -> bool {
        self.matches_subject(&Subject::new(subject))
    }

    /// Like `matches`, on a word prepared once for many patterns.
    pub(crate) fn matches_subject(&self, subject: &Subject) -> bool {
        let chars = if self.ignore_case {
            &subject.lower
        } else {
            &subject.chars
        };
        if let Some(exact) = &self.exact {
            return canonical(chars) == *exact;
        }
        if chars.len() > MAX_SUBJECT {
            return false;
        }
        if matches!(self.toks.last(), Some(Tok::DStar)) && chars.contains(&DIRS) {
            // A found name is tried at any depth against patterns naming files, but a pattern
            // covering a whole tree (`/run/secrets/**`) would take any name below any
            // directory: there, the name is tried directly under the start point.
            let direct: Vec<char> = chars.iter().copied().filter(|&c| c != DIRS).collect();
            return self.matches_chars(&direct, true);
        }
        self.matches_chars(chars, subject.wild)
    }

    fn matches_chars(&self, chars: &[char], wild: bool) -> bool {
        if !wild {
            if self.prefix.len() == self.toks.len() {
                return *chars == self.prefix;
            }
            // Cheap checks first: most patterns fail on their first or last character.
            if chars.len() < self.prefix.len() + self.suffix.len()
                || self.prefix.first().is_some_and(|c| chars.first() != Some(c))
                || self.suffix.last().is_some_and(|c| chars.last() != Some(c))
                || !chars.starts_with(&self.prefix)
                || !chars.ends_with(&self.suffix)
            {
                return false;
            }
        }
        if self.toks.len() < 64 {
            self.simulate(chars)
        } else {
            self.search(chars)
        }
    }

    fn is_star(&self, j: usize) -> bool {
        matches!(self.toks.get(j), Some(Tok::Star | Tok::DStar))
    }

    /// States reachable without consuming (a `*` may match nothing).
    fn closure(&self, mut set: u64) -> u64 {
        for j in 0..self.toks.len() {
            if set >> j & 1 == 1 && self.is_star(j) {
                set |= 1 << (j + 1);
            }
        }
        set
    }

    /// States after consuming the character `c` (`None`: some character other than `/`).
    fn step(&self, set: u64, c: Option<char>) -> u64 {
        let mut next = 0u64;
        let mut bits = set;
        while bits != 0 {
            let j = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let Some(t) = self.toks.get(j) else { continue };
            let advance = match (t, c) {
                (Tok::Lit(d), Some(c)) => *d == c,
                (Tok::Lit(d), None) => *d != '/',
                (Tok::One, c) => c != Some('/'),
                (Tok::Class { ranges, negated }, Some(c)) => Tok::class_matches(ranges, *negated, c),
                (Tok::Class { .. }, None) => true,
                (Tok::Star, c) => {
                    if c != Some('/') {
                        next |= 1 << j;
                    }
                    false
                }
                (Tok::DStar, _) => {
                    next |= 1 << j;
                    false
                }
            };
            if advance {
                next |= 1 << (j + 1);
            }
        }
        self.closure(next)
    }

    /// NFA simulation over a bit set of pattern positions (patterns under 64 tokens).
    fn simulate(&self, s: &[char]) -> bool {
        let accept = 1u64 << self.toks.len();
        let mut cur = self.closure(1);
        for &c in s {
            if cur == 0 {
                return false;
            }
            cur = match c {
                // Some run of characters without '/', possibly empty.
                STAR => {
                    let mut acc = cur;
                    loop {
                        let next = acc | self.step(acc, None);
                        if next == acc {
                            break acc;
                        }
                        acc = next;
                    }
                }
                ONE => self.step(cur, None),
                // Nothing, or any run of characters ending with '/'.
                DIRS => {
                    let mut any = cur;
                    loop {
                        let next = any | self.step(any, None) | self.step(any, Some('/'));
                        if next == any {
                            break;
                        }
                        any = next;
                    }
                    cur | self.step(any, Some('/'))
                }
                c => self.step(cur, Some(c)),
            };
        }
        cur & accept != 0
    }

    /// Product of the word's and the pattern's automata: is their intersection non-empty?
    fn search(&self, s: &[char]) -> bool {
        let (n, m) = (s.len(), self.toks.len());
        let width = m + 1;
        let mut seen = vec![false; (n + 1) * width];
        let mut stack = vec![(0usize, 0usize)];
        while let Some((i, j)) = stack.pop() {
            let idx = i * width + j;
            if seen[idx] {
                continue;
            }
            seen[idx] = true;
            if i == n && j == m {
                return true;
            }
            let sc = s.get(i).copied();
            let pt = self.toks.get(j);
            if matches!(pt, Some(Tok::Star | Tok::DStar)) {
                stack.push((i, j + 1));
            }
            if sc == Some(STAR) || sc == Some(DIRS) {
                stack.push((i + 1, j));
            }
            let (Some(c), Some(t)) = (sc, pt) else { continue };
            match (c, t) {
                (STAR, Tok::Lit(d)) if *d != '/' => stack.push((i, j + 1)),
                (STAR, Tok::One | Tok::Class { .. }) => stack.push((i, j + 1)),
                (STAR, _) => {}
                // Long patterns only: read as any text (a little wider than "directories").
                (DIRS, Tok::Lit(_) | Tok::One | Tok::Class { .. }) => stack.push((i, j + 1)),
                (DIRS, _) => {}
                (ONE, Tok::Lit(d)) if *d != '/' => stack.push((i + 1, j + 1)),
                (ONE, Tok::One | Tok::Class { .. }) => stack.push((i + 1, j + 1)),
                (ONE, Tok::Star | Tok::DStar) => stack.push((i + 1, j)),
                (ONE, _) => {}
                (c, Tok::Lit(d)) if c == *d => stack.push((i + 1, j + 1)),
                (c, Tok::One) if c != '/' => stack.push((i + 1, j + 1)),
                (c, Tok::Class { ranges, negated }) if Tok::class_matches(ranges, *negated, c) => {
                    stack.push((i + 1, j + 1))
                }
                (c, Tok::Star) if c != '/' => stack.push((i + 1, j)),
                (_, Tok::DStar) => stack.push((i + 1, j)),
                _ => {}
            }
        }
        false
    }
}

/// The word's text for `=` patterns: a run of wildcards holding a `*` is one `*`, a lone
/// wildcard character is `?`.
fn canonical(chars: &[char]) -> Vec<char> {
    let mut out = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == STAR || chars[i] == ONE || chars[i] == DIRS {
            let start = i;
            while i < chars.len() && (chars[i] == STAR || chars[i] == ONE || chars[i] == DIRS) {
                i += 1;
            }
            if chars[start..i].iter().any(|&c| c == STAR || c == DIRS) {
                out.push('*');
            } else {
                out.extend(std::iter::repeat_n('?', i - start));
            }
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any(pattern: &str, subject: &str) -> bool {
        Glob::compile(pattern, false)
            .unwrap()
            .iter()
            .any(|g| g.matches(subject))
    }

    #[test]
    fn a_set_agrees_with_its_patterns_one_by_one() {
        let patterns = [
            "/etc/shadow",
            "/etc/gshadow*",
            "**/.ssh/id_*",
            "/etc/ssh/ssh_host_*_key",
            "**/.aws/credentials",
            "/run/secrets/**",
            "=/",
            "*",
            "[!a]?",
            "/dev/sd[a-z]",
            "**/.Kube/config",
        ];
        let words = [
            "/etc/shadow",
            "/etc/shadow-",
            "/etc/gshadow",
            "/etc/passwd",
            "/root/.ssh/id_ed25519",
            "/root/.ssh/known_hosts",
            "/etc/ssh/ssh_host_rsa_key",
            "/etc/ssh/ssh_host_rsa_key.pub",
            "/home/u/.aws/credentials",
            "/run/secrets/db",
            "/",
            "/x",
            "bb",
            "ab",
            "/dev/sdb",
            "/home/u/.kube/config",
            "/HOME/U/.KUBE/CONFIG",
            "",
            "plain",
        ];
        let marked = |x: &str| x.replace('*', &STAR.to_string()).replace('?', &ONE.to_string());
        for ignore_case in [false, true] {
            let globs: Vec<Glob> = patterns
                .iter()
                .flat_map(|p| Glob::compile(p, ignore_case).unwrap())
                .collect();
            let set = GlobSet::new(globs.clone());
            assert!(set.filter.is_some(), "a long list is prefiltered");
            for w in words
                .iter()
                .map(|w| w.to_string())
                .chain(words.iter().map(|w| marked(&format!("{w}*"))))
            {
                let subject = Subject::new(&w);
                let want = globs.iter().any(|g| g.matches_subject(&subject));
                assert_eq!(set.matches(&subject), want, "{w:?} (ignore_case {ignore_case})");
            }
        }
        // Every pattern matches a word of its own: the prefilter never hides a match.
        let globs: Vec<Glob> = patterns[..5]
            .iter()
            .flat_map(|p| Glob::compile(p, false).unwrap())
            .collect();
        let set = GlobSet::new(globs);
        for w in [
            "/etc/shadow",
            "/etc/gshadow-",
            "/a/.ssh/id_x",
            "/etc/ssh/ssh_host_x_key",
            "/.aws/credentials",
        ] {
            assert!(set.matches(&Subject::new(w)), "{w}");
        }
        assert!(!set.matches(&Subject::new("/etc/hosts")));
    }

    #[test]
    fn found_names_below_a_directory() {
        let d = |x: &str| x.replace('%', &DIRS.to_string()).replace('*', &STAR.to_string());
        let cases: &[(&str, &str, bool)] = &[
            ("/etc/shadow", "/%shadow", true),
            ("/etc/shadow", "/etc/%shadow", true),
            ("/etc/shadow", "/srv/%shadow", false),
            ("**/.ssh/id_rsa", "/home/%id_rsa", true),
            ("**/.ssh/id_rsa", "/home/%id_rsa.pub", false),
            ("/etc/ssh/ssh_host_*_key", "/%ssh_host_rsa_key", true),
            // Whole-tree patterns take the name directly under the start point only.
            ("/run/secrets/**", "/run/secrets/%token", true),
            ("/run/secrets/**", "/%token", false),
            ("**/.gnupg/private-keys-v1.d/**", "/etc/nginx/%nginx.conf", false),
        ];
        for (pattern, subject, want) in cases {
            assert_eq!(any(pattern, &d(subject)), *want, "{pattern} vs {subject}");
        }
    }

    #[test]
    fn patterns_against_words() {
        let s = |x: &str| x.replace('*', &STAR.to_string()).replace('?', &ONE.to_string());
        let cases: &[(&str, &str, bool)] = &[
            ("/etc/shadow", "/etc/shadow", true),
            ("/etc/shadow", &s("/etc/sha*"), true),
            ("/etc/shadow", &s("/etc/*"), true),
            ("/etc/shadow", &s("/*/shadow"), true),
            ("/etc/shadow", &s("/*"), false),
            ("/etc/shadow", &s("/e?c/s?adow"), true),
            ("/etc/shadow", "/etc/passwd", false),
            ("/etc/shadow", &s("/etc/p*"), false),
            ("/etc/**", "/etc", true),
            ("/etc/**", "/etc/nginx/nginx.conf", true),
            ("/etc/**", "/etcetera", false),
            ("**/.ssh/id_rsa", ".ssh/id_rsa", true),
            ("**/.ssh/id_rsa", "~/.ssh/id_rsa", true),
            ("**/.ssh/id_rsa", "/root/.ssh/id_rsa", true),
            ("**/.ssh/id_rsa", "/root/.ssh/id_rsa.pub", false),
            ("**/.ssh/id_rsa", &s("~/.ssh/id_*"), true),
            ("**/.ssh/id_rsa", &s("~/.ssh/*.pub"), false),
            ("/dev/{sd,hd,nvme}*", "/dev/sda", true),
            ("/dev/{sd,hd,nvme}*", "/dev/nvme0n1", true),
            ("/dev/{sd,hd,nvme}*", "/dev/null", false),
            ("/dev/sd[a-z]", "/dev/sdb", true),
            ("/dev/sd[!a-c]", "/dev/sdb", false),
            ("=/", "/", true),
            ("=/*", &s("/*"), true),
            ("=/*", &s("/?*"), true),
            ("=/*", "/out", false),
            ("=/*", &s("/o*"), false),
            ("*.key", "server.key", true),
            ("*.key", "dir/server.key", false),
            ("of=/dev/sd*", "of=/dev/sda", true),
        ];
        for (pattern, subject, want) in cases {
            assert_eq!(any(pattern, subject), *want, "{pattern} vs {subject:?}");
        }
    }

    #[test]
    fn simulation_agrees_with_search() {
        let s = |x: &str| x.replace('*', &STAR.to_string()).replace('?', &ONE.to_string());
        let patterns = [
            "/etc/**",
            "**/.ssh/id_rsa",
            "*.key",
            "/dev/sd[a-z]*",
            "a*b*c",
            "**",
            "?",
            "x/*/y",
            "[!.]*",
        ];
        let subjects = [
            "/etc/x",
            "a/b/c",
            &s("a*c"),
            &s("/e*/x"),
            ".ssh/id_rsa",
            "abc",
            "/",
            "",
            &s("*"),
            &s("?/?"),
            "x/a/y",
            ".hidden",
        ];
        for p in patterns {
            for g in Glob::compile(p, false).unwrap() {
                for subject in subjects {
                    let chars: Vec<char> = subject.chars().collect();
                    assert_eq!(g.simulate(&chars), g.search(&chars), "{p} vs {subject:?}");
                }
            }
        }
    }

    #[test]
    fn unknown_reads_as_empty_and_case_folds() {
        let unk = format!("{UNKNOWN}/");
        assert!(any("=/", &unk));
        let g = Glob::compile("FLUSHALL", true).unwrap();
        assert!(g[0].matches("flushAll"));
    }

    #[test]
    fn bad_patterns_are_errors() {
        for p in ["", "[abc", "a{b,c", "x\\"] {
            assert!(Glob::compile(p, false).is_err(), "{p}");
        }
    }
}
