//! The analyser's state, in four parts: `Env` (what the script defined), `Frame` (where the
//! analysis is), `Budget` (how much of its limits it has spent) and `Evidence` (what it found);
//! how it reports facts and signals to the rules; and `Output`, what a command writes to its
//! standard output as far as the guard can tell.

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

/// What the script has defined: variables, aliases, functions and the working directory. None
/// of it carries over to another machine or container (it is set aside around one).
#[derive(Debug, Clone, Default)]
pub(super) struct Env {
    pub(super) vars: HashMap<String, Vec<Value>>,
    pub(super) aliases: HashMap<String, String>,
    pub(super) functions: HashMap<String, Rc<ast::FunctionBody>>,
    pub(super) cwd: Option<String>,
}

/// Where the analysis is: the arguments of the script or function being run, the functions
/// being called, whether in a branch or loop, and the stdin an `exec <file` gave what follows.
#[derive(Default)]
pub(super) struct Frame {
    /// Inside a branch or loop: assignments add values instead of replacing them.
    pub(super) cond: usize,
    /// Functions being called, innermost last.
    pub(super) call_stack: Vec<String>,
    pub(super) positional: Option<Vec<Field>>,
    /// `$0` of a `sh -c 'code' NAME …` script.
    pub(super) arg0: Option<Field>,
    /// Standard input set by `exec <file` for the commands after it.
    pub(super) exec_stdin: Option<Output>,
}

/// How much of the analysis budget is spent: commands evaluated and nesting depths, each
/// bounded by a `MAX_…` limit.
#[derive(Default)]
pub(super) struct Budget {
    pub(super) steps: usize,
    /// Scripts parsed inside one another (`bash -c` in `$(…)`).
    pub(super) depth: usize,
    /// Compound commands being analysed, across nested scripts (bounds the analyser's recursion).
    pub(super) compound_depth: usize,
    /// Invocations being analysed inside one another (wrappers, functions, across scripts).
    pub(super) invoke_depth: usize,
    /// Aliases expanded inside one another.
    pub(super) alias_depth: usize,
    /// `too_complex` has been signalled (once is enough).
    pub(super) too_complex_reported: bool,
}

/// What the analysis found: the strictest decision so far, and what later commands are judged
/// against (downloaded files, network sockets, shells reading stdin, programs in a pipeline).
#[derive(Default)]
pub(super) struct Evidence {
    pub(super) best: Option<Decision>,
    /// Files the command downloads (paths and basenames).
    pub(super) downloaded: Vec<String>,
    pub(super) saw_dev_tcp: bool,
    pub(super) saw_stdin_shell: bool,
    /// Programs started in each enclosing multi-command pipeline.
    pub(super) pipe_progs: Vec<Vec<String>>,
}

/// How a command runs: in a pipeline with others, or in the background.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Ctx {
    pub(super) multi: bool,
    pub(super) background: bool,
}

pub(crate) struct Analyzer<'r> {
    pub(super) rules: &'r RuleSet,
    pub(super) opts: ParserOptions,
    pub(super) env: Env,
    pub(super) frame: Frame,
    pub(super) budget: Budget,
    pub(super) evidence: Evidence,
}

impl<'r> Analyzer<'r> {
    pub(super) fn new(rules: &'r RuleSet) -> Self {
        Analyzer {
            rules,
            opts: ParserOptions::default(),
            env: Env::default(),
            frame: Frame::default(),
            budget: Budget::default(),
            evidence: Evidence::default(),
        }
    }

    // ---- reporting -------------------------------------------------------------------------

    pub(crate) fn report(&mut self, fact: &Fact<'_>) {
        if let Some(d) = self.rules.evaluate(fact)
            && self.evidence.best.as_ref().is_none_or(|b| d.verdict > b.verdict)
        {
            self.evidence.best = Some(d);
        }
    }

    pub(crate) fn signal(&mut self, signal: Signal, detail: &str) {
        self.report(&Fact::Signal { signal, detail });
        if signal == Signal::Unresolved && self.evidence.saw_dev_tcp {
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
        self.evidence.best.as_ref().is_some_and(|b| b.verdict >= Verdict::Block)
    }

    pub(super) fn tick(&mut self) -> bool {
        self.budget.steps += 1;
        if self.budget.steps > MAX_STEPS {
            if !self.budget.too_complex_reported {
                self.budget.too_complex_reported = true;
                self.signal(Signal::TooComplex, "the command runs too many commands to analyse");
            }
            return false;
        }
        true
    }

    pub(super) fn too_complex(&mut self, detail: &str) {
        if !self.budget.too_complex_reported {
            self.budget.too_complex_reported = true;
            self.signal(Signal::TooComplex, detail);
        }
    }
}
