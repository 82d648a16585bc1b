//! Words: quote removal, `$'…'`, tilde, parameter and command substitutions, field splitting on
//! `IFS`, and brace expansion, each word resolving to a bounded list of alternatives.

use brush_parser::word::{
    self as bword, BraceExpressionMember, BraceExpressionOrText, TildeExpr, WordPiece, WordPieceWithSource,
};

use super::parse::{guarded, parse_word};
use super::vars::ExpVal;
use super::{Analyzer, MAX_WORD_ALTS, Output};
use crate::rule::{Signal, truncate};
use crate::word::{Field, FieldBuilder, Taint, ansi_c_decode};

impl Analyzer<'_> {
    /// Expands a word into its alternatives, each a list of fields (brace expansion, splitting).
    pub(crate) fn expand_word(&mut self, raw: &str) -> Vec<Vec<Field>> {
        let raws = if raw.contains('{') {
            self.brace_expand(raw)
        } else {
            vec![raw.to_string()]
        };
        let mut alts: Vec<Vec<Field>> = vec![Vec::new()];
        for r in raws {
            let mut builders = vec![FieldBuilder::default()];
            match parse_word(&r, &self.opts) {
                Ok(pieces) => self.pieces(&pieces, false, &mut builders),
                Err(e) => {
                    self.signal(
                        Signal::ParseError,
                        &format!("{}: {}", truncate(&e, 100), truncate(&r, 200)),
                    );
                    for b in &mut builders {
                        b.push_unquoted(&r);
                    }
                }
            }
            let sub: Vec<Vec<Field>> = builders.into_iter().map(FieldBuilder::finish).collect();
            alts = self.product(alts, sub, MAX_WORD_ALTS, false);
        }
        alts
    }

    /// Expands a word without splitting or globbing (assignments, here-strings): one field per
    /// alternative.
    pub(crate) fn expand_nosplit(&mut self, raw: &str) -> Vec<Field> {
        let mut builders = vec![FieldBuilder::default()];
        match parse_word(raw, &self.opts) {
            Ok(pieces) => self.pieces(&pieces, true, &mut builders),
            Err(e) => {
                self.signal(
                    Signal::ParseError,
                    &format!("{}: {}", truncate(&e, 100), truncate(raw, 200)),
                );
                for b in &mut builders {
                    b.push_quoted(raw);
                }
            }
        }
        builders.into_iter().map(|b| join_fields(b.finish())).collect()
    }

    /// The first alternative of a word, its fields joined by spaces.
    pub(crate) fn expand_joined(&mut self, raw: &str) -> Field {
        join_fields(self.expand_word(raw).into_iter().next().unwrap_or_default())
    }

    pub(super) fn pieces(&mut self, pieces: &[WordPieceWithSource], quoted: bool, builders: &mut Vec<FieldBuilder>) {
        let ifs = self.ifs();
        for p in pieces {
            match &p.piece {
                WordPiece::Text(s) => {
                    for b in builders.iter_mut() {
                        if quoted { b.push_quoted(s) } else { b.push_unquoted(s) }
                    }
                }
                WordPiece::SingleQuotedText(s) => builders.iter_mut().for_each(|b| b.push_quoted(s)),
                WordPiece::AnsiCQuotedText(s) => {
                    let d = ansi_c_decode(s);
                    builders.iter_mut().for_each(|b| b.push_quoted(&d));
                }
                WordPiece::DoubleQuotedSequence(inner) | WordPiece::GettextDoubleQuotedSequence(inner) => {
                    builders.iter_mut().for_each(FieldBuilder::mark);
                    self.pieces(inner, true, builders);
                }
                WordPiece::TildeExpansion(t) => {
                    let s = match t {
                        TildeExpr::Home => Some("~".to_string()),
                        TildeExpr::UserHome(u) => Some(if u == "root" {
                            "/root".to_string()
                        } else {
                            format!("~{u}")
                        }),
                        _ => None,
                    };
                    for b in builders.iter_mut() {
                        match &s {
                            Some(s) => b.push_quoted(s),
                            None => b.push_unknown(Taint::Dynamic),
                        }
                    }
                }
                WordPiece::ParameterExpansion(expr) => {
                    let vals = self.param(expr);
                    self.apply(builders, vals, quoted, &ifs);
                }
                WordPiece::CommandSubstitution(s) | WordPiece::BackquotedCommandSubstitution(s) => {
                    let out = self.script(s, Output::dynamic());
                    self.apply(builders, vec![ExpVal::Str(out.as_field())], quoted, &ifs);
                }
                WordPiece::EscapeSequence(s) => {
                    let c = s.strip_prefix('\\').unwrap_or(s);
                    if c != "\n" {
                        builders.iter_mut().for_each(|b| b.push_quoted(c));
                    }
                }
                WordPiece::ArithmeticExpression(e) => {
                    self.arith(&e.value);
                    builders.iter_mut().for_each(|b| b.push_unknown(Taint::Dynamic));
                }
            }
        }
    }

    fn apply(&mut self, builders: &mut Vec<FieldBuilder>, vals: Vec<ExpVal>, quoted: bool, ifs: &str) {
        let push = |b: &mut FieldBuilder, v: &ExpVal| match v {
            ExpVal::Str(f) => b.push_expansion(&f.text, f.taint, quoted, ifs),
            ExpVal::List(items) => {
                for (i, f) in items.iter().enumerate() {
                    if i > 0 {
                        if quoted {
                            b.end_field();
                        } else {
                            b.push_expansion(" ", Taint::None, false, " ");
                        }
                    }
                    b.push_expansion(&f.text, f.taint, quoted, ifs);
                    if quoted {
                        b.mark();
                    }
                }
            }
        };
        if vals.len() == 1 {
            for b in builders.iter_mut() {
                push(b, &vals[0]);
            }
            return;
        }
        let mut out = Vec::new();
        for b in builders.iter() {
            for v in &vals {
                if out.len() + 1 >= MAX_WORD_ALTS {
                    break;
                }
                let mut nb = b.clone();
                push(&mut nb, v);
                out.push(nb);
            }
        }
        if builders.len() * vals.len() >= MAX_WORD_ALTS
            && let Some(first) = builders.first()
        {
            let mut rest = first.clone();
            rest.push_unknown(Taint::Dynamic);
            out.push(rest);
        }
        *builders = out;
    }

    /// Bash brace expansion of a raw word (`{rm,-rf,/}` → three words).
    fn brace_expand(&mut self, raw: &str) -> Vec<String> {
        let Ok(Some(pieces)) = guarded(|| bword::parse_brace_expansions(raw, &self.opts)) else {
            return vec![raw.to_string()];
        };
        let mut out = expand_brace_pieces(&pieces);
        if out.len() > 64 {
            out.truncate(64);
        }
        if out.is_empty() { vec![raw.to_string()] } else { out }
    }

    /// Every combination of `a` then `b`. Past `cap` combinations: for command names
    /// (`signal`) the command is too complex; for words, one more alternative is unknown.
    pub(super) fn product(
        &mut self,
        a: Vec<Vec<Field>>,
        b: Vec<Vec<Field>>,
        cap: usize,
        signal: bool,
    ) -> Vec<Vec<Field>> {
        if b.len() == 1 {
            let mut a = a;
            let b0 = b.into_iter().next().unwrap_or_default();
            for x in &mut a {
                x.extend(b0.iter().cloned());
            }
            return a;
        }
        let mut out = Vec::new();
        for x in &a {
            for y in &b {
                if out.len() + 1 >= cap {
                    if signal {
                        self.too_complex("a command resolves to too many alternatives");
                    } else {
                        let mut z = x.clone();
                        z.push(Field::unknown(Taint::Dynamic));
                        out.push(z);
                    }
                    return out;
                }
                let mut z = x.clone();
                z.extend(y.iter().cloned());
                out.push(z);
            }
        }
        out
    }
}

