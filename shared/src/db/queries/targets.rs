use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::models::{NewTarget, Target, TargetChangeset};
use crate::db::schema::targets::dsl as t;
use crate::ids::TargetId;
use time::OffsetDateTime;

pub async fn insert_target(conn: &mut AsyncPgConnection, new: &NewTarget) -> QueryResult<Target> {
    diesel::insert_into(t::targets)
        .values(new)
        .returning(Target::as_returning())
        .get_result(conn)
        .await
}

pub async fn list_targets(conn: &mut AsyncPgConnection) -> QueryResult<Vec<Target>> {
    t::targets
        .order(t::slug.asc())
        .select(Target::as_select())
        .load(conn)
        .await
}

pub async fn find_target(conn: &mut AsyncPgConnection, id: TargetId) -> QueryResult<Option<Target>> {
    t::targets
        .find(id)
        .select(Target::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn update_target(
    conn: &mut AsyncPgConnection,
    id: TargetId,
    changes: &TargetChangeset,
) -> QueryResult<Option<Target>> {
    diesel::update(t::targets.find(id))
        .set(changes)
        .returning(Target::as_returning())
        .get_result(conn)
        .await
        .optional()
}

pub async fn delete_target(conn: &mut AsyncPgConnection, id: TargetId) -> QueryResult<bool> {
    diesel::delete(t::targets.find(id)).execute(conn).await.map(|n| n > 0)
}

pub async fn count_targets(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
    crate::db::schema::targets::table.count().get_result(conn).await
}

/// Records use without a write per request: only when the stored time is over a minute old.
pub async fn touch_target(conn: &mut AsyncPgConnection, id: TargetId) -> QueryResult<usize> {
    let now = OffsetDateTime::now_utc();
    diesel::update(t::targets.find(id))
        .filter(
            t::last_used_at
                .is_null()
                .or(t::last_used_at.lt(now - time::Duration::minutes(1))),
        )
        .set(t::last_used_at.eq(now))
        .execute(conn)
        .await
}
