//! Dashboard users, their sessions, the first-run setup code and failed-login counts.

use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use time::{Duration, OffsetDateTime};

use crate::db::models::{NewUser, User};
use crate::db::schema::{login_failures, setup_codes, user_recovery_codes, user_sessions, users};
use crate::ids::UserId;
use crate::states::UserRole;

pub async fn count_users(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
    users::table.count().get_result(conn).await
}

pub async fn find_user_by_name(conn: &mut AsyncPgConnection, username: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::username.eq(username))
        .select(User::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn insert_user(conn: &mut AsyncPgConnection, new: &NewUser<'_>) -> QueryResult<User> {
    diesel::insert_into(users::table)
        .values(new)
        .returning(User::as_returning())
        .get_result(conn)
        .await
}

/// Replaces a user's password and ends all their sessions; whether the user exists.
pub async fn set_password(conn: &mut AsyncPgConnection, username: &str, password_hash: &str) -> QueryResult<bool> {
    conn.transaction(async |conn| {
        let id: Option<UserId> = diesel::update(users::table.filter(users::username.eq(username)))
            .set((
                users::password_hash.eq(password_hash),
                users::updated_at.eq(diesel::dsl::now),
            ))
            .returning(users::id)
            .get_result(&mut *conn)
            .await
            .optional()?;
        if let Some(id) = id {
            diesel::delete(user_sessions::table.filter(user_sessions::user_id.eq(id)))
                .execute(&mut *conn)
                .await?;
        }
        Ok(id.is_some())
    })
    .await
}

/// Creates the first user with the setup code, atomically: only while no user exists and the
/// code (by its hash) is valid; the code is used up. `None` when the code is wrong or expired,
/// or a user already exists.
pub async fn create_first_user(
    conn: &mut AsyncPgConnection,
    code_hash: &[u8],
    new: &NewUser<'_>,
) -> QueryResult<Option<User>> {
    conn.transaction(async |conn| {
        // Deleting the code row locks it: concurrent attempts with the same code wait, then find
        // it gone.
        let used = diesel::delete(
            setup_codes::table
                .filter(setup_codes::code_hash.eq(code_hash))
                .filter(setup_codes::expires_at.gt(diesel::dsl::now)),
        )
        .execute(&mut *conn)
        .await?;
        if used == 0 || count_users(&mut *conn).await? > 0 {
            return Ok(None);
        }
        Ok(Some(insert_user(&mut *conn, new).await?))
    })
    .await
}

/// Stores a new setup code (replacing any other) valid for `valid`.
pub async fn replace_setup_code(conn: &mut AsyncPgConnection, code_hash: &[u8], valid: Duration) -> QueryResult<()> {
    let expires_at = OffsetDateTime::now_utc() + valid;
    diesel::insert_into(setup_codes::table)
        .values((
            setup_codes::code_hash.eq(code_hash),
            setup_codes::expires_at.eq(expires_at),
        ))
        .on_conflict(setup_codes::singleton)
        .do_update()
        .set((
            setup_codes::code_hash.eq(excluded(setup_codes::code_hash)),
            setup_codes::expires_at.eq(excluded(setup_codes::expires_at)),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Stores a setup code unless a valid one exists (so of several replicas starting at once, one
/// creates it and says so); whether this one was stored.
pub async fn offer_setup_code(conn: &mut AsyncPgConnection, code_hash: &[u8], valid: Duration) -> QueryResult<bool> {
    diesel::delete(setup_codes::table.filter(setup_codes::expires_at.le(diesel::dsl::now)))
        .execute(conn)
        .await?;
    let expires_at = OffsetDateTime::now_utc() + valid;
    let stored = diesel::insert_into(setup_codes::table)
        .values((
            setup_codes::code_hash.eq(code_hash),
            setup_codes::expires_at.eq(expires_at),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(stored > 0)
}

/// A signed-in session's user, and when the session last gave a fresh second-factor code.
pub struct SessionUser {
    pub user: User,
    pub stepped_up_at: Option<OffsetDateTime>,
}

/// A session's user, when the session exists, is within both limits, has passed its second
/// factor, and its user is enabled; its last-seen time is refreshed (at most once a minute). An
/// expired session is deleted.
pub async fn session_user(
    conn: &mut AsyncPgConnection,
    id_hash: &[u8],
    idle: Duration,
    absolute: Duration,
) -> QueryResult<Option<SessionUser>> {
    let now = OffsetDateTime::now_utc();
    let found: Option<(OffsetDateTime, OffsetDateTime, Option<OffsetDateTime>, User)> = user_sessions::table
        .inner_join(users::table)
        .filter(user_sessions::id_hash.eq(id_hash))
        .filter(user_sessions::second_factor_pending.eq(false))
        .select((
            user_sessions::created_at,
            user_sessions::last_seen_at,
            user_sessions::stepped_up_at,
            User::as_select(),
        ))
        .first(conn)
        .await
        .optional()?;
    let Some((created, seen, stepped_up_at, user)) = found else {
        return Ok(None);
    };
    if user.disabled || now - seen > idle || now - created > absolute {
        delete_session(conn, id_hash).await?;
        return Ok(None);
    }
    if now - seen > Duration::minutes(1) {
        diesel::update(user_sessions::table.find(id_hash))
            .set(user_sessions::last_seen_at.eq(now))
            .execute(conn)
            .await?;
    }
    Ok(Some(SessionUser { user, stepped_up_at }))
}

/// The user of a session still waiting for its second factor, when it began within `valid`.
pub async fn pending_session_user(
    conn: &mut AsyncPgConnection,
    id_hash: &[u8],
    valid: Duration,
) -> QueryResult<Option<User>> {
    let since = OffsetDateTime::now_utc() - valid;
    user_sessions::table
        .inner_join(users::table)
        .filter(user_sessions::id_hash.eq(id_hash))
        .filter(user_sessions::second_factor_pending.eq(true))
        .filter(user_sessions::created_at.gt(since))
        .filter(users::disabled.eq(false))
        .select(User::as_select())
        .first(conn)
        .await
        .optional()
}

/// Gives a session a new id (a privilege change: the second factor given, a step-up), marking
/// it as having just given a fresh code; whether the session existed.
pub async fn step_up_session(conn: &mut AsyncPgConnection, old_hash: &[u8], new_hash: &[u8]) -> QueryResult<bool> {
    let now = OffsetDateTime::now_utc();
    diesel::update(user_sessions::table.find(old_hash))
        .set((
            user_sessions::id_hash.eq(new_hash),
            user_sessions::second_factor_pending.eq(false),
            user_sessions::stepped_up_at.eq(now),
            user_sessions::last_seen_at.eq(now),
        ))
        .execute(conn)
        .await
        .map(|n| n > 0)
}

/// One signed-in session of a user, as its owner sees it.
pub struct SessionInfo {
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub client_ip: Option<String>,
    pub id_hash: Vec<u8>,
}

/// A user's signed-in sessions, newest first.
pub async fn list_sessions(conn: &mut AsyncPgConnection, user: UserId) -> QueryResult<Vec<SessionInfo>> {
    let rows: Vec<(OffsetDateTime, OffsetDateTime, Option<String>, Vec<u8>)> = user_sessions::table
        .filter(user_sessions::user_id.eq(user))
        .filter(user_sessions::second_factor_pending.eq(false))
        .order(user_sessions::created_at.desc())
        .select((
            user_sessions::created_at,
            user_sessions::last_seen_at,
            user_sessions::client_ip,
            user_sessions::id_hash,
        ))
        .limit(100)
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(created_at, last_seen_at, client_ip, id_hash)| SessionInfo {
            created_at,
            last_seen_at,
            client_ip,
            id_hash,
        })
        .collect())
}

pub async fn insert_session(
    conn: &mut AsyncPgConnection,
    id_hash: &[u8],
    user: UserId,
    client_ip: Option<&str>,
    second_factor_pending: bool,
) -> QueryResult<()> {
    diesel::insert_into(user_sessions::table)
        .values((
            user_sessions::id_hash.eq(id_hash),
            user_sessions::user_id.eq(user),
            user_sessions::client_ip.eq(client_ip),
            user_sessions::second_factor_pending.eq(second_factor_pending),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn delete_session(conn: &mut AsyncPgConnection, id_hash: &[u8]) -> QueryResult<()> {
    diesel::delete(user_sessions::table.find(id_hash)).execute(conn).await?;
    Ok(())
}

/// Ends every session of a user ("log out everywhere"); how many there were.
pub async fn delete_user_sessions(conn: &mut AsyncPgConnection, user: UserId) -> QueryResult<usize> {
    diesel::delete(user_sessions::table.filter(user_sessions::user_id.eq(user)))
        .execute(conn)
        .await
}

/// Failed logins for an account name within `window`: the count (older failures are forgotten)
/// and when the last one was.
pub async fn login_failures(
    conn: &mut AsyncPgConnection,
    account: &str,
    window: Duration,
) -> QueryResult<Option<(i32, OffsetDateTime)>> {
    let since = OffsetDateTime::now_utc() - window;
    login_failures::table
        .filter(login_failures::account.eq(account))
        .filter(login_failures::last_failure_at.gt(since))
        .select((login_failures::failures, login_failures::last_failure_at))
        .first(conn)
        .await
        .optional()
}

/// Counts a failed login (restarting the count when the last failure is older than `window`).
pub async fn record_login_failure(conn: &mut AsyncPgConnection, account: &str, window: Duration) -> QueryResult<()> {
    let now = OffsetDateTime::now_utc();
    let since = now - window;
    diesel::insert_into(login_failures::table)
        .values((
            login_failures::account.eq(account),
            login_failures::failures.eq(1),
            login_failures::last_failure_at.eq(now),
        ))
        .on_conflict(login_failures::account)
        .do_update()
        .set((
            login_failures::failures.eq(diesel::dsl::sql::<diesel::sql_types::Integer>(
                "CASE WHEN login_failures.last_failure_at > ",
            )
            .bind::<diesel::sql_types::Timestamptz, _>(since)
            .sql(" THEN login_failures.failures + 1 ELSE 1 END")),
            login_failures::last_failure_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn clear_login_failures(conn: &mut AsyncPgConnection, account: &str) -> QueryResult<()> {
    diesel::delete(login_failures::table.find(account))
        .execute(conn)
        .await?;
    Ok(())
}

/// Every user, by name.
pub async fn list_users(conn: &mut AsyncPgConnection) -> QueryResult<Vec<User>> {
    users::table
        .order(users::username.asc())
        .select(User::as_select())
        .load(conn)
        .await
}

pub async fn find_user(conn: &mut AsyncPgConnection, id: UserId) -> QueryResult<Option<User>> {
    users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .await
        .optional()
}

/// How a change to a user went.
#[derive(Debug, PartialEq, Eq)]
pub enum UserChange {
    Done,
    NoSuchUser,
    /// Refused: no enabled admin would be left.
    LastAdmin,
}

/// Changes what a user may do — role and whether enabled — refusing to leave no enabled admin
/// (changes are serialised, so two concurrent demotions cannot both pass); a change ends the
/// user's sessions (a privilege change signs in again).
pub async fn change_user(
    conn: &mut AsyncPgConnection,
    id: UserId,
    role: UserRole,
    disabled: bool,
) -> QueryResult<UserChange> {
    conn.transaction(async |conn| {
        diesel::sql_query("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *conn)
            .await?;
        let Some(before) = find_user(&mut *conn, id).await? else {
            return Ok(UserChange::NoSuchUser);
        };
        let was_admin = before.role == UserRole::Admin && !before.disabled;
        let stays_admin = role == UserRole::Admin && !disabled;
        if was_admin && !stays_admin {
            let admins: i64 = users::table
                .filter(users::role.eq(UserRole::Admin))
                .filter(users::disabled.eq(false))
                .count()
                .get_result(&mut *conn)
                .await?;
            if admins <= 1 {
                return Ok(UserChange::LastAdmin);
            }
        }
        if before.role != role || before.disabled != disabled {
            diesel::update(users::table.find(id))
                .set((
                    users::role.eq(role),
                    users::disabled.eq(disabled),
                    users::updated_at.eq(diesel::dsl::now),
                ))
                .execute(&mut *conn)
                .await?;
            delete_user_sessions(&mut *conn, id).await?;
        }
        Ok(UserChange::Done)
    })
    .await
}

/// Stores a new, not yet confirmed TOTP secret (sealed) for a user without TOTP.
pub async fn begin_totp(conn: &mut AsyncPgConnection, user: UserId, sealed: &[u8]) -> QueryResult<bool> {
    diesel::update(users::table.find(user).filter(users::totp_enabled_at.is_null()))
        .set(users::totp_secret.eq(sealed))
        .execute(conn)
        .await
        .map(|n| n > 0)
}

/// Accepts the TOTP code of time step `step` unless a code of this or a later step was accepted
/// before (a code is never accepted twice); whether it was accepted.
pub async fn accept_totp_step(conn: &mut AsyncPgConnection, user: UserId, step: i64) -> QueryResult<bool> {
    diesel::update(
        users::table
            .find(user)
            .filter(users::totp_last_step.is_null().or(users::totp_last_step.lt(step))),
    )
    .set(users::totp_last_step.eq(step))
    .execute(conn)
    .await
    .map(|n| n > 0)
}

/// Turns TOTP on with its first code's step, replacing the recovery codes; whether it was
/// turned on (not when on already, or when the step was used).
pub async fn enable_totp(
    conn: &mut AsyncPgConnection,
    user: UserId,
    step: i64,
    recovery_hashes: &[Vec<u8>],
) -> QueryResult<bool> {
    conn.transaction(async |conn| {
        let on = diesel::update(
            users::table
                .find(user)
                .filter(users::totp_enabled_at.is_null())
                .filter(users::totp_secret.is_not_null())
                .filter(users::totp_last_step.is_null().or(users::totp_last_step.lt(step))),
        )
        .set((
            users::totp_enabled_at.eq(diesel::dsl::now),
            users::totp_last_step.eq(step),
            users::updated_at.eq(diesel::dsl::now),
        ))
        .execute(&mut *conn)
        .await?;
        if on == 0 {
            return Ok(false);
        }
        replace_recovery_codes(&mut *conn, user, recovery_hashes).await?;
        Ok(true)
    })
    .await
}

/// Replaces a user's recovery codes (their hashes).
pub async fn replace_recovery_codes(conn: &mut AsyncPgConnection, user: UserId, hashes: &[Vec<u8>]) -> QueryResult<()> {
    diesel::delete(user_recovery_codes::table.filter(user_recovery_codes::user_id.eq(user)))
        .execute(conn)
        .await?;
    let rows: Vec<_> = hashes
        .iter()
        .map(|h| {
            (
                user_recovery_codes::user_id.eq(user),
                user_recovery_codes::code_hash.eq(h.as_slice()),
            )
        })
        .collect();
    diesel::insert_into(user_recovery_codes::table)
        .values(rows)
        .execute(conn)
        .await?;
    Ok(())
}

/// Uses up a recovery code; whether it was one of the user's, unused.
pub async fn use_recovery_code(conn: &mut AsyncPgConnection, user: UserId, hash: &[u8]) -> QueryResult<bool> {
    diesel::update(
        user_recovery_codes::table
            .filter(user_recovery_codes::user_id.eq(user))
            .filter(user_recovery_codes::code_hash.eq(hash))
            .filter(user_recovery_codes::used_at.is_null()),
    )
    .set(user_recovery_codes::used_at.eq(diesel::dsl::now))
    .execute(conn)
    .await
    .map(|n| n > 0)
}

/// How many unused recovery codes a user has.
pub async fn recovery_codes_left(conn: &mut AsyncPgConnection, user: UserId) -> QueryResult<i64> {
    user_recovery_codes::table
        .filter(user_recovery_codes::user_id.eq(user))
        .filter(user_recovery_codes::used_at.is_null())
        .count()
        .get_result(conn)
        .await
}

/// Turns a user's second factor off (by themselves, by an admin, or `shellgate user reset-mfa`):
/// secret and recovery codes gone, and every session of theirs ended; whether the user exists.
pub async fn reset_mfa(conn: &mut AsyncPgConnection, user: UserId) -> QueryResult<bool> {
    conn.transaction(async |conn| {
        let found = diesel::update(users::table.find(user))
            .set((
                users::totp_secret.eq(None::<Vec<u8>>),
                users::totp_enabled_at.eq(None::<OffsetDateTime>),
                users::totp_last_step.eq(None::<i64>),
                users::updated_at.eq(diesel::dsl::now),
            ))
            .execute(&mut *conn)
            .await?;
        diesel::delete(user_recovery_codes::table.filter(user_recovery_codes::user_id.eq(user)))
            .execute(&mut *conn)
            .await?;
        delete_user_sessions(&mut *conn, user).await?;
        Ok(found > 0)
    })
    .await
}
