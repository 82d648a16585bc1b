//! Wrappers: programs that run another command after their own options (`sudo`, `nice`,
//! `timeout`, `env`, `xargs`, `su`, `flock`, `parallel`, `ip netns exec`, …), run a command
//! given as text (`watch`, `su -c`, `script -c`), later (`at`), or typed into a terminal (`tmux
//! send-keys`, `screen -X stuff`), and programs that run commands from their options (`git -c
//! core.pager=…`, `vi -c '!…'`).

use super::{Analyzer, Ctx, Output, has_flag, option_values, skip_options, substitute};
use crate::rule::Invocation;
use crate::shell::expand::join_fields;
use crate::word::{Field, Taint, plain_text};

/// A wrapper's options that take a value, and how many positionals precede the command.
pub(super) struct Wrapper {
    value_opts: &'static [&'static str],
    skip: usize,
}

const fn w(value_opts: &'static [&'static str], skip: usize) -> Wrapper {
    Wrapper { value_opts, skip }
}

/// Programs that run the command after their options (and `skip` positionals).
pub(super) const WRAPPERS: &[(&[&str], Wrapper)] = &[
    (
        &["sudo"],
        w(
            &[
                "-u",
                "-g",
                "-h",
                "-p",
                "-C",
                "-D",
                "-r",
                "-t",
                "-U",
                "-T",
                "-R",
                "--user",
                "--group",
                "--host",
                "--prompt",
                "--close-from",
                "--chdir",
                "--role",
                "--type",
                "--other-user",
                "--command-timeout",
                "--chroot",
            ],
            0,
        ),
    ),
    (&["doas"], w(&["-u", "-C"], 0)),
    (&["nice"], w(&["-n", "--adjustment"], 0)),
    (&["ionice"], w(&["-c", "-n", "--class", "--classdata"], 0)),
    (&["chrt", "taskset", "chroot"], w(&[], 1)),
    (&["timeout"], w(&["-s", "--signal", "-k", "--kill-after"], 1)),
    (&["stdbuf"], w(&["-i", "-o", "-e", "--input", "--output", "--error"], 0)),
    (
        &[
            "nohup",
            "setsid",
            "unbuffer",
            "catchsegv",
            "caffeinate",
            "torsocks",
            "dbus-run-session",
            "builtin",
            "valgrind",
            "firejail",
            "busybox",
            "toybox",
            "fakeroot",
            "faketime",
            "eatmydata",
            "nocache",
            "ddexec",
        ],
        w(&[], 0),
    ),
    (&["time"], w(&["-f", "-o", "--format", "--output"], 0)),
    (
        &["strace"],
        w(
            &[
                "-o", "-e", "-p", "-s", "-u", "-E", "-a", "-b", "-I", "-O", "-P", "-S", "-X", "-U",
            ],
            0,
        ),
    ),
    (
        &["ltrace"],
        w(
            &[
                "-o", "-e", "-p", "-s", "-u", "-n", "-a", "-A", "-D", "-E", "-F", "-l", "-L", "-x",
            ],
            0,
        ),
    ),
    (&["proxychains", "proxychains4"], w(&["-f"], 0)),
    (&["pkexec"], w(&["--user"], 0)),
    (
        &["systemd-run"],
        w(
            &[
                "-u",
                "--unit",
                "-p",
                "--property",
                "--description",
                "--slice",
                "-E",
                "--setenv",
                "--uid",
                "--gid",
                "--working-directory",
                "-M",
                "--machine",
                "--on-active",
                "--on-boot",
                "--on-startup",
                "--on-unit-active",
                "--on-unit-inactive",
                "--on-calendar",
                "--timer-property",
                "--path-property",
                "--socket-property",
                "-H",
                "--host",
                "--nice",
                "--service-type",
            ],
            0,
        ),
    ),
    (
        &["nsenter"],
        w(
            &[
                "-t", "--target", "-S", "--setuid", "-G", "--setgid", "--wd", "-W", "--wdns",
            ],
            0,
        ),
    ),
    (
        &["unshare"],
        w(
            &[
                "--propagation",
                "--setgroups",
                "--map-user",
                "--map-group",
                "--map-users",
                "--map-groups",
                "-S",
                "--setuid",
                "-G",
                "--setgid",
                "-R",
                "--root",
                "-w",
                "--wd",
            ],
            0,
        ),
    ),
];

