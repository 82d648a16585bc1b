use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::models::{NewTargetCredential, Target, TargetCredential};
use crate::db::schema::target_credentials::dsl as c;
use crate::db::schema::targets;
use crate::ids::TargetId;

pub async fn upsert_credential(
    conn: &mut AsyncPgConnection,
    new: &NewTargetCredential,
) -> QueryResult<TargetCredential> {
    diesel::insert_into(c::target_credentials)
        .values(new)
        .on_conflict(c::target_id)
        .do_update()
        .set((
            c::kind.eq(excluded(c::kind)),
            c::sealed.eq(excluded(c::sealed)),
            c::key_id.eq(excluded(c::key_id)),
            c::hint.eq(excluded(c::hint)),
            c::updated_at.eq(excluded(c::updated_at)),
        ))
        .returning(TargetCredential::as_returning())
        .get_result(conn)
        .await
}

pub async fn find_credential(conn: &mut AsyncPgConnection, id: TargetId) -> QueryResult<Option<TargetCredential>> {
    c::target_credentials
        .find(id)
        .select(TargetCredential::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn delete_credential(conn: &mut AsyncPgConnection, id: TargetId) -> QueryResult<bool> {
    diesel::delete(c::target_credentials.find(id))
        .execute(conn)
        .await
        .map(|n| n > 0)
}

/// A target with its sealed credential, as an executor loads it.
pub async fn find_target_with_credential(
    conn: &mut AsyncPgConnection,
    id: TargetId,
) -> QueryResult<Option<(Target, Option<TargetCredential>)>> {
    targets::table
        .left_join(c::target_credentials)
        .filter(targets::id.eq(id))
        .select((Target::as_select(), Option::<TargetCredential>::as_select()))
        .first(conn)
        .await
        .optional()
}

pub async fn list_credentials(conn: &mut AsyncPgConnection) -> QueryResult<Vec<TargetCredential>> {
    c::target_credentials
        .select(TargetCredential::as_select())
        .load(conn)
        .await
}
