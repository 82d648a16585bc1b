//! The organisation's policy text (one row, or none).

use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::models::OrgPolicy;
use crate::db::schema::org_policy::dsl as p;

pub async fn get_policy(conn: &mut AsyncPgConnection) -> QueryResult<Option<OrgPolicy>> {
    p::org_policy
        .select(OrgPolicy::as_select())
        .first(conn)
        .await
        .optional()
}

/// Sets the text (replacing any earlier one).
pub async fn set_policy(conn: &mut AsyncPgConnection, text: &str) -> QueryResult<OrgPolicy> {
    diesel::insert_into(p::org_policy)
        .values((p::singleton.eq(true), p::text.eq(text)))
        .on_conflict(p::singleton)
        .do_update()
        .set((p::text.eq(excluded(p::text)), p::updated_at.eq(diesel::dsl::now)))
        .returning(OrgPolicy::as_returning())
        .get_result(conn)
        .await
}

/// Removes the text; whether there was one.
pub async fn clear_policy(conn: &mut AsyncPgConnection) -> QueryResult<bool> {
    Ok(diesel::delete(p::org_policy).execute(conn).await? > 0)
}
