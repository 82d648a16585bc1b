//! Rows (`Token`), inserts (`NewToken`) and updates (`TokenChangeset`) of the schema.

use diesel::prelude::*;
use serde::Serialize;
use time::OffsetDateTime;

use super::schema::*;
use crate::approval::ApprovalStatus;
use crate::audit::Outcome;
use crate::ids::{AdminKeyId, ApprovalId, AuditEventId, NotifierId, RequestId, TargetId, TokenId, UserId};
use crate::states::{
    ApprovalPolicy, AuditKind, Capability, HostKeyStatus, NotifierKind, QueryApi, TargetKind, UserRole,
};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = admin_api_keys, check_for_backend(diesel::pg::Pg))]
pub struct AdminKey {
    pub id: AdminKeyId,
    pub name: String,
    pub key_hash: Vec<u8>,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
    /// What the key may do beyond managing (`approvals`: decide approvals when MFA is required
    /// for them).
    pub scopes: Vec<String>,
}

/// The scope that lets an admin key decide approvals when SHELLGATE_REQUIRE_MFA_FOR_APPROVALS is set.
pub const APPROVALS_SCOPE: &str = "approvals";

#[derive(Debug, Insertable)]
#[diesel(table_name = admin_api_keys)]
pub struct NewAdminKey<'a> {
    pub id: AdminKeyId,
    pub name: &'a str,
    pub key_hash: &'a [u8],
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = tokens, check_for_backend(diesel::pg::Pg))]
pub struct Token {
    pub id: TokenId,
    pub name: String,
    pub token_hash: Vec<u8>,
    pub enabled: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub expires_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
    pub last_used_at: Option<OffsetDateTime>,
    /// `human` (default) or `agent_confirm` (the agent's `X-Shellgate-Approved` is honoured).
    pub approval_policy: ApprovalPolicy,
    pub capabilities: Vec<Capability>,
    /// CIDR blocks the token's requests must come from; empty: any address.
    pub allowed_cidrs: Vec<String>,
}

impl Token {
    /// Whether this token may be used at `now`.
    pub fn is_usable(&self, now: OffsetDateTime) -> bool {
        self.enabled && self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = tokens)]
pub struct NewToken<'a> {
    pub id: TokenId,
    pub name: &'a str,
    pub token_hash: &'a [u8],
    pub enabled: bool,
    pub expires_at: Option<OffsetDateTime>,
    pub approval_policy: ApprovalPolicy,
    pub capabilities: Vec<Capability>,
    pub allowed_cidrs: Vec<String>,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = tokens)]
pub struct TokenChangeset {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub expires_at: Option<Option<OffsetDateTime>>,
    pub token_hash: Option<Vec<u8>>,
    pub updated_at: Option<OffsetDateTime>,
    pub approval_policy: Option<ApprovalPolicy>,
    pub capabilities: Option<Vec<Capability>>,
    pub allowed_cidrs: Option<Vec<String>>,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Serialize)]
#[diesel(table_name = targets, check_for_backend(diesel::pg::Pg))]
pub struct Target {
    pub id: TargetId,
    pub slug: String,
    pub name: String,
    pub kind: TargetKind,
    pub base_url: Option<String>,
    pub ssh_host: Option<String>,
    pub ssh_port: Option<i32>,
    pub ssh_username: Option<String>,
    pub pool: String,
    pub enabled: bool,
    pub description: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// `sql` or `graphql`: the guard inspects the query in the JSON body.
    pub query_api: Option<QueryApi>,
    /// When an agent last used it (written at most once a minute).
    pub last_used_at: Option<OffsetDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = targets)]
pub struct NewTarget {
    pub id: TargetId,
    pub slug: String,
    pub name: String,
    pub kind: TargetKind,
    pub base_url: Option<String>,
    pub ssh_host: Option<String>,
    pub ssh_port: Option<i32>,
    pub ssh_username: Option<String>,
    pub pool: String,
    pub enabled: bool,
    pub description: String,
    pub query_api: Option<QueryApi>,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = targets)]
pub struct TargetChangeset {
    pub name: Option<String>,
    pub base_url: Option<String>,
    pub ssh_host: Option<String>,
    pub ssh_port: Option<i32>,
    pub ssh_username: Option<String>,
    pub pool: Option<String>,
    pub enabled: Option<bool>,
    pub description: Option<String>,
    pub updated_at: Option<OffsetDateTime>,
    pub query_api: Option<Option<QueryApi>>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = target_credentials, check_for_backend(diesel::pg::Pg))]
pub struct TargetCredential {
    pub target_id: TargetId,
    pub kind: String,
    pub sealed: Vec<u8>,
    pub key_id: String,
    pub hint: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Insertable, AsChangeset)]
