//! Shell analysis: parses a command with brush-parser and walks everything that can execute,
//! resolving words the way bash would (quote removal, `$'…'`, parameters with the constant
//! values the command itself assigns, aliases and functions it defines, brace expansion,
//! command substitutions whose output is known) and handing every resulting invocation, SQL
//! statement and inline program to the rules. Anything it cannot resolve is reported as a
//! signal (`unresolved`, `parse_error`, `too_complex`) instead of being skipped, so the verdict
//! fails safe.
//!
//! brush-parser leaves words raw: each word is split with `brush_parser::word::parse`, and
//! command substitutions come back as text to parse again. It also panics on some overlong
//! numbers and overflows its stack on deep nesting, so input is pre-scanned and parsing runs
//! under `catch_unwind`.

mod commands;

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

use brush_parser::ParserOptions;
use brush_parser::ast;
use brush_parser::word::{
    self as bword, BraceExpressionMember, BraceExpressionOrText, Parameter, ParameterExpr, ParameterTestType,
    ParameterTransformOp, SpecialParameter, SubstringMatchKind, TildeExpr, WordPiece, WordPieceWithSource,
};

use super::Decision;
use super::Verdict;
use super::glob::{Glob, Subject, UNKNOWN};
use super::rule::{Fact, Invocation, Redirect, RuleSet, Signal, basename, truncate};
use super::word::{Field, FieldBuilder, Taint, ansi_c_decode, normalize_path, plain_text, shell_quote};

/// Longest command analysed; longer ones need approval.
const MAX_LEN: usize = 256 * 1024;
/// Deepest bracket nesting handed to the parser (it recurses per level).
const MAX_NESTING: usize = 64;
/// Most expansions (`$(`, `${`, …) in an expanded here-document body: each may nest in the
/// next, and the word parser recurses per level.
const MAX_HEREDOC_EXPANSIONS: usize = 128;
/// Most `!`, `(`, `&&` and `||` in one `[[ … ]]` (its expression tree can be as deep).
const MAX_TEST_OPERATORS: usize = 64;
/// Deepest re-parsing (`bash -c` in `$(…)` in `ssh …`).
const MAX_DEPTH: usize = 12;
/// Most compound commands analysed inside one another, across nested scripts.
const MAX_COMPOUND_DEPTH: usize = 128;
/// Most invocations analysed inside one another (`sudo env nice …`).
const MAX_INVOKE_DEPTH: usize = 64;
/// Most commands evaluated for one request.
const MAX_STEPS: usize = 4000;
/// Most alternatives a command name may resolve to.
const MAX_ALTS: usize = 16;
/// Most alternatives one word may resolve to (beyond: one more, unknown).
const MAX_WORD_ALTS: usize = 64;
/// Most values a variable may hold (assigned in branches or loops).
const MAX_VALUES: usize = 32;
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
    fn then(self, next: Output) -> Output {
        match (self, next) {
            (Output::Known(a), Output::Known(b)) => Output::Known(a + &b),
            (a, b) => Output::Unknown(a.taint().max(b.taint()).max(Taint::Dynamic)),
        }
    }

    /// Either this output or another.
    fn or(self, other: Output) -> Output {
        match (self, other) {
            (Output::Known(a), Output::Known(b)) if a == b => Output::Known(a),
            (a, b) => Output::Unknown(a.taint().max(b.taint()).max(Taint::Dynamic)),
        }
    }

    /// As the value of a command substitution (trailing newlines removed).
    fn as_field(&self) -> Field {
        match self {
            Output::Known(s) => Field::lit(s.trim_end_matches('\n')),
            Output::Unknown(t) => Field::unknown(*t),
        }
    }
}

#[derive(Debug, Clone)]
enum Value {
    Scalar(Field),
    Array(Vec<Field>),
}

/// The expansion of one parameter: a string, or separate words (`"$@"`, `"${a[@]}"`).
#[derive(Debug, Clone)]
enum ExpVal {
    Str(Field),
    List(Vec<Field>),
}

#[derive(Debug, Clone, Default)]
struct State {
    vars: HashMap<String, Vec<Value>>,
    aliases: HashMap<String, String>,
    functions: HashMap<String, Rc<ast::FunctionBody>>,
    cwd: Option<String>,
}

/// How a command runs: in a pipeline with others, or in the background.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Ctx {
    multi: bool,
    background: bool,
}

