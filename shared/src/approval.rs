//! Approvals as the API and the bus show them, the events that announce their changes, their
//! lifecycle (`lifecycle`: statuses, transitions, why one cannot be used), and the canonical form
//! of a request an approval is bound to.

mod lifecycle;

pub use crate::bus::messages::ApprovalEvent;
pub use lifecycle::{ApprovalEventKind, ApprovalStatus, UseRefusal, use_refusal};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::db::models::{Approval, Target};
use crate::ids::{ApprovalId, TargetId, TokenId};
use crate::states::TargetKind;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalView {
    pub id: ApprovalId,
    pub token_id: TokenId,
    pub target_id: TargetId,
    pub kind: TargetKind,
    /// The canonical request: `target` (`{id, kind, address}`) and, for HTTP, `{method, path,
    /// query, headers, bodySha256}`; for SSH `{command, env, stdinSha256}`.
    pub request: serde_json::Value,
    pub rule: Option<String>,
    pub reason: String,
    pub matched: Option<String>,
    pub status: ApprovalStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub decided_at: Option<OffsetDateTime>,
    pub decided_by: Option<String>,
    pub comment: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub used_at: Option<OffsetDateTime>,
}

impl From<Approval> for ApprovalView {
    fn from(a: Approval) -> Self {
        // A pending approval past its expiry is expired, whether or not the sweeper ran yet.
        let status = a.status.at(a.expires_at, OffsetDateTime::now_utc());
        Self {
            id: a.id,
            token_id: a.token_id,
            target_id: a.target_id,
            kind: a.kind,
            request: a.request,
            rule: a.rule,
            reason: a.reason,
            matched: a.matched,
            status,
            created_at: a.created_at,
            expires_at: a.expires_at,
            decided_at: a.decided_at,
            decided_by: a.decided_by,
            comment: a.decision_comment,
            used_at: a.used_at,
        }
    }
}

/// Longest excerpt of a held body or stdin shown to the humans deciding.
pub const EXCERPT_BYTES: usize = 2048;

/// The beginning of a held body or stdin as a human reads it: text up to `EXCERPT_BYTES` (cut at a
/// character, marked `…`), or a note for binary content; `None` when empty.
pub fn excerpt(bytes: &[u8]) -> Option<String> {
    if bytes.is_empty() {
        return None;
    }
    let head = &bytes[..bytes.len().min(EXCERPT_BYTES)];
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        // Cut inside a character: the valid part.
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or(""),
        Err(_) => return Some(format!("(binary, {} bytes)", bytes.len())),
    };
    if text.contains('\0') {
        return Some(format!("(binary, {} bytes)", bytes.len()));
    }
    Some(if text.len() < bytes.len() {
        format!("{text}… ({} bytes in all)", bytes.len())
    } else {
        text.to_string()
    })
}

/// The target an approval is bound to: its id and kind, and the address it had when the request
/// was held (HTTP: the base URL; SSH: `user@host:port`). A request to another target, or to this
/// one after an admin changed its address, does not match the approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetBinding<'a> {
    pub id: TargetId,
    pub kind: TargetKind,
    pub address: &'a str,
}

impl TargetBinding<'_> {
    fn to_json(self) -> serde_json::Value {
        serde_json::json!({"id": self.id, "kind": self.kind, "address": self.address})
    }
}

/// Where a target sends what it is given: the base URL of an HTTP target, `user@host:port` of an
/// SSH one.
pub fn target_address(target: &Target) -> String {
    match target.kind {
        TargetKind::Ssh => format!(
            "{}@{}:{}",
            target.ssh_username.as_deref().unwrap_or(""),
            target.ssh_host.as_deref().unwrap_or(""),
            target.ssh_port.unwrap_or(22)
        ),
        TargetKind::Http => target.base_url.clone().unwrap_or_default(),
    }
}

fn bind(request: serde_json::Value) -> (serde_json::Value, String) {
    let hash = hex::encode(Sha256::digest(request.to_string().as_bytes()));
    (request, hash)
}

/// The canonical HTTP request an approval is bound to, and its hash: the target, the method, the
/// path and query as sent, the headers that can change the guard's verdict (method overrides,
/// `Content-Type`) and the body by its SHA-256, so a re-sent request that differs in any of them
/// does not match.
pub fn canonical_http(
    target: TargetBinding<'_>,
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &[(String, String)],
    body: &[u8],
) -> (serde_json::Value, String) {
    let mut deciding: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        if crate::guard::VERDICT_HEADERS.contains(&name.as_str()) {
            deciding.entry(name).or_default().push(value);
        }
    }
    bind(serde_json::json!({
        "target": target.to_json(),
        "method": method.to_ascii_uppercase(),
        "path": path,
        "query": query.unwrap_or(""),
        "headers": deciding,
        "bodySha256": hex::encode(Sha256::digest(body)),
    }))
}

