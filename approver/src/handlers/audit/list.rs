use std::sync::Arc;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use shellgate_shared::db::models::AuditRow;
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

#[derive(Debug, Clone, Default, Deserialize)]
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
    /// Text the HTTP path or the SSH command contains (case-insensitive).
    pub q: Option<String>,
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

/// Longest free-text search accepted.
const MAX_SEARCH_CHARS: usize = 200;

impl ListAuditQuery {
    /// The filter these parameters ask for (`limit` rows at most), checked; shared by the API, the
    /// dashboard's Audit page and its export.
    pub fn filter(&self, limit: i64) -> Result<AuditFilter, ApiError> {
        let search = self.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
        if search.is_some_and(|q| q.chars().count() > MAX_SEARCH_CHARS) {
            return Err(ApiError::validation(
                "invalid_query",
                format!("q is at most {MAX_SEARCH_CHARS} characters"),
            ));
        }
        let nonblank = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        Ok(AuditFilter {
            token_id: nonblank(&self.token_id)
                .as_deref()
                .map(parse_id::<TokenId>)
                .transpose()?,
            target_id: nonblank(&self.target_id)
                .as_deref()
                .map(parse_id::<TargetId>)
                .transpose()?,
            outcome: nonblank(&self.outcome)
                .as_deref()
                .map(|o| validate::one_of(o, "outcome", "invalid_query"))
                .transpose()?,
            kind: nonblank(&self.kind)
                .as_deref()
                .map(|k| validate::one_of(k, "kind", "invalid_query"))
                .transpose()?,
            since: time_param(nonblank(&self.since).as_deref(), "since")?,
            until: time_param(nonblank(&self.until).as_deref(), "until")?,
            before: nonblank(&self.cursor).as_deref().map(decode_cursor).transpose()?,
            search: search.map(str::to_string),
            limit,
        })
    }
}

/// One page of events (newest first) and the cursor of the next.
pub async fn page(ctx: &ApproverContext, q: &ListAuditQuery) -> Result<(Vec<AuditRow>, Option<String>), ApiError> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::validation(
            "invalid_query",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let filter = q.filter(limit + 1)?;
    let mut conn = ctx.conn().await?;
    let mut rows = queries::audit::list_audit(&mut conn, &filter).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    let next_cursor = if more {
        rows.last().map(|r| encode_cursor(r.occurred_at, r.id))
    } else {
        None
    };
    Ok((rows, next_cursor))
}

/// `GET /api/audit`: newest first, filtered, paged by cursor.
pub async fn list_audit(
    _admin: Admin,
    ctx: web::Data<Arc<ApproverContext>>,
    query: web::Query<ListAuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let (rows, next_cursor) = page(&ctx, &query).await?;
    Ok(HttpResponse::Ok().json(AuditPage {
        events: rows.into_iter().map(AuditEvent::from).collect(),
        next_cursor,
    }))
}
