//! Commands run elsewhere: on another machine (`ssh host CMD`), in a container (`docker exec`,
//! `docker run`, `podman`, `nerdctl`, compose), in a pod (`kubectl exec`, `oc rsh`, `k3s
//! kubectl`) or an `lxc`/`incus` instance. Nothing the local script defined carries over.

use super::{Analyzer, Ctx, Output, option_values, skip_options};
use crate::rule::Invocation;
use crate::shell::expand::join_fields;
use crate::word::{Field, Taint, code_text};

impl Analyzer<'_> {
    pub(super) fn ssh(&mut self, args: &[Field], stdin: &Output) -> Output {
        const VALUE: &str = "BbcDEeFIiJLlmOoPpQRSWw";
        let mut i = 0;
        while let Some(a) = args.get(i) {
            let t = a.text.as_str();
            if t == "--" {
                i += 1;
                break;
            }
            if !(t.starts_with('-') && t.len() > 1) {
                break;
            }
            let body: Vec<char> = t[1..].chars().collect();
            let mut next = false;
            for (k, c) in body.iter().enumerate() {
                if VALUE.contains(*c) {
                    next = k + 1 == body.len();
                    break;
                }
            }
            i += if next { 2 } else { 1 };
        }
        if args.get(i).is_none() {
            return Output::dynamic();
        }
        // Options may follow the host too; `--` ends them.
        let mut j = i + 1;
        while let Some(a) = args.get(j) {
            let t = a.text.as_str();
            if t == "--" {
                j += 1;
                break;
            }
            if !(t.starts_with('-') && t.len() > 1) {
                break;
            }
            let last = t.chars().last().unwrap_or('-');
            j += if t.len() == 2 && VALUE.contains(last) { 2 } else { 1 };
        }
        let rest = args.get(j..).unwrap_or_default();
        if rest.is_empty() {
            let saved = std::mem::take(&mut self.env);
            let out = self.stdin_script(stdin, "a remote shell");
            self.env = saved;
            return out;
        }
        let cmd = join_fields(rest.to_vec());
        if cmd.taint >= Taint::Decoded {
            self.opaque(cmd.taint, "the remote command");
            return Output::dynamic();
        }
        self.remote_script(&code_text(&cmd.text), stdin)
    }

    pub(super) fn container(
        &mut self,
        prog: &str,
        inv: &Invocation,
        args: &[Field],
        stdin: &Output,
        ctx: Ctx,
    ) -> Output {
        const GLOBAL: &[&str] = &[
            "-H",
            "--host",
            "--context",
            "-c",
            "--config",
            "-l",
            "--log-level",
            "--url",
            "--connection",
        ];
        const EXEC: &[&str] = &[
            "-e",
            "--env",
            "--env-file",
            "-u",
            "--user",
            "-w",
            "--workdir",
            "--detach-keys",
        ];
        const RUN: &[&str] = &[
            "-a",
            "--attach",
            "--add-host",
            "--blkio-weight",
            "-c",
            "--cpu-shares",
            "--cap-add",
            "--cap-drop",
            "--cgroup-parent",
            "--cidfile",
            "--cpus",
            "--cpuset-cpus",
            "--device",
            "-e",
            "--env",
            "--env-file",
            "--entrypoint",
            "--expose",
            "-h",
            "--hostname",
            "--ip",
            "--label",
            "-l",
            "--link",
            "--log-driver",
            "--log-opt",
            "-m",
            "--memory",
            "--mount",
            "--name",
            "--network",
            "--net",
            "-p",
            "--publish",
            "--pid",
            "--platform",
            "--pull",
            "--restart",
            "--runtime",
            "--security-opt",
            "--shm-size",
            "--stop-signal",
            "--stop-timeout",
            "--tmpfs",
            "--ulimit",
            "-u",
            "--user",
            "--userns",
            "-v",
            "--volume",
            "--volumes-from",
            "-w",
            "--workdir",
            "--gpus",
            "--health-cmd",
            "--ipc",
            "--uts",
            "--dns",
            "--group-add",
            "--init-path",
        ];
        let mut i = skip_options(args, 0, GLOBAL);
        if args.get(i).is_some_and(|a| a.text == "container") {
            i += 1;
        }
        match args.get(i).map(|a| a.text.as_str()) {
            Some("exec") => {
                let j = skip_options(args, i + 1, EXEC) + 1;
                let inner = args.get(j..).unwrap_or_default().to_vec();
                self.run_via(prog, inner, stdin, ctx)
            }
            Some("run" | "create") => {
                let j = skip_options(args, i + 1, RUN);
                let mut inner: Vec<Field> = Vec::new();
                if let Some(ep) = option_values(&args[i + 1..j.min(args.len())], &[], &["entrypoint"], &[]).first() {
                    inner.push(ep.clone());
                }
                inner.extend(args.get(j + 1..).unwrap_or_default().iter().cloned());
                if inner.is_empty() {
                    return Output::dynamic();
                }
                self.run_via(prog, inner, stdin, ctx)
            }
            Some("compose") => self.compose(prog, inv, &args[i + 1..], stdin, ctx),
            _ => self.output_of(prog, args, stdin),
        }
    }

    pub(super) fn compose(
        &mut self,
        prog: &str,
        _inv: &Invocation,
        args: &[Field],
        stdin: &Output,
        ctx: Ctx,
    ) -> Output {
        const GLOBAL: &[&str] = &[
            "-f",
            "--file",
            "-p",
            "--project-name",
            "--profile",
            "--env-file",
            "--project-directory",
        ];
        const EXEC: &[&str] = &[
            "-e",
            "--env",
            "-u",
            "--user",
            "-w",
            "--workdir",
            "--index",
            "--name",
            "-v",
            "--volume",
            "-p",
            "--publish",
            "--entrypoint",
        ];
        let i = skip_options(args, 0, GLOBAL);
        match args.get(i).map(|a| a.text.as_str()) {
            Some("exec" | "run") => {
                let j = skip_options(args, i + 1, EXEC) + 1;
                let inner = args.get(j..).unwrap_or_default().to_vec();
                if inner.is_empty() {
                    return Output::dynamic();
                }
                self.run_via(prog, inner, stdin, ctx)
            }
            _ => Output::dynamic(),
        }
    }

    pub(super) fn kubectl(&mut self, prog: &str, args: &[Field], stdin: &Output, ctx: Ctx) -> Output {
        const VALUE: &[&str] = &[
            "-n",
            "--namespace",
            "--context",
            "--cluster",
            "--kubeconfig",
            "-s",
            "--server",
            "--user",
            "--token",
            "-c",
            "--container",
            "-f",
            "--filename",
            "--pod-running-timeout",
            "-l",
            "--selector",
        ];
        let i = skip_options(args, 0, VALUE);
        if !matches!(args.get(i).map(|a| a.text.as_str()), Some("exec" | "rsh")) {
            return Output::dynamic();
        }
        let inner = match args.iter().position(|a| a.text == "--") {
            Some(p) => args[p + 1..].to_vec(),
            None => {
                let j = skip_options(args, i + 1, VALUE) + 1;
                args.get(j..).unwrap_or_default().to_vec()
            }
        };
        if inner.is_empty() {
            let saved = std::mem::take(&mut self.env);
            let out = self.stdin_script(stdin, "a shell in a pod");
            self.env = saved;
            return out;
        }
        self.run_via(prog, inner, stdin, ctx)
    }

    /// `k3s kubectl …`, `microk8s kubectl …` are kubectl; their other commands are ordinary ones.
    pub(super) fn k3s(&mut self, prog: &str, args: &[Field], stdin: &Output, ctx: Ctx) -> Output {
        if args.first().is_some_and(|a| a.text == "kubectl") {
            return self.kubectl(prog, &args[1..], stdin, ctx);
        }
        self.output_of(prog, args, stdin)
    }

    /// `lxc exec NAME -- CMD…`, `incus exec …`; their other commands are ordinary ones.
    pub(super) fn lxc(&mut self, prog: &str, args: &[Field], stdin: &Output, ctx: Ctx) -> Output {
        if args.first().is_some_and(|a| a.text == "exec") {
            let i = args.iter().position(|a| a.text == "--").map_or(args.len(), |p| p + 1);
            return self.remote_invoke(
                Invocation {
                    argv: args[i..].to_vec(),
                    ..Invocation::default()
                },
                stdin,
                ctx,
            );
        }
        self.output_of(prog, args, stdin)
    }
}
