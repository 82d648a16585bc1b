use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;

use crate::db::models::{AdminKey, NewAdminKey};
use crate::db::schema::admin_api_keys::dsl as k;

pub async fn insert_admin_key(conn: &mut AsyncPgConnection, new: &NewAdminKey<'_>) -> QueryResult<AdminKey> {
    diesel::insert_into(k::admin_api_keys)
        .values(new)
        .returning(AdminKey::as_returning())
        .get_result(conn)
        .await
}

/// Registers a key unless one with the same hash exists (revoked or not): a bootstrap key
/// that an admin revoked stays revoked across restarts. Returns whether it was inserted.
pub async fn ensure_admin_key(conn: &mut AsyncPgConnection, new: &NewAdminKey<'_>) -> QueryResult<bool> {
    diesel::insert_into(k::admin_api_keys)
        .values(new)
        .on_conflict(k::key_hash)
        .do_nothing()
        .execute(conn)
        .await
        .map(|n| n > 0)
}

/// The active (not revoked) key with this hash; touches `last_used_at` at most once a minute.
pub async fn find_active_admin_key(conn: &mut AsyncPgConnection, hash: &[u8]) -> QueryResult<Option<AdminKey>> {
    let key = k::admin_api_keys
        .filter(k::key_hash.eq(hash))
        .filter(k::revoked_at.is_null())
        .select(AdminKey::as_select())
        .first(conn)
        .await
        .optional()?;
    if let Some(key) = &key {
        let stale = OffsetDateTime::now_utc() - time::Duration::minutes(1);
        if key.last_used_at.is_none_or(|t| t < stale) {
            diesel::update(k::admin_api_keys.find(key.id))
                .set(k::last_used_at.eq(OffsetDateTime::now_utc()))
                .execute(conn)
                .await?;
        }
    }
    Ok(key)
}