fn expand_brace_pieces(pieces: &[BraceExpressionOrText]) -> Vec<String> {
    let mut acc = vec![String::new()];
    for p in pieces {
        let options: Vec<String> = match p {
            BraceExpressionOrText::Text(t) => vec![t.clone()],
            BraceExpressionOrText::Expr(members) => {
                let mut opts = Vec::new();
                for m in members {
                    match m {
                        BraceExpressionMember::Child(c) => opts.extend(expand_brace_pieces(c)),
                        BraceExpressionMember::NumberSequence { start, end, increment } => {
                            let step = increment.unsigned_abs().max(1);
                            let mut v = *start;
                            for _ in 0..64 {
                                opts.push(v.to_string());
                                if v == *end {
                                    break;
                                }
                                let next = if start <= end {
                                    v.saturating_add_unsigned(step)
                                } else {
                                    v.saturating_sub_unsigned(step)
                                };
                                if (start <= end && next > *end) || (start > end && next < *end) {
                                    break;
                                }
                                v = next;
                            }
                        }
                        BraceExpressionMember::CharSequence { start, end, increment } => {
                            let step = u32::try_from(increment.unsigned_abs().max(1)).unwrap_or(1);
                            let (s, e) = (*start as u32, *end as u32);
                            let mut v = s;
                            for _ in 0..64 {
                                if let Some(c) = char::from_u32(v) {
                                    opts.push(c.to_string());
                                }
                                if v == e {
                                    break;
                                }
                                let next = if s <= e {
                                    v.saturating_add(step)
                                } else {
                                    v.saturating_sub(step)
                                };
                                if (s <= e && next > e) || (s > e && next < e) {
                                    break;
                                }
                                v = next;
                            }
                        }
                    }
                }
                opts
            }
        };
        let mut next = Vec::new();
        for a in &acc {
            for o in &options {
                if next.len() >= 64 {
                    break;
                }
                next.push(format!("{a}{o}"));
            }
        }
        acc = next;
    }
    acc
}

pub(super) fn join_fields(fields: Vec<Field>) -> Field {
    let mut out = Field::default();
    for (i, f) in fields.into_iter().enumerate() {
        if i > 0 {
            out.text.push(' ');
        }
        out.text.push_str(&f.text);
        out.taint = out.taint.max(f.taint);
    }
    out
}
