//! `/audit`: what agents and admins did. Filters (kind, token, target, outcome, time range) and
//! free-text search over the HTTP path and the SSH command (a trigram index), newest first with
//! keyset paging, a page per event, and the filtered set exported as CSV or JSON Lines — streamed
//! in batches, never held in memory. The filters are the API's (`GET /api/audit`).

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use shellgate_shared::audit::{AuditEvent, Outcome};
use shellgate_shared::db::models::AuditRow;
use shellgate_shared::db::queries;
use shellgate_shared::db::queries::audit::AuditFilter;
use shellgate_shared::ids::AuditEventId;
use shellgate_shared::states::AuditKind;

use super::{context, signed_in, unavailable, when};
use crate::context::ApproverContext;
use crate::dashboard::session::Session;
use crate::dashboard::view;
use crate::error::ApiError;
use crate::handlers::audit::list::{ListAuditQuery, page as audit_page};

/// Events a page shows.
const PER_PAGE: i64 = 50;
/// Events read per batch of an export.
const EXPORT_BATCH: i64 = 1000;

/// One event as a row of the page.
#[derive(Debug, Serialize)]
pub(super) struct Line {
    id: String,
    at: String,
    kind: String,
    token: String,
    target: String,
    what: String,
    status: String,
    outcome: String,
    code: String,
}

/// Token names by id (the page and the export name tokens).
pub(super) async fn token_names(ctx: &ApproverContext) -> Result<HashMap<String, String>, ApiError> {
    let mut conn = ctx.conn().await?;
    Ok(queries::tokens::list_tokens(&mut conn)
        .await?
        .into_iter()
        .map(|t| (t.id.to_string(), t.name))
        .collect())
}

/// What an event is about: `METHOD path`, the SSH command, or the path alone.
fn what(e: &AuditEvent) -> String {
    let command = e.detail["command"].as_str();
    match (&e.method, &e.path, command) {
        (_, _, Some(c)) if e.kind == AuditKind::Ssh => c.to_string(),
        (Some(m), Some(p), _) => format!("{m} {p}"),
        (None, Some(p), _) => p.clone(),
        _ => String::new(),
    }
}

pub(super) fn line(e: &AuditEvent, tokens: &HashMap<String, String>) -> Line {
    let token_id = e.token_id.map(|t| t.to_string()).unwrap_or_default();
    Line {
        id: e.id.to_string(),
        at: when(Some(e.occurred_at)),
        kind: e.kind.as_str().to_string(),
        token: tokens.get(&token_id).cloned().unwrap_or(token_id),
        target: e.target_slug.clone().unwrap_or_default(),
        what: what(e),
        status: e.status.map(|s| s.to_string()).unwrap_or_default(),
        outcome: e.outcome.as_str().to_string(),
        code: e.error_code.clone().unwrap_or_default(),
    }
}

/// The query a page or export was asked with. Time fields may come from a `datetime-local` input
/// (`2026-12-05T10:30`, read as UTC).
fn query_of(req: &HttpRequest) -> Result<ListAuditQuery, ApiError> {
    let mut q = web::Query::<ListAuditQuery>::from_query(req.query_string())
        .map_err(|e| ApiError::validation("invalid_query", e.to_string()))?
        .into_inner();
    for t in [&mut q.since, &mut q.until] {
        if let Some(v) = t
            .as_deref()
            .map(str::trim)
            .filter(|v| v.len() == 16 && v.as_bytes()[10] == b'T')
        {
            *t = Some(format!("{v}:00Z"));
        }
    }
    Ok(q)
}

/// The filters as the form shows them again.
fn shown_filters(q: &ListAuditQuery) -> serde_json::Value {
    let v = |s: &Option<String>| s.clone().unwrap_or_default();
    let local = |s: &Option<String>| {
        // Back to what a datetime-local input takes.
        v(s).get(..16).map(str::to_string).unwrap_or_default()
    };
    serde_json::json!({
        "kind": v(&q.kind), "tokenId": v(&q.token_id), "targetId": v(&q.target_id),
        "outcome": v(&q.outcome), "since": local(&q.since), "until": local(&q.until), "q": v(&q.q),
    })
}

/// The page's address query for `q` (the API's parameter names).
fn query_string(q: &ListAuditQuery) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    let fields = [
        ("kind", &q.kind),
        ("tokenId", &q.token_id),
        ("targetId", &q.target_id),
        ("outcome", &q.outcome),
        ("since", &q.since),
        ("until", &q.until),
        ("q", &q.q),
        ("cursor", &q.cursor),
    ];
    for (name, value) in fields {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            out.append_pair(name, v);
        }
    }
    out.finish()
}

