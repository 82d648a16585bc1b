//! Response bodies of the management API (camelCase JSON). A stored credential is never part of
//! any of them: only its type and a hint of at most its last four characters.

use serde::Serialize;
use shellgate_shared::audit::AuditEvent;
use shellgate_shared::db::models::{Target, TargetCredential, Token};
use shellgate_shared::ids::{TargetId, TokenId};
use shellgate_shared::states::{ApprovalPolicy, Capability, QueryApi, TargetKind};
use time::OffsetDateTime;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    pub id: TokenId,
    pub name: String,
    pub enabled: bool,
    /// `active`, `disabled`, `expired` or `revoked`.
    pub status: &'static str,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    pub approval_policy: ApprovalPolicy,
    pub capabilities: Vec<Capability>,
    pub allowed_cidrs: Vec<String>,
    /// The plaintext token: present only in the answer that created or regenerated it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl From<Token> for TokenResponse {
    fn from(t: Token) -> Self {
        let now = OffsetDateTime::now_utc();
        let status = if t.revoked_at.is_some() {
            "revoked"
        } else if t.expires_at.is_some_and(|e| e <= now) {
            "expired"
        } else if !t.enabled {
            "disabled"
        } else {
            "active"
        };
        Self {
            id: t.id,
            name: t.name,
            enabled: t.enabled,
            status,
            created_at: t.created_at,
            updated_at: t.updated_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
            last_used_at: t.last_used_at,
            approval_policy: t.approval_policy,
            capabilities: t.capabilities,
            allowed_cidrs: t.allowed_cidrs,
            token: None,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialSummary {
    #[serde(rename = "type")]
    pub kind: String,
    pub hint: String,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<&TargetCredential> for CredentialSummary {
    fn from(c: &TargetCredential) -> Self {
        Self {
            kind: c.kind.clone(),
            hint: c.hint.clone(),
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetResponse {
    pub id: TargetId,
    pub slug: String,
    pub name: String,
    pub kind: TargetKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    pub pool: String,
    pub enabled: bool,
    pub description: String,
    pub query_api: Option<QueryApi>,
    pub credential: Option<CredentialSummary>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// When an agent last used it (kept to the minute).
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

impl TargetResponse {
    pub fn new(t: Target, credential: Option<&TargetCredential>) -> Self {
        Self {
            id: t.id,
            slug: t.slug,
            name: t.name,
            kind: t.kind,
            base_url: t.base_url,
            host: t.ssh_host,
            port: t.ssh_port,
            username: t.ssh_username,
            pool: t.pool,
            enabled: t.enabled,
            description: t.description,
            query_api: t.query_api,
            credential: credential.map(CredentialSummary::from),
            created_at: t.created_at,
            updated_at: t.updated_at,
            last_used_at: t.last_used_at,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionResponse {
    pub target_id: TargetId,
    pub slug: String,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub granted_at: OffsetDateTime,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    /// Pass as `cursor` to get the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}
