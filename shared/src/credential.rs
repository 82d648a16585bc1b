//! Target credentials: what an admin stores, how it is validated, the hint shown back (never the
//! value), and the byte strings an executor must scrub from anything returning to an agent.

use crate::states::TargetKind;
use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// A credential in clear. Exists only in the approver while it is being sealed and in an
/// executor at the moment of a call; `Debug` never prints the secret parts.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Credential {
    /// `Authorization: Bearer <token>`.
    Bearer { token: String },
    /// `Authorization: Basic base64(username:password)`.
    Basic { username: String, password: String },
    /// One or more request headers, e.g. `X-Api-Key`.
    Header { headers: BTreeMap<String, String> },
    /// A query parameter appended to the upstream URL.
    Query { param: String, value: String },
    /// SSH public-key authentication: an OpenSSH or PEM private key (Ed25519, ECDSA or RSA),
    /// optionally encrypted with `passphrase`.
    SshKey {
        #[serde(rename = "privateKey", alias = "private_key")]
        private_key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        passphrase: Option<String>,
    },
    /// SSH password authentication.
    Password { password: String },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential::{}(..)", self.kind())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CredentialError {
    #[error("{0}")]
    Invalid(&'static str),
}

/// Secrets shorter than this are not scrubbed from bodies (they would corrupt binary data by
/// chance) and show no characters in their hint.
pub const MIN_SCRUB_LEN: usize = 8;

/// Headers a credential may not set: they belong to the transport or to Shellgate.
const FORBIDDEN_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    "proxy-connection",
];

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_header_value(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b) || b >= 0x80)
}