async fn render(ctx: &ApproverContext, s: &Session, q: ListAuditQuery) -> HttpResponse {
    let mut c = context(ctx, s, "audit");
    let choices = async {
        let mut conn = ctx.conn().await?;
        let tokens: Vec<(String, String)> = queries::tokens::list_tokens(&mut conn)
            .await?
            .into_iter()
            .map(|t| (t.id.to_string(), t.name))
            .collect();
        let targets: Vec<(String, String)> = queries::targets::list_targets(&mut conn)
            .await?
            .into_iter()
            .map(|t| (t.id.to_string(), t.slug))
            .collect();
        Ok::<_, ApiError>((tokens, targets))
    };
    let Ok((tokens, targets)) = choices.await else {
        return unavailable(ctx);
    };
    let names: HashMap<String, String> = tokens.iter().cloned().collect();
    c.insert("tokens", &tokens);
    c.insert("targets", &targets);
    c.insert("kinds", &AuditKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>());
    c.insert("outcomes", &Outcome::ALL.iter().map(|o| o.as_str()).collect::<Vec<_>>());
    c.insert("f", &shown_filters(&q));
    let export = ListAuditQuery {
        cursor: None,
        limit: None,
        ..q.clone()
    };
    c.insert("export_query", &query_string(&export));
    let q = ListAuditQuery {
        limit: Some(PER_PAGE),
        ..q
    };
    let (status, error) = match audit_page(ctx, &q).await {
        Ok((rows, next)) => {
            let lines: Vec<Line> = rows.into_iter().map(|r| line(&AuditEvent::from(r), &names)).collect();
            c.insert("events", &lines);
            let next = next.map(|cursor| {
                query_string(&ListAuditQuery {
                    cursor: Some(cursor),
                    limit: None,
                    ..q.clone()
                })
            });
            c.insert("next", &next);
            (StatusCode::OK, None)
        }
        Err(ApiError::Internal(_) | ApiError::Unavailable) => return unavailable(ctx),
        Err(e) => {
            c.insert("events", &Vec::<Line>::new());
            c.insert("next", &None::<String>);
            (StatusCode::BAD_REQUEST, Some(e.to_string()))
        }
    };
    c.insert("error", &error);
    view::page(ctx, "audit.html", c, status)
}

/// `GET /audit?kind=&tokenId=&targetId=&outcome=&since=&until=&q=&cursor=`
pub async fn list(ctx: web::Data<Arc<ApproverContext>>, req: HttpRequest) -> HttpResponse {
    let s = match signed_in(&ctx, &req).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    match query_of(&req) {
        Ok(q) => render(&ctx, &s, q).await,
        Err(e) => view::message(&ctx, StatusCode::BAD_REQUEST, "Not a search", &e.to_string()),
    }
}

/// `GET /audit/{id}`: one event, whole.
pub async fn detail(ctx: web::Data<Arc<ApproverContext>>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let s = match signed_in(&ctx, &req).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let id: AuditEventId = match super::path_id(&ctx, &path, "event") {
        Ok(id) => id,
        Err(res) => return *res,
    };
    let found = async {
        let mut conn = ctx.conn().await?;
        Ok::<_, ApiError>(queries::audit::find_audit(&mut conn, id).await?)
    };
    let event = match found.await {
        Ok(Some(row)) => AuditEvent::from(row),
        Ok(None) => {
            return view::message(
                &ctx,
                StatusCode::NOT_FOUND,
                "No such event",
                "It may have passed its retention.",
            );
        }
        Err(_) => return unavailable(&ctx),
    };
    let Ok(names) = token_names(&ctx).await else {
        return unavailable(&ctx);
    };
    let mut c = context(&ctx, &s, "audit");
    c.insert("event", &line(&event, &names));
    c.insert("json", &serde_json::to_string_pretty(&event).unwrap_or_default());
    view::page(&ctx, "audit_event.html", c, StatusCode::OK)
}

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    JsonLines,
}

const CSV_HEADER: [&str; 17] = [
    "occurredAt",
    "kind",
    "outcome",
    "status",
    "errorCode",
    "token",
    "tokenId",
    "target",
    "targetId",
    "method",
    "path",
    "command",
    "clientIp",
    "durationMs",
    "bytesIn",
    "bytesOut",
    "id",
];

/// A cell a spreadsheet would read as a formula is written as text (a leading `'`): paths and
/// commands come from agents.
fn cell(s: String) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s
    }
}

