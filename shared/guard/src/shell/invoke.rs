//! One resolved command: aliases, functions, the rules, then the program's own handling; command
//! names that are globs; redirections and here-documents (what the command reads, where it
//! writes, network sockets); files a command downloads; scripts run with other positional
//! parameters or on another machine.

use brush_parser::ast;
use brush_parser::word as bword;

use super::expand::join_fields;
use super::parse::{expansion_openers, guarded};
use super::{Analyzer, Ctx, MAX_DEPTH, MAX_HEREDOC_EXPANSIONS, MAX_INVOKE_DEPTH, Output, programs};
use crate::glob::{Glob, Subject};
use crate::rule::{Fact, Invocation, Redirect, Signal, basename};
use crate::word::{Field, FieldBuilder, Taint, normalize_path, plain_text, shell_quote};

impl Analyzer<'_> {
    // ---- redirections and downloads --------------------------------------------------------

    /// Records a downloaded command output written to a file (`curl … > x.sh`).
    pub(super) fn note_downloads(&mut self, reds: &[Redirect], out: &Output) {
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
            if !self.evidence.downloaded.contains(&name) {
                self.evidence.downloaded.push(name);
            }
        }
    }

    pub(crate) fn is_downloaded(&self, f: &Field) -> bool {
        let p = normalize_path(&plain_text(&f.text));
        !p.is_empty() && self.evidence.downloaded.iter().any(|d| *d == p || *d == basename(&p))
    }

    /// A bare command name that was just downloaded into a `bin` directory.
    fn downloaded_command(&self, word: &str) -> bool {
        !word.contains('/')
            && self
                .evidence
                .downloaded
                .iter()
                .any(|d| d.strip_suffix(word).is_some_and(|dir| dir.ends_with("/bin/")))
    }

    pub(super) fn report_redirects(&mut self, reds: &[Redirect]) {
        let inv = Invocation {
            argv: Vec::new(),
            redirects: reds.to_vec(),
            via: Vec::new(),
            cwd: self.env.cwd.clone(),
        };
        self.report(&Fact::Invocation(&inv));
    }

    pub(super) fn redirect<'a>(
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
            self.evidence.saw_dev_tcp = true;
            if self.evidence.saw_stdin_shell {
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
        if self.budget.invoke_depth >= MAX_INVOKE_DEPTH {
            self.too_complex("commands wrap each other too deeply to analyse");
            return Output::dynamic();
        }
        self.budget.invoke_depth += 1;
        let out = self.invoke_inner(inv, stdin, ctx);
        self.budget.invoke_depth -= 1;
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
        if let Some(top) = self.evidence.pipe_progs.last_mut() {
            top.push(prog.clone());
        }
        if (word.contains('/') && self.is_downloaded(&name)) || self.downloaded_command(&word) {
            self.signal(
                Signal::DownloadExec,
                &format!("runs a downloaded file: {}", inv.display()),
            );
        }
        if let Some(text) = self.env.aliases.get(&word).cloned()
            && self.budget.alias_depth < 4
        {
            let rest: Vec<String> = inv.argv[1..]
                .iter()
                .map(|f| shell_quote(&plain_text(&f.text)))
                .collect();
            self.budget.alias_depth += 1;
            let out = self.script(&format!("{text} {}", rest.join(" ")), stdin.clone());
            self.budget.alias_depth -= 1;
            return out;
        }
        if let Some(body) = self.env.functions.get(&word).cloned() {
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
                .chain(programs::KNOWN_PROGRAMS.iter().copied())
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
        if self.frame.call_stack.iter().any(|n| n == name) {
            if ctx.multi || ctx.background {
                self.signal(Signal::ForkBomb, &format!("function {name} starts copies of itself"));
            }
            return Output::dynamic();
        }
        if self.frame.call_stack.len() >= MAX_DEPTH {
            self.too_complex("functions call each other too deeply");
            return Output::dynamic();
        }
        self.frame.call_stack.push(name.to_string());
        let saved = self.frame.positional.replace(inv.argv[1..].to_vec());
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
        self.frame.positional = saved;
        self.frame.call_stack.pop();
        out
    }

    /// Runs `text` as a script with the given positional parameters (`sh -c 'cmd' _ args`).
    pub(crate) fn nested_script(&mut self, text: &str, stdin: &Output, positional: Option<Vec<Field>>) -> Output {
        let saved = match positional {
            Some(p) => Some(self.frame.positional.replace(p)),
            None => None,
        };
        let out = self.script(text, stdin.clone());
        if let Some(s) = saved {
            self.frame.positional = s;
        }
        out
    }

    /// Runs `text` on another machine or container: nothing defined here carries over.
    pub(crate) fn remote_script(&mut self, text: &str, stdin: &Output) -> Output {
        let saved_state = std::mem::take(&mut self.env);
        let saved_pos = self.frame.positional.take();
        let out = self.script(text, stdin.clone());
        self.env = saved_state;
        self.frame.positional = saved_pos;
        out
    }

    /// `argv` run through `prog` somewhere else (a container, a pod, another host): judged as if
    /// it ran here, in a fresh environment.
    pub(crate) fn run_via(&mut self, prog: &str, argv: Vec<Field>, stdin: &Output, ctx: Ctx) -> Output {
        let inv = Invocation {
            argv,
            via: vec![prog.to_string()],
            ..Invocation::default()
        };
        self.remote_invoke(inv, stdin, ctx)
    }

    pub(crate) fn remote_invoke(&mut self, inv: Invocation, stdin: &Output, ctx: Ctx) -> Output {
        let saved_state = std::mem::take(&mut self.env);
        let saved_pos = self.frame.positional.take();
        let out = self.invoke(inv, stdin, ctx);
        self.env = saved_state;
        self.frame.positional = saved_pos;
        out
    }
}