pub(crate) struct Analyzer<'r> {
    rules: &'r RuleSet,
    best: Option<Decision>,
    opts: ParserOptions,
    depth: usize,
    steps: usize,
    /// Inside a branch or loop: assignments add values instead of replacing them.
    cond: usize,
    st: State,
    call_stack: Vec<String>,
    positional: Option<Vec<Field>>,
    /// `$0` of a `sh -c 'code' NAME …` script.
    arg0: Option<Field>,
    /// Files the command downloads (paths and basenames).
    downloaded: Vec<String>,
    saw_dev_tcp: bool,
    saw_stdin_shell: bool,
    /// Standard input set by `exec <file` for the commands after it.
    exec_stdin: Option<Output>,
    /// Programs started in each enclosing multi-command pipeline.
    pipe_progs: Vec<Vec<String>>,
    alias_depth: usize,
    too_complex_reported: bool,
    /// Compound commands being analysed, across nested scripts (bounds the analyser's recursion).
    compound_depth: usize,
    /// Invocations being analysed inside one another (wrappers, functions, across scripts).
    invoke_depth: usize,
}

/// Longest standard input the guard reads as text; a longer one is treated as unknown.
const MAX_STDIN: usize = 64 * 1024;

/// Analyses `command` run with `stdin` as its standard input (`None`: none, the command reads
/// end of file, as the executor closes stdin at once).
pub(crate) fn analyze(rules: &RuleSet, command: &str, stdin: Option<&str>) -> Option<Decision> {
    let mut a = Analyzer::new(rules);
    let stdin = match stdin {
        None => Output::empty(),
        Some(s) if s.len() <= MAX_STDIN => Output::Known(s.to_string()),
        Some(_) => Output::dynamic(),
    };
    a.script(command, stdin);
    a.best
}

/// Runs a brush-parser call, turning a panic into an error.
fn guarded<T, E: std::fmt::Display>(f: impl FnOnce() -> Result<T, E>) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the shell parser failed on this input".into()),
    }
}

/// Why a program was not parsed.
#[derive(Debug)]
enum Unparsed {
    /// A syntax error (or a parser panic), described.
    Syntax(String),
    /// Compound commands nest deeper than `MAX_NESTING`.
    TooDeep,
}

/// Tokenizes, checks how deep compound commands nest, then parses: the parser recurses per
/// level of nesting, and deep enough input overflows the thread's stack, which aborts the process
/// (no `catch_unwind` helps).
fn parse_program(text: &str, opts: &ParserOptions) -> Result<ast::Program, Unparsed> {
    let tokens =
        guarded(|| brush_parser::uncached_tokenize_str(text, &opts.tokenizer_options())).map_err(Unparsed::Syntax)?;
    if !nesting_ok(&tokens) {
        return Err(Unparsed::TooDeep);
    }
    guarded(|| brush_parser::parse_tokens(&tokens, opts)).map_err(Unparsed::Syntax)
}