#[diesel(table_name = target_credentials)]
pub struct NewTargetCredential {
    pub target_id: TargetId,
    pub kind: String,
    pub sealed: Vec<u8>,
    pub key_id: String,
    pub hint: String,
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = token_permissions, check_for_backend(diesel::pg::Pg))]
pub struct TokenPermission {
    pub token_id: TokenId,
    pub target_id: TargetId,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events, check_for_backend(diesel::pg::Pg))]
pub struct AuditRow {
    pub id: AuditEventId,
    pub occurred_at: OffsetDateTime,
    pub recorded_at: OffsetDateTime,
    pub request_id: RequestId,
    pub kind: AuditKind,
    pub token_id: Option<TokenId>,
    pub target_id: Option<TargetId>,
    pub target_slug: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub status: Option<i32>,
    pub duration_ms: i64,
    pub bytes_in: i64,
    pub bytes_out: i64,
    pub client_ip: Option<String>,
    pub executor: Option<String>,
    pub outcome: Outcome,
    pub error_code: Option<String>,
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Serialize)]
#[diesel(table_name = approvals, check_for_backend(diesel::pg::Pg))]
pub struct Approval {
    pub id: ApprovalId,
    pub token_id: TokenId,
    pub target_id: TargetId,
    pub kind: TargetKind,
    pub request: serde_json::Value,
    pub request_hash: String,
    pub rule: Option<String>,
    pub reason: String,
    pub matched: Option<String>,
    pub status: ApprovalStatus,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub decided_at: Option<OffsetDateTime>,
    pub decided_by: Option<String>,
    pub decision_comment: Option<String>,
    pub used_at: Option<OffsetDateTime>,
    /// The beginning of the held body or stdin, for the dashboard (see `approval::excerpt`).
    pub body_excerpt: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = approvals)]
pub struct NewApproval {
    pub id: ApprovalId,
    pub token_id: TokenId,
    pub target_id: TargetId,
    pub kind: TargetKind,
    pub request: serde_json::Value,
    pub request_hash: String,
    pub rule: Option<String>,
    pub reason: String,
    pub matched: Option<String>,
    pub expires_at: OffsetDateTime,
    pub body_excerpt: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = guard_rules, check_for_backend(diesel::pg::Pg))]
pub struct GuardRuleRow {
    pub id: uuid::Uuid,
    pub target_id: Option<TargetId>,
    pub rule_id: String,
    pub rule: serde_json::Value,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A host key a server presented for an SSH target: `pending` until an admin accepts it.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = ssh_host_keys, check_for_backend(diesel::pg::Pg))]
#[serde(rename_all = "camelCase")]
pub struct SshHostKey {
    pub id: uuid::Uuid,
    pub target_id: TargetId,
    pub algorithm: String,
    pub fingerprint: String,
    pub public_key: String,
    pub status: HostKeyStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub first_seen_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub decided_at: Option<OffsetDateTime>,
    pub decided_by: Option<String>,
}

/// A notification that was not delivered after every retry.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = notification_dead_letters, check_for_backend(diesel::pg::Pg))]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub id: uuid::Uuid,
    pub notifier: String,
    pub approval_id: ApprovalId,
    pub event: String,
    pub attempts: i32,
    pub last_error: String,
    pub payload: serde_json::Value,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// An approval notifier an admin added; `sealed` holds its URL and secret (see
/// `crypto::NotifierKey`) and never leaves the approver.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Insertable)]
#[diesel(table_name = notifiers, check_for_backend(diesel::pg::Pg))]
pub struct NotifierRow {
    pub id: NotifierId,
    pub name: String,
    pub kind: NotifierKind,
    pub url_hint: String,
    pub sealed: Vec<u8>,
    pub key_id: String,
    pub enabled: bool,
    pub created_by: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A notifier update; `None` leaves a column as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = notifiers)]
pub struct NotifierChangeset {
    pub url_hint: Option<String>,
    pub sealed: Option<Vec<u8>>,
    pub key_id: Option<String>,
    pub enabled: Option<bool>,
}

/// The organisation's policy text, given to every agent with its bootstrap.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = org_policy, check_for_backend(diesel::pg::Pg))]
#[serde(rename_all = "camelCase")]
pub struct OrgPolicy {
    pub text: String,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A dashboard user.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct User {
    pub id: UserId,
    pub username: String,
    /// Argon2id, PHC string format.
    pub password_hash: String,
    pub role: UserRole,
    pub disabled: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// The TOTP secret, sealed (see the approver's `dashboard::mfa`); set while enrolling too.
    pub totp_secret: Option<Vec<u8>>,
    /// When TOTP was confirmed; `None`: the user has no second factor.
    pub totp_enabled_at: Option<OffsetDateTime>,
    /// The time step of the last TOTP code accepted (none is accepted twice).
    pub totp_last_step: Option<i64>,
}

impl User {
    pub fn has_totp(&self) -> bool {
        self.totp_enabled_at.is_some()
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub id: UserId,
    pub username: &'a str,
    pub password_hash: &'a str,
    pub role: UserRole,
}
