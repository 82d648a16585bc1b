//! File and text tools: what ordinary commands write to stdout (`echo`, `printf`, `ls`,
//! `dirname`, filters like `cat` and `grep`, transformers like `sed` and `tr`, decoders like
//! `base64 -d`, downloaders like `curl` and the files they save), and `find` (the paths it
//! reports, the commands its `-exec` runs).

use super::{Analyzer, Ctx, Output, has_flag, option_values, substitute};
use crate::glob::{DIRS, ONE, STAR, UNKNOWN};
use crate::rule::{Invocation, basename};
use crate::shell::expand::join_fields;
use crate::word::{Field, FieldBuilder, Taint, echo_decode, normalize_path, plain_text};

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

impl Analyzer<'_> {
    pub(super) fn find(&mut self, inv: &Invocation, args: &[Field], ctx: Ctx) -> Output {
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

    /// What a command writes to stdout; records files downloaders write.
    pub(super) fn output_of(&mut self, prog: &str, args: &[Field], stdin: &Output) -> Output {
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
            "pwd" => match &self.env.cwd {
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

pub(super) fn lookup_output(args: &[Field]) -> Output {
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

pub(super) fn printf(args: &[Field]) -> Output {
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
