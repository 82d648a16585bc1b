use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;

use crate::db::models::{NewToken, Token, TokenChangeset};
use crate::db::schema::tokens::dsl as t;
use crate::ids::TokenId;

pub async fn insert_token(conn: &mut AsyncPgConnection, new: &NewToken<'_>) -> QueryResult<Token> {
    diesel::insert_into(t::tokens)
        .values(new)
        .returning(Token::as_returning())
        .get_result(conn)
        .await
}

pub async fn list_tokens(conn: &mut AsyncPgConnection) -> QueryResult<Vec<Token>> {
    t::tokens
        .order(t::created_at.desc())
        .select(Token::as_select())
        .load(conn)
        .await
}

pub async fn find_token(conn: &mut AsyncPgConnection, id: TokenId) -> QueryResult<Option<Token>> {
    t::tokens
        .find(id)
        .select(Token::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn find_token_by_hash(conn: &mut AsyncPgConnection, hash: &[u8]) -> QueryResult<Option<Token>> {
    t::tokens
        .filter(t::token_hash.eq(hash))
        .select(Token::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn update_token(
    conn: &mut AsyncPgConnection,
    id: TokenId,
    changes: &TokenChangeset,
) -> QueryResult<Option<Token>> {
    diesel::update(t::tokens.find(id))
        .set(changes)
        .returning(Token::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Revokes once; a second revoke keeps the first timestamp.
pub async fn revoke_token(conn: &mut AsyncPgConnection, id: TokenId) -> QueryResult<Option<Token>> {
    let now = OffsetDateTime::now_utc();
    diesel::update(t::tokens.find(id))
        .set((
            t::revoked_at.eq(diesel::dsl::sql::<
                diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
            >("COALESCE(revoked_at, now())")),
            t::updated_at.eq(now),
        ))
        .returning(Token::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Records use without a write per request: only when the stored time is over a minute old.
pub async fn touch_token(conn: &mut AsyncPgConnection, id: TokenId) -> QueryResult<usize> {
    let now = OffsetDateTime::now_utc();
    diesel::update(t::tokens.find(id))
        .filter(
            t::last_used_at
                .is_null()
                .or(t::last_used_at.lt(now - time::Duration::minutes(1))),
        )
        .set(t::last_used_at.eq(now))
        .execute(conn)
        .await
}

pub async fn count_tokens(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
    crate::db::schema::tokens::table.count().get_result(conn).await
}

/// Tokens used since `since`.
pub async fn count_used_since(conn: &mut AsyncPgConnection, since: OffsetDateTime) -> QueryResult<i64> {
    t::tokens
        .filter(t::last_used_at.ge(since))
        .count()
        .get_result(conn)
        .await
}
