//! Variables and parameters: assignments (with the values a branch or loop may leave), the
//! variables whose value is a command something runs later, history tampering, and parameter
//! expansion (`$x`, `"$@"`, `${x:-default}`, `${x#prefix}`, `${x/a/b}`, …) over every value a
//! variable may hold.

use brush_parser::ast;
use brush_parser::word::{
    Parameter, ParameterExpr, ParameterTestType, ParameterTransformOp, SpecialParameter, SubstringMatchKind,
};

use super::expand::join_fields;
use super::{Analyzer, MAX_VALUES, Output};
use crate::glob::UNKNOWN;
use crate::rule::Signal;
use crate::word::{Field, Taint, ansi_c_decode, shell_quote};

const DEFAULT_IFS: &str = " \t\n";
/// Variables whose value is a command some program runs (or a prompt with substitutions).
const EXEC_VARS: &[&str] = &[
    "GIT_SSH_COMMAND",
    "GIT_SSH",
    "GIT_PAGER",
    "PAGER",
    "GIT_EDITOR",
    "EDITOR",
    "VISUAL",
    "SUDO_EDITOR",
    "LESSOPEN",
    "LESSCLOSE",
    "PROMPT_COMMAND",
    "BASH_ENV",
    "ENV",
    "GIT_EXTERNAL_DIFF",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
    "MANPAGER",
    "SYSTEMD_PAGER",
    "PS1",
    "PS2",
    "PS4",
];

/// One value of a variable: a string or an array.
#[derive(Debug, Clone)]
pub(super) enum Value {
    Scalar(Field),
    Array(Vec<Field>),
}

/// The expansion of one parameter: a string, or separate words (`"$@"`, `"${a[@]}"`).
#[derive(Debug, Clone)]
pub(super) enum ExpVal {
    Str(Field),
    List(Vec<Field>),
}

