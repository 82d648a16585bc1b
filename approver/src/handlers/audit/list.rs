use std::sync::Arc;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use shellgate_shared::db::queries;
use shellgate_shared::db::queries::audit::AuditFilter;
use shellgate_shared::ids::{AuditEventId, TargetId, TokenId};
use time::OffsetDateTime;

use crate::auth::Admin;
use crate::context::ApproverContext;
use crate::error::{ApiError, parse_id};
use crate::validate;
use crate::views::AuditPage;
use shellgate_shared::audit::AuditEvent;

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListAuditQuery {
    pub token_id: Option<String>,
    pub target_id: Option<String>,
    pub outcome: Option<String>,
    /// `http`, `ssh`, `approval` or `admin`.
    pub kind: Option<String>,
    /// RFC 3339; inclusive.
    pub since: Option<String>,
    /// RFC 3339; exclusive.
    pub until: Option<String>,
    pub limit: Option<i64>,
    /// From a previous page's `nextCursor`.
    pub cursor: Option<String>,
}

fn time_param(s: Option<&str>, name: &'static str) -> Result<Option<OffsetDateTime>, ApiError> {
    s.map(|v| {
        OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
            .map_err(|_| ApiError::validation("invalid_query", format!("{name} must be an RFC 3339 time")))
    })
    .transpose()
}

fn encode_cursor(at: OffsetDateTime, id: AuditEventId) -> String {
    format!("{}_{id}", at.unix_timestamp_nanos())
}

fn decode_cursor(s: &str) -> Result<(OffsetDateTime, AuditEventId), ApiError> {
    let bad = || ApiError::validation("invalid_cursor", "cursor is not one this API returned");
    let (nanos, id) = s.split_once('_').ok_or_else(bad)?;
    let nanos: i128 = nanos.parse().map_err(|_| bad())?;
    let at = OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| bad())?;
    Ok((at, id.parse().map_err(|_| bad())?))
}

/// `GET /api/audit`: newest first, filtered, paged by cursor.
pub async fn list_audit(
    _admin: Admin,
    ctx: web::Data<Arc<ApproverContext>>,
    query: web::Query<ListAuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::validation(
            "invalid_query",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let filter = AuditFilter {
        token_id: q.token_id.as_deref().map(parse_id::<TokenId>).transpose()?,
        target_id: q.target_id.as_deref().map(parse_id::<TargetId>).transpose()?,
        outcome: q
            .outcome
            .as_deref()
            .map(|o| validate::one_of(o, "outcome", "invalid_query"))
            .transpose()?,
        kind: q
            .kind
            .as_deref()
            .map(|k| validate::one_of(k, "kind", "invalid_query"))
            .transpose()?,
        since: time_param(q.since.as_deref(), "since")?,
        until: time_param(q.until.as_deref(), "until")?,
        before: q.cursor.as_deref().map(decode_cursor).transpose()?,
        limit: limit + 1,
    };
    let mut conn = ctx.conn().await?;
    let mut rows = queries::audit::list_audit(&mut conn, &filter).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    let next_cursor = if more {
        rows.last().map(|r| encode_cursor(r.occurred_at, r.id))
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(AuditPage {
        events: rows.into_iter().map(AuditEvent::from).collect(),
        next_cursor,
    }))
}
