//! Shell builtins: those that change the analysis state (`cd`, `unset`, `set --`, `alias`,
//! `read`, `printf -v`) and those that run code or another command (`trap`, `eval`, `source`,
//! `exec`, `command`).

use super::files::{lookup_output, printf};
use super::{Analyzer, Ctx, Output};
use crate::rule::Invocation;
use crate::shell::expand::join_fields;
use crate::word::{Field, code_text, normalize_path, plain_text};

impl Analyzer<'_> {
    /// `cd DIR`, `pushd DIR`: relative paths after it are below `DIR`.
    pub(super) fn cd(&mut self, args: &[Field]) -> Output {
        self.change_dir(args);
        Output::empty()
    }

    /// `popd`: the working directory is no longer known.
    pub(super) fn popd(&mut self) -> Output {
        self.env.cwd = None;
        Output::empty()
    }

    /// `unset NAME…`
    pub(super) fn unset(&mut self, args: &[Field]) -> Output {
        for a in args {
            if let Some(n) = a.literal().filter(|n| !n.starts_with('-')) {
                self.env.vars.remove(n);
            }
        }
        Output::empty()
    }

    /// `set -- ARG…`: new positional parameters.
    pub(super) fn set_builtin(&mut self, args: &[Field]) -> Output {
        if let Some(pos) = args.iter().position(|a| a.text == "--") {
            self.frame.positional = Some(args[pos + 1..].to_vec());
        }
        Output::empty()
    }

    /// `alias NAME=VALUE…`
    pub(super) fn alias(&mut self, args: &[Field]) -> Output {
        for a in args {
            if let Some((name, value)) = a.text.split_once('=')
                && a.is_static()
            {
                self.env.aliases.insert(plain_text(name), code_text(value));
            }
        }
        Output::empty()
    }

    /// `read NAME…`: the names take the first line of stdin.
    pub(super) fn read(&mut self, args: &[Field], stdin: &Output) -> Output {
        self.read_builtin(args, stdin);
        Output::empty()
    }

    /// `trap CODE SIGNAL…`: the code may run later.
    pub(super) fn trap(&mut self, args: &[Field]) -> Output {
        if let Some(code) = args.iter().find(|a| !a.text.starts_with('-')) {
            self.code_string(code, &Output::dynamic(), None, "trap code");
        }
        Output::empty()
    }

    /// `eval ARG…`: the arguments, joined, are code.
    pub(super) fn eval(&mut self, args: &[Field], stdin: &Output) -> Output {
        if args.is_empty() {
            return Output::empty();
        }
        self.code_string(&join_fields(args.to_vec()), stdin, None, "code given to eval")
    }

    /// `source FILE`, `. FILE`
    pub(super) fn source(&mut self, args: &[Field], stdin: &Output) -> Output {
        match args.first() {
            Some(f) => self.script_file(f, stdin, "source"),
            None => Output::empty(),
        }
    }

    /// `exec [-a NAME] COMMAND…`: runs the command.
    pub(super) fn exec(&mut self, inv: &Invocation, args: &[Field], stdin: &Output, ctx: Ctx) -> Output {
        let mut i = 0;
        while let Some(t) = args.get(i).map(|a| a.text.as_str()) {
            match t {
                "-a" => i += 2,
                "--" => {
                    i += 1;
                    break;
                }
                t if t.starts_with('-') && t.len() > 1 => i += 1,
                _ => break,
            }
        }
        self.wrap(inv, args.get(i..).unwrap_or_default().to_vec(), "exec", stdin, ctx)
    }

    /// `command COMMAND…` runs the command; `command -v`/`-V` only names it.
    pub(super) fn command_builtin(&mut self, inv: &Invocation, args: &[Field], stdin: &Output, ctx: Ctx) -> Output {
        let mut i = 0;
        let mut lookup = false;
        while let Some(t) = args.get(i).map(|a| a.text.as_str()) {
            match t {
                "--" => {
                    i += 1;
                    break;
                }
                t if t.starts_with('-') && t.len() > 1 => {
                    lookup |= t.contains(['v', 'V']);
                    i += 1;
                }
                _ => break,
            }
        }
        let rest = args.get(i..).unwrap_or_default().to_vec();
        if lookup {
            return lookup_output(&rest);
        }
        self.wrap(inv, rest, "command", stdin, ctx)
    }

    /// `printf -v VAR FORMAT ARG…` assigns the text to `VAR`; any other `printf` writes it.
    pub(super) fn printf_builtin(&mut self, prog: &str, args: &[Field], stdin: &Output) -> Output {
        if args.first().is_some_and(|a| a.text == "-v") {
            if let (Some(var), Some(rest)) = (args.get(1), args.get(2..)) {
                let out = printf(rest);
                self.set_scalar(&plain_text(&var.text), out.as_field());
            }
            return Output::empty();
        }
        self.output_of(prog, args, stdin)
    }

    fn change_dir(&mut self, args: &[Field]) {
        let target = args.iter().find(|a| !a.text.starts_with('-') || a.text == "-");
        self.env.cwd = match target {
            None => Some("~".into()),
            Some(t) if t.is_static() && !t.has_wildcard() && t.text != "-" => {
                let p = plain_text(&t.text);
                if p.starts_with('/') || p.starts_with('~') {
                    Some(normalize_path(&p))
                } else {
                    self.env.cwd.as_ref().map(|c| normalize_path(&format!("{c}/{p}")))
                }
            }
            _ => None,
        };
    }

    fn read_builtin(&mut self, args: &[Field], stdin: &Output) {
        let mut names = Vec::new();
        let mut i = 0;
        while let Some(a) = args.get(i) {
            let t = a.text.as_str();
            if matches!(t, "-a" | "-d" | "-i" | "-n" | "-N" | "-p" | "-t" | "-u") {
                if t == "-a"
                    && let Some(n) = args.get(i + 1)
                {
                    names.push(plain_text(&n.text));
                }
                i += 2;
                continue;
            }
            if !t.starts_with('-') {
                names.push(plain_text(&a.text));
            }
            i += 1;
        }
        if names.is_empty() {
            names.push("REPLY".into());
        }
        let line = match stdin {
            Output::Known(t) => Some(t.lines().next().unwrap_or("").to_string()),
            Output::Unknown(_) => None,
        };
        let words: Vec<&str> = line
            .as_deref()
            .map(|l| l.split_whitespace().collect())
            .unwrap_or_default();
        let count = names.len();
        for (k, name) in names.into_iter().enumerate() {
            let value = match &line {
                None => Field::unknown(stdin.taint()),
                Some(_) if k + 1 == count => Field::lit(&words.get(k..).unwrap_or_default().join(" ")),
                Some(_) => Field::lit(words.get(k).copied().unwrap_or("")),
            };
            self.set_scalar(&name, value);
        }
    }
}
