//! Approvals as the API and the bus show them, the events that announce their changes, and the
//! canonical form of a request an approval is bound to.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::db::models::Approval;
use crate::ids::{ApprovalId, TargetId, TokenId};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalView {
    pub id: ApprovalId,
    pub token_id: TokenId,
    pub target_id: TargetId,
    pub kind: String,
    /// The canonical request: for HTTP `{method, path, query, bodySha256}`, for SSH `{command}`.
    pub request: serde_json::Value,
    pub rule: Option<String>,
    pub reason: String,
    pub matched: Option<String>,
    /// `pending`, `approved`, `denied`, `expired` or `used`.
    pub status: String,
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
        let status = if a.status == "pending" && a.expires_at <= OffsetDateTime::now_utc() {
            "expired".to_string()
        } else {
            a.status
        };
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

/// Published on `<p>.v1.approvals.<id>.<event>` (JetStream stream `<P>_APPROVALS`): `requested`,
/// `approved`, `denied`, `expired`, `used`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalEvent {
    pub event: String,
    pub approval: ApprovalView,
}

/// The canonical HTTP request an approval is bound to, and its hash. The body is bound by its
/// SHA-256, so a re-sent request with another body does not match.
pub fn canonical_http(method: &str, path: &str, query: Option<&str>, body: &[u8]) -> (serde_json::Value, String) {
    let body_sha256 = hex::encode(Sha256::digest(body));
    let request = serde_json::json!({
        "method": method.to_ascii_uppercase(),
        "path": path,
        "query": query.unwrap_or(""),
        "bodySha256": body_sha256,
    });
    let hash = hex::encode(Sha256::digest(request.to_string().as_bytes()));
    (request, hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_http_binds_every_part() {
        let (_, base) = canonical_http("DELETE", "/v1/x", Some("a=1"), b"{}");
        assert_eq!(canonical_http("delete", "/v1/x", Some("a=1"), b"{}").1, base);
        assert_ne!(canonical_http("DELETE", "/v1/y", Some("a=1"), b"{}").1, base);
        assert_ne!(canonical_http("DELETE", "/v1/x", Some("a=2"), b"{}").1, base);
        assert_ne!(canonical_http("DELETE", "/v1/x", Some("a=1"), b"{ }").1, base);
        assert_ne!(canonical_http("POST", "/v1/x", Some("a=1"), b"{}").1, base);
    }
}
