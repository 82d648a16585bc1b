use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::models::DeadLetter;
use crate::db::schema::notification_dead_letters::dsl as d;
use crate::ids::ApprovalId;

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