pub(super) fn wrapper(prog: &str) -> Option<&'static Wrapper> {
    WRAPPERS.iter().find(|(names, _)| names.contains(&prog)).map(|(_, w)| w)
}

impl Analyzer<'_> {
    pub(super) fn unwrap(
        &mut self,
        prog: &str,
        w: &Wrapper,
        inv: &Invocation,
        args: &[Field],
        stdin: &Output,
        ctx: Ctx,
    ) -> Output {
        let mut i = 0;
        let mut skip = w.skip;
        loop {
            i = skip_options(args, i, w.value_opts);
            if skip == 0 || i >= args.len() {
                break;
            }
            skip -= 1;
            i += 1;
        }
        let own = args.get(..i).unwrap_or_default();
        if prog == "sudo" && own.iter().any(|a| a.text == "-e" || a.text == "--edit") {
            // sudoedit: edits files, runs nothing.
            return Output::dynamic();
        }
        let rest = args.get(i..).unwrap_or_default().to_vec();
        if rest.is_empty() && prog == "sudo" && (has_flag(own, 's', &["shell"]) || has_flag(own, 'i', &["login"])) {
            return self.stdin_script(stdin, "a shell started by sudo");
        }
        self.wrap(inv, rest, prog, stdin, ctx)
    }

    pub(super) fn wrap(&mut self, inv: &Invocation, inner: Vec<Field>, via: &str, stdin: &Output, ctx: Ctx) -> Output {
        if inner.is_empty() {
            return Output::dynamic();
        }
        let mut chain = inv.via.clone();
        chain.push(via.to_string());
        self.invoke(
            Invocation {
                argv: inner,
                redirects: inv.redirects.clone(),
                via: chain,
                cwd: inv.cwd.clone(),
            },
            stdin,
            ctx,
        )
    }

    pub(super) fn env(&mut self, inv: &Invocation, args: &[Field], stdin: &Output, ctx: Ctx) -> Output {
        let mut i = 0;
        while let Some(a) = args.get(i) {
            let t = a.text.as_str();
            let split = if t == "-S" || t == "--split-string" {
                i += 1;
                args.get(i).cloned()
            } else {
                t.strip_prefix("--split-string=")
                    .or_else(|| t.strip_prefix("-S").filter(|v| !v.is_empty()))
                    .map(|v| Field {
                        text: v.to_string(),
                        taint: a.taint,
                    })
            };
            if let Some(s) = split {
                let mut all = vec![s];
                all.extend(args.get(i + 1..).unwrap_or_default().iter().cloned());
                return self.code_string(&join_fields(all), stdin, None, "the command env -S runs");
            }
            if matches!(t, "-u" | "--unset" | "-C" | "--chdir") {
                i += 2;
                continue;
            }
            if t == "--" || (t.starts_with('-') && t.len() > 1) {
                i += 1;
                continue;
            }
            if let Some((name, value)) = t.split_once('=')
                && !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                self.set_scalar(
                    name,
                    Field {
                        text: value.to_string(),
                        taint: a.taint,
                    },
                );
                i += 1;
                continue;
            }
            break;
        }
        let rest = args.get(i..).unwrap_or_default().to_vec();
        if rest.is_empty() {
            return Output::dynamic();
        }
        self.wrap(inv, rest, "env", stdin, ctx)
    }

    pub(super) fn xargs(&mut self, inv: &Invocation, args: &[Field], stdin: &Output, ctx: Ctx) -> Output {
        const VALUE: &[&str] = &[
            "-a",
            "--arg-file",
            "-d",
            "--delimiter",
            "-E",
            "-L",
            "-n",
            "--max-args",
            "-P",
            "--max-procs",
            "-s",
            "--max-chars",
        ];
        let mut i = 0;
        let mut replace: Option<String> = None;
        let mut null = false;
        // `-a FILE`: the items come from that file, not from stdin.
        let mut arg_file: Option<Field> = None;
        while let Some(a) = args.get(i) {
            let t = a.text.as_str();
            if t == "--" {
                i += 1;
                break;
            }
            if !t.starts_with('-') || t == "-" {
                break;
            }
            if t == "-I" {
                replace = args.get(i + 1).map(|f| plain_text(&f.text));
                i += 2;
                continue;
            }
            if let Some(r) = t.strip_prefix("-I") {
                replace = Some(r.to_string());
            } else if t == "-i" || t == "--replace" {
                replace = Some("{}".into());
            } else if let Some(r) = t.strip_prefix("--replace=").or_else(|| t.strip_prefix("-i")) {
                replace = Some(r.to_string());
            }
            null |= t == "-0" || t == "--null";
            if t == "-a" || t == "--arg-file" {
                arg_file = args.get(i + 1).cloned();
            } else if let Some(f) = t.strip_prefix("--arg-file=") {
                arg_file = Some(Field::lit(f));
            }
            i += if VALUE.contains(&t) { 2 } else { 1 };
        }
        let mut template: Vec<Field> = args.get(i..).unwrap_or_default().to_vec();
        if template.is_empty() {
            template.push(Field::lit("echo"));
        }
        let from_file = arg_file.map(|f| self.file_content(&f));
        let items: Vec<Field> = match from_file.as_ref().unwrap_or(stdin) {
            Output::Known(t) => {
                let parts: Vec<&str> = if null {
                    t.split('\0').collect()
                } else if replace.is_some() {
                    t.lines().collect()
                } else {
                    t.split_whitespace().collect()
                };
                parts
                    .into_iter()
                    .filter(|p| !p.is_empty())
                    .take(16)
                    .map(Field::lit)
                    .collect()
            }
            Output::Unknown(t) => vec![Field::unknown(*t)],
        };
        let argvs: Vec<Vec<Field>> = match &replace {
            Some(r) => items
                .iter()
                .take(8)
                .map(|it| template.iter().map(|f| substitute(f, r, it)).collect())
                .collect(),
            None => {
                let mut argv = template.clone();
                argv.extend(items);
                vec![argv]
            }
        };
        for argv in argvs {
            self.wrap(inv, argv, "xargs", &Output::dynamic(), ctx);
        }
        Output::dynamic()
    }

    /// `watch CMD…` runs its arguments as a shell command; `watch -x` runs them as a command.
    pub(super) fn watch(&mut self, inv: &Invocation, args: &[Field], stdin: &Output, ctx: Ctx) -> Output {
        let exec = has_flag(args, 'x', &["exec"]);
        let i = skip_options(args, 0, &["-n", "--interval", "-q", "--equexit"]);
        let rest = args.get(i..).unwrap_or_default().to_vec();
        if exec {
            self.wrap(inv, rest, "watch", stdin, ctx)
        } else {
            self.code_string(&join_fields(rest), &Output::dynamic(), None, "the command watch runs")
        }
    }

    /// `su -c CODE`, `runuser -u USER CMD…`, `sg GROUP CMD…`; a bare `su` starts a shell on stdin.
    pub(super) fn su(&mut self, prog: &str, inv: &Invocation, args: &[Field], stdin: &Output, ctx: Ctx) -> Output {
        let code = option_values(args, &['c'], &["command"], &['u', 'g', 'G', 's', 'w']);
        if let Some(c) = code.first() {
            return self.code_string(c, stdin, None, "the command su runs");
        }
        if prog == "su" {
            return self.stdin_script(stdin, "a shell started by su");
        }
        let i = skip_options(
            args,
            0,
            &[
                "-u",
                "--user",
                "-g",
                "--group",
                "-G",
                "--supp-group",
                "-s",
                "--shell",
                "-w",
            ],
        );
        let i = if prog == "sg" { i + 1 } else { i };
        self.wrap(inv, args.get(i..).unwrap_or_default().to_vec(), prog, stdin, ctx)
    }

    /// `script -c CODE`; without `-c`, a shell reading stdin.
    pub(super) fn script_command(&mut self, args: &[Field], stdin: &Output) -> Output {
        let code = option_values(args, &['c'], &["command"], &['t', 'T', 'I', 'O', 'B', 'E', 'm']);
        match code.first() {
            Some(c) => self.code_string(c, stdin, None, "the command script runs"),
            None => self.stdin_script(stdin, "a shell started by script"),
        }
    }

    /// `flock -c CODE`, `flock FILE CMD…`
    pub(super) fn flock(&mut self, inv: &Invocation, args: &[Field], stdin: &Output, ctx: Ctx) -> Output {
        let code = option_values(args, &['c'], &["command"], &['w', 'E']);
        if let Some(c) = code.first() {
            return self.code_string(c, stdin, None, "the command flock runs");
        }
        let i = skip_options(args, 0, &["-w", "--wait", "--timeout", "-E", "--conflict-exit-code"]) + 1;
        self.wrap(inv, args.get(i..).unwrap_or_default().to_vec(), "flock", stdin, ctx)
    }

    /// `at`, `batch`: a script from `-f FILE` or stdin, run later (listing or removing jobs runs
    /// nothing).
    pub(super) fn at(&mut self, prog: &str, args: &[Field], stdin: &Output) -> Output {
        if has_flag(args, 'l', &[]) || has_flag(args, 'r', &[]) || has_flag(args, 'd', &[]) || has_flag(args, 'c', &[])
        {
            return Output::dynamic();
        }
        let file = option_values(args, &['f'], &[], &['q', 't']);
        match file.first() {
            Some(f) => self.script_file(f, stdin, prog),
            None => self.stdin_script(stdin, prog),
        }
    }

    /// `screen CMD…`; `screen -X stuff TEXT` types keys into a session.
    pub(super) fn screen(&mut self, inv: &Invocation, args: &[Field], stdin: &Output, ctx: Ctx) -> Output {
        if let Some(i) = args.iter().position(|a| a.text == "stuff") {
            let text = join_fields(args[i + 1..].to_vec());
            return self.code_string(&text, &Output::dynamic(), None, "keys typed into screen");
        }
        let i = skip_options(
            args,
            0,
            &["-S", "-c", "-e", "-h", "-p", "-s", "-t", "-T", "-X", "-L", "-Logfile"],
        );
        self.wrap(inv, args.get(i..).unwrap_or_default().to_vec(), "screen", stdin, ctx)
    }

    /// `ip netns exec NS CMD…`; other `ip` commands are ordinary ones.
    pub(super) fn ip(&mut self, prog: &str, inv: &Invocation, args: &[Field], stdin: &Output, ctx: Ctx) -> Output {
        if args.len() > 3 && args[0].text == "netns" && args[1].text == "exec" {
            return self.wrap(inv, args[3..].to_vec(), "ip netns exec", stdin, ctx);
        }
        self.output_of(prog, args, stdin)
    }

    /// `parallel CMD… ::: VALUE…`: the command with each value (or each value as a command).
    pub(super) fn parallel(&mut self, inv: &Invocation, args: &[Field], stdin: &Output, ctx: Ctx) -> Output {
        let end = args
            .iter()
            .position(|a| a.text.starts_with(":::"))
            .unwrap_or(args.len());
        let i = skip_options(
            &args[..end],
            0,
            &["-j", "--jobs", "-S", "--sshlogin", "--delay", "--timeout", "-N"],
        );
        let values: Vec<Field> = args
            .get(end + 1..)
            .unwrap_or_default()
            .iter()
            .filter(|a| !a.text.starts_with(":::"))
            .take(8)
            .cloned()
            .collect();
        let template = args[i..end].to_vec();
        if template.is_empty() {
            for cmd in values {
                self.code_string(&cmd, &Output::dynamic(), None, "a command parallel runs");
            }
            return Output::dynamic();
        }
        let values = if values.is_empty() {
            vec![Field::unknown(Taint::Dynamic)]
        } else {
            values
        };
        for v in values {
            let argv: Vec<Field> = if template.iter().any(|f| f.text.contains("{}")) {
                template.iter().map(|f| substitute(f, "{}", &v)).collect()
            } else {
                template.iter().cloned().chain(std::iter::once(v)).collect()
            };
            self.wrap(inv, argv, "parallel", stdin, ctx);
        }
        Output::dynamic()
    }

    /// `git`: commands in its `-c` configuration.
    pub(super) fn git(&mut self, args: &[Field]) -> Output {
        self.git_config(args);
        Output::dynamic()
    }

    /// `vi -c CMD`, `vi +CMD`: editor commands that may run shell commands.
    pub(super) fn vi(&mut self, args: &[Field]) -> Output {
        for f in option_values(args, &['c'], &["cmd"], &[]) {
            self.editor_command(&f);
        }
        for a in args.iter().filter(|a| a.text.starts_with('+') && a.text.len() > 1) {
            let f = Field {
                text: a.text[1..].to_string(),
                taint: a.taint,
            };
            self.editor_command(&f);
        }
        Output::dynamic()
    }

    pub(super) fn tmux(&mut self, args: &[Field]) -> Output {
        const KEYS: &[&str] = &["Enter", "C-m", "KPEnter", "C-j"];
        let pos: Vec<&Field> = args.iter().filter(|a| !a.text.starts_with('-')).collect();
        let Some(sub) = pos.first().map(|a| a.text.as_str()) else {
            return Output::dynamic();
        };
        let texts: Vec<Field> = match sub {
            "send-keys" | "send" => {
                let i = skip_options(args, 1, &["-t", "-N", "-c"]);
                args.get(i..)
                    .unwrap_or_default()
                    .iter()
                    .filter(|a| !KEYS.contains(&a.text.as_str()))
                    .cloned()
                    .collect()
            }
            "new-session" | "new" | "new-window" | "neww" | "split-window" | "splitw" | "run-shell" | "run"
            | "respawn-pane" => {
                let i = skip_options(
                    args,
                    1,
                    &[
                        "-t", "-s", "-n", "-c", "-x", "-y", "-F", "-e", "-l", "-f", "-w", "-A", "-D", "-X", "-P",
                    ],
                );
                args.get(i..).unwrap_or_default().to_vec()
            }
            _ => Vec::new(),
        };
        if !texts.is_empty() {
            self.code_string(&join_fields(texts), &Output::dynamic(), None, "keys typed into tmux");
        }
        Output::dynamic()
    }

    /// `git -c core.pager=… log`: configuration values that git runs as commands.
    fn git_config(&mut self, args: &[Field]) {
        const RUNS: &[&str] = &[
            "core.pager",
            "core.sshcommand",
            "core.editor",
            "core.fsmonitor",
            "core.hookspath",
            "sequence.editor",
            "diff.external",
            "credential.helper",
            "gpg.program",
            "pager.",
            "alias.",
            "uploadpack.packobjectshook",
            "filter.",
            "merge.",
            "diff.",
        ];
        for (i, a) in args.iter().enumerate() {
            let value = match a.text.as_str() {
                "-c" => args.get(i + 1),
                _ => None,
            };
            let Some(kv) = value else { continue };
            let Some((key, val)) = kv.text.split_once('=') else {
                continue;
            };
            let key = key.to_ascii_lowercase();
            if RUNS
                .iter()
                .any(|r| key == *r || (r.ends_with('.') && key.starts_with(r)))
            {
                let cmd = Field {
                    text: val.trim_start_matches('!').to_string(),
                    taint: kv.taint,
                };
                self.code_string(&cmd, &Output::dynamic(), None, "a command in git configuration");
            }
        }
    }

    /// A vi command line (`-c …`, `+…`): `!cmd` runs a shell command.
    fn editor_command(&mut self, f: &Field) {
        let t = f.text.trim_start_matches([':', ' ']);
        let cmd = t
            .strip_prefix('!')
            .or_else(|| {
                t.strip_prefix("call system(")
                    .map(|r| r.trim_matches(|c| c == ')' || c == '\'' || c == '"'))
            })
            .or_else(|| t.strip_prefix("silent !"));
        if let Some(cmd) = cmd {
            let f = Field {
                text: cmd.to_string(),
                taint: f.taint,
            };
            self.code_string(&f, &Output::dynamic(), None, "a shell command run by the editor");
        }
    }
}