/// The canonical SSH command an approval is bound to, and its hash: the target, the command, its
/// environment and a SHA-256 of its stdin.
pub fn canonical_ssh(
    target: TargetBinding<'_>,
    command: &str,
    env: &[(String, String)],
    stdin: Option<&str>,
) -> (serde_json::Value, String) {
    let env: BTreeMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    bind(serde_json::json!({
        "target": target.to_json(),
        "command": command,
        "env": env,
        "stdinSha256": hex::encode(Sha256::digest(stdin.unwrap_or("").as_bytes())),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: TargetBinding<'static> = TargetBinding {
        id: TargetId(uuid::Uuid::from_u128(1)),
        kind: TargetKind::Http,
        address: "https://a.example",
    };

    fn http(
        target: TargetBinding<'_>,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> String {
        let headers: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        canonical_http(target, method, path, Some(query), &headers, body).1
    }

    #[test]
    fn excerpts_are_text_cut_at_a_character_or_a_note() {
        assert_eq!(excerpt(b""), None);
        assert_eq!(excerpt(br#"{"a":1}"#).as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(excerpt(&[0xff, 0xfe, 0]).as_deref(), Some("(binary, 3 bytes)"));
        assert_eq!(excerpt(b"a\0b").as_deref(), Some("(binary, 3 bytes)"));
        let long = "é".repeat(EXCERPT_BYTES);
        let cut = excerpt(long.as_bytes()).unwrap();
        assert!(
            cut.starts_with("éé") && cut.ends_with(&format!("… ({} bytes in all)", long.len())),
            "{cut}"
        );
        assert!(cut.len() < EXCERPT_BYTES + 40);
    }

    #[test]
    fn canonical_http_binds_every_part() {
        let base = http(A, "DELETE", "/v1/x", "a=1", &[], b"{}");
        assert_eq!(http(A, "delete", "/v1/x", "a=1", &[], b"{}"), base);
        assert_eq!(http(A, "DELETE", "/v1/x", "a=1", &[("accept", "x/y")], b"{}"), base);
        assert_ne!(http(A, "DELETE", "/v1/y", "a=1", &[], b"{}"), base);
        assert_ne!(http(A, "DELETE", "/v1/x", "a=2", &[], b"{}"), base);
        assert_ne!(http(A, "DELETE", "/v1/x", "a=1", &[], b"{ }"), base);
        assert_ne!(http(A, "POST", "/v1/x", "a=1", &[], b"{}"), base);
        assert_ne!(
            http(
                A,
                "DELETE",
                "/v1/x",
                "a=1",
                &[("X-HTTP-Method-Override", "PURGE")],
                b"{}"
            ),
            base
        );
        assert_ne!(
            http(A, "DELETE", "/v1/x", "a=1", &[("content-type", "text/plain")], b"{}"),
            base
        );
    }

    #[test]
    fn canonical_requests_bind_the_target_and_its_address() {
        let other = TargetBinding {
            id: TargetId(uuid::Uuid::from_u128(2)),
            ..A
        };
        let moved = TargetBinding {
            address: "https://b.example",
            ..A
        };
        let ssh = TargetBinding {
            kind: TargetKind::Ssh,
            ..A
        };
        let base = http(A, "DELETE", "/v1/x", "", &[], b"");
        for t in [other, moved, ssh] {
            assert_ne!(http(t, "DELETE", "/v1/x", "", &[], b""), base, "{t:?}");
        }
        let cmd = canonical_ssh(A, "rm -rf /data", &[], None).1;
        assert_ne!(canonical_ssh(other, "rm -rf /data", &[], None).1, cmd);
        assert_ne!(canonical_ssh(moved, "rm -rf /data", &[], None).1, cmd);
    }

    #[test]
    fn canonical_ssh_binds_every_part() {
        let env = vec![("A".to_string(), "1".to_string())];
        let (_, base) = canonical_ssh(A, "rm -rf /data", &env, None);
        assert_eq!(canonical_ssh(A, "rm -rf /data", &env, Some("")).1, base);
        assert_ne!(canonical_ssh(A, "rm -rf /data ", &env, None).1, base);
        assert_ne!(canonical_ssh(A, "rm -rf /data", &[], None).1, base);
        assert_ne!(canonical_ssh(A, "rm -rf /data", &env, Some("y\n")).1, base);
    }
}
