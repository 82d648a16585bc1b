//! What commands do with their arguments: wrappers that run another command (`sudo`, `env`,
//! `xargs`, `find -exec`, `ssh host …`, `docker exec`, `kubectl exec --`), shells and
//! interpreters that run code (`bash -c`, `python -c`, here-docs on stdin), database clients
//! that run SQL, builtins that change the analysis state (`cd`, `alias`, `read`, `set --`), and
//! what a command writes to stdout (known text, downloaded or decoded content) for pipelines
//! and command substitutions.

use super::expand::join_fields;
use super::{Analyzer, Ctx, Output};
use crate::code::{self, Lang};
use crate::glob::{DIRS, ONE, STAR, UNKNOWN};
use crate::rule::{Fact, Invocation, Signal, basename};
use crate::sql;
use crate::word::{Field, FieldBuilder, Taint, code_text, echo_decode, normalize_path, plain_text};

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

const SHELLS: &[&str] = &[
    "sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "csh", "tcsh", "rbash", "yash", "pdksh", "oksh", "posh",
    "ksh93",
];
const DOWNLOADERS: &[&str] = &[
    "curl",
    "wget",
    "fetch",
    "http",
    "https",
    "xh",
    "aria2c",
    "lwp-request",
    "lwp-download",
    "GET",
    "HEAD",
    "POST",
    "nc",
    "ncat",
    "netcat",
    "nc.traditional",
    "nc.openbsd",
    "socat",
    "telnet",
    "ftp",
    "tftp",
    "cryptcat",
    "sbd",
];
/// Always decode.
const DECODERS: &[&str] = &[
    "uudecode", "gunzip", "zcat", "gzcat", "bzcat", "bunzip2", "xzcat", "unxz", "lzcat", "unlzma", "zstdcat", "unzstd",
    "lz4cat",
];
/// Decode with `-d` (or `-r` for xxd, `-D` for base64 on macOS).
const DECODE_WITH_FLAG: &[&str] = &[
    "base64", "base32", "basenc", "gzip", "bzip2", "xz", "zstd", "lz4", "brotli", "gpg", "openssl", "xxd",
];
/// Rewrite their input: known text through them is treated as decoded.
const TRANSFORMERS: &[&str] = &[
    "tr", "rev", "sed", "awk", "gawk", "mawk", "nawk", "cut", "fold", "iconv", "recode", "jq", "yq", "paste", "column",
    "expand", "unexpand", "dos2unix", "unix2dos", "envsubst", "perl", "ruby", "python", "python3", "od", "hexdump",
    "xargs", "m4", "rot13",
];
/// Pass (part of) their input through unchanged.
const FILTERS: &[&str] = &[
    "cat", "tac", "head", "tail", "grep", "egrep", "fgrep", "rg", "sort", "uniq", "tee", "pv", "less", "more",
    "strings", "nl", "dd", "buffer", "mbuffer",
];
const DB_CLIENTS: &[&str] = &[
    "psql",
    "pgcli",
    "usql",
    "mysql",
    "mariadb",
    "mycli",
    "sqlite3",
    "litecli",
    "duckdb",
    "sqlcmd",
    "clickhouse-client",
    "clickhouse",
    "cockroach",
    "cqlsh",
    "bq",
    "snowsql",
    "trino",
    "presto",
];
/// `find` tests that select some files (so `{}` is not the starting point itself).
const FIND_FILTERS: &[&str] = &[
    "-name",
    "-iname",
    "-path",
    "-ipath",
    "-wholename",
    "-iwholename",
    "-regex",
    "-iregex",
    "-newer",
    "-mtime",
    "-mmin",
    "-atime",
    "-amin",
    "-ctime",
    "-cmin",
    "-size",
    "-user",
    "-group",
    "-perm",
    "-empty",
    "-inum",
    "-links",
    "-lname",
    "-ilname",
    "-samefile",
    "-uid",
    "-gid",
    "-nouser",
    "-nogroup",
    "-used",
    "-newermt",
    "-type",
    "-mindepth",
];

/// A wrapper's options that take a value, and how many positionals precede the command.
struct Wrapper {
    value_opts: &'static [&'static str],
    skip: usize,
}

