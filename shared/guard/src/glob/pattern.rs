//! A rule pattern's syntax: `{a,b}` alternatives expanded into separate patterns, and each
//! pattern read into tokens (literal characters, `*`, `**`, `?`, `[…]` classes) for the matcher.

use super::GlobError;

/// Most alternatives a pattern's braces may expand to.
const MAX_ALTERNATIVES: usize = 256;

/// One element of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tok {
    Lit(char),
    Star,
    DStar,
    One,
    Class { ranges: Vec<(char, char)>, negated: bool },
}

impl Tok {
    pub(super) fn class_matches(ranges: &[(char, char)], negated: bool, c: char) -> bool {
        ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != negated
    }
}

/// Reads a pattern (one brace alternative) into tokens.
pub(super) fn parse_tokens(p: &str) -> Result<Vec<Tok>, GlobError> {
    let chars: Vec<char> = p.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                let c = chars.get(i + 1).copied().ok_or(GlobError::TrailingBackslash)?;
                toks.push(Tok::Lit(c));
                i += 2;
            }
            '*' if chars.get(i + 1) == Some(&'*') => {
                toks.push(Tok::DStar);
                while chars.get(i) == Some(&'*') {
                    i += 1;
                }
            }
            '*' => {
                toks.push(Tok::Star);
                i += 1;
            }
            '?' => {
                toks.push(Tok::One);
                i += 1;
            }
            '[' => {
                let mut j = i + 1;
                let negated = matches!(chars.get(j), Some('!' | '^'));
                if negated {
                    j += 1;
                }
                let mut ranges = Vec::new();
                let mut first = true;
                loop {
                    let c = *chars.get(j).ok_or(GlobError::UnterminatedClass)?;
                    if c == ']' && !first {
                        break;
                    }
                    first = false;
                    if chars.get(j + 1) == Some(&'-') && chars.get(j + 2).is_some_and(|&e| e != ']') {
                        ranges.push((c, chars[j + 2]));
                        j += 3;
                    } else {
                        ranges.push((c, c));
                        j += 1;
                    }
                }
                toks.push(Tok::Class { ranges, negated });
                i = j + 1;
            }
            c => {
                toks.push(Tok::Lit(c));
                i += 1;
            }
        }
    }
    Ok(toks)
}

/// Expands `{a,b}` alternatives (nested, escaped braces kept) in a rule pattern.
pub(super) fn expand_braces(p: &str) -> Result<Vec<String>, GlobError> {
    let chars: Vec<char> = p.chars().collect();
    let Some((open, close)) = find_brace_group(&chars)? else {
        return Ok(vec![p.to_string()]);
    };
    let prefix: String = chars[..open].iter().collect();
    let suffix: String = chars[close + 1..].iter().collect();
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    let mut i = open + 1;
    while i < close {
        let c = chars[i];
        match c {
            '\\' => {
                cur.push(c);
                if let Some(&n) = chars.get(i + 1) {
                    cur.push(n);
                }
                i += 2;
                continue;
            }
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut cur));
                i += 1;
                continue;
            }
            _ => {}
        }
        cur.push(c);
        i += 1;
    }
    parts.push(cur);
    let mut out = Vec::new();
    for part in parts {
        for expanded in expand_braces(&format!("{prefix}{part}{suffix}"))? {
            out.push(expanded);
            if out.len() > MAX_ALTERNATIVES {
                return Err(GlobError::TooManyAlternatives);
            }
        }
    }
    Ok(out)
}

/// The first top-level `{…}` holding a comma.
fn find_brace_group(chars: &[char]) -> Result<Option<(usize, usize)>, GlobError> {
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '{' => {
                let mut depth = 0;
                let mut has_comma = false;
                let mut j = i;
                while j < chars.len() {
                    match chars[j] {
                        '\\' => j += 1,
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        ',' if depth == 1 => has_comma = true,
                        _ => {}
                    }
                    j += 1;
                }
                if j >= chars.len() {
                    return Err(GlobError::UnbalancedBrace);
                }
                if has_comma {
                    return Ok(Some((i, j)));
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    Ok(None)
}