/// Whether compound commands (`if`, loops, `case`, `[[ … ]]`, `( … )`, `{ … }`, `coproc`)
/// nest at most `MAX_NESTING` deep, and a `[[ … ]]` holds at most `MAX_TEST_OPERATORS` of
/// `!`, `(`, `&&` and `||` (its expression is a tree as deep as that), reading the tokens as bash
/// does: reserved words count only in command position, and a closing word only closes the
/// construct it belongs to, so a `fi)` case pattern cannot undo an `if`. Quotes, here-document
/// bodies and `$(…)` are inside word tokens (a substitution is checked when it is analysed).
fn nesting_ok(tokens: &[brush_parser::Token]) -> bool {
    use brush_parser::Token as T;
    #[derive(PartialEq, Eq, Clone, Copy)]
    enum Open {
        If,
        Loop,
        Case,
        Test,
        Paren,
        Brace,
    }
    let mut stack: Vec<Open> = Vec::new();
    let mut command_position = true;
    // Words that belong to a redirection: its target; for a here-document also the body and the
    // end tag, which the tokenizer puts right after the tag (`<<fi` ends with a word `fi` that
    // closes nothing).
    let mut redirect_words = 0usize;
    let mut function_name = false;
    let mut after_time = false;
    let mut coprocs = 0usize;
    let mut test_operators = 0usize;
    for (i, t) in tokens.iter().enumerate() {
        let testing = stack.contains(&Open::Test);
        let word = match t {
            T::Operator(op, _) => {
                let redirect = op.contains(['<', '>']) && !matches!(op.as_str(), "<(" | ">(");
                redirect_words = match op.as_str() {
                    "<<" | "<<-" => 3,
                    _ if redirect => 1,
                    _ => 0,
                };
                if !redirect {
                    command_position = true;
                }
                after_time = false;
                if testing && matches!(op.as_str(), "(" | "&&" | "||") {
                    test_operators += 1;
                }
                match op.as_str() {
                    "(" => stack.push(Open::Paren),
                    ")" if stack.last() == Some(&Open::Paren) => {
                        stack.pop();
                    }
                    _ => {}
                }
                if stack.len() > MAX_NESTING || test_operators > MAX_TEST_OPERATORS {
                    return false;
                }
                continue;
            }
            T::Word(w, _) => w.as_str(),
        };
        if redirect_words > 0 {
            redirect_words -= 1;
            continue;
        }
        if std::mem::take(&mut function_name) {
            // `function NAME` is followed by the body, a compound command.
            command_position = true;
            continue;
        }
        if std::mem::take(&mut after_time) && word == "-p" {
            // `time -p` times the pipeline that follows.
            continue;
        }
        if testing && word == "!" {
            test_operators += 1;
            if test_operators > MAX_TEST_OPERATORS {
                return false;
            }
        }
        if command_position && word == "coproc" {
            // Each `coproc` is a level of the parser's recursion, and closes with its command.
            coprocs += 1;
            if coprocs > MAX_NESTING {
                return false;
            }
        }
        let opens = match word {
            _ if !command_position => None,
            "if" => Some(Open::If),
            "while" | "until" | "for" | "select" => Some(Open::Loop),
            "case" => Some(Open::Case),
            "[[" => Some(Open::Test),
            "{" => Some(Open::Brace),
            _ => None,
        };
        // `esac)` or `esac|` is a case pattern to brush-parser, not the end of the `case`.
        let pattern = matches!(tokens.get(i + 1), Some(T::Operator(op, _)) if op == ")" || op == "|");
        let closes = match word {
            "fi" if command_position => Some(Open::If),
            "done" if command_position => Some(Open::Loop),
            "esac" if command_position && !pattern => Some(Open::Case),
            "}" if command_position => Some(Open::Brace),
            "]]" => Some(Open::Test),
            _ => None,
        };
        if let Some(open) = opens {
            stack.push(open);
            if stack.len() > MAX_NESTING {
                return false;
            }
        } else if closes.is_some() && stack.last().copied() == closes {
            stack.pop();
            if closes == Some(Open::Test) && !stack.contains(&Open::Test) {
                test_operators = 0;
            }
        }
        function_name = command_position && word == "function";
        after_time = command_position && word == "time";
        command_position = (command_position || word == "!" && testing)
            && matches!(
                word,
                "if" | "while" | "until" | "then" | "do" | "else" | "elif" | "!" | "{" | "}" | "time" | "coproc"
            );
    }
    true
}

fn parse_word(raw: &str, opts: &ParserOptions) -> Result<Vec<WordPieceWithSource>, String> {
    // Plain words (most of them) need no parser: one unquoted text piece.
    if !raw.is_empty() && !raw.contains(['$', '\'', '"', '`', '\\', '~', '{']) {
        return Ok(vec![WordPieceWithSource {
            piece: WordPiece::Text(raw.to_string()),
            start_index: 0,
            end_index: raw.len(),
        }]);
    }
    if expansion_openers(raw) > MAX_NESTING {
        return Err("the word nests expansions too deeply to analyse".into());
    }
    guarded(|| bword::parse(raw, opts))
}

/// How many expansions (`$(`, `${`, `$[`, backquotes, `<(`, `>(`) a text opens: an upper bound
/// on how deep the word parser recurses into it, which no quoting can fool (nothing is
/// subtracted for closers).
fn expansion_openers(text: &str) -> usize {
    let b = text.as_bytes();
    b.iter().filter(|&&c| c == b'`').count()
        + b.windows(2)
            .filter(|w| matches!(w, [b'$', b'(' | b'{' | b'['] | [b'<' | b'>', b'(']))
            .count()
}

