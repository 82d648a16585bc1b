//! The top-level fields of GraphQL mutations (`mutation { deleteUser(id: 1) { id } }` →
//! `deleteUser`), following fragment spreads and inline fragments, so HTTP rules can match the
//! operations a query API is asked to perform. Strings, comments and arguments are skipped.

use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Name(String),
    Punct(char),
    Spread,
    Str,
}

#[derive(Debug, Clone)]
enum Sel {
    Field(String),
    Spread(String),
    Inline(Vec<Sel>),
}

/// Inline fragments nested deeper than this make a document unreadable.
const MAX_FRAGMENT_NESTING: usize = 32;

/// The document could not be read as GraphQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a GraphQL document")]
pub(crate) struct Unreadable;

/// Field names at the top of every mutation in the document.
pub(crate) fn mutation_fields(doc: &str) -> Result<Vec<String>, Unreadable> {
    let toks = tokenize(doc)?;
    let mut p = Parser { toks: &toks, i: 0 };
    let mut mutations: Vec<Vec<Sel>> = Vec::new();
    let mut fragments: HashMap<String, Vec<Sel>> = HashMap::new();
    while let Some(t) = p.peek().cloned() {
        match t {
            Tok::Punct('{') => {
                p.selection_set()?;
            }
            Tok::Name(n) if n == "query" || n == "mutation" || n == "subscription" => {
                p.i += 1;
                p.skip_to_selection()?;
                let sel = p.selection_set()?;
                if n == "mutation" {
                    mutations.push(sel);
                }
            }
            Tok::Name(n) if n == "fragment" => {
                p.i += 1;
                let Some(Tok::Name(name)) = p.next() else {
                    return Err(Unreadable);
                };
                p.skip_to_selection()?;
                let sel = p.selection_set()?;
                fragments.insert(name, sel);
            }
            _ => return Err(Unreadable),
        }
    }
    let mut out = Vec::new();
    for m in &mutations {
        collect(m, &fragments, 0, &mut out);
    }
    Ok(out)
}

fn collect(sel: &[Sel], fragments: &HashMap<String, Vec<Sel>>, depth: usize, out: &mut Vec<String>) {
    if depth > 8 {
        return;
    }
    for s in sel {
        match s {
            Sel::Field(f) => out.push(f.clone()),
            Sel::Inline(inner) => collect(inner, fragments, depth + 1, out),
            Sel::Spread(name) => {
                if let Some(inner) = fragments.get(name) {
                    collect(inner, fragments, depth + 1, out);
                }
            }
        }
    }
}

