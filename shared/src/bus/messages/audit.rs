//! The audit event: one per agent action (and per admin change), published by the role that saw
//! it to JetStream (`Subjects::audit`) and written to Postgres by the approver's audit writer. The
//! event id makes the write idempotent, so redelivery never duplicates a record.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::audit::Outcome;
use crate::db::models::AuditRow;
use crate::ids::{AdminKeyId, AuditEventId, RequestId, TargetId, TokenId};
use crate::states::AuditKind;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub id: AuditEventId,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    pub request_id: RequestId,
    /// `http` or `ssh` (an agent's action), `approval` (an approval's lifecycle) or `admin` (a
    /// change through the management API).
    pub kind: AuditKind,
    pub token_id: Option<TokenId>,
    pub target_id: Option<TargetId>,
    pub target_slug: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub status: Option<u16>,
    pub duration_ms: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub client_ip: Option<String>,
    pub executor: Option<String>,
    pub outcome: Outcome,
    pub error_code: Option<String>,
    #[serde(default)]
    pub detail: serde_json::Value,
}

/// Longest path stored in an audit record (the rest is cut, marked with `…`).
const MAX_AUDIT_PATH: usize = 2048;

fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl AuditEvent {
    pub fn into_row(self) -> AuditRow {
        AuditRow {
            id: self.id,
            occurred_at: self.occurred_at,
            recorded_at: OffsetDateTime::now_utc(),
            request_id: self.request_id,
            kind: self.kind,
            token_id: self.token_id,
            target_id: self.target_id,
            target_slug: self.target_slug,
            method: self.method,
            path: self.path.map(|p| cut(&p, MAX_AUDIT_PATH)),
            status: self.status.map(i32::from),
            duration_ms: clamp(self.duration_ms),
            bytes_in: clamp(self.bytes_in),
            bytes_out: clamp(self.bytes_out),
            client_ip: self.client_ip,
            executor: self.executor,
            outcome: self.outcome,
            error_code: self.error_code,
            detail: if self.detail.is_null() {
                serde_json::json!({})
            } else {
                self.detail
            },
        }
    }
}

impl From<AuditRow> for AuditEvent {
    /// A stored record as the API shows it (rows are only ever written from events).
    fn from(r: AuditRow) -> Self {
        let unsigned = |n: i64| u64::try_from(n).unwrap_or(0);
        Self {
            id: r.id,
            occurred_at: r.occurred_at,
            request_id: r.request_id,
            kind: r.kind,
            token_id: r.token_id,
            target_id: r.target_id,
            target_slug: r.target_slug,
            method: r.method,
            path: r.path,
            status: r.status.and_then(|s| u16::try_from(s).ok()),
            duration_ms: unsigned(r.duration_ms),
            bytes_in: unsigned(r.bytes_in),
            bytes_out: unsigned(r.bytes_out),
            client_ip: r.client_ip,
            executor: r.executor,
            outcome: r.outcome,
            error_code: r.error_code,
            detail: r.detail,
        }
    }
}

impl AuditEvent {
    /// An approval's lifecycle step (decided, expired), with who decided it.
    pub fn for_approval(view: &crate::approval::ApprovalView, outcome: Outcome, actor: Option<&str>) -> Self {
        Self {
            id: AuditEventId::new(),
            occurred_at: OffsetDateTime::now_utc(),
            request_id: RequestId::new(),
            kind: AuditKind::Approval,
            token_id: Some(view.token_id),
            target_id: Some(view.target_id),
            target_slug: None,
            method: None,
            path: None,
            status: None,
            duration_ms: 0,
            bytes_in: 0,
            bytes_out: 0,
            client_ip: None,
            executor: None,
            outcome,
            error_code: None,
            detail: serde_json::json!({
                "approvalId": view.id,
                "approvalKind": view.kind,
                "rule": view.rule,
                "reason": view.reason,
                "decidedBy": actor,
                "comment": view.comment,
            }),
        }
    }
}

/// The admin who made a change (an API key; later also a dashboard session).
#[derive(Debug, Clone)]
pub struct AdminActor {
    /// The admin key used; `None` for a dashboard user (whose name is then `user:<name>`).
    pub key_id: Option<AdminKeyId>,
    pub name: String,
}

impl AuditEvent {
    /// A change through the management API: the request line and its answer, never a body.
    /// `actor` is `None` when the request was refused before an admin was known.
    pub fn for_admin_change(
        method: &str,
        path: &str,
        status: u16,
        error_code: Option<&str>,
        actor: Option<AdminActor>,
        client_ip: Option<String>,
        took: std::time::Duration,
    ) -> Self {
        let outcome = match status {
            ..400 => Outcome::Allowed,
            400..500 => Outcome::Refused,
            _ => Outcome::Failed,
        };
        Self {
            id: AuditEventId::new(),
            occurred_at: OffsetDateTime::now_utc(),
            request_id: RequestId::new(),
            kind: AuditKind::Admin,
            token_id: None,
            target_id: None,
            target_slug: None,
            method: Some(method.to_string()),
            path: Some(path.to_string()),
            status: Some(status),
            duration_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
            bytes_in: 0,
            bytes_out: 0,
            client_ip,
            executor: None,
            outcome,
            error_code: error_code.map(str::to_string),
            detail: serde_json::json!({
                "actor": actor.as_ref().map(|a| a.name.as_str()),
                "actorKeyId": actor.as_ref().and_then(|a| a.key_id),
            }),
        }
    }
}
