//! What commands do with their arguments: wrappers that run another command (`sudo`, `env`,
//! `xargs`, `find -exec`, `ssh host …`, `docker exec`, `kubectl exec --`), shells and
//! interpreters that run code (`bash -c`, `python -c`, here-docs on stdin), database clients
//! that run SQL, builtins that change the analysis state (`cd`, `alias`, `read`, `set --`), and
//! what a command writes to stdout (known text, downloaded or decoded content) for pipelines
//! and command substitutions.
//!
//! `PROGRAMS` maps program names to their handlers; interpreters (named by pattern:
//! `python3.12`, `perl5.36`, …) and plain wrappers (`WRAPPERS`) come next, and every other
//! program is handled by what it writes to stdout. The handlers live by family: `builtins`,
//! `wrappers`, `interpreters`, `databases`, `remote` (ssh, containers, pods) and `files` (file
//! and text tools, downloaders, decoders).

mod builtins;
mod databases;
mod files;
mod interpreters;
mod remote;
mod wrappers;

use databases::DB_CLIENTS;
use interpreters::{SHELLS, lang_of};
use wrappers::wrapper;

use super::{Analyzer, Ctx, Output};
use crate::rule::Invocation;
use crate::word::Field;

/// Marks, in a pipeline's program list, a shell reading its commands from stdin.
pub(super) const STDIN_SHELL: &str = "\u{0}stdin-shell";
/// Programs that connect to the network; piped into a shell they make a reverse shell.
pub(super) const NETWORK_TOOLS: &[&str] = &[
    "nc",
    "ncat",
    "netcat",
    "nc.traditional",
    "nc.openbsd",
    "socat",
    "telnet",
    "openssl",
    "cryptcat",
    "sbd",
    "pwncat",
];

/// Programs a command-name glob is tried against (besides those the rules name).
pub(super) const KNOWN_PROGRAMS: &[&str] = &[
    "sh", "bash", "zsh", "dash", "ksh", "python", "python3", "perl", "ruby", "node", "php", "curl", "wget", "nc",
    "ncat", "socat", "sudo", "env", "xargs", "find", "ssh", "docker", "kubectl", "busybox", "eval", "cat", "dd", "rm",
    "chmod", "chown", "mv", "cp", "tee", "psql", "mysql", "sqlite3",
];

/// One command handed to its program's handler.
struct Call<'a> {
    /// The program's name (`sudo` for `/usr/bin/sudo`).
    prog: &'a str,
    inv: &'a Invocation,
    /// The arguments after the program's name.
    args: &'a [Field],
    stdin: &'a Output,
    ctx: Ctx,
}

/// What a program does with a command: what it runs, and what it writes to stdout.
type Handler = fn(&mut Analyzer<'_>, &Call<'_>) -> Output;

/// Programs handled by name (each name appears once).
static PROGRAMS: &[(&[&str], Handler)] = &[
    // Builtins.
    (&["cd", "pushd"], |a, c| a.cd(c.args)),
    (&["popd"], |a, _| a.popd()),
    (&["unset"], |a, c| a.unset(c.args)),
    (&["set"], |a, c| a.set_builtin(c.args)),
    (&["alias"], |a, c| a.alias(c.args)),
    (&["read"], |a, c| a.read(c.args, c.stdin)),
    (&["trap"], |a, c| a.trap(c.args)),
    (&["eval"], |a, c| a.eval(c.args, c.stdin)),
    (&["source", "."], |a, c| a.source(c.args, c.stdin)),
    (&["exec"], |a, c| a.exec(c.inv, c.args, c.stdin, c.ctx)),
    (&["command"], |a, c| a.command_builtin(c.inv, c.args, c.stdin, c.ctx)),
    (&["printf"], |a, c| a.printf_builtin(c.prog, c.args, c.stdin)),
    // Wrappers with their own syntax (the others are in `WRAPPERS`).
    (&["env"], |a, c| a.env(c.inv, c.args, c.stdin, c.ctx)),
    (&["xargs"], |a, c| a.xargs(c.inv, c.args, c.stdin, c.ctx)),
    (&["find"], |a, c| a.find(c.inv, c.args, c.ctx)),
    (&["watch"], |a, c| a.watch(c.inv, c.args, c.stdin, c.ctx)),
    (&["su", "runuser", "sg"], |a, c| {
        a.su(c.prog, c.inv, c.args, c.stdin, c.ctx)
    }),
    (&["script"], |a, c| a.script_command(c.args, c.stdin)),
    (&["flock"], |a, c| a.flock(c.inv, c.args, c.stdin, c.ctx)),
    (&["at", "batch"], |a, c| a.at(c.prog, c.args, c.stdin)),
    (&["parallel"], |a, c| a.parallel(c.inv, c.args, c.stdin, c.ctx)),
    (&["ip"], |a, c| a.ip(c.prog, c.inv, c.args, c.stdin, c.ctx)),
    (&["tmux"], |a, c| a.tmux(c.args)),
    (&["screen"], |a, c| a.screen(c.inv, c.args, c.stdin, c.ctx)),
    // Programs that run commands given in their options.
    (&["git"], |a, c| a.git(c.args)),
    (&["vi", "vim", "nvim", "view", "ex", "gvim"], |a, c| a.vi(c.args)),
    // Commands run on another machine, in a container or a pod.
    (&["ssh"], |a, c| a.ssh(c.args, c.stdin)),
    (&["docker", "podman", "nerdctl"], |a, c| {
        a.container(c.prog, c.inv, c.args, c.stdin, c.ctx)
    }),
    (&["docker-compose", "podman-compose"], |a, c| {
        a.compose(c.prog, c.inv, c.args, c.stdin, c.ctx)
    }),
    (&["kubectl", "oc"], |a, c| a.kubectl(c.prog, c.args, c.stdin, c.ctx)),
    (&["k3s", "microk8s"], |a, c| a.k3s(c.prog, c.args, c.stdin, c.ctx)),
    (&["lxc", "incus"], |a, c| a.lxc(c.prog, c.args, c.stdin, c.ctx)),
    // Shells, and interpreters with their own syntax (`lang_of` names them too; this table is
    // tried first).
    (SHELLS, |a, c| a.shell(c.prog, c.inv, c.args, c.stdin)),
    (&["pwsh", "powershell"], |a, c| a.powershell(c.prog, c.args, c.stdin)),
    (&["deno"], |a, c| a.deno(c.args)),
    // Database clients.
    (DB_CLIENTS, |a, c| a.db_client(c.prog, c.args, c.stdin)),
];

