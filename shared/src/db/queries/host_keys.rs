use crate::states::HostKeyStatus;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;

use crate::db::models::SshHostKey;
use crate::db::schema::ssh_host_keys::dsl as k;
use crate::ids::TargetId;

/// A key as an executor saw it (or an admin pasted it).
pub struct PresentedKey<'a> {
    pub algorithm: &'a str,
    pub fingerprint: &'a str,
    pub public_key: &'a str,
}

pub async fn list_for_target(conn: &mut AsyncPgConnection, target: TargetId) -> QueryResult<Vec<SshHostKey>> {
    k::ssh_host_keys
        .filter(k::target_id.eq(target))
        .select(SshHostKey::as_select())
        .order(k::first_seen_at.asc())
        .load(conn)
        .await
}

/// The keys a connection to `target` may present.
pub async fn accepted_for_target(conn: &mut AsyncPgConnection, target: TargetId) -> QueryResult<Vec<SshHostKey>> {
    k::ssh_host_keys
        .filter(k::target_id.eq(target).and(k::status.eq(HostKeyStatus::Accepted)))
        .select(SshHostKey::as_select())
        .load(conn)
        .await
}

/// Records a key a server presented that is not accepted: inserted as `pending`, or its
/// `last_seen_at` refreshed. Never changes a status.
pub async fn record_presented(
    conn: &mut AsyncPgConnection,
    target: TargetId,
    key: &PresentedKey<'_>,
) -> QueryResult<SshHostKey> {
    diesel::insert_into(k::ssh_host_keys)
        .values((
            k::id.eq(uuid::Uuid::now_v7()),
            k::target_id.eq(target),
            k::algorithm.eq(key.algorithm),
            k::fingerprint.eq(key.fingerprint),
            k::public_key.eq(key.public_key),
            k::status.eq(HostKeyStatus::Pending),
        ))
        .on_conflict((k::target_id, k::fingerprint))
        .do_update()
        .set(k::last_seen_at.eq(OffsetDateTime::now_utc()))
        .returning(SshHostKey::as_returning())
        .get_result(conn)
        .await
}

/// Accepts the recorded key with this fingerprint. `None` when the target has no such key.
pub async fn accept_fingerprint(
    conn: &mut AsyncPgConnection,
    target: TargetId,
    fingerprint: &str,
    by: &str,
) -> QueryResult<Option<SshHostKey>> {
    diesel::update(k::ssh_host_keys.filter(k::target_id.eq(target).and(k::fingerprint.eq(fingerprint))))
        .set((
            k::status.eq(HostKeyStatus::Accepted),
            k::decided_at.eq(OffsetDateTime::now_utc()),
            k::decided_by.eq(by),
        ))
        .returning(SshHostKey::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Pins a key an admin supplied: inserted or updated as `accepted`.
pub async fn pin(
    conn: &mut AsyncPgConnection,
    target: TargetId,
    key: &PresentedKey<'_>,
    by: &str,
) -> QueryResult<SshHostKey> {
    let now = OffsetDateTime::now_utc();
    diesel::insert_into(k::ssh_host_keys)
        .values((
            k::id.eq(uuid::Uuid::now_v7()),
            k::target_id.eq(target),
            k::algorithm.eq(key.algorithm),
            k::fingerprint.eq(key.fingerprint),
            k::public_key.eq(key.public_key),
            k::status.eq(HostKeyStatus::Accepted),
            k::decided_at.eq(now),
            k::decided_by.eq(by),
        ))
        .on_conflict((k::target_id, k::fingerprint))
        .do_update()
        .set((
            k::status.eq(HostKeyStatus::Accepted),
            k::decided_at.eq(now),
            k::decided_by.eq(by),
        ))
        .returning(SshHostKey::as_returning())
        .get_result(conn)
        .await
}

/// Removes a key (pinned or pending). Returns whether it existed.
pub async fn delete(conn: &mut AsyncPgConnection, target: TargetId, id: uuid::Uuid) -> QueryResult<bool> {
    let n = diesel::delete(k::ssh_host_keys.filter(k::target_id.eq(target).and(k::id.eq(id))))
        .execute(conn)
        .await?;
    Ok(n > 0)
}
