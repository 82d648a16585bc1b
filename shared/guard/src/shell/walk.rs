//! Walking the syntax tree: scripts (parsed, or salvaged piece by piece after a syntax error),
//! lists, and-or lists, pipelines, compound commands, `[[ … ]]` tests, arithmetic, and simple
//! commands resolved into the invocations they run.

use std::rc::Rc;

use brush_parser::ast;

use super::parse::{Unparsed, parse_program, parse_word, prescan};
use super::vars::Value;
use super::{Analyzer, Ctx, MAX_ALTS, MAX_COMPOUND_DEPTH, MAX_DEPTH, MAX_NESTING, MAX_VALUES, Output, programs};
use crate::rule::{Invocation, Signal, truncate};
use crate::word::{Field, FieldBuilder, Taint, plain_text};

impl Analyzer<'_> {
    // ---- scripts ---------------------------------------------------------------------------

    /// Parses and walks a shell script (the command, a `bash -c` string, a here-doc fed to a
    /// shell, …).
    pub(crate) fn script(&mut self, text: &str, stdin: Output) -> Output {
        if self.blocked() {
            return Output::dynamic();
        }
        if self.budget.depth >= MAX_DEPTH {
            self.too_complex("commands are nested too deeply to analyse");
            return Output::dynamic();
        }
        if let Err((signal, why)) = prescan(text) {
            self.signal(signal, &format!("{why}: {}", truncate(text, 200)));
            return Output::dynamic();
        }
        self.budget.depth += 1;
        let out = match parse_program(text, &self.opts) {
            Ok(prog) => self.program(&prog, &stdin),
            Err(Unparsed::TooDeep) => {
                self.signal(
                    Signal::TooComplex,
                    &format!("the command nests too deeply to analyse: {}", truncate(text, 200)),
                );
                Output::dynamic()
            }
            Err(Unparsed::Syntax(e)) => {
                self.signal(
                    Signal::ParseError,
                    &format!("{}: {}", truncate(&e, 100), truncate(text, 200)),
                );
                self.salvage(text);
                Output::dynamic()
            }
        };
        self.budget.depth -= 1;
        out
    }

    /// After a syntax error, analyses the lines and `;`-separated pieces that parse on their
    /// own, so an error cannot hide a command that would be blocked.
    fn salvage(&mut self, text: &str) {
        // brush-parser has no `select`; it runs its body like `for` does.
        if text.contains("select ") {
            let as_for = text.replace("select ", "for ");
            if prescan(&as_for).is_ok()
                && let Ok(prog) = parse_program(&as_for, &self.opts)
            {
                self.program(&prog, &Output::dynamic());
                return;
            }
        }
        for piece in text.split(['\n', ';']).take(200) {
            if piece.trim().is_empty() || piece.len() == text.len() {
                continue;
            }
            if prescan(piece).is_ok()
                && let Ok(prog) = parse_program(piece, &self.opts)
            {
                self.program(&prog, &Output::dynamic());
            }
        }
    }

    fn program(&mut self, prog: &ast::Program, stdin: &Output) -> Output {
        let mut out = Output::empty();
        for cc in &prog.complete_commands {
            out = out.then(self.list(cc, stdin));
        }
        out
    }

    pub(super) fn list(&mut self, list: &ast::CompoundList, stdin: &Output) -> Output {
        let mut out = Output::empty();
        // Set by an `exec <file` in this list (no copy of the inherited stdin otherwise).
        let mut replaced: Option<Output> = None;
        for item in &list.0 {
            if self.blocked() {
                break;
            }
            let background = matches!(item.1, ast::SeparatorOperator::Async);
            out = out.then(self.and_or(&item.0, replaced.as_ref().unwrap_or(stdin), background));
            if let Some(s) = self.frame.exec_stdin.take() {
                replaced = Some(s);
            }
        }
        out
    }

    fn and_or(&mut self, ao: &ast::AndOrList, stdin: &Output, background: bool) -> Output {
        let mut out = self.pipeline(&ao.first, stdin, background);
        let mut replaced: Option<Output> = None;
        for next in &ao.additional {
            if let Some(s) = self.frame.exec_stdin.take() {
                replaced = Some(s);
            }
            let (ast::AndOr::And(p) | ast::AndOr::Or(p)) = next;
            self.frame.cond += 1;
            out = out.then(self.pipeline(p, replaced.as_ref().unwrap_or(stdin), background));
            self.frame.cond -= 1;
        }
        out
    }

    fn pipeline(&mut self, p: &ast::Pipeline, stdin: &Output, background: bool) -> Output {
        let multi = p.seq.len() > 1;
        if multi {
            self.evidence.pipe_progs.push(Vec::new());
        }
        let mut cur = stdin.clone();
        for cmd in &p.seq {
            cur = self.command(cmd, cur, Ctx { multi, background });
        }
        if multi && let Some(progs) = self.evidence.pipe_progs.pop() {
            let shell = progs.iter().any(|p| p == programs::STDIN_SHELL);
            let net = progs.iter().any(|p| programs::NETWORK_TOOLS.contains(&p.as_str()));
            if shell && net {
                self.signal(
                    Signal::ReverseShell,
                    "a shell reads its commands from a network connection",
                );
            }
        }
        cur
    }

    fn command(&mut self, cmd: &ast::Command, stdin: Output, ctx: Ctx) -> Output {
        if !self.tick() || self.blocked() {
            return Output::dynamic();
        }
        match cmd {
            ast::Command::Simple(sc) => self.simple(sc, stdin, ctx),
            ast::Command::Compound(c, redirects) => {
                let mut stdin = stdin;
                let mut reds = Vec::new();
                let mut write_subs = Vec::new();
                for r in redirects.iter().flat_map(|l| l.0.iter()) {
                    self.redirect(r, &mut stdin, &mut reds, &mut write_subs);
                }
                if !reds.is_empty() {
                    self.report_redirects(&reds);
                }
                let out = self.compound(c, stdin, ctx);
                for sub in write_subs {
                    self.list(&sub.list, &out);
                }
                self.note_downloads(&reds, &out);
                out
            }
            ast::Command::Function(def) => {
                let name = plain_text(&self.expand_joined(&def.fname.value).text);
                self.env.functions.insert(name, Rc::new(def.body.clone()));
                Output::empty()
            }
            ast::Command::ExtendedTest(t, redirects) => {
                self.test_expr(&t.expr);
                let mut stdin = stdin;
                let mut reds = Vec::new();
                let mut write_subs = Vec::new();
                for r in redirects.iter().flat_map(|l| l.0.iter()) {
                    self.redirect(r, &mut stdin, &mut reds, &mut write_subs);
                }
                if !reds.is_empty() {
                    self.report_redirects(&reds);
                }
                for sub in write_subs {
                    self.list(&sub.list, &Output::empty());
                }
                Output::empty()
            }
        }
    }

    pub(super) fn compound(&mut self, c: &ast::CompoundCommand, stdin: Output, ctx: Ctx) -> Output {
        // One script nests at most `MAX_NESTING` deep, but substitutions nest scripts: this
        // bounds the whole chain, so the analysis fits a worker thread's stack.
        if self.budget.compound_depth >= MAX_COMPOUND_DEPTH {
            self.too_complex("commands are nested too deeply to analyse");
            return Output::dynamic();
        }
        self.budget.compound_depth += 1;
        let out = self.compound_inner(c, stdin, ctx);
        self.budget.compound_depth -= 1;
        out
    }

    fn compound_inner(&mut self, c: &ast::CompoundCommand, stdin: Output, ctx: Ctx) -> Output {
        use ast::CompoundCommand as C;
        match c {
            C::Arithmetic(a) => {
                self.arith(&a.expr.value);
                Output::empty()
            }
            C::ArithmeticForClause(f) => {
                for e in [&f.initializer, &f.condition, &f.updater].into_iter().flatten() {
                    self.arith(&e.value);
                }
                self.frame.cond += 1;
                let out = self.list(&f.body.list, &stdin);
                self.frame.cond -= 1;
                Output::Unknown(out.taint().max(Taint::Dynamic))
            }
            C::BraceGroup(b) => self.list(&b.list, &stdin),
            C::Subshell(s) => self.list(&s.list, &stdin),
            C::ForClause(f) => {
                let values: Vec<Field> = match &f.values {
                    Some(words) => {
                        let mut v = Vec::new();
                        for w in words {
                            v.extend(self.expand_word(&w.value).into_iter().flatten());
                        }
                        v
                    }
                    None => self
                        .frame
                        .positional
                        .clone()
                        .unwrap_or_else(|| vec![Field::unknown(Taint::Dynamic)]),
                };
                let mut values: Vec<Value> = values.into_iter().map(Value::Scalar).collect();
                if values.len() > MAX_VALUES {
                    values.truncate(MAX_VALUES);
                    values.push(Value::Scalar(Field::unknown(Taint::Dynamic)));
                }
                self.env.vars.insert(f.variable_name.clone(), values);
                self.frame.cond += 1;
                let out = self.list(&f.body.list, &stdin);
                self.frame.cond -= 1;
                Output::Unknown(out.taint().max(Taint::Dynamic))
            }
            C::CaseClause(c) => {
                self.expand_word(&c.value.value);
                self.frame.cond += 1;
                let mut out: Option<Output> = None;
                for item in &c.cases {
                    for p in &item.patterns {
                        self.expand_word(&p.value);
                    }
                    if let Some(cmd) = &item.cmd {
                        let o = self.list(cmd, &stdin);
                        out = Some(match out {
                            Some(prev) => prev.or(o),
                            None => o,
                        });
                    }
                }
                self.frame.cond -= 1;
                out.unwrap_or_else(Output::empty)
            }
            C::IfClause(i) => {
                self.list(&i.condition, &stdin);
                self.frame.cond += 1;
                let mut out = self.list(&i.then, &stdin);
                for e in i.elses.iter().flatten() {
                    if let Some(c) = &e.condition {
                        self.list(c, &stdin);
                    }
                    out = out.or(self.list(&e.body, &stdin));
                }
                self.frame.cond -= 1;
                out
            }
            C::WhileClause(w) | C::UntilClause(w) => {
                self.frame.cond += 1;
                self.list(&w.0, &stdin);
                let out = self.list(&w.1.list, &stdin);
                self.frame.cond -= 1;
                Output::Unknown(out.taint().max(Taint::Dynamic))
            }
            C::Coprocess(c) => self.command(&c.body, stdin, ctx),
        }
    }

    fn test_expr(&mut self, e: &ast::ExtendedTestExpr) {
        use ast::ExtendedTestExpr as E;
        match e {
            E::And(a, b) | E::Or(a, b) => {
                self.test_expr(a);
                self.test_expr(b);
            }
            E::Not(a) | E::Parenthesized(a) => self.test_expr(a),
            E::UnaryTest(_, w) => {
                self.expand_word(&w.value);
            }
            E::BinaryTest(_, l, r) => {
                self.expand_word(&l.value);
                self.expand_word(&r.value);
            }
        }
    }

    /// Runs the command substitutions inside an arithmetic expression. brush-parser also reads
    /// nested subshells (`( ( rm -rf / ) )`) as an arithmetic command, so text that parses
    /// as commands is analysed as commands too (without reporting it when it does not parse).
    pub(super) fn arith(&mut self, text: &str) {
        if text.contains(['$', '`'])
            && let Ok(pieces) = parse_word(text, &self.opts)
        {
            let mut b = vec![FieldBuilder::default()];
            self.pieces(&pieces, true, &mut b);
        }
        if !text.chars().any(char::is_alphabetic) || prescan(text).is_err() {
            return;
        }
        if self.budget.depth >= MAX_DEPTH {
            self.too_complex("commands are nested too deeply to analyse");
            return;
        }
        let mut text = text.to_string();
        // `( ( ( x ) ) )` comes back as arithmetic again, one layer less each time.
        for _ in 0..MAX_NESTING {
            let prog = match parse_program(&text, &self.opts) {
                Ok(prog) => prog,
                Err(Unparsed::TooDeep) => {
                    self.too_complex("commands are nested too deeply to analyse");
                    return;
                }
                Err(Unparsed::Syntax(_)) => return,
            };
            if let [cc] = prog.complete_commands.as_slice()
                && let [item] = cc.0.as_slice()
                && item.0.additional.is_empty()
                && let [ast::Command::Compound(ast::CompoundCommand::Arithmetic(a), None)] = item.0.first.seq.as_slice()
            {
                text.clone_from(&a.expr.value);
                continue;
            }
            self.budget.depth += 1;
            self.program(&prog, &Output::dynamic());
            self.budget.depth -= 1;
            return;
        }
    }

    // ---- simple commands -------------------------------------------------------------------

    fn simple(&mut self, sc: &ast::SimpleCommand, stdin: Output, ctx: Ctx) -> Output {
        use ast::CommandPrefixOrSuffixItem as I;
        let mut items: Vec<&I> = Vec::new();
        let mut assignments = Vec::new();
        let mut redirects = Vec::new();
        for item in sc.prefix.iter().flat_map(|p| p.0.iter()) {
            match item {
                I::AssignmentWord(a, _) => assignments.push(a),
                I::IoRedirect(r) => redirects.push(r),
                other => items.push(other),
            }
        }
        let name_item = sc.word_or_name.as_ref().map(|w| I::Word(w.clone()));
        if let Some(n) = &name_item {
            items.push(n);
        }
        for item in sc.suffix.iter().flat_map(|s| s.0.iter()) {
            match item {
                I::IoRedirect(r) => redirects.push(r),
                other => items.push(other),
            }
        }

        let mut alts: Vec<Vec<Field>> = vec![Vec::new()];
        let mut write_subs: Vec<&ast::SubshellCommand> = Vec::new();
        for item in items {
            let sub: Vec<Vec<Field>> = match item {
                I::Word(w) => self.expand_word(&w.value),
                I::AssignmentWord(a, _) => vec![vec![self.assign(a)]],
                I::ProcessSubstitution(kind, sub) => match kind {
                    ast::ProcessSubstitutionKind::Read => {
                        let out = self.list(&sub.list, &Output::dynamic());
                        vec![vec![Field::unknown(out.taint())]]
                    }
                    ast::ProcessSubstitutionKind::Write => {
                        write_subs.push(sub);
                        vec![vec![Field::unknown(Taint::Dynamic)]]
                    }
                },
                I::IoRedirect(_) => continue,
            };
            if alts.iter().all(Vec::is_empty) {
                // The command name: each alternative is its own command.
                alts = self.product(alts, sub, MAX_ALTS, true);
            } else {
                // Arguments: every alternative value is matched (rules look for any argument).
                let union: Vec<Field> = sub.into_iter().flatten().collect();
                for a in &mut alts {
                    a.extend(union.iter().cloned());
                }
            }
        }
        for a in assignments {
            self.assign(a);
        }
        // `exec <file`: the rest of the script reads that file.
        let bare_exec = matches!(alts.as_slice(), [argv] if argv.len() == 1 && argv[0].text == "exec");
        let inherited = bare_exec.then(|| stdin.clone());
        let mut stdin = stdin;
        let mut reds = Vec::new();
        for r in redirects {
            self.redirect(r, &mut stdin, &mut reds, &mut write_subs);
        }
        if inherited.is_some_and(|i| i != stdin) {
            self.frame.exec_stdin = Some(stdin.clone());
        }

        let mut out: Option<Output> = None;
        for argv in alts {
            let inv = Invocation {
                argv,
                redirects: reds.clone(),
                via: Vec::new(),
                cwd: self.env.cwd.clone(),
            };
            let o = self.invoke(inv, &stdin, ctx);
            out = Some(match out {
                Some(prev) => prev.or(o),
                None => o,
            });
        }
        let out = out.unwrap_or_else(Output::empty);
        for sub in write_subs {
            self.list(&sub.list, &out);
        }
        self.note_downloads(&reds, &out);
        out
    }
}