/// Rejects input the parser cannot take safely: too long, nested too deeply (its recursion
/// overflows the stack), or with digit runs its integer parsing panics on.
fn prescan(text: &str) -> Result<(), (Signal, &'static str)> {
    if text.len() > MAX_LEN {
        return Err((Signal::TooComplex, "the command is too long to analyse"));
    }
    let b = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'(' | b'{' | b'[' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err((Signal::TooComplex, "the command nests too deeply to analyse"));
                }
            }
            b')' | b'}' | b']' => depth = depth.saturating_sub(1),
            b'0'..=b'9' => {
                let start = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                let run = i - start;
                let before = if start > 0 { b[start - 1] } else { b' ' };
                let before2 = if start > 1 { b[start - 2] } else { b' ' };
                let after = b.get(i).copied().unwrap_or(b' ');
                let tilde = before == b'~' || (matches!(before, b'+' | b'-') && before2 == b'~');
                let signed = matches!(before, b'+' | b'-');
                let range = after == b'.' || before == b'.' || (signed && before2 == b'.');
                if (run >= 10 && matches!(after, b'<' | b'>')) || (run >= 18 && (tilde || range)) {
                    return Err((Signal::ParseError, "the command has a number the parser cannot read"));
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    // Backquotes are not counted: nesting them needs exponentially many escapes.
    Ok(())
}

impl<'r> Analyzer<'r> {
    fn new(rules: &'r RuleSet) -> Self {
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

    fn tick(&mut self) -> bool {
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

    fn too_complex(&mut self, detail: &str) {
        if !self.too_complex_reported {
            self.too_complex_reported = true;
            self.signal(Signal::TooComplex, detail);
        }
    }

    // ---- scripts ---------------------------------------------------------------------------

    /// Parses and walks a shell script (the command, a `bash -c` string, a here-doc fed to a
    /// shell, …).
    pub(crate) fn script(&mut self, text: &str, stdin: Output) -> Output {
        if self.blocked() {
            return Output::dynamic();
        }
        if self.depth >= MAX_DEPTH {
            self.too_complex("commands are nested too deeply to analyse");
            return Output::dynamic();
        }
        if let Err((signal, why)) = prescan(text) {
            self.signal(signal, &format!("{why}: {}", truncate(text, 200)));
            return Output::dynamic();
        }
        self.depth += 1;
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
        self.depth -= 1;
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

    fn list(&mut self, list: &ast::CompoundList, stdin: &Output) -> Output {
        let mut out = Output::empty();
        // Set by an `exec <file` in this list (no copy of the inherited stdin otherwise).
        let mut replaced: Option<Output> = None;
        for item in &list.0 {
            if self.blocked() {
                break;
            }
            let background = matches!(item.1, ast::SeparatorOperator::Async);
            out = out.then(self.and_or(&item.0, replaced.as_ref().unwrap_or(stdin), background));
            if let Some(s) = self.exec_stdin.take() {
                replaced = Some(s);
            }
        }
        out
    }

    fn and_or(&mut self, ao: &ast::AndOrList, stdin: &Output, background: bool) -> Output {
        let mut out = self.pipeline(&ao.first, stdin, background);
        let mut replaced: Option<Output> = None;
        for next in &ao.additional {
            if let Some(s) = self.exec_stdin.take() {
                replaced = Some(s);
            }
            let (ast::AndOr::And(p) | ast::AndOr::Or(p)) = next;
            self.cond += 1;
            out = out.then(self.pipeline(p, replaced.as_ref().unwrap_or(stdin), background));
            self.cond -= 1;
        }
        out
    }

    fn pipeline(&mut self, p: &ast::Pipeline, stdin: &Output, background: bool) -> Output {
        let multi = p.seq.len() > 1;
        if multi {
            self.pipe_progs.push(Vec::new());
        }
        let mut cur = stdin.clone();
        for cmd in &p.seq {
            cur = self.command(cmd, cur, Ctx { multi, background });
        }
        if multi && let Some(progs) = self.pipe_progs.pop() {
            let shell = progs.iter().any(|p| p == commands::STDIN_SHELL);
            let net = progs.iter().any(|p| commands::NETWORK_TOOLS.contains(&p.as_str()));
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
                self.st.functions.insert(name, Rc::new(def.body.clone()));
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

    fn compound(&mut self, c: &ast::CompoundCommand, stdin: Output, ctx: Ctx) -> Output {
        // One script nests at most `MAX_NESTING` deep, but substitutions nest scripts: this
        // bounds the whole chain, so the analysis fits a worker thread's stack.
        if self.compound_depth >= MAX_COMPOUND_DEPTH {
            self.too_complex("commands are nested too deeply to analyse");
            return Output::dynamic();
        }
        self.compound_depth += 1;
        let out = self.compound_inner(c, stdin, ctx);
        self.compound_depth -= 1;
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
                self.cond += 1;
                let out = self.list(&f.body.list, &stdin);
                self.cond -= 1;
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
                        .positional
                        .clone()
                        .unwrap_or_else(|| vec![Field::unknown(Taint::Dynamic)]),
                };
                let mut values: Vec<Value> = values.into_iter().map(Value::Scalar).collect();
                if values.len() > MAX_VALUES {
                    values.truncate(MAX_VALUES);
                    values.push(Value::Scalar(Field::unknown(Taint::Dynamic)));
                }
                self.st.vars.insert(f.variable_name.clone(), values);
                self.cond += 1;
                let out = self.list(&f.body.list, &stdin);
                self.cond -= 1;
                Output::Unknown(out.taint().max(Taint::Dynamic))
            }
            C::CaseClause(c) => {
                self.expand_word(&c.value.value);
                self.cond += 1;
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
                self.cond -= 1;
                out.unwrap_or_else(Output::empty)
            }
            C::IfClause(i) => {
                self.list(&i.condition, &stdin);
                self.cond += 1;
                let mut out = self.list(&i.then, &stdin);
                for e in i.elses.iter().flatten() {
                    if let Some(c) = &e.condition {
                        self.list(c, &stdin);
                    }
                    out = out.or(self.list(&e.body, &stdin));
                }
                self.cond -= 1;
                out
            }
            C::WhileClause(w) | C::UntilClause(w) => {
                self.cond += 1;
                self.list(&w.0, &stdin);
                let out = self.list(&w.1.list, &stdin);
                self.cond -= 1;
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
    fn arith(&mut self, text: &str) {
        if text.contains(['$', '`'])
            && let Ok(pieces) = parse_word(text, &self.opts)
        {
            let mut b = vec![FieldBuilder::default()];
            self.pieces(&pieces, true, &mut b);
        }
        if !text.chars().any(char::is_alphabetic) || prescan(text).is_err() {
            return;
        }
        if self.depth >= MAX_DEPTH {
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
            self.depth += 1;
            self.program(&prog, &Output::dynamic());
            self.depth -= 1;
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
            self.exec_stdin = Some(stdin.clone());
        }

        let mut out: Option<Output> = None;
        for argv in alts {
            let inv = Invocation {
                argv,
                redirects: reds.clone(),
                via: Vec::new(),
                cwd: self.st.cwd.clone(),
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

    /// Every combination of `a` then `b`. Past `cap` combinations: for command names
    /// (`signal`) the command is too complex; for words, one more alternative is unknown.
    fn product(&mut self, a: Vec<Vec<Field>>, b: Vec<Vec<Field>>, cap: usize, signal: bool) -> Vec<Vec<Field>> {
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

    /// Records a downloaded command output written to a file (`curl … > x.sh`).
    fn note_downloads(&mut self, reds: &[Redirect], out: &Output) {
        if out.taint() >= Taint::Decoded {
            for r in reds.iter().filter(|r| r.write) {
                self.add_downloaded(&r.target.text);
            }
        }
    }

    pub(crate) fn add_downloaded(&mut self, path: &str) {
        let p = normalize_path(&plain_text(path));
        if p.is_empty() {
            return;
        }
        for name in [basename(&p).to_string(), p] {
            if !self.downloaded.contains(&name) {
                self.downloaded.push(name);
            }
        }
    }

    pub(crate) fn is_downloaded(&self, f: &Field) -> bool {
        let p = normalize_path(&plain_text(&f.text));
        !p.is_empty() && self.downloaded.iter().any(|d| *d == p || *d == basename(&p))
    }

    /// A bare command name that was just downloaded into a `bin` directory.
    fn downloaded_command(&self, word: &str) -> bool {
        !word.contains('/')
            && self
                .downloaded
                .iter()
                .any(|d| d.strip_suffix(word).is_some_and(|dir| dir.ends_with("/bin/")))
    }

    fn report_redirects(&mut self, reds: &[Redirect]) {
        let inv = Invocation {
            argv: Vec::new(),
            redirects: reds.to_vec(),
            via: Vec::new(),
            cwd: self.st.cwd.clone(),
        };
        self.report(&Fact::Invocation(&inv));
    }

    fn redirect<'a>(
        &mut self,
        r: &'a ast::IoRedirect,
        stdin: &mut Output,
        reds: &mut Vec<Redirect>,
        write_subs: &mut Vec<&'a ast::SubshellCommand>,
    ) {
        use ast::{IoFileRedirectKind as K, IoFileRedirectTarget as T, IoRedirect as R};
        match r {
            R::File(fd, kind, target) => {
                let (read, write) = match kind {
                    K::Read | K::DuplicateInput => (true, false),
                    K::Write | K::Append | K::Clobber | K::DuplicateOutput => (false, true),
                    K::ReadAndWrite => (true, true),
                };
                let to_stdin = read && fd.is_none_or(|f| f == 0);
                match target {
                    T::Filename(w) | T::Duplicate(w) => {
                        let f = self.expand_joined(&w.value);
                        if matches!(target, T::Duplicate(_))
                            && let Some(t) = f.literal()
                            && (t == "-" || t.chars().all(|c| c.is_ascii_digit()))
                        {
                            if to_stdin {
                                // `<&-` closes stdin; `<&3` reads whatever fd 3 is (a socket?).
                                *stdin = match t {
                                    "-" => Output::empty(),
                                    "0" => return,
                                    _ => Output::dynamic(),
                                };
                            }
                            return;
                        }
                        if to_stdin {
                            *stdin = self.file_content(&f);
                        }
                        self.note_dev_tcp(&f);
                        reds.push(Redirect { read, write, target: f });
                    }
                    T::Fd(n) => {
                        if to_stdin && *n != 0 {
                            *stdin = Output::dynamic();
                        }
                    }
                    T::ProcessSubstitution(k, sub) => match k {
                        ast::ProcessSubstitutionKind::Read => {
                            let out = self.list(&sub.list, &Output::dynamic());
                            if to_stdin {
                                *stdin = out;
                            }
                        }
                        ast::ProcessSubstitutionKind::Write => write_subs.push(sub),
                    },
                }
            }
            R::HereDocument(fd, doc) => {
                let content = self.heredoc(doc);
                if fd.is_none_or(|f| f == 0) {
                    *stdin = content;
                }
            }
            R::HereString(fd, w) => {
                let f = self.expand_joined(&w.value);
                let content = if f.is_static() {
                    Output::Known(format!("{}\n", plain_text(&f.text)))
                } else {
                    Output::Unknown(f.taint)
                };
                if fd.is_none_or(|f| f == 0) {
                    *stdin = content;
                }
            }
            R::OutputAndError(w, _) => {
                let f = self.expand_joined(&w.value);
                self.note_dev_tcp(&f);
                reds.push(Redirect {
                    read: false,
                    write: true,
                    target: f,
                });
            }
        }
    }

    pub(crate) fn file_content(&self, f: &Field) -> Output {
        if self.is_downloaded(f) {
            Output::Unknown(Taint::Downloaded)
        } else {
            Output::dynamic()
        }
    }

    fn note_dev_tcp(&mut self, f: &Field) {
        let p = normalize_path(&f.text);
        if p.starts_with("/dev/tcp/") || p.starts_with("/dev/udp/") {
            self.saw_dev_tcp = true;
            if self.saw_stdin_shell {
                self.signal(Signal::ReverseShell, "a shell is connected to a network socket");
            }
        }
    }

    pub(crate) fn has_dev_tcp(reds: &[Redirect]) -> bool {
        reds.iter().any(|r| {
            let p = normalize_path(&r.target.text);
            p.starts_with("/dev/tcp/") || p.starts_with("/dev/udp/")
        })
    }

    fn heredoc(&mut self, doc: &ast::IoHereDocument) -> Output {
        let body = if doc.remove_tabs {
            doc.doc
                .value
                .lines()
                .map(|l| l.trim_start_matches('\t'))
                .collect::<Vec<_>>()
                .join("\n")
                + "\n"
        } else {
            doc.doc.value.clone()
        };
        if !doc.requires_expansion || !body.contains(['$', '`', '\\']) {
            return Output::Known(body);
        }
        if expansion_openers(&body) > MAX_HEREDOC_EXPANSIONS {
            self.too_complex("a here-document holds too many expansions to analyse");
            return Output::dynamic();
        }
        match guarded(|| bword::parse_heredoc(&body, &self.opts)) {
            Ok(pieces) => {
                let mut b = vec![FieldBuilder::default()];
                self.pieces(&pieces, true, &mut b);
                let f = join_fields(b.into_iter().next().map(FieldBuilder::finish).unwrap_or_default());
                if f.is_static() {
                    Output::Known(plain_text(&f.text))
                } else {
                    Output::Unknown(f.taint)
                }
            }
            Err(_) => Output::Known(body),
        }
    }

    // ---- invocations -----------------------------------------------------------------------

    /// Evaluates one resolved command: aliases, functions, rules, then what the command does
    /// with its arguments (wrappers, interpreters, builtins).
    pub(crate) fn invoke(&mut self, inv: Invocation, stdin: &Output, ctx: Ctx) -> Output {
        // Wrappers (`sudo`, `env`, `time`, `xargs`, …) invoke the command they wrap: bound the
        // chain, so `sudo sudo sudo …` cannot overflow the stack.
        if self.invoke_depth >= MAX_INVOKE_DEPTH {
            self.too_complex("commands wrap each other too deeply to analyse");
            return Output::dynamic();
        }
        self.invoke_depth += 1;
        let out = self.invoke_inner(inv, stdin, ctx);
        self.invoke_depth -= 1;
        out
    }

    fn invoke_inner(&mut self, inv: Invocation, stdin: &Output, ctx: Ctx) -> Output {
        if !self.tick() || self.blocked() {
            return Output::dynamic();
        }
        let Some(name) = inv.argv.first().cloned() else {
            if !inv.redirects.is_empty() {
                self.report(&Fact::Invocation(&inv));
            }
            // `$(< file)`: the file's content.
            return match inv.redirects.iter().find(|r| r.read) {
                Some(r) => self.file_content(&r.target),
                None => Output::empty(),
            };
        };
        if !name.is_static() {
            self.report(&Fact::Invocation(&inv));
            // An unknown program reading downloaded content is as bad as a shell reading it.
            self.opaque(
                name.taint.max(stdin.taint()),
                &format!("a command name ({})", inv.display()),
            );
            return Output::dynamic();
        }
        if name.has_wildcard() {
            self.report(&Fact::Invocation(&inv));
            self.signal(
                Signal::Unresolved,
                &format!("the command name is a glob: {}", inv.display()),
            );
            // Globbed against the usual binary directories it may name a known program.
            for program in self.glob_programs(&name).into_iter().take(8) {
                let mut argv = inv.argv.clone();
                argv[0] = Field::lit(&program);
                self.invoke(Invocation { argv, ..inv.clone() }, stdin, ctx);
            }
            return Output::dynamic();
        }
        let word = name.text.clone();
        let prog = basename(&word).to_string();
        if let Some(top) = self.pipe_progs.last_mut() {
            top.push(prog.clone());
        }
        if (word.contains('/') && self.is_downloaded(&name)) || self.downloaded_command(&word) {
            self.signal(
                Signal::DownloadExec,
                &format!("runs a downloaded file: {}", inv.display()),
            );
        }
        if let Some(text) = self.st.aliases.get(&word).cloned()
            && self.alias_depth < 4
        {
            let rest: Vec<String> = inv.argv[1..]
                .iter()
                .map(|f| shell_quote(&plain_text(&f.text)))
                .collect();
            self.alias_depth += 1;
            let out = self.script(&format!("{text} {}", rest.join(" ")), stdin.clone());
            self.alias_depth -= 1;
            return out;
        }
        if let Some(body) = self.st.functions.get(&word).cloned() {
            return self.call_function(&word, &body, &inv, stdin, ctx);
        }
        self.report(&Fact::Invocation(&inv));
        if self.blocked() {
            return Output::dynamic();
        }
        self.dispatch(&prog, inv, stdin, ctx)
    }

    /// Known programs (named by a rule, or a shell, interpreter or wrapper) a command-name glob
    /// matches, in `/bin`, `/usr/bin`, `/sbin`, `/usr/sbin`, `/usr/local/bin` or bare.
    fn glob_programs(&self, name: &Field) -> Vec<String> {
        let subject = Subject::new(&name.text);
        let table = self.rules.program_paths.get_or_init(|| {
            const DIRS: &[&str] = &["", "/bin/", "/usr/bin/", "/sbin/", "/usr/sbin/", "/usr/local/bin/"];
            let mut names: Vec<&str> = self
                .rules
                .programs()
                .chain(commands::KNOWN_PROGRAMS.iter().copied())
                .collect();
            names.sort_unstable();
            names.dedup();
            names
                .into_iter()
                .map(|n| {
                    DIRS.iter()
                        .filter_map(|dir| {
                            let path = format!("{dir}{n}");
                            let globs = Glob::compile(&path.replace(['*', '?', '[', '{', '\\'], ""), false).ok()?;
                            Some((path, globs))
                        })
                        .collect()
                })
                .collect()
        });
        table
            .iter()
            .filter_map(|paths| {
                paths
                    .iter()
                    .find(|(_, globs)| globs.iter().any(|g| g.matches_subject(&subject)))
                    .map(|(path, _)| path.clone())
            })
            .collect()
    }

    fn call_function(
        &mut self,
        name: &str,
        body: &ast::FunctionBody,
        inv: &Invocation,
        stdin: &Output,
        ctx: Ctx,
    ) -> Output {
        if self.call_stack.iter().any(|n| n == name) {
            if ctx.multi || ctx.background {
                self.signal(Signal::ForkBomb, &format!("function {name} starts copies of itself"));
            }
            return Output::dynamic();
        }
        if self.call_stack.len() >= MAX_DEPTH {
            self.too_complex("functions call each other too deeply");
            return Output::dynamic();
        }
        self.call_stack.push(name.to_string());
        let saved = self.positional.replace(inv.argv[1..].to_vec());
        let mut stdin = stdin.clone();
        let mut reds = Vec::new();
        let mut write_subs = Vec::new();
        for r in body.1.iter().flat_map(|l| l.0.iter()) {
            self.redirect(r, &mut stdin, &mut reds, &mut write_subs);
        }
        if !reds.is_empty() {
            self.report_redirects(&reds);
        }
        let out = self.compound(&body.0, stdin, ctx);
        for sub in write_subs {
            self.list(&sub.list, &out);
        }
        self.positional = saved;
        self.call_stack.pop();
        out
    }

    /// Runs `text` as a script with the given positional parameters (`sh -c 'cmd' _ args`).
    pub(crate) fn nested_script(&mut self, text: &str, stdin: &Output, positional: Option<Vec<Field>>) -> Output {
        let saved = match positional {
            Some(p) => Some(self.positional.replace(p)),
            None => None,
        };
        let out = self.script(text, stdin.clone());
        if let Some(s) = saved {
            self.positional = s;
        }
        out
    }

    /// Runs `text` on another machine or container: nothing defined here carries over.
    pub(crate) fn remote_script(&mut self, text: &str, stdin: &Output) -> Output {
        let saved_state = std::mem::take(&mut self.st);
        let saved_pos = self.positional.take();
        let out = self.script(text, stdin.clone());
        self.st = saved_state;
        self.positional = saved_pos;
        out
    }

    pub(crate) fn remote_invoke(&mut self, inv: Invocation, stdin: &Output, ctx: Ctx) -> Output {
        let saved_state = std::mem::take(&mut self.st);
        let saved_pos = self.positional.take();
        let out = self.invoke(inv, stdin, ctx);
        self.st = saved_state;
        self.positional = saved_pos;
        out
    }

    // ---- variables -------------------------------------------------------------------------

    /// Applies an assignment; returns `NAME=value` as a field (for `export X=…`).
    fn assign(&mut self, a: &ast::Assignment) -> Field {
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
            let old = self.st.vars.get(&name).cloned().unwrap_or_default();
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
        let cond = self.cond > 0;
        let entry = self.st.vars.entry(name.to_string()).or_default();
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

    fn ifs(&self) -> String {
        match self.st.vars.get("IFS").map(Vec::as_slice) {
            Some([Value::Scalar(f)]) if f.is_static() => f.text.clone(),
            _ => DEFAULT_IFS.to_string(),
        }
    }

    /// The values of a parameter; `None` when it comes from the environment (unknown).
    fn lookup(&self, p: &Parameter) -> Option<Vec<ExpVal>> {
        match p {
            Parameter::Positional(0) => self.arg0.as_ref().map(|f| vec![ExpVal::Str(f.clone())]),
            Parameter::Positional(n) => {
                let pos = self.positional.as_ref()?;
                let i = usize::try_from(*n).ok()?.checked_sub(1)?;
                Some(vec![ExpVal::Str(pos.get(i).cloned().unwrap_or_default())])
            }
            Parameter::Special(SpecialParameter::AllPositionalParameters { concatenate }) => {
                let pos = self.positional.as_ref()?;
                Some(vec![if *concatenate {
                    ExpVal::Str(join_fields(pos.clone()))
                } else {
                    ExpVal::List(pos.clone())
                }])
            }
            Parameter::Special(SpecialParameter::PositionalParameterCount) => {
                let pos = self.positional.as_ref()?;
                Some(vec![ExpVal::Str(Field::lit(&pos.len().to_string()))])
            }
            Parameter::Special(SpecialParameter::ShellName) => self.arg0.as_ref().map(|f| vec![ExpVal::Str(f.clone())]),
            Parameter::Special(_) => None,
            Parameter::Named(name) => match self.st.vars.get(name) {
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
                    "PWD" => self.st.cwd.as_ref().map(|c| vec![ExpVal::Str(Field::lit(c))]),
                    "IFS" => Some(vec![ExpVal::Str(Field::lit(DEFAULT_IFS))]),
                    _ => None,
                },
            },
            Parameter::NamedWithIndex { name, index } => {
                let values = self.st.vars.get(name)?;
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
                let values = self.st.vars.get(name)?;
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

    fn param(&mut self, expr: &ParameterExpr) -> Vec<ExpVal> {
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

    // ---- words -----------------------------------------------------------------------------

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

    fn pieces(&mut self, pieces: &[WordPieceWithSource], quoted: bool, builders: &mut Vec<FieldBuilder>) {
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

fn join_fields(fields: Vec<Field>) -> Field {
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
