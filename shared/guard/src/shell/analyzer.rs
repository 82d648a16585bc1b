//! The analyser's state (what the script defined, where the analysis is, how much of its budget
//! is spent, what it found) and how it reports facts and signals to the rules; and `Output`,
//! what a command writes to its standard output as far as the guard can tell.

use std::collections::HashMap;
use std::rc::Rc;

use brush_parser::ParserOptions;
use brush_parser::ast;

use super::MAX_STEPS;
use super::vars::Value;
use crate::rule::{Fact, RuleSet, Signal};
use crate::word::{Field, Taint};
use crate::{Decision, Verdict};

/// What a command writes to its standard output, as far as the guard can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Output {
    Known(String),
    Unknown(Taint),
}

impl Output {
    pub(crate) fn empty() -> Self {
        Output::Known(String::new())
    }

    pub(crate) fn dynamic() -> Self {
        Output::Unknown(Taint::Dynamic)
    }

    pub(crate) fn taint(&self) -> Taint {
        match self {
            Output::Known(_) => Taint::None,
            Output::Unknown(t) => *t,
        }
    }

    /// This output followed by another.
    pub(super) fn then(self, next: Output) -> Output {
        match (self, next) {
            (Output::Known(a), Output::Known(b)) => Output::Known(a + &b),
            (a, b) => Output::Unknown(a.taint().max(b.taint()).max(Taint::Dynamic)),
        }
    }

    /// Either this output or another.
    pub(super) fn or(self, other: Output) -> Output {
        match (self, other) {
            (Output::Known(a), Output::Known(b)) if a == b => Output::Known(a),
            (a, b) => Output::Unknown(a.taint().max(b.taint()).max(Taint::Dynamic)),
        }
    }

    /// As the value of a command substitution (trailing newlines removed).
    pub(super) fn as_field(&self) -> Field {
        match self {
            Output::Known(s) => Field::lit(s.trim_end_matches('\n')),
            Output::Unknown(t) => Field::unknown(*t),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub(super) struct State {
    pub(super) vars: HashMap<String, Vec<Value>>,
    pub(super) aliases: HashMap<String, String>,
    pub(super) functions: HashMap<String, Rc<ast::FunctionBody>>,
    pub(super) cwd: Option<String>,
}

/// How a command runs: in a pipeline with others, or in the background.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Ctx {
    pub(super) multi: bool,
    pub(super) background: bool,
}

pub(crate) struct Analyzer<'r> {
    pub(super) rules: &'r RuleSet,
    pub(super) best: Option<Decision>,
    pub(super) opts: ParserOptions,
    pub(super) depth: usize,
    pub(super) steps: usize,
    /// Inside a branch or loop: assignments add values instead of replacing them.
    pub(super) cond: usize,
    pub(super) st: State,
    pub(super) call_stack: Vec<String>,
    pub(super) positional: Option<Vec<Field>>,
    /// `$0` of a `sh -c 'code' NAME …` script.
    pub(super) arg0: Option<Field>,
    /// Files the command downloads (paths and basenames).
    pub(super) downloaded: Vec<String>,
    pub(super) saw_dev_tcp: bool,
    pub(super) saw_stdin_shell: bool,
    /// Standard input set by `exec <file` for the commands after it.
    pub(super) exec_stdin: Option<Output>,
    /// Programs started in each enclosing multi-command pipeline.
    pub(super) pipe_progs: Vec<Vec<String>>,
    pub(super) alias_depth: usize,
    pub(super) too_complex_reported: bool,
    /// Compound commands being analysed, across nested scripts (bounds the analyser's recursion).
    pub(super) compound_depth: usize,
    /// Invocations being analysed inside one another (wrappers, functions, across scripts).
    pub(super) invoke_depth: usize,
}

impl<'r> Analyzer<'r> {
    pub(super) fn new(rules: &'r RuleSet) -> Self {
        Analyzer {
            rules,
            best: None,
            opts: ParserOptions::default(),
            depth: 0,
            steps: 0,
            cond: 0,
            st: State::default(),
            call_stack: Vec::new(),
            positional: None,
            arg0: None,
            downloaded: Vec::new(),
            saw_dev_tcp: false,
            saw_stdin_shell: false,
            exec_stdin: None,
            pipe_progs: Vec::new(),
            alias_depth: 0,
            too_complex_reported: false,
            compound_depth: 0,
            invoke_depth: 0,
        }
    }

    // ---- reporting -------------------------------------------------------------------------

    pub(crate) fn report(&mut self, fact: &Fact<'_>) {
        if let Some(d) = self.rules.evaluate(fact)
            && self.best.as_ref().is_none_or(|b| d.verdict > b.verdict)
        {
            self.best = Some(d);
        }
    }

    pub(crate) fn signal(&mut self, signal: Signal, detail: &str) {
        self.report(&Fact::Signal { signal, detail });
        if signal == Signal::Unresolved && self.saw_dev_tcp {
            self.report(&Fact::Signal {
                signal: Signal::ReverseShell,
                detail,
            });
        }
    }

    /// Reports run-time content used as code: decoded or downloaded content is `download_exec`,
    /// anything else `unresolved`.
    pub(crate) fn opaque(&mut self, taint: Taint, what: &str) {
        if taint >= Taint::Decoded {
            self.signal(
                Signal::DownloadExec,
                &format!("downloaded or decoded content runs as {what}"),
            );
        } else {
            self.signal(Signal::Unresolved, &format!("{what} only known at run time"));
        }
    }

    pub(crate) fn blocked(&self) -> bool {
        self.best.as_ref().is_some_and(|b| b.verdict >= Verdict::Block)
    }

    pub(super) fn tick(&mut self) -> bool {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            if !self.too_complex_reported {
                self.too_complex_reported = true;
                self.signal(Signal::TooComplex, "the command runs too many commands to analyse");
            }
            return false;
        }
        true
    }

    pub(super) fn too_complex(&mut self, detail: &str) {
        if !self.too_complex_reported {
            self.too_complex_reported = true;
            self.signal(Signal::TooComplex, detail);
        }
    }
}