fn wrapper(prog: &str) -> Option<Wrapper> {
    let w = |value_opts, skip| Some(Wrapper { value_opts, skip });
    match prog {
        "sudo" => w(
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
        "doas" => w(&["-u", "-C"], 0),
        "nice" => w(&["-n", "--adjustment"], 0),
        "ionice" => w(&["-c", "-n", "--class", "--classdata"], 0),
        "chrt" | "taskset" | "chroot" => w(&[], 1),
        "timeout" => w(&["-s", "--signal", "-k", "--kill-after"], 1),
        "stdbuf" => w(&["-i", "-o", "-e", "--input", "--output", "--error"], 0),
        "nohup" | "setsid" | "unbuffer" | "catchsegv" | "caffeinate" | "torsocks" | "dbus-run-session" | "builtin"
        | "valgrind" | "firejail" | "busybox" | "toybox" | "fakeroot" | "faketime" | "eatmydata" | "nocache"
        | "ddexec" => w(&[], 0),
        "time" => w(&["-f", "-o", "--format", "--output"], 0),
        "strace" => w(
            &[
                "-o", "-e", "-p", "-s", "-u", "-E", "-a", "-b", "-I", "-O", "-P", "-S", "-X", "-U",
            ],
            0,
        ),
        "ltrace" => w(
            &[
                "-o", "-e", "-p", "-s", "-u", "-n", "-a", "-A", "-D", "-E", "-F", "-l", "-L", "-x",
            ],
            0,
        ),
        "proxychains" | "proxychains4" => w(&["-f"], 0),
        "pkexec" => w(&["--user"], 0),
        "systemd-run" => w(
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
        "nsenter" => w(
            &[
                "-t", "--target", "-S", "--setuid", "-G", "--setgid", "--wd", "-W", "--wdns",
            ],
            0,
        ),
        "unshare" => w(
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
        _ => None,
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

fn lang_of(prog: &str) -> Option<Lang> {
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
    /// Everything a command does beyond being matched by the rules.
    pub(super) fn dispatch(&mut self, prog: &str, inv: Invocation, stdin: &Output, ctx: Ctx) -> Output {
        let args: Vec<Field> = inv.argv[1..].to_vec();
        match prog {
            "cd" | "pushd" => {
                self.change_dir(&args);
                Output::empty()
            }
            "popd" => {
                self.st.cwd = None;
                Output::empty()
            }
            "unset" => {
                for a in &args {
                    if let Some(n) = a.literal().filter(|n| !n.starts_with('-')) {
                        self.st.vars.remove(n);
                    }
                }
                Output::empty()
            }
            "set" => {
                if let Some(pos) = args.iter().position(|a| a.text == "--") {
                    self.positional = Some(args[pos + 1..].to_vec());
                }
                Output::empty()
            }
            "alias" => {
                for a in &args {
                    if let Some((name, value)) = a.text.split_once('=')
                        && a.is_static()
                    {
                        self.st.aliases.insert(plain_text(name), code_text(value));
                    }
                }
                Output::empty()
            }
            "read" => {
                self.read_builtin(&args, stdin);
                Output::empty()
            }
            "trap" => {
                if let Some(code) = args.iter().find(|a| !a.text.starts_with('-')) {
                    self.code_string(code, &Output::dynamic(), None, "trap code");
                }
                Output::empty()
            }
            "eval" => {
                if args.is_empty() {
                    return Output::empty();
                }
                self.code_string(&join_fields(args), stdin, None, "code given to eval")
            }
            "source" | "." => match args.first() {
                Some(f) => self.script_file(f, stdin, "source"),
                None => Output::empty(),
            },
            "exec" => {
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
                self.wrap(&inv, args.get(i..).unwrap_or_default().to_vec(), "exec", stdin, ctx)
            }
            "command" => {
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
                self.wrap(&inv, rest, "command", stdin, ctx)
            }
            "printf" if args.first().is_some_and(|a| a.text == "-v") => {
                if let (Some(var), Some(rest)) = (args.get(1), args.get(2..)) {
                    let out = printf(rest);
                    self.set_scalar(&plain_text(&var.text), out.as_field());
                }
                Output::empty()
            }
            "env" => self.env(&inv, &args, stdin, ctx),
            "xargs" => self.xargs(&inv, &args, stdin, ctx),
            "find" => self.find(&inv, &args, ctx),
            "watch" => {
                let exec = has_flag(&args, 'x', &["exec"]);
                let i = skip_options(&args, 0, &["-n", "--interval", "-q", "--equexit"]);
                let rest = args.get(i..).unwrap_or_default().to_vec();
                if exec {
                    self.wrap(&inv, rest, "watch", stdin, ctx)
                } else {
                    self.code_string(&join_fields(rest), &Output::dynamic(), None, "the command watch runs")
                }
            }
            "su" | "runuser" | "sg" => {
                let code = option_values(&args, &['c'], &["command"], &['u', 'g', 'G', 's', 'w']);
                if let Some(c) = code.first() {
                    return self.code_string(c, stdin, None, "the command su runs");
                }
                if prog == "su" {
                    return self.stdin_script(stdin, "a shell started by su");
                }
                let i = skip_options(
                    &args,
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
                self.wrap(&inv, args.get(i..).unwrap_or_default().to_vec(), prog, stdin, ctx)
            }
            "script" => {
                let code = option_values(&args, &['c'], &["command"], &['t', 'T', 'I', 'O', 'B', 'E', 'm']);
                match code.first() {
                    Some(c) => self.code_string(c, stdin, None, "the command script runs"),
                    None => self.stdin_script(stdin, "a shell started by script"),
                }
            }
            "flock" => {
                let code = option_values(&args, &['c'], &["command"], &['w', 'E']);
                if let Some(c) = code.first() {
                    return self.code_string(c, stdin, None, "the command flock runs");
                }
                let i = skip_options(&args, 0, &["-w", "--wait", "--timeout", "-E", "--conflict-exit-code"]) + 1;
                self.wrap(&inv, args.get(i..).unwrap_or_default().to_vec(), "flock", stdin, ctx)
            }
            "at" | "batch"
                if has_flag(&args, 'l', &[])
                    || has_flag(&args, 'r', &[])
                    || has_flag(&args, 'd', &[])
                    || has_flag(&args, 'c', &[]) =>
            {
                Output::dynamic()
            }
            "at" | "batch" => {
                let file = option_values(&args, &['f'], &[], &['q', 't']);
                match file.first() {
                    Some(f) => self.script_file(f, stdin, prog),
                    None => self.stdin_script(stdin, prog),
                }
            }
            "tmux" => self.tmux(&args),
            "screen" => {
                if let Some(i) = args.iter().position(|a| a.text == "stuff") {
                    let text = join_fields(args[i + 1..].to_vec());
                    return self.code_string(&text, &Output::dynamic(), None, "keys typed into screen");
                }
                let i = skip_options(
                    &args,
                    0,
                    &["-S", "-c", "-e", "-h", "-p", "-s", "-t", "-T", "-X", "-L", "-Logfile"],
                );
                self.wrap(&inv, args.get(i..).unwrap_or_default().to_vec(), "screen", stdin, ctx)
            }
            "ssh" => self.ssh(&args, stdin),
            "docker" | "podman" | "nerdctl" => self.container(prog, &inv, &args, stdin, ctx),
            "docker-compose" | "podman-compose" => self.compose(prog, &inv, &args, stdin, ctx),
            "kubectl" | "oc" => self.kubectl(prog, &args, stdin, ctx),
            "k3s" | "microk8s" if args.first().is_some_and(|a| a.text == "kubectl") => {
                self.kubectl(prog, &args[1..], stdin, ctx)
            }
            "lxc" | "incus" if args.first().is_some_and(|a| a.text == "exec") => {
                let i = args.iter().position(|a| a.text == "--").map_or(args.len(), |p| p + 1);
                self.remote_invoke(
                    Invocation {
                        argv: args[i..].to_vec(),
                        ..Invocation::default()
                    },
                    stdin,
                    ctx,
                )
            }
            "ip" if args.len() > 3 && args[0].text == "netns" && args[1].text == "exec" => {
                self.wrap(&inv, args[3..].to_vec(), "ip netns exec", stdin, ctx)
            }
            "parallel" => {
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
                    self.wrap(&inv, argv, "parallel", stdin, ctx);
                }
                Output::dynamic()
            }
            "git" => {
                self.git_config(&args);
                Output::dynamic()
            }
            "vi" | "vim" | "nvim" | "view" | "ex" | "gvim" => {
                for f in option_values(&args, &['c'], &["cmd"], &[]) {
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
            "pwsh" | "powershell" => self.powershell(prog, &args, stdin),
            "deno" => self.deno(&args),
            p if SHELLS.contains(&p) => self.shell(prog, &inv, &args, stdin),
            p if DB_CLIENTS.contains(&p) => self.db_client(prog, &args, stdin),
            p if lang_of(p).is_some() || wrapper(p).is_some() => match (lang_of(p), wrapper(p)) {
                (Some(lang), _) => self.interpreter(lang, prog, &inv, &args, stdin, ctx),
                (None, Some(w)) => self.unwrap(prog, &w, &inv, &args, stdin, ctx),
                (None, None) => Output::dynamic(),
            },
            _ => self.output_of(prog, &args, stdin),
        }
    }

    fn unwrap(
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

    fn wrap(&mut self, inv: &Invocation, inner: Vec<Field>, via: &str, stdin: &Output, ctx: Ctx) -> Output {
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

    /// Code handed over as a string (`bash -c`, `eval`, `su -c`, `trap`): parsed again, with
    /// run-time parts kept unknown.
    pub(super) fn code_string(
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
    fn script_file(&mut self, f: &Field, stdin: &Output, what: &str) -> Output {
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
        if let Some(top) = self.pipe_progs.last_mut() {
            top.push(STDIN_SHELL.to_string());
        }
        match stdin {
            Output::Known(text) => {
                let text = text.clone();
                self.script(&text, Output::dynamic())
            }
            Output::Unknown(t) => {
                self.saw_stdin_shell = true;
                if self.saw_dev_tcp {
                    self.signal(Signal::ReverseShell, "a shell is connected to a network socket");
                }
                self.opaque(*t, &format!("commands read by {what}"));
                Output::dynamic()
            }
        }
    }

    fn shell(&mut self, prog: &str, inv: &Invocation, args: &[Field], stdin: &Output) -> Output {
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
            let saved = std::mem::replace(&mut self.arg0, rest.get(1).cloned());
            let out = self.code_string(code, stdin, Some(positional), &format!("the code {prog} -c runs"));
            self.arg0 = saved;
            return out;
        }
        if !from_stdin && let Some(script) = rest.first() {
            return self.script_file(script, stdin, prog);
        }
        self.stdin_script(stdin, prog)
    }

    fn interpreter(
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

    fn sql_text(&mut self, client: &str, text: &str, require_verb: bool) {
        let (statements, shell) = sql::classify(text);
        for st in &statements {
            if require_verb && !st.kinds.first().is_some_and(|k| sql::VERBS.contains(&k.as_str())) {
                continue;
            }
            self.report(&Fact::Sql { client, statement: st });
        }
        if !require_verb {
            for cmd in shell {
                self.script(&cmd, Output::dynamic());
            }
        }
    }

    fn db_client(&mut self, prog: &str, args: &[Field], stdin: &Output) -> Output {
        let args = if prog == "clickhouse" || prog == "cockroach" {
            args.get(1..).unwrap_or_default()
        } else {
            args
        };
        let (mut sqls, file) = match prog {
            "psql" | "pgcli" | "usql" => (
                option_values(
                    args,
                    &['c'],
                    &["command"],
                    &['h', 'p', 'U', 'd', 'o', 'L', 'P', 'R', 'T', 'v', 'F'],
                ),
                option_values(
                    args,
                    &['f'],
                    &["file"],
                    &['h', 'p', 'U', 'd', 'o', 'L', 'P', 'R', 'T', 'v', 'F'],
                ),
            ),
            "mysql" | "mariadb" | "mycli" | "cockroach" | "cqlsh" => (
                option_values(args, &['e'], &["execute"], &['u', 'h', 'P', 'D', 'S', 'p', 'o']),
                Vec::new(),
            ),
            "sqlcmd" => (
                option_values(args, &['Q', 'q'], &[], &['S', 'U', 'P', 'd', 'i', 'o']),
                option_values(args, &['i'], &[], &[]),
            ),
            "clickhouse-client" | "clickhouse" | "snowsql" => (
                option_values(args, &['q'], &["query"], &['h', 'u', 'd', 'a', 'c']),
                option_values(args, &[], &["queries-file"], &[]),
            ),
            "trino" | "presto" => (
                option_values(args, &[], &["execute"], &[]),
                option_values(args, &['f'], &["file"], &[]),
            ),
            "bq" => {
                let pos: Vec<Field> = args.iter().filter(|a| !a.text.starts_with('-')).cloned().collect();
                let sql = if pos.first().is_some_and(|a| a.text == "query") {
                    pos[1..].to_vec()
                } else {
                    Vec::new()
                };
                (sql, Vec::new())
            }
            _ => {
                // sqlite3, litecli, duckdb: DATABASE [SQL…], plus -cmd SQL.
                let mut sql = Vec::new();
                let mut pos = 0;
                let mut i = 0;
                while let Some(a) = args.get(i) {
                    let t = a.text.as_str();
                    if matches!(t, "-cmd" | "-c" | "-s") {
                        sql.extend(args.get(i + 1).cloned());
                        i += 2;
                        continue;
                    }
                    if matches!(
                        t,
                        "-separator" | "-newline" | "-nullvalue" | "-init" | "-vfs" | "-mmap" | "-heap" | "-maxsize"
                    ) {
                        i += 2;
                        continue;
                    }
                    if !t.starts_with('-') {
                        if pos > 0 {
                            sql.push(a.clone());
                        }
                        pos += 1;
                    }
                    i += 1;
                }
                (sql, Vec::new())
            }
        };
        let from_stdin = sqls.is_empty() && file.iter().all(|f| f.text == "-");
        if from_stdin {
            match stdin {
                Output::Known(t) => sqls.push(Field::lit(t)),
                // Like `cat x.sh | bash`: statements only known at run time.
                Output::Unknown(t) => self.opaque(*t, &format!("SQL given to {prog}")),
            }
        }
        for s in file {
            if self.is_downloaded(&s) {
                self.signal(
                    Signal::DownloadExec,
                    &format!("{prog} runs a downloaded file: {}", s.display()),
                );
            }
        }
        for s in sqls {
            if s.taint >= Taint::Decoded {
                self.opaque(s.taint, &format!("SQL given to {prog}"));
                continue;
            }
            self.sql_text(prog, &plain_text(&s.text), false);
        }
        Output::dynamic()
    }

    fn powershell(&mut self, prog: &str, args: &[Field], stdin: &Output) -> Output {
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

    fn deno(&mut self, args: &[Field]) -> Output {
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

    fn env(&mut self, inv: &Invocation, args: &[Field], stdin: &Output, ctx: Ctx) -> Output {
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

    fn xargs(&mut self, inv: &Invocation, args: &[Field], stdin: &Output, ctx: Ctx) -> Output {
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

    fn find(&mut self, inv: &Invocation, args: &[Field], ctx: Ctx) -> Output {
        // `find [-H|-L|-P|-D …|-O…] START… EXPRESSION`
        let mut i = 0;
        while let Some(t) = args.get(i).map(|a| a.text.as_str()) {
            match t {
                "-H" | "-L" | "-P" => i += 1,
                "-D" => i += 2,
                t if t.starts_with("-O") => i += 1,
                _ => break,
            }
        }
        let mut starts: Vec<Field> = args[i.min(args.len())..]
            .iter()
            .take_while(|a| !a.text.starts_with('-') && a.text != "(" && a.text != "!")
            .cloned()
            .collect();
        if starts.is_empty() {
            starts.push(Field::lit("."));
        }
        let value_of = |names: &[&str]| {
            args.windows(2)
                .rfind(|w| names.contains(&w[0].text.as_str()))
                .map(|w| find_pattern(&w[1]))
        };
        let name = value_of(&["-name", "-iname"]);
        let whole = value_of(&["-path", "-ipath", "-wholename", "-iwholename"]);
        let shallow = args
            .windows(2)
            .any(|w| w[0].text == "-maxdepth" && matches!(w[1].text.as_str(), "0" | "1"));
        let filtered = args.iter().any(|a| FIND_FILTERS.contains(&a.text.as_str()));
        // What find reports for a start point: the paths its name tests allow below it.
        let found_in = |d: &Field| -> Field {
            let dir = d.text.trim_end_matches('/');
            let text = match (&whole, &name) {
                (Some(p), _) => p.clone(),
                // A literal name is that file at any depth (`find / -name shadow`); a glob name
                // is only tried one level down, or every wide pattern (`**/.azure/msal_*`)
                // would meet it.
                (None, Some(n)) if shallow || n.contains([STAR, ONE]) => format!("{dir}/{n}"),
                (None, Some(n)) => format!("{dir}/{DIRS}{n}"),
                (None, None) if filtered => format!("{dir}/{UNKNOWN}"),
                (None, None) => return d.clone(),
            };
            Field {
                text,
                taint: d.taint.max(Taint::Dynamic),
            }
        };
        let found: Vec<Field> = starts.iter().map(found_in).collect();
        let mut i = 0;
        while i < args.len() {
            if matches!(args[i].text.as_str(), "-exec" | "-execdir" | "-ok" | "-okdir") {
                let mut j = i + 1;
                let mut argv = Vec::new();
                while j < args.len() && args[j].text != ";" && args[j].text != "+" {
                    argv.push(substitute(&args[j], "{}", &found[0]));
                    j += 1;
                }
                self.wrap(inv, argv, "find", &Output::dynamic(), ctx);
                i = j + 1;
                continue;
            }
            i += 1;
        }
        // Printed paths: those above, each possibly longer (run-time part).
        Output::Known(found.iter().map(|f| format!("{}{UNKNOWN}\n", f.text)).collect())
    }

    fn ssh(&mut self, args: &[Field], stdin: &Output) -> Output {
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
            let saved = std::mem::take(&mut self.st);
            let out = self.stdin_script(stdin, "a remote shell");
            self.st = saved;
            return out;
        }
        let cmd = join_fields(rest.to_vec());
        if cmd.taint >= Taint::Decoded {
            self.opaque(cmd.taint, "the remote command");
            return Output::dynamic();
        }
        self.remote_script(&code_text(&cmd.text), stdin)
    }

    fn container(&mut self, prog: &str, inv: &Invocation, args: &[Field], stdin: &Output, ctx: Ctx) -> Output {
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
                self.remote_invoke(
                    Invocation {
                        argv: inner,
                        via: vec![prog.to_string()],
                        ..Invocation::default()
                    },
                    stdin,
                    ctx,
                )
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
                self.remote_invoke(
                    Invocation {
                        argv: inner,
                        via: vec![prog.to_string()],
                        ..Invocation::default()
                    },
                    stdin,
                    ctx,
                )
            }
            Some("compose") => self.compose(prog, inv, &args[i + 1..], stdin, ctx),
            _ => self.output_of(prog, args, stdin),
        }
    }

    fn compose(&mut self, prog: &str, _inv: &Invocation, args: &[Field], stdin: &Output, ctx: Ctx) -> Output {
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
                self.remote_invoke(
                    Invocation {
                        argv: inner,
                        via: vec![prog.to_string()],
                        ..Invocation::default()
                    },
                    stdin,
                    ctx,
                )
            }
            _ => Output::dynamic(),
        }
    }

    fn kubectl(&mut self, prog: &str, args: &[Field], stdin: &Output, ctx: Ctx) -> Output {
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
            let saved = std::mem::take(&mut self.st);
            let out = self.stdin_script(stdin, "a shell in a pod");
            self.st = saved;
            return out;
        }
        self.remote_invoke(
            Invocation {
                argv: inner,
                via: vec![prog.to_string()],
                ..Invocation::default()
            },
            stdin,
            ctx,
        )
    }

    fn tmux(&mut self, args: &[Field]) -> Output {
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

    fn change_dir(&mut self, args: &[Field]) {
        let target = args.iter().find(|a| !a.text.starts_with('-') || a.text == "-");
        self.st.cwd = match target {
            None => Some("~".into()),
            Some(t) if t.is_static() && !t.has_wildcard() && t.text != "-" => {
                let p = plain_text(&t.text);
                if p.starts_with('/') || p.starts_with('~') {
                    Some(normalize_path(&p))
                } else {
                    self.st.cwd.as_ref().map(|c| normalize_path(&format!("{c}/{p}")))
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

    /// What a command writes to stdout; records files downloaders write.
    fn output_of(&mut self, prog: &str, args: &[Field], stdin: &Output) -> Output {
        let files = || {
            args.iter()
                .filter(|a| !a.text.starts_with('-') || a.text == "-")
                .cloned()
                .collect::<Vec<_>>()
        };
        match prog {
            "echo" => echo(args),
            "printf" => printf(args),
            "which" | "whereis" | "type" => lookup_output(args),
            "pwd" => match &self.st.cwd {
                Some(c) => Output::Known(format!("{c}\n")),
                None => Output::dynamic(),
            },
            "true" | "false" | ":" => Output::empty(),
            "ls" => ls_output(args),
            "dirname" | "basename" | "realpath" | "readlink" => {
                let names: Vec<&Field> = args.iter().filter(|a| !a.text.starts_with('-')).collect();
                match names.first().and_then(|f| f.literal()) {
                    Some(p) => {
                        let n = normalize_path(p);
                        let out = match prog {
                            "dirname" => match n.rfind('/') {
                                Some(0) => "/".to_string(),
                                Some(k) => n[..k].to_string(),
                                None => ".".to_string(),
                            },
                            "basename" => basename(&n).to_string(),
                            _ => n,
                        };
                        Output::Known(format!("{out}\n"))
                    }
                    None => Output::dynamic(),
                }
            }
            "tee" => {
                if stdin.taint() >= Taint::Decoded {
                    for f in files() {
                        self.add_downloaded(&f.text);
                    }
                }
                stdin.clone()
            }
            "openssl" if args.first().is_some_and(|a| a.text == "s_client") => Output::Unknown(Taint::Downloaded),
            "openssl"
                if args
                    .first()
                    .is_some_and(|a| matches!(a.text.as_str(), "enc" | "base64"))
                    && has_flag(args, 'd', &[]) =>
            {
                Output::Unknown(Taint::Decoded)
            }
            p if DOWNLOADERS.contains(&p) => {
                self.record_downloads(prog, args);
                Output::Unknown(Taint::Downloaded)
            }
            p if DECODERS.contains(&p) => Output::Unknown(Taint::Decoded),
            "xxd" if has_flag(args, 'r', &["revert"]) => Output::Unknown(Taint::Decoded),
            p if DECODE_WITH_FLAG.contains(&p)
                && p != "xxd"
                && has_flag(args, 'd', &["decode", "decompress", "decrypt"]) =>
            {
                Output::Unknown(Taint::Decoded)
            }
            "base64" if has_flag(args, 'D', &[]) => Output::Unknown(Taint::Decoded),
            p if FILTERS.contains(&p) || TRANSFORMERS.contains(&p) => {
                let mut files = files();
                if matches!(p, "grep" | "egrep" | "fgrep" | "rg")
                    && !has_flag(args, 'e', &["regexp"])
                    && !has_flag(args, 'f', &["file"])
                {
                    if !files.is_empty() {
                        files.remove(0);
                    }
                } else if matches!(
                    p,
                    "sed"
                        | "awk"
                        | "gawk"
                        | "mawk"
                        | "nawk"
                        | "tr"
                        | "jq"
                        | "yq"
                        | "perl"
                        | "ruby"
                        | "python"
                        | "python3"
                ) {
                    // Their first operand is a program or set, not a file (approximately).
                    if !files.is_empty() {
                        files.remove(0);
                    }
                    if p == "tr" {
                        files.clear();
                    }
                }
                let input = if files.is_empty() || files.iter().all(|f| f.text == "-") {
                    stdin.clone()
                } else {
                    files
                        .iter()
                        .fold(Output::empty(), |acc, f| acc.then(self.file_content(f)))
                };
                if TRANSFORMERS.contains(&p) {
                    match input {
                        Output::Known(_) => Output::Unknown(Taint::Decoded),
                        Output::Unknown(t) => Output::Unknown(t.max(Taint::Dynamic)),
                    }
                } else {
                    input
                }
            }
            _ => Output::dynamic(),
        }
    }

    fn record_downloads(&mut self, prog: &str, args: &[Field]) {
        let urls: Vec<String> = args
            .iter()
            .filter_map(Field::literal)
            .filter(|t| t.contains("://"))
            .map(|u| {
                let path = u.split(['?', '#']).next().unwrap_or(u);
                let after_host = path.splitn(4, '/').nth(3).unwrap_or("");
                basename(after_host).to_string()
            })
            .collect();
        let outputs = match prog {
            "curl" => option_values(
                args,
                &['o'],
                &["output"],
                &['d', 'H', 'u', 'X', 'A', 'e', 'b', 'c', 'F', 'T', 'x', 'w', 'K'],
            ),
            "wget" => option_values(args, &['O'], &["output-document"], &['o', 'P', 'U', 'e', 'T', 't']),
            "aria2c" => option_values(args, &['o'], &["out"], &['d']),
            _ => Vec::new(),
        };
        for o in &outputs {
            self.add_downloaded(&o.text);
        }
        let remote_name = match prog {
            "curl" => has_flag(args, 'O', &["remote-name", "remote-name-all"]),
            "wget" | "aria2c" | "fetch" => outputs.is_empty(),
            _ => false,
        };
        if remote_name {
            for u in urls {
                let name = if u.is_empty() { "index.html".to_string() } else { u };
                self.add_downloaded(&name);
            }
        }
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

/// A `find -name`/`-path` pattern as a word with wildcard markers (quoted or not, it is a glob).
fn find_pattern(f: &Field) -> String {
    let mut b = FieldBuilder::default();
    b.push_unquoted(&plain_text(&f.text));
    b.finish().into_iter().next().map(|f| f.text).unwrap_or_default()
}

/// `ls PATH…`: each named path (a file lists as itself), possibly followed by more (a directory's
/// entries, long-format columns before it) known only at run time.
fn ls_output(args: &[Field]) -> Output {
    let mut long = false;
    let mut paths = Vec::new();
    let mut options = true;
    for a in args {
        let t = a.text.as_str();
        if options && t == "--" {
            options = false;
        } else if options && t.len() > 1 && t.starts_with('-') {
            long |= !t.starts_with("--") && t.contains(['l', 'g', 'n', 'o', 's', 'i']);
        } else {
            paths.push(t);
        }
    }
    if paths.is_empty() {
        return Output::dynamic();
    }
    let lead = if long { format!("{UNKNOWN} ") } else { String::new() };
    Output::Known(paths.iter().map(|p| format!("{lead}{p}{UNKNOWN}\n")).collect())
}

fn lookup_output(args: &[Field]) -> Output {
    let names: Vec<&str> = args
        .iter()
        .filter_map(Field::literal)
        .filter(|t| !t.starts_with('-'))
        .collect();
    if names.is_empty() {
        return Output::dynamic();
    }
    Output::Known(names.iter().map(|n| format!("{}\n", basename(n))).collect())
}

fn echo(args: &[Field]) -> Output {
    let mut i = 0;
    let mut newline = true;
    let mut escapes = false;
    while let Some(t) = args.get(i).map(|a| a.text.as_str()) {
        if t.len() > 1 && t.starts_with('-') && t[1..].chars().all(|c| matches!(c, 'n' | 'e' | 'E')) {
            newline &= !t.contains('n');
            escapes = t.contains('e') || (escapes && !t.contains('E'));
            i += 1;
            continue;
        }
        break;
    }
    let rest = join_fields(args.get(i..).unwrap_or_default().to_vec());
    if !rest.is_static() {
        return Output::Unknown(rest.taint.max(Taint::Dynamic));
    }
    let mut text = plain_text(&rest.text);
    if escapes {
        text = echo_decode(&text);
    }
    if newline {
        text.push('\n');
    }
    Output::Known(text)
}

fn printf(args: &[Field]) -> Output {
    let Some(format) = args.first() else {
        return Output::empty();
    };
    let rest = &args[1..];
    if !format.is_static() || rest.iter().any(|a| !a.is_static()) {
        let taint = rest.iter().map(|a| a.taint).fold(format.taint, Taint::max);
        return Output::Unknown(taint.max(Taint::Dynamic));
    }
    let fmt = plain_text(&format.text);
    let values: Vec<String> = rest.iter().map(|a| plain_text(&a.text)).collect();
    let mut out = String::new();
    let mut next = 0;
    for _ in 0..64 {
        let before = next;
        let mut chars = fmt.chars().peekable();
        let mut literal = String::new();
        while let Some(c) = chars.next() {
            if c != '%' {
                literal.push(c);
                continue;
            }
            // Flags, width and precision are skipped; the value is inserted as is.
            let mut conv = None;
            while let Some(&n) = chars.peek() {
                chars.next();
                if n.is_ascii_alphabetic() || n == '%' {
                    conv = Some(n);
                    break;
                }
            }
            out.push_str(&echo_decode(&std::mem::take(&mut literal)));
            match conv {
                Some('%') => out.push('%'),
                Some('b') => {
                    out.push_str(&echo_decode(values.get(next).map_or("", String::as_str)));
                    next += 1;
                }
                Some(_) => {
                    out.push_str(values.get(next).map_or("", String::as_str));
                    next += 1;
                }
                None => {}
            }
        }
        out.push_str(&echo_decode(&literal));
        if next >= values.len() || next == before {
            break;
        }
    }
    Output::Known(out)
}
