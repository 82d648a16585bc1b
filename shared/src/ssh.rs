//! SSH execution, the parts every role shares: the agent's request body and its validation,
//! the exact script a server runs, the canonical form an approval binds, host-key descriptions
//! and signal numbers.

use crate::error::Code;
use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

/// `POST /ssh/:target/exec` as the agent sends it (the seed's `command` and `timeout`, plus
/// `stdin` and `env`). Unknown fields are refused: a field the agent expects to matter must not
/// be silently ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecBody {
    pub command: Option<String>,
    /// Seconds (fractions allowed); default 30.
    pub timeout: Option<f64>,
    pub stdin: Option<String>,
    pub env: Option<BTreeMap<String, String>>,
}

/// A validated command request.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecSpec {
    pub command: String,
    pub timeout: Duration,
    pub stdin: Option<String>,
    pub env: Vec<(String, String)>,
}

/// Why a request body was refused: a stable code and a message for the agent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExecBodyError {
    pub code: Code,
    pub message: String,
}

fn refuse(code: Code, message: impl Into<String>) -> ExecBodyError {
    ExecBodyError {
        code,
        message: message.into(),
    }
}

pub const DEFAULT_TIMEOUT_SECS: f64 = 30.0;
const MAX_ENV_VARS: usize = 64;

/// Variables that change how the remote shell or the dynamic loader behave before the command
/// is even read: refused, since the guard judges the command, not what a loader would inject.
fn reserved_env(name: &str) -> bool {
    name.starts_with("LD_")
        || name.starts_with("BASH_FUNC_")
        || matches!(
            name,
            "BASH_ENV" | "ENV" | "IFS" | "PROMPT_COMMAND" | "SHELLOPTS" | "BASHOPTS" | "PS4" | "CDPATH" | "GLOBIGNORE"
        )
}

fn valid_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= 128
        && bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl ExecBody {
    pub fn parse(body: &[u8]) -> Result<Self, ExecBodyError> {
        serde_json::from_slice(body).map_err(|e| {
            let what = if e.is_syntax() || e.is_eof() {
                "the body is not valid JSON"
            } else {
                "the body does not match {\"command\": string, \"timeout\"?: seconds, \"stdin\"?: string, \"env\"?: {name: value}}"
            };
            refuse(Code::BadBody, format!("{what}: {e}"))
        })
    }

    pub fn validate(self, max_timeout_secs: u64) -> Result<ExecSpec, ExecBodyError> {
        let command = self.command.unwrap_or_default();
        if command.trim().is_empty() {
            return Err(refuse(
                Code::MissingCommand,
                "\"command\" is required and must not be blank",
            ));
        }
        if command.contains('\0') {
            return Err(refuse(Code::BadCommand, "\"command\" must not contain NUL characters"));
        }
        let secs = self.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS);
        #[expect(clippy::cast_precision_loss, reason = "the maximum is a small number of seconds")]
        let max = max_timeout_secs as f64;
        if !secs.is_finite() || secs <= 0.0 || secs > max {
            return Err(refuse(
                Code::BadTimeout,
                format!("\"timeout\" must be a number of seconds greater than 0 and at most {max_timeout_secs}"),
            ));
        }
        if self.stdin.as_deref().is_some_and(|s| s.contains('\0')) {
            return Err(refuse(Code::BadStdin, "\"stdin\" must not contain NUL characters"));
        }
        let env = self.env.unwrap_or_default();
        if env.len() > MAX_ENV_VARS {
            return Err(refuse(
                Code::BadEnv,
                format!("at most {MAX_ENV_VARS} environment variables"),
            ));
        }
        for (name, value) in &env {
            if !valid_env_name(name) {
                return Err(refuse(
                    Code::BadEnv,
                    format!("{name:?} is not a valid environment variable name"),
                ));
            }
            if reserved_env(name) {
                return Err(refuse(Code::BadEnv, format!("{name} may not be set through \"env\"")));
            }
            if value.contains('\0') {
                return Err(refuse(
                    Code::BadEnv,
                    format!("the value of {name} contains a NUL character"),
                ));
            }
        }
        Ok(ExecSpec {
            command,
            timeout: Duration::from_secs_f64(secs),
            stdin: self.stdin,
            env: env.into_iter().collect(),
        })
    }
}

