//! Approval state changes are single guarded statements, so two approvers, a sweeper and an
//! agent racing on one approval can never both win: pending → approved|denied (a human, before
//! expiry), pending → expired (the sweeper), approved → used (the agent's re-sent request with
//! the same token, target and request hash, once, before expiry).

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;

use crate::approval::ApprovalStatus;
use crate::db::models::{Approval, NewApproval};
use crate::db::schema::approvals::dsl as a;
use crate::ids::{ApprovalId, TargetId, TokenId};

pub async fn insert_approval(conn: &mut AsyncPgConnection, new: &NewApproval) -> QueryResult<Approval> {
    diesel::insert_into(a::approvals)
        .values(new)
        .returning(Approval::as_returning())
        .get_result(conn)
        .await
}

pub async fn find_approval(conn: &mut AsyncPgConnection, id: ApprovalId) -> QueryResult<Option<Approval>> {
    a::approvals
        .find(id)
        .select(Approval::as_select())
        .first(conn)
        .await
        .optional()
}

/// Newest first, optionally one status only.
pub async fn list_approvals(
    conn: &mut AsyncPgConnection,
    status: Option<ApprovalStatus>,
    limit: i64,
) -> QueryResult<Vec<Approval>> {
    let mut q = a::approvals.select(Approval::as_select()).into_boxed();
    if let Some(s) = status {
        q = q.filter(a::status.eq(s));
    }
    q.order(a::created_at.desc()).limit(limit).load(conn).await
}

/// A human's decision; `None` when the approval is not pending any more (or has expired).
pub async fn decide_approval(
    conn: &mut AsyncPgConnection,
    id: ApprovalId,
    approve: bool,
    by: &str,
    comment: Option<&str>,
) -> QueryResult<Option<Approval>> {
    let now = OffsetDateTime::now_utc();
    diesel::update(a::approvals.find(id))
        .filter(a::status.eq(ApprovalStatus::Pending))
        .filter(a::expires_at.gt(now))
        .set((
            a::status.eq(if approve {
                ApprovalStatus::Approved
            } else {
                ApprovalStatus::Denied
            }),
            a::decided_at.eq(now),
            a::decided_by.eq(by),
            a::decision_comment.eq(comment),
        ))
        .returning(Approval::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Consumes an approval for exactly this token, target and request; `None` if it is not usable
/// (the caller reads the row to say why).
pub async fn consume_approval(
    conn: &mut AsyncPgConnection,
    id: ApprovalId,
    token: TokenId,
    target: TargetId,
    request_hash: &str,
) -> QueryResult<Option<Approval>> {
    let now = OffsetDateTime::now_utc();
    diesel::update(a::approvals.find(id))
        .filter(a::token_id.eq(token))
        .filter(a::target_id.eq(target))
        .filter(a::request_hash.eq(request_hash))
        .filter(a::status.eq(ApprovalStatus::Approved))
        .filter(a::expires_at.gt(now))
        .set((a::status.eq(ApprovalStatus::Used), a::used_at.eq(now)))
        .returning(Approval::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// How many approvals wait for a human now.
pub async fn count_pending(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
    a::approvals
        .filter(a::status.eq(ApprovalStatus::Pending))
        .filter(a::expires_at.gt(OffsetDateTime::now_utc()))
        .count()
        .get_result(conn)
        .await
}

/// Marks every pending approval past its expiry as expired; returns them.
pub async fn expire_due(conn: &mut AsyncPgConnection) -> QueryResult<Vec<Approval>> {
    diesel::update(a::approvals)
        .filter(a::status.eq(ApprovalStatus::Pending))
        .filter(a::expires_at.le(OffsetDateTime::now_utc()))
        .set(a::status.eq(ApprovalStatus::Expired))
        .returning(Approval::as_returning())
        .get_results(conn)
        .await
}