impl Analyzer<'_> {
    /// Applies an assignment; returns `NAME=value` as a field (for `export X=…`).
    pub(super) fn assign(&mut self, a: &ast::Assignment) -> Field {
        let (name, element) = match &a.name {
            ast::AssignmentName::VariableName(n) => (n.clone(), false),
            ast::AssignmentName::ArrayElementName(n, _) => (n.clone(), true),
        };
        let mut values: Vec<Value> = match &a.value {
            ast::AssignmentValue::Scalar(w) => self.expand_nosplit(&w.value).into_iter().map(Value::Scalar).collect(),
            ast::AssignmentValue::Array(items) => {
                let mut fields = Vec::new();
                for (_, w) in items {
                    fields.extend(self.expand_word(&w.value).into_iter().next().unwrap_or_default());
                }
                vec![Value::Array(fields)]
            }
        };
        let display = match values.first() {
            Some(Value::Scalar(f)) => Field {
                text: format!("{name}={}", f.text),
                taint: f.taint,
            },
            _ => Field::lit(&format!("{name}=(…)")),
        };
        self.check_history_var(&name, &values);
        if EXEC_VARS.contains(&name.as_str()) {
            // Their value is a command something else runs later.
            for v in &values {
                if let Value::Scalar(f) = v {
                    let f = f.clone();
                    self.code_string(&f, &Output::dynamic(), None, &format!("the command in {name}"));
                }
            }
        }
        if a.append || element {
            // `X+=y`, `a[i]=y`: combine with what is known.
            let old = self.env.vars.get(&name).cloned().unwrap_or_default();
            values = if old.is_empty() {
                values.into_iter().map(|v| with_unknown_prefix(v, a.append)).collect()
            } else {
                let mut combined = Vec::new();
                for o in &old {
                    for v in &values {
                        combined.push(append_value(o, v, element));
                    }
                }
                combined
            };
        }
        self.set_var(&name, values);
        display
    }

    fn set_var(&mut self, name: &str, mut values: Vec<Value>) {
        let cond = self.frame.cond > 0;
        let entry = self.env.vars.entry(name.to_string()).or_default();
        if cond {
            if entry.is_empty() {
                entry.push(Value::Scalar(Field::unknown(Taint::Dynamic)));
            }
            entry.append(&mut values);
        } else {
            *entry = values;
        }
        if entry.len() > MAX_VALUES {
            entry.truncate(MAX_VALUES);
            entry.push(Value::Scalar(Field::unknown(Taint::Dynamic)));
        }
    }

    pub(crate) fn set_scalar(&mut self, name: &str, f: Field) {
        self.check_history_var(name, std::slice::from_ref(&Value::Scalar(f.clone())));
        self.set_var(name, vec![Value::Scalar(f)]);
    }

    fn check_history_var(&mut self, name: &str, values: &[Value]) {
        let zero = || {
            values
                .iter()
                .any(|v| matches!(v, Value::Scalar(f) if f.text == "0" || f.text.is_empty()))
        };
        let tamper = match name {
            "HISTFILE" => true,
            "HISTSIZE" | "HISTFILESIZE" | "SAVEHIST" => zero(),
            "HISTIGNORE" => values
                .iter()
                .any(|v| matches!(v, Value::Scalar(f) if f.text.contains('*'))),
            _ => false,
        };
        if tamper {
            self.signal(Signal::HistoryTamper, &format!("sets {name}"));
        }
    }

    pub(super) fn ifs(&self) -> String {
        match self.env.vars.get("IFS").map(Vec::as_slice) {
            Some([Value::Scalar(f)]) if f.is_static() => f.text.clone(),
            _ => DEFAULT_IFS.to_string(),
        }
    }

    /// The values of a parameter; `None` when it comes from the environment (unknown).
    fn lookup(&self, p: &Parameter) -> Option<Vec<ExpVal>> {
        match p {
            Parameter::Positional(0) => self.frame.arg0.as_ref().map(|f| vec![ExpVal::Str(f.clone())]),
            Parameter::Positional(n) => {
                let pos = self.frame.positional.as_ref()?;
                let i = usize::try_from(*n).ok()?.checked_sub(1)?;
                Some(vec![ExpVal::Str(pos.get(i).cloned().unwrap_or_default())])
            }
            Parameter::Special(SpecialParameter::AllPositionalParameters { concatenate }) => {
                let pos = self.frame.positional.as_ref()?;
                Some(vec![if *concatenate {
                    ExpVal::Str(join_fields(pos.clone()))
                } else {
                    ExpVal::List(pos.clone())
                }])
            }
            Parameter::Special(SpecialParameter::PositionalParameterCount) => {
                let pos = self.frame.positional.as_ref()?;
                Some(vec![ExpVal::Str(Field::lit(&pos.len().to_string()))])
            }
            Parameter::Special(SpecialParameter::ShellName) => {
                self.frame.arg0.as_ref().map(|f| vec![ExpVal::Str(f.clone())])
            }
            Parameter::Special(_) => None,
            Parameter::Named(name) => match self.env.vars.get(name) {
                Some(values) => Some(
                    values
                        .iter()
                        .map(|v| match v {
                            Value::Scalar(f) => ExpVal::Str(f.clone()),
                            Value::Array(a) => ExpVal::Str(a.first().cloned().unwrap_or_default()),
                        })
                        .collect(),
                ),
                None => match name.as_str() {
                    "HOME" => Some(vec![ExpVal::Str(Field::lit("~"))]),
                    "PWD" => self.env.cwd.as_ref().map(|c| vec![ExpVal::Str(Field::lit(c))]),
                    "IFS" => Some(vec![ExpVal::Str(Field::lit(DEFAULT_IFS))]),
                    _ => None,
                },
            },
            Parameter::NamedWithIndex { name, index } => {
                let values = self.env.vars.get(name)?;
                let idx: Option<usize> = index.trim().parse().ok();
                Some(
                    values
                        .iter()
                        .flat_map(|v| match (v, idx) {
                            (Value::Array(a), Some(i)) => vec![ExpVal::Str(a.get(i).cloned().unwrap_or_default())],
                            (Value::Array(a), None) => a.iter().cloned().map(ExpVal::Str).collect(),
                            (Value::Scalar(f), Some(0) | None) => vec![ExpVal::Str(f.clone())],
                            (Value::Scalar(_), Some(_)) => vec![ExpVal::Str(Field::default())],
                        })
                        .collect(),
                )
            }
            Parameter::NamedWithAllIndices { name, concatenate } => {
                let values = self.env.vars.get(name)?;
                Some(
                    values
                        .iter()
                        .map(|v| {
                            let items = match v {
                                Value::Array(a) => a.clone(),
                                Value::Scalar(f) => vec![f.clone()],
                            };
                            if *concatenate {
                                ExpVal::Str(join_fields(items))
                            } else {
                                ExpVal::List(items)
                            }
                        })
                        .collect(),
                )
            }
        }
    }

    pub(super) fn param(&mut self, expr: &ParameterExpr) -> Vec<ExpVal> {
        use ParameterExpr as P;
        let unknown = || vec![ExpVal::Str(Field::unknown(Taint::Dynamic))];
        match expr {
            P::Parameter { parameter, indirect } => {
                if *indirect {
                    return unknown();
                }
                self.lookup(parameter).unwrap_or_else(unknown)
            }
            P::UseDefaultValues {
                parameter,
                indirect,
                test_type,
                default_value,
            }
            | P::AssignDefaultValues {
                parameter,
                indirect,
                test_type,
                default_value,
            } => {
                let default = self.expand_default(default_value.as_deref());
                if *indirect {
                    return vec![ExpVal::Str(Field::unknown(Taint::Dynamic)), ExpVal::Str(default)];
                }
                let out = match self.lookup(parameter) {
                    None => vec![
                        ExpVal::Str(Field::unknown(Taint::Dynamic)),
                        ExpVal::Str(default.clone()),
                    ],
                    Some(vals) => vals
                        .into_iter()
                        .map(|v| match v {
                            ExpVal::Str(f)
                                if f.text.is_empty() && matches!(test_type, ParameterTestType::UnsetOrNull) =>
                            {
                                ExpVal::Str(default.clone())
                            }
                            other => other,
                        })
                        .collect(),
                };
                if let (P::AssignDefaultValues { .. }, Parameter::Named(n)) = (expr, parameter) {
                    let values = out
                        .iter()
                        .map(|v| match v {
                            ExpVal::Str(f) => Value::Scalar(f.clone()),
                            ExpVal::List(l) => Value::Array(l.clone()),
                        })
                        .collect();
                    self.set_var(n, values);
                }
                out
            }
            P::UseAlternativeValue {
                parameter,
                test_type,
                alternative_value,
                ..
            } => {
                let alt = self.expand_default(alternative_value.as_deref());
                match self.lookup(parameter) {
                    None => vec![ExpVal::Str(Field::default()), ExpVal::Str(alt)],
                    Some(vals) => vals
                        .into_iter()
                        .map(|v| match v {
                            ExpVal::Str(f)
                                if f.text.is_empty() && matches!(test_type, ParameterTestType::UnsetOrNull) =>
                            {
                                ExpVal::Str(Field::default())
                            }
                            _ => ExpVal::Str(alt.clone()),
                        })
                        .collect(),
                }
            }
            P::IndicateErrorIfNullOrUnset {
                parameter,
                error_message,
                ..
            } => {
                self.expand_default(error_message.as_deref());
                self.lookup(parameter).unwrap_or_else(unknown)
            }
            P::ParameterLength { parameter, .. } => match self.lookup(parameter) {
                Some(vals) => vals
                    .into_iter()
                    .map(|v| match v {
                        ExpVal::Str(f) if f.is_static() => ExpVal::Str(Field::lit(&f.text.chars().count().to_string())),
                        ExpVal::List(l) => ExpVal::Str(Field::lit(&l.len().to_string())),
                        ExpVal::Str(f) => ExpVal::Str(Field::unknown(f.taint)),
                    })
                    .collect(),
                None => unknown(),
            },
            P::RemoveSmallestSuffixPattern { parameter, pattern, .. }
            | P::RemoveLargestSuffixPattern { parameter, pattern, .. }
            | P::RemoveSmallestPrefixPattern { parameter, pattern, .. }
            | P::RemoveLargestPrefixPattern { parameter, pattern, .. } => {
                let pat = self.expand_default(pattern.as_deref());
                let prefix = matches!(
                    expr,
                    P::RemoveSmallestPrefixPattern { .. } | P::RemoveLargestPrefixPattern { .. }
                );
                self.map_str(parameter, |s| {
                    let p = pat.literal()?;
                    if p.contains(['*', '?', '[']) {
                        return None;
                    }
                    Some(if prefix {
                        s.strip_prefix(p).unwrap_or(s).to_string()
                    } else {
                        s.strip_suffix(p).unwrap_or(s).to_string()
                    })
                })
            }
            P::Substring {
                parameter,
                offset,
                length,
                ..
            } => {
                let off: Option<i64> = offset.value.trim().parse().ok();
                let len: Option<Option<i64>> = match length {
                    None => Some(None),
                    Some(l) => l.value.trim().parse().ok().map(Some),
                };
                self.map_str(parameter, |s| {
                    let chars: Vec<char> = s.chars().collect();
                    let n = i64::try_from(chars.len()).ok()?;
                    let mut start = off?;
                    if start < 0 {
                        start = (n + start).max(0);
                    }
                    let start = start.min(n);
                    let end = match len? {
                        None => n,
                        Some(l) if l < 0 => (n + l).max(start),
                        Some(l) => (start + l).min(n),
                    };
                    let (a, b) = (usize::try_from(start).ok()?, usize::try_from(end).ok()?);
                    Some(chars.get(a..b)?.iter().collect())
                })
            }
            P::Transform { parameter, op, .. } => {
                let op = op.clone();
                self.map_str(parameter, move |s| match op {
                    ParameterTransformOp::ToUpperCase => Some(s.to_uppercase()),
                    ParameterTransformOp::ToLowerCase => Some(s.to_lowercase()),
                    ParameterTransformOp::CapitalizeInitial => Some(capitalize(s)),
                    ParameterTransformOp::ExpandEscapeSequences => Some(ansi_c_decode(s)),
                    ParameterTransformOp::Quoted => Some(shell_quote(s)),
                    _ => None,
                })
            }
            P::UppercaseFirstChar { parameter, pattern, .. } | P::UppercasePattern { parameter, pattern, .. } => {
                let all = matches!(expr, P::UppercasePattern { .. });
                let ok = pattern.as_deref().is_none_or(str::is_empty);
                self.map_str(parameter, |s| {
                    ok.then(|| if all { s.to_uppercase() } else { capitalize(s) })
                })
            }
            P::LowercaseFirstChar { parameter, pattern, .. } | P::LowercasePattern { parameter, pattern, .. } => {
                let all = matches!(expr, P::LowercasePattern { .. });
                let ok = pattern.as_deref().is_none_or(str::is_empty);
                self.map_str(parameter, |s| {
                    ok.then(|| {
                        if all {
                            s.to_lowercase()
                        } else {
                            let mut c = s.chars();
                            c.next()
                                .map(|f| f.to_lowercase().chain(c).collect())
                                .unwrap_or_default()
                        }
                    })
                })
            }
            P::ReplaceSubstring {
                parameter,
                pattern,
                replacement,
                match_kind,
                ..
            } => {
                let pat = self.expand_default(Some(pattern));
                let rep = self.expand_default(replacement.as_deref());
                let kind = match_kind.clone();
                self.map_str(parameter, |s| {
                    let p = pat.literal()?;
                    let r = rep.literal()?;
                    if p.is_empty() || p.contains(['*', '?', '[']) {
                        return None;
                    }
                    Some(match kind {
                        SubstringMatchKind::Anywhere => s.replace(p, r),
                        SubstringMatchKind::FirstOccurrence => s.replacen(p, r, 1),
                        SubstringMatchKind::Prefix => match s.strip_prefix(p) {
                            Some(rest) => format!("{r}{rest}"),
                            None => s.to_string(),
                        },
                        SubstringMatchKind::Suffix => match s.strip_suffix(p) {
                            Some(rest) => format!("{rest}{r}"),
                            None => s.to_string(),
                        },
                    })
                })
            }
            P::VariableNames { .. } | P::MemberKeys { .. } => unknown(),
        }
    }

    /// Applies a string function to every known value of a parameter.
    fn map_str(&mut self, p: &Parameter, f: impl Fn(&str) -> Option<String>) -> Vec<ExpVal> {
        match self.lookup(p) {
            None => vec![ExpVal::Str(Field::unknown(Taint::Dynamic))],
            Some(vals) => vals
                .into_iter()
                .map(|v| {
                    let field = match v {
                        ExpVal::Str(f) => f,
                        ExpVal::List(l) => join_fields(l),
                    };
                    match field.literal().and_then(&f) {
                        Some(s) => ExpVal::Str(Field::lit(&s)),
                        None => ExpVal::Str(Field::unknown(field.taint)),
                    }
                })
                .collect(),
        }
    }

    /// Expands the word in `${x:-word}` (quoted context, no splitting).
    fn expand_default(&mut self, raw: Option<&str>) -> Field {
        match raw {
            None | Some("") => Field::default(),
            Some(raw) => self.expand_nosplit(raw).into_iter().next().unwrap_or_default(),
        }
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn with_unknown_prefix(v: Value, append: bool) -> Value {
    if !append {
        return v;
    }
    match v {
        Value::Scalar(f) => Value::Scalar(Field {
            text: format!("{UNKNOWN}{}", f.text),
            taint: f.taint.max(Taint::Dynamic),
        }),
        Value::Array(mut a) => {
            a.insert(0, Field::unknown(Taint::Dynamic));
            Value::Array(a)
        }
    }
}

fn append_value(old: &Value, new: &Value, element: bool) -> Value {
    match (old, new) {
        (Value::Array(a), Value::Scalar(f)) if element => {
            let mut a = a.clone();
            a.push(f.clone());
            Value::Array(a)
        }
        (Value::Array(a), Value::Array(b)) => Value::Array(a.iter().chain(b).cloned().collect()),
        (Value::Scalar(o), Value::Scalar(n)) if !element => Value::Scalar(Field {
            text: format!("{}{}", o.text, n.text),
            taint: o.taint.max(n.taint),
        }),
        (Value::Scalar(o), Value::Array(b)) => {
            Value::Array(std::iter::once(o.clone()).chain(b.iter().cloned()).collect())
        }
        (_, n) => n.clone(),
    }
}
