use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;

use crate::audit::Outcome;
use crate::db::models::AuditRow;
use crate::db::schema::audit_events::dsl as a;
use crate::ids::{AuditEventId, TargetId, TokenId};
use crate::states::AuditKind;

/// Rows per INSERT statement (Postgres allows 65535 bind parameters; a row has 19).
const ROWS_PER_STATEMENT: usize = 1000;

/// Inserts a batch; events already present (redeliveries) are skipped. Returns rows inserted.
/// Not atomic across statements, and need not be: a retry after a failure re-inserts nothing
/// twice.
pub async fn insert_audit_batch(conn: &mut AsyncPgConnection, rows: &[AuditRow]) -> QueryResult<usize> {
    let mut inserted = 0;
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        inserted += diesel::insert_into(a::audit_events)
            .values(chunk)
            .on_conflict(a::id)
            .do_nothing()
            .execute(conn)
            .await?;
    }
    Ok(inserted)
}

#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    pub token_id: Option<TokenId>,
    pub target_id: Option<TargetId>,
    pub outcome: Option<Outcome>,
    pub kind: Option<AuditKind>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    /// Keyset paging: events strictly older than this one.
    pub before: Option<(OffsetDateTime, AuditEventId)>,
    pub limit: i64,
}

/// Newest first.
pub async fn list_audit(conn: &mut AsyncPgConnection, f: &AuditFilter) -> QueryResult<Vec<AuditRow>> {
    let mut q = a::audit_events.select(AuditRow::as_select()).into_boxed();
    if let Some(v) = f.token_id {
        q = q.filter(a::token_id.eq(v));
    }
    if let Some(v) = f.target_id {
        q = q.filter(a::target_id.eq(v));
    }
    if let Some(v) = &f.outcome {
        q = q.filter(a::outcome.eq(*v));
    }
    if let Some(v) = &f.kind {
        q = q.filter(a::kind.eq(*v));
    }
    if let Some(v) = f.since {
        q = q.filter(a::occurred_at.ge(v));
    }
    if let Some(v) = f.until {
        q = q.filter(a::occurred_at.lt(v));
    }
    if let Some((ts, id)) = f.before {
        q = q.filter(a::occurred_at.lt(ts).or(a::occurred_at.eq(ts).and(a::id.lt(id))));
    }
    q.order((a::occurred_at.desc(), a::id.desc()))
        .limit(f.limit)
        .load(conn)
        .await
}