impl Credential {
    /// The stable name of the credential type, stored next to the sealed value.
    pub fn kind(&self) -> &'static str {
        match self {
            Credential::Bearer { .. } => "bearer",
            Credential::Basic { .. } => "basic",
            Credential::Header { .. } => "header",
            Credential::Query { .. } => "query",
            Credential::SshKey { .. } => "ssh_key",
            Credential::Password { .. } => "password",
        }
    }

    /// Whether this credential can be used with a target of `target_kind`.
    pub fn fits_target_kind(&self, target_kind: TargetKind) -> bool {
        let ssh = matches!(self, Credential::SshKey { .. } | Credential::Password { .. });
        match target_kind {
            TargetKind::Ssh => ssh,
            TargetKind::Http => !ssh,
        }
    }

    /// The decoded private key of an `ssh_key` credential.
    pub fn ssh_private_key(&self) -> Option<Result<russh::keys::PrivateKey, CredentialError>> {
        let Credential::SshKey {
            private_key,
            passphrase,
        } = self
        else {
            return None;
        };
        // The decoder's own messages are kept out: they describe the key material.
        Some(
            russh::keys::decode_secret_key(private_key, passphrase.as_deref()).map_err(|_| {
                CredentialError::Invalid(
                    "private key cannot be read (OpenSSH or PEM Ed25519/ECDSA/RSA key; is the passphrase right?)",
                )
            }),
        )
    }

    pub fn validate(&self) -> Result<(), CredentialError> {
        let invalid = |m| Err(CredentialError::Invalid(m));
        match self {
            Credential::Bearer { token } => {
                if !is_header_value(token) || token.contains(' ') {
                    return invalid("bearer token must be non-empty printable text without spaces");
                }
            }
            Credential::Basic { username, password } => {
                if username.contains(':') || username.chars().any(char::is_control) {
                    return invalid("basic username must not contain ':' or control characters");
                }
                if password.chars().any(char::is_control) {
                    return invalid("basic password must not contain control characters");
                }
                if username.is_empty() && password.is_empty() {
                    return invalid("basic credential needs a username or a password");
                }
            }
            Credential::Header { headers } => {
                if headers.is_empty() || headers.len() > 16 {
                    return invalid("header credential needs between 1 and 16 headers");
                }
                for (name, value) in headers {
                    if name.is_empty() || !name.bytes().all(is_token_char) {
                        return invalid("header name is not a valid HTTP header name");
                    }
                    let lower = name.to_ascii_lowercase();
                    if FORBIDDEN_HEADERS.contains(&lower.as_str()) || lower.starts_with("x-shellgate-") {
                        return invalid("header credential may not set transport or X-Shellgate-* headers");
                    }
                    if !is_header_value(value) {
                        return invalid("header value must be non-empty printable text");
                    }
                }
            }
            Credential::SshKey { private_key, .. } => {
                if private_key.len() > 64 * 1024 {
                    return invalid("private key is larger than 64 KiB");
                }
                if let Some(Err(e)) = self.ssh_private_key() {
                    return Err(e);
                }
            }
            Credential::Password { password } => {
                if password.is_empty() || password.len() > 1024 || password.contains('\0') {
                    return invalid("password must be 1-1024 bytes without NUL");
                }
            }
            Credential::Query { param, value } => {
                if param.is_empty()
                    || param.len() > 128
                    || param.chars().any(|c| c.is_control() || c == '&' || c == '=')
                {
                    return invalid(
                        "query parameter name must be 1-128 characters without '&', '=' or control characters",
                    );
                }
                if value.is_empty() || value.chars().any(char::is_control) {
                    return invalid("query value must be non-empty without control characters");
                }
            }
        }
        Ok(())
    }

    fn primary_secret(&self) -> &str {
        match self {
            Credential::Bearer { token } => token,
            Credential::Basic { password, .. } => password,
            Credential::Header { headers } => headers.values().next().map_or("", String::as_str),
            Credential::Query { value, .. } => value,
            Credential::Password { password } => password,
            Credential::SshKey { .. } => "",
        }
    }

    /// What the admin API shows instead of the value: at most its last 4 characters, and none
    /// at all for short secrets.
    pub fn hint(&self) -> String {
        // An SSH key's hint is its public fingerprint: what an admin compares with the server's
        // authorized_keys (public information, nothing of the private key).
        if let Some(Ok(key)) = self.ssh_private_key() {
            return key.public_key().fingerprint(russh::keys::HashAlg::Sha256).to_string();
        }
        let secret = self.primary_secret();
        let chars: Vec<char> = secret.chars().collect();
        if chars.len() < 12 {
            return "…".to_string();
        }
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("…{tail}")
    }

    /// Every form in which this credential could travel back in a response: the raw values and
    /// their encodings (Basic's base64, a query value's percent-encoding), and for secret values
    /// (tokens, header and query values, passwords, passphrases) of
    /// at least [`MIN_ENCODED_SCRUB_LEN`] characters their base64 (standard and URL-safe, at each
    /// of the three alignments, padded or not) and hex (either case) — see [`encoded_forms`].
    pub fn scrub_needles(&self) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = Vec::new();
        let mut push = |s: &str| {
            if s.len() >= MIN_SCRUB_LEN && !out.iter().any(|n| n == s.as_bytes()) {
                out.push(s.as_bytes().to_vec());
            }
        };
        fn push_secret(s: &str, push: &mut dyn FnMut(&str)) {
            push(s);
            if s.len() >= MIN_ENCODED_SCRUB_LEN {
                encoded_forms(s.as_bytes()).iter().for_each(|e| push(e));
            }
        }
        match self {
            Credential::Bearer { token } => push_secret(token, &mut push),
            Credential::Basic { username, password } => {
                push_secret(password, &mut push);
                let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
                push(&b64);
            }
            Credential::Header { headers } => headers.values().for_each(|v| push_secret(v, &mut push)),
            Credential::Query { value, .. } => {
                push_secret(value, &mut push);
                let enc: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
                push(&enc);
            }
            Credential::Password { password } => push_secret(password, &mut push),
            Credential::SshKey {
                private_key,
                passphrase,
            } => {
                if let Some(p) = passphrase {
                    push_secret(p, &mut push);
                }
                // Each base64 line of the key body: a key echoed back in any wrapping is cut up.
                private_key
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.starts_with("-----") && !l.contains(':'))
                    .for_each(push);
            }
        }
        out
    }
}

/// Secret values this long or longer are also scrubbed in their base64 and hex forms (shorter
/// ones would match too much unrelated text).
pub const MIN_ENCODED_SCRUB_LEN: usize = 12;

