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
    /// Text the HTTP path or the SSH command contains (case-insensitive).
    pub search: Option<String>,
    pub limit: i64,
}

/// What free-text search looks in: the HTTP path and the SSH command. The same expression as
/// the trigram index of migration `audit_search`, so that the index serves it.
const SEARCH_TEXT: &str = "(coalesce(path, '') || ' ' || coalesce(detail ->> 'command', ''))";

/// A `LIKE` pattern matching `text` anywhere, its wildcards taken literally.
fn contains_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
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
    if let Some(text) = f.search.as_deref().filter(|t| !t.is_empty()) {
        q = q.filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>(&format!("{SEARCH_TEXT} ILIKE "))
                .bind::<diesel::sql_types::Text, _>(contains_pattern(text)),
        );
    }
    q.order((a::occurred_at.desc(), a::id.desc()))
        .limit(f.limit)
        .load(conn)
        .await
}

/// Agent actions (HTTP and SSH) since `since`, counted by outcome.
pub async fn outcomes_since(conn: &mut AsyncPgConnection, since: OffsetDateTime) -> QueryResult<Vec<(Outcome, i64)>> {
    a::audit_events
        .filter(a::occurred_at.ge(since))
        .filter(a::kind.eq_any([AuditKind::Http, AuditKind::Ssh]))
        .group_by(a::outcome)
        .select((a::outcome, diesel::dsl::count_star()))
        .load(conn)
        .await
}

/// One event by id.
pub async fn find_audit(conn: &mut AsyncPgConnection, id: AuditEventId) -> QueryResult<Option<AuditRow>> {
    a::audit_events
        .find(id)
        .select(AuditRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Deletes up to `batch` events that occurred before `cutoff` (oldest first); the number
/// deleted. Called in a loop, it keeps each statement (and its locks) short.
pub async fn delete_older_than(conn: &mut AsyncPgConnection, cutoff: OffsetDateTime, batch: i64) -> QueryResult<usize> {
    diesel::sql_query(
        "DELETE FROM audit_events WHERE id IN \
         (SELECT id FROM audit_events WHERE occurred_at < $1 ORDER BY occurred_at LIMIT $2)",
    )
    .bind::<diesel::sql_types::Timestamptz, _>(cutoff)
    .bind::<diesel::sql_types::BigInt, _>(batch)
    .execute(conn)
    .await
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn search_text_is_taken_literally() {
        assert_eq!(contains_pattern("rm -rf"), "%rm -rf%");
        assert_eq!(contains_pattern("100%_a\\b"), "%100\\%\\_a\\\\b%");
    }
}
