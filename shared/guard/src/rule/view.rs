//! An invocation prepared for matching: its flags and positionals, and the forms each argument
//! and redirection target is tried in (path-normalised, `--opt=value`, joined to a known working
//! directory), built on first use.

use std::cell::OnceCell;

use super::{Invocation, any_glob};
use crate::glob::{GlobSet, Subject};
use crate::word::{Field, normalize_path};

/// An invocation prepared for matching: flags, positionals and path forms of each argument.
/// The costly parts are built on first use, so a command no rule names costs almost nothing.
pub(crate) struct InvocationView<'a> {
    inv: &'a Invocation,
    pub(super) program: &'a str,
    pub(super) program_subject: Subject,
    path: OnceCell<Subject>,
    options: OnceCell<Options>,
    /// Every form of each argument a pattern may match.
    forms: OnceCell<Vec<Vec<Subject>>>,
    redirects: OnceCell<(Vec<Subject>, Vec<Subject>)>,
    via: OnceCell<Vec<Subject>>,
}

/// The flags and positionals of an invocation.
struct Options {
    flags: Vec<Subject>,
    /// Positional arguments: (argument index, directly follows an option that may take it).
    positionals: Vec<(usize, bool)>,
}

impl Options {
    fn new(args: &[Field]) -> Self {
        let mut flags = Vec::new();
        let mut positionals = Vec::new();
        let mut after_dashdash = false;
        let mut prev_flag = false;
        for (i, a) in args.iter().enumerate() {
            let t = a.text.as_str();
            if !after_dashdash && t == "--" {
                after_dashdash = true;
                prev_flag = false;
                continue;
            }
            if !after_dashdash && t.len() > 1 && t.starts_with('-') {
                if let Some(long) = t.strip_prefix("--") {
                    let name = long.split('=').next().unwrap_or(long);
                    flags.push(Subject::new(name));
                    prev_flag = !long.contains('=');
                } else {
                    let body = &t[1..];
                    flags.push(Subject::new(body));
                    if body.chars().count() > 1 {
                        let mut buf = [0u8; 4];
                        flags.extend(body.chars().map(|c| Subject::new(c.encode_utf8(&mut buf))));
                    }
                    prev_flag = true;
                }
                continue;
            }
            positionals.push((i, prev_flag));
            prev_flag = false;
        }
        Options { flags, positionals }
    }
}

impl<'a> InvocationView<'a> {
    pub(crate) fn new(inv: &'a Invocation) -> Self {
        let program = inv.program();
        InvocationView {
            inv,
            program,
            program_subject: Subject::new(program),
            path: OnceCell::new(),
            options: OnceCell::new(),
            forms: OnceCell::new(),
            redirects: OnceCell::new(),
            via: OnceCell::new(),
        }
    }

    fn args(&self) -> &'a [Field] {
        self.inv.argv.get(1..).unwrap_or_default()
    }

    pub(super) fn path(&self) -> &Subject {
        self.path.get_or_init(|| {
            Subject::new(
                &self
                    .inv
                    .argv
                    .first()
                    .map(|f| normalize_path(&f.text))
                    .unwrap_or_default(),
            )
        })
    }

    fn options(&self) -> &Options {
        self.options.get_or_init(|| Options::new(self.args()))
    }

    pub(super) fn flags(&self) -> &[Subject] {
        &self.options().flags
    }

    pub(super) fn positionals(&self) -> &[(usize, bool)] {
        &self.options().positionals
    }

    pub(super) fn forms(&self) -> &[Vec<Subject>] {
        self.forms.get_or_init(|| {
            let cwd = self.inv.cwd.as_deref();
            self.args()
                .iter()
                .map(|a| forms(&a.text, cwd).iter().map(|f| Subject::new(f)).collect())
                .collect()
        })
    }

    /// Redirection targets read from and written to.
    pub(super) fn redirects(&self) -> &(Vec<Subject>, Vec<Subject>) {
        self.redirects.get_or_init(|| {
            let cwd = self.inv.cwd.as_deref();
            let mut read = Vec::new();
            let mut write = Vec::new();
            for r in &self.inv.redirects {
                for f in forms(&r.target.text, cwd) {
                    let subject = Subject::new(&f);
                    if r.read {
                        read.push(subject.clone());
                    }
                    if r.write {
                        write.push(subject);
                    }
                }
            }
            (read, write)
        })
    }

    pub(super) fn via(&self) -> &[Subject] {
        self.via
            .get_or_init(|| self.inv.via.iter().map(|v| Subject::new(v)).collect())
    }

    pub(super) fn has_redirect(&self, write: bool) -> bool {
        self.inv.redirects.iter().any(|r| if write { r.write } else { r.read })
    }

    pub(super) fn any_arg(&self, globs: &GlobSet) -> bool {
        self.forms().iter().flatten().any(|f| any_glob(globs, f))
    }

    fn arg(&self, idx: usize) -> Option<&Subject> {
        self.forms().get(idx).and_then(|f| f.first())
    }

    /// Whether `words` appear in order among the leading positionals; a positional skipped
    /// between two words must directly follow an option (it may be that option's value).
    pub(super) fn subcommand(&self, words: &[GlobSet]) -> bool {
        let Some((first, rest)) = words.split_first() else {
            return true;
        };
        // Candidates for the first word: positionals up to the first one not following an option.
        for (start, &(idx, follows_flag)) in self.positionals().iter().enumerate() {
            if self.arg(idx).is_some_and(|a| any_glob(first, a)) && self.rest_matches(rest, start + 1) {
                return true;
            }
            if !follows_flag {
                break;
            }
        }
        false
    }

    fn rest_matches(&self, words: &[GlobSet], from: usize) -> bool {
        let Some((word, rest)) = words.split_first() else {
            return true;
        };
        let positionals = self.positionals();
        for (p, &(idx, follows_flag)) in positionals.iter().enumerate().skip(from) {
            if self.arg(idx).is_some_and(|a| any_glob(word, a)) {
                return self.rest_matches(rest, p + 1);
            }
            if !follows_flag {
                return false;
            }
        }
        false
    }
}

/// The forms of an argument patterns are tried on: the path-normalised text, the value of
/// `--opt=value` / `key=value` / `@file`, and relative paths joined to a known working directory.
fn forms(text: &str, cwd: Option<&str>) -> Vec<String> {
    let mut out = vec![normalize_path(text)];
    if let Some((key, value)) = text.split_once('=') {
        out.push(format!("{key}={}", normalize_path(value)));
        out.push(normalize_path(value));
    }
    if let Some(rest) = text.strip_prefix('@') {
        out.push(normalize_path(rest));
    }
    if let Some(cwd) = cwd {
        let plain = out[0].clone();
        if !plain.is_empty() && !plain.starts_with(['/', '~', '-']) && !plain.contains('=') {
            out.push(normalize_path(&format!("{cwd}/{plain}")));
        }
    }
    out
}