/// The base64 and hex forms of `secret` as it appears inside any larger encoded text: for base64
/// (standard and URL-safe alphabets), at each of the three byte alignments, the characters that
/// depend on the secret's bytes alone — so the secret is found whatever precedes or follows it,
/// with or without padding (at most the one or two characters it shares with its neighbours stay
/// unmasked, a few bits); hex in lower and upper case.
pub fn encoded_forms(secret: &[u8]) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let mut forms = Vec::new();
    for align in 0..3usize {
        let mut framed = vec![0u8; align];
        framed.extend_from_slice(secret);
        framed.extend_from_slice(&[0, 0]);
        // Characters are 6-bit groups; the secret covers bits [8·align, 8·(align+len)).
        let first = (8 * align).div_ceil(6);
        let end = 8 * (align + secret.len()) / 6;
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            let text = engine.encode(&framed);
            if let Some(part) = text.get(first..end) {
                forms.push(part.to_string());
            }
        }
    }
    let lower = hex::encode(secret);
    forms.push(lower.to_ascii_uppercase());
    forms.push(lower);
    forms.dedup();
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_forms_are_found_inside_any_encoded_text() {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
        let secret = b"sk-live-0123456789abcdef?>~";
        let forms = encoded_forms(secret);
        for prefix_len in 0..6 {
            for suffix_len in 0..4 {
                let mut data = b"{\"k\":\"".repeat(prefix_len / 6 + 1)[..prefix_len].to_vec();
                data.extend_from_slice(secret);
                data.extend_from_slice(&b"\"}xyz"[..suffix_len]);
                for engine in [&STANDARD, &URL_SAFE, &URL_SAFE_NO_PAD] {
                    let text = engine.encode(&data);
                    let found = forms.iter().find(|f| text.contains(f.as_str()));
                    let found = found.unwrap_or_else(|| panic!("{text} ({prefix_len}/{suffix_len})"));
                    // All but at most two characters on either side are masked.
                    assert!(found.len() + 4 >= secret.len() * 4 / 3, "{found} of {text}");
                }
            }
        }
        assert!(forms.contains(&hex::encode(secret)));
        assert!(forms.contains(&hex::encode_upper(secret)));
    }

    fn header(name: &str, value: &str) -> Credential {
        Credential::Header {
            headers: BTreeMap::from([(name.to_string(), value.to_string())]),
        }
    }

    #[test]
    fn validation_table() {
        let ok = [
            Credential::Bearer {
                token: "abc.def".into(),
            },
            Credential::Basic {
                username: "u".into(),
                password: "p w".into(),
            },
            header("X-Api-Key", "k"),
            Credential::Query {
                param: "api_key".into(),
                value: "v".into(),
            },
        ];
        for c in ok {
            assert_eq!(c.validate(), Ok(()), "{c:?}");
        }
        let bad = [
            Credential::Bearer { token: "".into() },
            Credential::Bearer {
                token: "a\r\nX: y".into(),
            },
            Credential::Basic {
                username: "a:b".into(),
                password: "p".into(),
            },
            header("Host", "evil"),
            header("X-Shellgate-Approval", "x"),
            header("bad name", "v"),
            header("X-Key", "a\nb"),
            Credential::Header {
                headers: BTreeMap::new(),
            },
            Credential::Query {
                param: "a&b".into(),
                value: "v".into(),
            },
            Credential::Query {
                param: "k".into(),
                value: "".into(),
            },
        ];
        for c in bad {
            assert!(c.validate().is_err(), "{c:?}");
        }
    }

    #[test]
    fn hint_reveals_at_most_four_characters() {
        assert_eq!(
            Credential::Bearer {
                token: "secret-token-1234".into()
            }
            .hint(),
            "…1234"
        );
        assert_eq!(Credential::Bearer { token: "short".into() }.hint(), "…");
    }

    #[test]
    fn debug_never_prints_secrets() {
        let c = Credential::Bearer {
            token: "CANARY-abcdefgh".into(),
        };
        assert!(!format!("{c:?}").contains("CANARY"));
    }

    #[test]
    fn needles_cover_encodings() {
        let c = Credential::Basic {
            username: "user".into(),
            password: "pass-word-123".into(),
        };
        let needles = c.scrub_needles();
        assert!(needles.contains(&b"pass-word-123".to_vec()));
        assert!(needles.contains(&b"dXNlcjpwYXNzLXdvcmQtMTIz".to_vec()));
        let q = Credential::Query {
            param: "k".into(),
            value: "a b+c/d=e&fghij".into(),
        };
        assert!(q.scrub_needles().contains(&b"a+b%2Bc%2Fd%3De%26fghij".to_vec()));
    }

    #[test]
    fn parses_the_documented_json() {
        let c: Credential = serde_json::from_str(r#"{"type":"header","headers":{"X-Api-Key":"k"}}"#).unwrap();
        assert_eq!(c.kind(), "header");
        assert!(serde_json::from_str::<Credential>(r#"{"type":"bearer","token":"t","extra":1}"#).is_err());
        assert!(serde_json::from_str::<Credential>(r#"{"type":"nope"}"#).is_err());
    }
}
