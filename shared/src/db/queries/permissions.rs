use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::models::{Target, TokenPermission};
use crate::db::schema::targets;
use crate::db::schema::token_permissions::dsl as p;
use crate::ids::{TargetId, TokenId};

/// Grants `target` to `token`; granting twice is not an error. Returns the permission row.
pub async fn grant(conn: &mut AsyncPgConnection, token: TokenId, target: TargetId) -> QueryResult<TokenPermission> {
    diesel::insert_into(p::token_permissions)
        .values((p::token_id.eq(token), p::target_id.eq(target)))
        .on_conflict((p::token_id, p::target_id))
        .do_nothing()
        .execute(conn)
        .await?;
    p::token_permissions
        .find((token, target))
        .select(TokenPermission::as_select())
        .first(conn)
        .await
}

pub async fn revoke(conn: &mut AsyncPgConnection, token: TokenId, target: TargetId) -> QueryResult<bool> {
    diesel::delete(p::token_permissions.find((token, target)))
        .execute(conn)
        .await
        .map(|n| n > 0)
}

/// The targets a token may use, with the time each was granted.
pub async fn targets_of_token(
    conn: &mut AsyncPgConnection,
    token: TokenId,
) -> QueryResult<Vec<(TokenPermission, Target)>> {
    p::token_permissions
        .inner_join(targets::table)
        .filter(p::token_id.eq(token))
        .order(targets::slug.asc())
        .select((TokenPermission::as_select(), Target::as_select()))
        .load(conn)
        .await
}
