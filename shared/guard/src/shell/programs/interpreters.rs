//! Shells and interpreters: code given as a string (`bash -c`, `eval`, `python -c`, `perl -e`,
//! `awk 'program'`, `pwsh -Command`, `deno eval`), script files (only their origin can be
//! checked), and code read from stdin; inline code is matched by `code` rules and searched for
//! the shell commands and SQL it embeds.

use super::{Analyzer, Ctx, Output, STDIN_SHELL};
use crate::code::{self, Lang};
use crate::glob::UNKNOWN;
use crate::rule::{Fact, Invocation, Signal, basename};
use crate::shell::expand::join_fields;
use crate::word::{Field, Taint, code_text, plain_text};

pub(super) const SHELLS: &[&str] = &[
    "sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "csh", "tcsh", "rbash", "yash", "pdksh", "oksh", "posh",
    "ksh93",
];

pub(super) fn lang_of(prog: &str) -> Option<Lang> {
    let versioned = |base: &str| {
        prog.strip_prefix(base)
            .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit() || c == '.' || c == 'w'))
    };
    if versioned("python") || versioned("pypy") {
        return Some(Lang::Python);
    }
    if versioned("perl") {
        return Some(Lang::Perl);
    }
    if versioned("ruby") || prog == "jruby" || prog == "irb" {
        return Some(Lang::Ruby);
    }
    if versioned("php") {
        return Some(Lang::Php);
    }
    match prog {
        "node" | "nodejs" | "bun" | "deno" | "mongo" | "mongosh" => Some(Lang::Js),
        "awk" | "gawk" | "mawk" | "nawk" => Some(Lang::Awk),
        "lua" | "luajit" | "Rscript" | "R" | "julia" | "osascript" | "groovy" | "expect" | "tclsh" | "wish"
        | "pwsh" | "powershell" | "elixir" => Some(Lang::Other),
        p if p.starts_with("lua5") => Some(Lang::Other),
        _ => None,
    }
}

/// How an interpreter takes inline code.
struct Interp {
    code: &'static [char],
    long_code: &'static [&'static str],
    value: &'static [char],
    long_value: &'static [&'static str],
    module: Option<char>,
    script_flag: Option<char>,
    /// The first positional is the program (awk), not a script file.
    program_positional: bool,
    /// With no code and no script, code comes from stdin.
    stdin_code: bool,
    /// Positionals are not scripts (a connection string), options may follow them.
    positional_is_data: bool,
}

fn interp(prog: &str, lang: Lang) -> Interp {
    let base = Interp {
        code: &[],
        long_code: &[],
        value: &[],
        long_value: &[],
        module: None,
        script_flag: None,
        program_positional: false,
        stdin_code: true,
        positional_is_data: false,
    };
    match lang {
        Lang::Python => Interp {
            code: &['c'],
            value: &['W', 'X', 'Q'],
            module: Some('m'),
            ..base
        },
        Lang::Perl => Interp {
            code: &['e', 'E'],
            value: &['M', 'm', 'I', 'x'],
            ..base
        },
        Lang::Ruby => Interp {
            code: &['e'],
            value: &['r', 'I', 'C', 'E'],
            ..base
        },
        Lang::Php => Interp {
            code: &['r', 'B', 'R', 'E'],
            value: &['c', 'd', 'z', 't'],
            script_flag: Some('f'),
            ..base
        },
        Lang::Awk => Interp {
            code: &['e'],
            long_code: &["source"],
            value: &['v', 'F'],
            script_flag: Some('f'),
            program_positional: true,
            stdin_code: false,
            ..base
        },
        Lang::Js if prog.starts_with("mongo") => Interp {
            long_code: &["eval"],
            long_value: &[
                "host",
                "port",
                "username",
                "password",
                "authenticationDatabase",
                "file",
                "tls",
                "apiVersion",
            ],
            value: &['u', 'p', 'h'],
            positional_is_data: true,
            ..base
        },
        Lang::Js => Interp {
            code: &['e', 'p'],
            long_code: &["eval", "print"],
            value: &['r'],
            long_value: &["require", "import", "loader", "input-type", "env-file"],
            ..base
        },
        Lang::Other => match prog {
            "expect" => Interp { code: &['c'], ..base },
            "tclsh" | "wish" => base,
            "lua" | "luajit" => Interp {
                code: &['e'],
                value: &['l'],
                ..base
            },
            _ => Interp {
                code: &['e', 'E'],
                ..base
            },
        },
    }
}