/// Single-quotes `s` for a POSIX shell.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The script the server's shell runs: the agent's command, preceded by `export` of its `env`
/// (servers accept few variables through the SSH protocol; the shell accepts them all). The
/// guard judges this exact text.
pub fn remote_script(command: &str, env: &[(String, String)]) -> String {
    if env.is_empty() {
        return command.to_string();
    }
    let exports: Vec<String> = env.iter().map(|(k, v)| format!("{k}={}", shell_quote(v))).collect();
    format!("export {}\n{command}", exports.join(" "))
}

/// Seconds between the TERM a timed-out or cancelled command's process group gets and the KILL
/// that follows.
pub const KILL_AFTER_SECS: u64 = 2;

/// What the executor asks the server to run: Shellgate's own wrapper around the agent's `script`
/// (which the guard judged, and which runs exactly as it is, in the user's login shell, with the
/// channel's stdin). The wrapper is the SSH session's leader, so the command's processes share
/// its process group:
/// - on TERM (the executor's signal at a timeout or a cancel) it sends TERM to the whole group and
///   KILL [`KILL_AFTER_SECS`] later: children that ignore TERM, background children and deep
///   trees die with it;
/// - a watchdog in the group (ignoring TERM) checks every second whether the wrapper is still
///   there: once the command has ended, whatever it left running in the group gets TERM, then
///   KILL; at `deadline_secs` it does the same even if the executor or its connection is gone.
///
/// The wrapper's own exit status is settled before anything is signalled at the end, so a
/// command's reported status is never the cleanup's. Only a process that starts a session of its
/// own (`setsid`, the init system) outlives its command. A command killed by a signal is reported
/// as such: the wrapper ends by the same signal. Plain POSIX shell (sh, dash, bash, zsh, ksh) with
/// `kill` and `sleep`.
pub fn wrapped_script(script: &str, deadline_secs: u64) -> String {
    let k = KILL_AFTER_SECS;
    let quoted = shell_quote(script);
    format!(
        "exec 3<&0\n\
         (trap '' TERM INT HUP; t=0; while kill -0 $$ 2>/dev/null && [ $t -lt {deadline_secs} ]; do sleep 1; t=$((t + 1)); done; \
         kill -TERM -$$ 2>/dev/null; sleep {k}; kill -KILL -$$ 2>/dev/null) </dev/null >/dev/null 2>&1 3<&- &\n\
         trap 'trap \"\" TERM; kill -TERM -$$; sleep {k}; kill -KILL -$$' TERM\n\
         \"${{SHELL:-/bin/sh}}\" -c {quoted} 0<&3 3<&- &\n\
         wait $!\n\
         s=$?\n\
         trap - TERM\n\
         if [ \"$s\" -gt 128 ] && [ \"$s\" -lt 160 ]; then kill -$((s - 128)) $$; fi\n\
         exit $s\n"
    )
}

/// Linux signal numbers of the names SSH reports, for the exit code of a killed command.
pub fn signal_number(name: &str) -> Option<u32> {
    Some(match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "TRAP" => 5,
        "ABRT" => 6,
        "BUS" => 7,
        "FPE" => 8,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        "XCPU" => 24,
        "XFSZ" => 25,
        _ => return None,
    })
}

/// The exit code reported for a command killed by `signal`: 128 + its number, as shells do
/// (255 for a signal without a known number). Never 0.
pub fn exit_code_for_signal(signal: &str) -> u32 {
    signal_number(signal).map_or(255, |n| 128 + n)
}

