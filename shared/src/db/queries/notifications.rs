use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::models::{DeadLetter, NotifierChangeset, NotifierRow};
use crate::db::schema::notification_dead_letters::dsl as d;
use crate::db::schema::notifiers::dsl as n;
use crate::ids::{ApprovalId, NotifierId};

pub struct NewDeadLetter<'a> {
    pub notifier: &'a str,
    pub approval_id: ApprovalId,
    pub event: &'a str,
    pub attempts: i32,
    pub last_error: &'a str,
    pub payload: &'a serde_json::Value,
}

pub async fn insert_dead_letter(conn: &mut AsyncPgConnection, new: &NewDeadLetter<'_>) -> QueryResult<()> {
    diesel::insert_into(d::notification_dead_letters)
        .values((
            d::id.eq(uuid::Uuid::now_v7()),
            d::notifier.eq(new.notifier),
            d::approval_id.eq(new.approval_id),
            d::event.eq(new.event),
            d::attempts.eq(new.attempts),
            d::last_error.eq(new.last_error),
            d::payload.eq(new.payload),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Newest first.
pub async fn list_dead_letters(conn: &mut AsyncPgConnection, limit: i64) -> QueryResult<Vec<DeadLetter>> {
    d::notification_dead_letters
        .select(DeadLetter::as_select())
        .order(d::created_at.desc())
        .limit(limit)
        .load(conn)
        .await
}

pub async fn insert_notifier(conn: &mut AsyncPgConnection, row: &NotifierRow) -> QueryResult<NotifierRow> {
    diesel::insert_into(n::notifiers)
        .values(row)
        .returning(NotifierRow::as_returning())
        .get_result(conn)
        .await
}

/// By name.
pub async fn list_notifiers(conn: &mut AsyncPgConnection) -> QueryResult<Vec<NotifierRow>> {
    n::notifiers
        .select(NotifierRow::as_select())
        .order(n::name)
        .load(conn)
        .await
}

pub async fn find_notifier(conn: &mut AsyncPgConnection, id: NotifierId) -> QueryResult<Option<NotifierRow>> {
    n::notifiers
        .find(id)
        .select(NotifierRow::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn update_notifier(
    conn: &mut AsyncPgConnection,
    id: NotifierId,
    changes: &NotifierChangeset,
) -> QueryResult<Option<NotifierRow>> {
    diesel::update(n::notifiers.find(id))
        .set((changes, n::updated_at.eq(diesel::dsl::now)))
        .returning(NotifierRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Whether it existed.
pub async fn delete_notifier(conn: &mut AsyncPgConnection, id: NotifierId) -> QueryResult<bool> {
    diesel::delete(n::notifiers.find(id)).execute(conn).await.map(|n| n > 0)
}
