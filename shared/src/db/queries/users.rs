//! Dashboard users, their sessions, the first-run setup code and failed-login counts.

use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use time::{Duration, OffsetDateTime};

use crate::db::models::{NewUser, User};
use crate::db::schema::{login_failures, setup_codes, user_sessions, users};
use crate::ids::UserId;

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

/// A session's user, when the session exists, is within both limits, and its user is enabled;
/// its last-seen time is refreshed (at most once a minute). An expired session is deleted.
pub async fn session_user(
    conn: &mut AsyncPgConnection,
    id_hash: &[u8],
    idle: Duration,
    absolute: Duration,
) -> QueryResult<Option<User>> {
    let now = OffsetDateTime::now_utc();
    let found: Option<(OffsetDateTime, OffsetDateTime, User)> = user_sessions::table
        .inner_join(users::table)
        .filter(user_sessions::id_hash.eq(id_hash))
        .select((
            user_sessions::created_at,
            user_sessions::last_seen_at,
            User::as_select(),
        ))
        .first(conn)
        .await
        .optional()?;
    let Some((created, seen, user)) = found else {
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
    Ok(Some(user))
}

pub async fn insert_session(
    conn: &mut AsyncPgConnection,
    id_hash: &[u8],
    user: UserId,
    client_ip: Option<&str>,
) -> QueryResult<()> {
    diesel::insert_into(user_sessions::table)
        .values((
            user_sessions::id_hash.eq(id_hash),
            user_sessions::user_id.eq(user),
            user_sessions::client_ip.eq(client_ip),
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
