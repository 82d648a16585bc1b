use std::collections::HashMap;
use std::sync::Arc;

use actix_web::{HttpResponse, web};
use shellgate_shared::db::queries;

use crate::auth::Admin;
use crate::context::ApproverContext;
use crate::error::ApiError;
use crate::views::TargetResponse;

/// `GET /api/targets`
pub async fn list_targets(_admin: Admin, ctx: web::Data<Arc<ApproverContext>>) -> Result<HttpResponse, ApiError> {
    let mut conn = ctx.conn().await?;
    let targets = queries::targets::list_targets(&mut conn).await?;
    let mut creds: HashMap<_, _> = queries::credentials::list_credentials(&mut conn)
        .await?
        .into_iter()
        .map(|c| (c.target_id, c))
        .collect();
    let views: Vec<TargetResponse> = targets
        .into_iter()
        .map(|t| {
            let c = creds.remove(&t.id);
            TargetResponse::new(t, c.as_ref())
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}