/// A host key as stored and shown: algorithm, SHA-256 fingerprint, OpenSSH text (no comment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKeyInfo {
    pub algorithm: String,
    pub fingerprint: String,
    pub public_key: String,
}

pub fn describe_host_key(key: &russh::keys::PublicKey) -> HostKeyInfo {
    let bare = russh::keys::PublicKey::new(key.key_data().clone(), "");
    HostKeyInfo {
        algorithm: key.algorithm().as_str().to_string(),
        fingerprint: key.fingerprint(russh::keys::HashAlg::Sha256).to_string(),
        public_key: bare.to_openssh().unwrap_or_default(),
    }
}

/// Parses a public key in OpenSSH form (`ssh-ed25519 AAAA… [comment]`).
pub fn parse_public_key(text: &str) -> Option<russh::keys::PublicKey> {
    russh::keys::PublicKey::from_openssh(text.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Result<ExecSpec, ExecBodyError> {
        ExecBody::parse(json.as_bytes())?.validate(60)
    }

    #[test]
    fn body_validation_has_stable_codes() {
        let ok = spec(r#"{"command":"echo hi"}"#).unwrap();
        assert_eq!(ok.timeout, Duration::from_secs(30));
        assert_eq!(
            spec(r#"{"command":"x","timeout":0.5}"#).unwrap().timeout,
            Duration::from_millis(500)
        );
        let code = |j: &str| spec(j).unwrap_err().code.as_str();
        assert_eq!(code("nope"), "bad_body");
        assert_eq!(code(r#"{"command":1}"#), "bad_body");
        assert_eq!(code(r#"{"command":"x","sudo":true}"#), "bad_body");
        assert_eq!(code(r#"{}"#), "missing_command");
        assert_eq!(code(r#"{"command":"  "}"#), "missing_command");
        assert_eq!(code(r#"{"command":"a\u0000b"}"#), "bad_command");
        assert_eq!(code(r#"{"command":"x","timeout":0}"#), "bad_timeout");
        assert_eq!(code(r#"{"command":"x","timeout":-1}"#), "bad_timeout");
        assert_eq!(code(r#"{"command":"x","timeout":61}"#), "bad_timeout");
        assert_eq!(code(r#"{"command":"x","timeout":"30"}"#), "bad_body");
        assert_eq!(code(r#"{"command":"x","env":{"1A":"v"}}"#), "bad_env");
        assert_eq!(code(r#"{"command":"x","env":{"LD_PRELOAD":"/x.so"}}"#), "bad_env");
        assert_eq!(code(r#"{"command":"x","env":{"BASH_ENV":"/x"}}"#), "bad_env");
    }

    #[test]
    fn env_is_exported_quoted() {
        let env = vec![("A".to_string(), "it's $(x)".to_string())];
        assert_eq!(remote_script("echo $A", &env), "export A='it'\\''s $(x)'\necho $A");
        assert_eq!(remote_script("ls", &[]), "ls");
    }

    #[test]
    fn the_wrapper_runs_the_script_exactly_under_a_deadline() {
        let script = "echo 'it''s' \"$HOME\"; exit 3";
        // In a session of its own, as sshd runs it (the watchdog then ends only that session).
        let wrapped = wrapped_script(script, 2);
        for shell in ["sh", "bash"] {
            let out = std::process::Command::new("setsid")
                .args([shell, "-c"])
                .arg(&wrapped)
                .env("SHELL", "/bin/sh")
                .env("HOME", "/h")
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), "its /h\n", "{shell}");
            assert_eq!(out.status.code(), Some(3), "{shell}");
        }
        assert!(wrapped.contains("[ $t -lt 2 ]"), "{wrapped}");
    }

    #[test]
    fn killed_commands_never_exit_zero() {
        assert_eq!(exit_code_for_signal("KILL"), 137);
        assert_eq!(exit_code_for_signal("TERM"), 143);
        assert_eq!(exit_code_for_signal("WEIRD"), 255);
    }
}