impl Analyzer<'_> {
    /// Code handed over as a string (`bash -c`, `eval`, `su -c`, `trap`): parsed again, with
    /// run-time parts kept unknown.
    pub(in crate::shell) fn code_string(
        &mut self,
        f: &Field,
        stdin: &Output,
        positional: Option<Vec<Field>>,
        what: &str,
    ) -> Output {
        if f.taint >= Taint::Decoded {
            self.opaque(f.taint, what);
            return Output::dynamic();
        }
        let text = code_text(&f.text);
        if text.contains(UNKNOWN) && text.chars().all(|c| c == UNKNOWN || c.is_whitespace()) {
            self.opaque(f.taint, what);
            return Output::dynamic();
        }
        self.nested_script(&text, stdin, positional)
    }

    /// A script file run by an interpreter: only its origin can be checked.
    pub(super) fn script_file(&mut self, f: &Field, stdin: &Output, what: &str) -> Output {
        if !f.is_static() {
            self.opaque(f.taint, &format!("the script {what} runs"));
            return Output::dynamic();
        }
        if self.is_downloaded(f) {
            self.signal(
                Signal::DownloadExec,
                &format!("{what} runs a downloaded file: {}", f.display()),
            );
            return Output::dynamic();
        }
        let p = plain_text(&f.text);
        if matches!(p.as_str(), "/dev/stdin" | "/proc/self/fd/0" | "/dev/fd/0" | "-") {
            return self.stdin_script(stdin, what);
        }
        Output::dynamic()
    }

    /// A shell reading its commands from stdin.
    pub(super) fn stdin_script(&mut self, stdin: &Output, what: &str) -> Output {
        if let Some(top) = self.evidence.pipe_progs.last_mut() {
            top.push(STDIN_SHELL.to_string());
        }
        match stdin {
            Output::Known(text) => {
                let text = text.clone();
                self.script(&text, Output::dynamic())
            }
            Output::Unknown(t) => {
                self.evidence.saw_stdin_shell = true;
                if self.evidence.saw_dev_tcp {
                    self.signal(Signal::ReverseShell, "a shell is connected to a network socket");
                }
                self.opaque(*t, &format!("commands read by {what}"));
                Output::dynamic()
            }
        }
    }

    pub(super) fn shell(&mut self, prog: &str, inv: &Invocation, args: &[Field], stdin: &Output) -> Output {
        if Analyzer::has_dev_tcp(&inv.redirects) {
            self.signal(
                Signal::ReverseShell,
                &format!("a shell is connected to a network socket: {}", inv.display()),
            );
        }
        if only_info(prog, args) {
            return Output::dynamic();
        }
        let mut i = 0;
        let (mut cmd, mut from_stdin) = (false, false);
        while let Some(a) = args.get(i) {
            let Some(t) = a.literal() else { break };
            if t == "--" || t == "-" {
                from_stdin |= t == "-";
                i += 1;
                break;
            }
            if let Some(long) = t.strip_prefix("--") {
                if matches!(long, "rcfile" | "init-file") {
                    i += 1;
                }
                i += 1;
                continue;
            }
            if (t.starts_with('-') || t.starts_with('+')) && t.len() > 1 {
                for ch in t[1..].chars() {
                    match ch {
                        'c' => cmd = true,
                        's' => from_stdin = true,
                        'o' | 'O' => i += 1,
                        _ => {}
                    }
                }
                i += 1;
                continue;
            }
            break;
        }
        let rest = args.get(i..).unwrap_or_default();
        if cmd {
            let Some(code) = rest.first() else {
                return Output::dynamic();
            };
            let positional = rest.get(2..).unwrap_or_default().to_vec();
            let saved = std::mem::replace(&mut self.frame.arg0, rest.get(1).cloned());
            let out = self.code_string(code, stdin, Some(positional), &format!("the code {prog} -c runs"));
            self.frame.arg0 = saved;
            return out;
        }
        if !from_stdin && let Some(script) = rest.first() {
            return self.script_file(script, stdin, prog);
        }
        self.stdin_script(stdin, prog)
    }

    pub(super) fn interpreter(
        &mut self,
        lang: Lang,
        prog: &str,
        inv: &Invocation,
        args: &[Field],
        stdin: &Output,
        ctx: Ctx,
    ) -> Output {
        let spec = interp(prog, lang);
        if only_info(prog, args) {
            return Output::dynamic();
        }
        let mut codes: Vec<Field> = Vec::new();
        let mut script: Option<Field> = None;
        let mut read_stdin = false;
        let mut i = 0;
        while let Some(a) = args.get(i) {
            let t = a.text.as_str();
            if t == "--" {
                if codes.is_empty() && !spec.program_positional {
                    script = args.get(i + 1).cloned();
                } else if codes.is_empty() {
                    codes.extend(args.get(i + 1).cloned());
                }
                break;
            }
            if t == "-" {
                read_stdin = true;
                break;
            }
            if let Some(long) = t.strip_prefix("--") {
                let (name, val) = match long.split_once('=') {
                    Some((n, v)) => (n, Some(v)),
                    None => (long, None),
                };
                if spec.long_code.contains(&name) {
                    match val {
                        Some(v) => codes.push(Field {
                            text: v.to_string(),
                            taint: a.taint,
                        }),
                        None => {
                            codes.extend(args.get(i + 1).cloned());
                            i += 1;
                        }
                    }
                } else if spec.long_value.contains(&name) && val.is_none() {
                    i += 1;
                }
                i += 1;
                continue;
            }
            if t.starts_with('-') && t.len() > 1 {
                let body: Vec<char> = t[1..].chars().collect();
                let mut next = false;
                for (j, c) in body.iter().enumerate() {
                    let rest: String = body[j + 1..].iter().collect();
                    let value = || {
                        if rest.is_empty() {
                            None
                        } else {
                            Some(Field {
                                text: rest.clone(),
                                taint: a.taint,
                            })
                        }
                    };
                    if spec.code.contains(c) {
                        match value() {
                            Some(v) => codes.push(v),
                            None => {
                                codes.extend(args.get(i + 1).cloned());
                                next = true;
                            }
                        }
                        break;
                    }
                    if spec.module == Some(*c) {
                        // `python -m pip uninstall x` runs the module like a command.
                        let mut argv: Vec<Field> = value().into_iter().collect();
                        argv.extend(args.get(i + 1..).unwrap_or_default().iter().cloned());
                        return self.wrap(inv, argv, prog, stdin, ctx);
                    }
                    if spec.script_flag == Some(*c) {
                        script = value().or_else(|| args.get(i + 1).cloned());
                        next = rest.is_empty();
                        break;
                    }
                    if spec.value.contains(c) {
                        next = rest.is_empty();
                        break;
                    }
                }
                i += if next { 2 } else { 1 };
                continue;
            }
            if spec.positional_is_data {
                i += 1;
                continue;
            }
            if codes.is_empty() && script.is_none() {
                if spec.program_positional {
                    codes.push(a.clone());
                } else {
                    script = Some(a.clone());
                }
            }
            break;
        }
        if codes.is_empty() && script.is_none() && spec.stdin_code {
            read_stdin = true;
        }
        for code in &codes {
            self.inline_code(lang, prog, code);
        }
        if let Some(s) = script {
            if s.literal()
                .is_some_and(|p| p.starts_with("http://") || p.starts_with("https://"))
            {
                self.signal(Signal::DownloadExec, &format!("{prog} runs code from {}", s.display()));
            }
            self.script_file(&s, stdin, prog);
        }
        if read_stdin {
            match stdin {
                Output::Known(t) => {
                    let f = Field::lit(t);
                    self.inline_code(lang, prog, &f);
                }
                Output::Unknown(t) => self.opaque(*t, &format!("code read by {prog}")),
            }
        }
        Output::dynamic()
    }

    /// Inline code: matched by `code` rules, with its embedded shell commands and SQL inspected.
    fn inline_code(&mut self, lang: Lang, prog: &str, code: &Field) {
        if code.taint >= Taint::Decoded {
            self.opaque(code.taint, &format!("{prog} code"));
            return;
        }
        let text = plain_text(&code.text);
        if code.text.contains(UNKNOWN) && text.trim().is_empty() {
            self.opaque(code.taint, &format!("{prog} code"));
            return;
        }
        self.report(&Fact::Code {
            interpreter: prog,
            code: &text,
        });
        if let Some(folded) = code::fold_strings(&text) {
            self.report(&Fact::Code {
                interpreter: prog,
                code: &folded,
            });
        }
        for cmd in code::shell_commands(&text, lang) {
            let pipes_to_shell =
                lang == Lang::Awk && SHELLS.contains(&basename(cmd.split_whitespace().next().unwrap_or("")));
            self.script(&cmd, Output::dynamic());
            if pipes_to_shell {
                // `print "…" | "sh"`: the printed strings are commands.
                for lit in code::string_literals(&text) {
                    self.script(&lit, Output::dynamic());
                }
            }
        }
        if code::calls_database(&text) {
            for lit in code::string_literals(&text) {
                self.sql_text(prog, &lit, true);
            }
        }
    }

    pub(super) fn powershell(&mut self, prog: &str, args: &[Field], stdin: &Output) -> Output {
        for (i, a) in args.iter().enumerate() {
            let t = a.text.to_ascii_lowercase();
            let t = t.replacen('/', "-", 1);
            if t.len() >= 2 && "-command".starts_with(&t) {
                let code = join_fields(args[i + 1..].to_vec());
                self.inline_code(Lang::Other, prog, &code);
                if code.is_static() {
                    self.script(&plain_text(&code.text), Output::dynamic());
                }
                return Output::dynamic();
            }
            if t.len() >= 2 && ("-encodedcommand".starts_with(&t) || t == "-ec") {
                self.signal(Signal::DownloadExec, &format!("{prog} runs an encoded command"));
                return Output::dynamic();
            }
            if t.len() >= 2 && "-file".starts_with(&t) {
                if let Some(f) = args.get(i + 1) {
                    return self.script_file(f, stdin, prog);
                }
                return Output::dynamic();
            }
        }
        Output::dynamic()
    }

    pub(super) fn deno(&mut self, args: &[Field]) -> Output {
        let pos: Vec<&Field> = args.iter().filter(|a| !a.text.starts_with('-')).collect();
        match pos.first().map(|a| a.text.as_str()) {
            Some("eval") => {
                if let Some(code) = pos.get(1) {
                    self.inline_code(Lang::Js, "deno", code);
                }
            }
            Some("run") => {
                if let Some(s) = pos.get(1) {
                    if s.literal()
                        .is_some_and(|p| p.starts_with("http://") || p.starts_with("https://"))
                    {
                        self.signal(Signal::DownloadExec, &format!("deno runs code from {}", s.display()));
                    }
                    let s = (*s).clone();
                    self.script_file(&s, &Output::dynamic(), "deno");
                }
            }
            _ => {}
        }
        Output::dynamic()
    }
}

/// `--version`, `-v`, `--help` and the like: the program prints something and exits.
fn only_info(prog: &str, args: &[Field]) -> bool {
    !args.is_empty()
        && args.iter().all(|a| match a.text.as_str() {
            "--version" | "-version" | "--help" | "-help" => true,
            "-v" | "-V" | "-h" => !SHELLS.contains(&prog),
            "-i" | "-m" => prog.starts_with("php"),
            _ => false,
        })
}