fn csv_record(e: &AuditEvent, tokens: &HashMap<String, String>) -> [String; 17] {
    let opt = |v: Option<String>| v.unwrap_or_default();
    let token_id = opt(e.token_id.map(|t| t.to_string()));
    [
        when(Some(e.occurred_at)),
        e.kind.as_str().into(),
        e.outcome.as_str().into(),
        opt(e.status.map(|s| s.to_string())),
        opt(e.error_code.clone()),
        tokens.get(&token_id).cloned().unwrap_or_default(),
        token_id,
        opt(e.target_slug.clone()),
        opt(e.target_id.map(|t| t.to_string())),
        opt(e.method.clone()),
        opt(e.path.clone()),
        opt(e.detail["command"].as_str().map(str::to_string)),
        opt(e.client_ip.clone()),
        e.duration_ms.to_string(),
        e.bytes_in.to_string(),
        e.bytes_out.to_string(),
        e.id.to_string(),
    ]
    .map(cell)
}

/// One batch of the export, written out.
fn chunk(
    format: Format,
    header: bool,
    rows: Vec<AuditRow>,
    tokens: &HashMap<String, String>,
) -> anyhow::Result<Vec<u8>> {
    match format {
        Format::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            if header {
                w.write_record(CSV_HEADER)?;
            }
            for row in rows {
                w.write_record(csv_record(&AuditEvent::from(row), tokens))?;
            }
            Ok(w.into_inner()?)
        }
        Format::JsonLines => {
            let mut out = Vec::new();
            for row in rows {
                serde_json::to_writer(&mut out, &AuditEvent::from(row))?;
                out.push(b'\n');
            }
            Ok(out)
        }
    }
}

/// Where an export stands between batches.
struct Export {
    ctx: Arc<ApproverContext>,
    filter: AuditFilter,
    tokens: HashMap<String, String>,
    format: Format,
    first: bool,
}

impl Export {
    /// The next batch and what follows it (`None` after the last).
    async fn next(mut self) -> Option<(Result<web::Bytes, actix_web::Error>, Option<Self>)> {
        let rows = async {
            let mut conn = self.ctx.conn().await?;
            Ok::<_, ApiError>(queries::audit::list_audit(&mut conn, &self.filter).await?)
        };
        let rows = match rows.await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "an audit export stopped: the database failed");
                return Some((
                    Err(actix_web::error::ErrorServiceUnavailable("export interrupted")),
                    None,
                ));
            }
        };
        let last = rows.last().map(|r| (r.occurred_at, r.id));
        let full = rows.len() as i64 == self.filter.limit;
        let bytes = match chunk(self.format, self.first, rows, &self.tokens) {
            Ok(b) => web::Bytes::from(b),
            Err(e) => {
                tracing::warn!(error = %e, "an audit export stopped");
                return Some((
                    Err(actix_web::error::ErrorInternalServerError("export interrupted")),
                    None,
                ));
            }
        };
        self.first = false;
        self.filter.before = last;
        Some((Ok(bytes), full.then_some(self)))
    }
}

/// `GET /audit/export.csv|jsonl?<the page's filters>`: every matching event, streamed in
/// batches (newest first). Audited: who exported what.
pub async fn export(ctx: web::Data<Arc<ApproverContext>>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let s = match signed_in(&ctx, &req).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let format = match path.as_str() {
        "csv" => Format::Csv,
        _ => Format::JsonLines,
    };
    let filter = match query_of(&req).and_then(|q| q.filter(EXPORT_BATCH)) {
        Ok(f) => f,
        Err(e) => return view::message(&ctx, StatusCode::BAD_REQUEST, "Not a search", &e.to_string()),
    };
    let Ok(tokens) = token_names(&ctx).await else {
        return unavailable(&ctx);
    };
    view::audit(&ctx, &req, StatusCode::OK, None, &s.user.username);
    let start = Export {
        ctx: ctx.get_ref().clone(),
        filter,
        tokens,
        format,
        first: true,
    };
    let body = futures_util::stream::unfold(Some(start), |state| async move {
        match state {
            Some(export) => export.next().await,
            None => None,
        }
    });
    let (content_type, ext) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::JsonLines => ("application/jsonl; charset=utf-8", "jsonl"),
    };
    let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"shellgate-audit-{stamp}.{ext}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .streaming(body)
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn formulas_from_agents_stay_text_in_a_spreadsheet() {
        assert_eq!(cell("=HYPERLINK(\"x\")".into()), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("@SUM(A1)".into()), "'@SUM(A1)");
        assert_eq!(cell("-2+3".into()), "'-2+3");
        assert_eq!(cell("/items/42".into()), "/items/42");
    }
}