impl Analyzer<'_> {
    /// Everything a command does beyond being matched by the rules: its handler in `PROGRAMS`,
    /// else an interpreter's or a wrapper's, else what it writes to stdout.
    pub(super) fn dispatch(&mut self, prog: &str, inv: Invocation, stdin: &Output, ctx: Ctx) -> Output {
        let args: Vec<Field> = inv.argv[1..].to_vec();
        if let Some((_, handler)) = PROGRAMS.iter().find(|(names, _)| names.contains(&prog)) {
            let call = Call {
                prog,
                inv: &inv,
                args: &args,
                stdin,
                ctx,
            };
            return handler(self, &call);
        }
        if let Some(lang) = lang_of(prog) {
            return self.interpreter(lang, prog, &inv, &args, stdin, ctx);
        }
        if let Some(w) = wrapper(prog) {
            return self.unwrap(prog, w, &inv, &args, stdin, ctx);
        }
        self.output_of(prog, &args, stdin)
    }
}

/// Index of the first positional argument at or after `start`, skipping options (and the
/// values of `value_opts`).
fn skip_options(args: &[Field], start: usize, value_opts: &[&str]) -> usize {
    let mut i = start;
    while i < args.len() {
        let t = args[i].text.as_str();
        if t == "--" {
            return i + 1;
        }
        if !(t.starts_with('-') && t.len() > 1) {
            return i;
        }
        let name = t.split('=').next().unwrap_or(t);
        i += if value_opts.contains(&name) && !t.contains('=') {
            2
        } else {
            1
        };
    }
    i
}

/// Values of options that carry code or SQL: `-c VALUE`, `-cVALUE`, `-xc VALUE` (short options
/// in `code`), `--long VALUE`, `--long=VALUE`. A cluster stops at a short option in `value`
/// (the rest is its value).
fn option_values(args: &[Field], code: &[char], long: &[&str], value: &[char]) -> Vec<Field> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        let t = a.text.as_str();
        if t == "--" {
            break;
        }
        if let Some(l) = t.strip_prefix("--") {
            let (name, val) = match l.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (l, None),
            };
            if long.contains(&name) {
                match val {
                    Some(v) => out.push(Field {
                        text: v.to_string(),
                        taint: a.taint,
                    }),
                    None => {
                        if let Some(n) = args.get(i + 1) {
                            out.push(n.clone());
                            i += 1;
                        }
                    }
                }
            }
            i += 1;
            continue;
        }
        if t.starts_with('-') && t.len() > 1 {
            let body: Vec<char> = t[1..].chars().collect();
            let mut next = false;
            for (j, c) in body.iter().enumerate() {
                if code.contains(c) {
                    let rest: String = body[j + 1..].iter().collect();
                    if rest.is_empty() {
                        if let Some(n) = args.get(i + 1) {
                            out.push(n.clone());
                            next = true;
                        }
                    } else {
                        out.push(Field {
                            text: rest,
                            taint: a.taint,
                        });
                    }
                    break;
                }
                if value.contains(c) {
                    next = j + 1 == body.len();
                    break;
                }
            }
            i += if next { 2 } else { 1 };
            continue;
        }
        i += 1;
    }
    out
}

fn has_flag(args: &[Field], short: char, long: &[&str]) -> bool {
    args.iter().any(|a| {
        let t = a.text.as_str();
        if let Some(l) = t.strip_prefix("--") {
            return long.contains(&l.split('=').next().unwrap_or(l));
        }
        t.starts_with('-') && t.len() > 1 && t[1..].contains(short)
    })
}

fn substitute(f: &Field, placeholder: &str, with: &Field) -> Field {
    if !f.text.contains(placeholder) {
        return f.clone();
    }
    Field {
        text: f.text.replace(placeholder, &with.text),
        taint: f.taint.max(with.taint),
    }
}

#[cfg(test)]
mod tests {
    use super::PROGRAMS;
    use super::wrappers::WRAPPERS;

    /// Each name is in one entry, so the order of the entries does not matter.
    #[test]
    fn program_names_are_unique() {
        for table in [
            PROGRAMS.iter().map(|(names, _)| *names).collect::<Vec<_>>(),
            WRAPPERS.iter().map(|(names, _)| *names).collect::<Vec<_>>(),
        ] {
            let mut names: Vec<&str> = table.into_iter().flatten().copied().collect();
            let count = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), count);
        }
    }
}