struct Parser<'a> {
    toks: &'a [Tok],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.i).cloned();
        self.i += 1;
        t
    }

    /// Skips an operation's name, variables and directives up to its `{`.
    fn skip_to_selection(&mut self) -> Result<(), Unreadable> {
        loop {
            match self.peek() {
                Some(Tok::Punct('{')) => return Ok(()),
                Some(Tok::Punct('(')) => self.skip_balanced('(', ')')?,
                Some(_) => self.i += 1,
                None => return Err(Unreadable),
            }
        }
    }

    fn skip_balanced(&mut self, open: char, close: char) -> Result<(), Unreadable> {
        let mut depth = 0usize;
        while let Some(t) = self.next() {
            if t == Tok::Punct(open) {
                depth += 1;
            } else if t == Tok::Punct(close) {
                depth = depth.checked_sub(1).ok_or(Unreadable)?;
                if depth == 0 {
                    return Ok(());
                }
            }
        }
        Err(Unreadable)
    }

    fn selection_set(&mut self) -> Result<Vec<Sel>, Unreadable> {
        self.selection_set_at(0)
    }

    /// A selection set inside `depth` inline fragments: deeper than `MAX_FRAGMENT_NESTING` is
    /// unreadable (the recursion would otherwise overflow the stack on `{ ... { ... { …`).
    fn selection_set_at(&mut self, depth: usize) -> Result<Vec<Sel>, Unreadable> {
        if depth > MAX_FRAGMENT_NESTING {
            return Err(Unreadable);
        }
        if self.next() != Some(Tok::Punct('{')) {
            return Err(Unreadable);
        }
        let mut out = Vec::new();
        loop {
            match self.next().ok_or(Unreadable)? {
                Tok::Punct('}') => return Ok(out),
                Tok::Spread => match self.peek() {
                    Some(Tok::Name(n)) if n != "on" => {
                        let n = n.clone();
                        self.i += 1;
                        self.skip_directives()?;
                        out.push(Sel::Spread(n));
                    }
                    _ => {
                        self.skip_to_selection()?;
                        out.push(Sel::Inline(self.selection_set_at(depth + 1)?));
                    }
                },
                Tok::Name(first) => {
                    let mut name = first;
                    if self.peek() == Some(&Tok::Punct(':')) {
                        self.i += 1;
                        match self.next() {
                            Some(Tok::Name(real)) => name = real,
                            _ => return Err(Unreadable),
                        }
                    }
                    if self.peek() == Some(&Tok::Punct('(')) {
                        self.skip_balanced('(', ')')?;
                    }
                    self.skip_directives()?;
                    if self.peek() == Some(&Tok::Punct('{')) {
                        self.skip_balanced('{', '}')?;
                    }
                    out.push(Sel::Field(name));
                }
                _ => return Err(Unreadable),
            }
        }
    }

    fn skip_directives(&mut self) -> Result<(), Unreadable> {
        while self.peek() == Some(&Tok::Punct('@')) {
            self.i += 1;
            if !matches!(self.next(), Some(Tok::Name(_))) {
                return Err(Unreadable);
            }
            if self.peek() == Some(&Tok::Punct('(')) {
                self.skip_balanced('(', ')')?;
            }
        }
        Ok(())
    }
}

fn tokenize(doc: &str) -> Result<Vec<Tok>, Unreadable> {
    let chars: Vec<char> = doc.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() || c == ',' || c == '\u{feff}' {
            i += 1;
        } else if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '"' {
            if chars[i..].starts_with(&['"', '"', '"']) {
                i += 3;
                while i < chars.len() && !chars[i..].starts_with(&['"', '"', '"']) {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                i += 3;
            } else {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
            }
            toks.push(Tok::Str);
        } else if c == '.' {
            if !chars[i..].starts_with(&['.', '.', '.']) {
                return Err(Unreadable);
            }
            toks.push(Tok::Spread);
            i += 3;
        } else if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            let s = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_-.+".contains(chars[i])) {
                // Numbers (`-1.5e3`) are names here; nothing depends on telling them apart.
                if chars[i] == '.' && chars[i..].starts_with(&['.', '.', '.']) {
                    break;
                }
                i += 1;
            }
            toks.push(Tok::Name(chars[s..i].iter().collect()));
        } else if "{}()[]:=@$!|&".contains(c) {
            toks.push(Tok::Punct(c));
            i += 1;
        } else {
            return Err(Unreadable);
        }
    }
    Ok(toks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations() {
        let cases: &[(&str, Option<&[&str]>)] = &[
            ("mutation { deleteUser(id: 1) { id } }", Some(&["deleteUser"])),
            (
                "mutation M($id: ID!) { a: removeItem(id: $id) @x { ok } b: createItem { id } }",
                Some(&["removeItem", "createItem"]),
            ),
            ("query { users { id } }", Some(&[])),
            ("{ users { id } }", Some(&[])),
            (
                "mutation { ...F } fragment F on Mutation { dropTable }",
                Some(&["dropTable"]),
            ),
            ("mutation { ... on Mutation { purgeAll } }", Some(&["purgeAll"])),
            (
                "# mutation { deleteUser }\nquery { x(arg: \"mutation { deleteUser }\") }",
                Some(&[]),
            ),
            (
                "mutation { delete_users(where: {}) { affected_rows } }",
                Some(&["delete_users"]),
            ),
            ("mutation {", None),
            ("not graphql at all; drop", None),
        ];
        for (doc, want) in cases {
            let got = mutation_fields(doc).ok();
            let want = want.map(|w| w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            assert_eq!(got, want, "{doc}");
        }
    }
}
