//! Change announcements to gateways and executors (cache invalidation).

use shellgate_shared::bus::messages::AuthInvalidation;
use shellgate_shared::ids::TokenId;

use crate::context::ApproverContext;

/// Announces that a token (or, with `None`, anything: a target) changed. Flushed before the
/// API answers, so a revocation is in effect on every gateway within moments of the 2xx.
pub async fn announce_change(ctx: &ApproverContext, token_id: Option<TokenId>) {
    let payload = match serde_json::to_vec(&AuthInvalidation { token_id }) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "cannot encode change event");
            return;
        }
    };
    let client = &ctx.bus.client;
    if let Err(e) = client.publish(ctx.bus.subjects.auth_events(), payload.into()).await {
        tracing::error!(error = %e, "cannot announce change; gateways rely on their cache TTL");
        return;
    }
    if let Err(e) = client.flush().await {
        tracing::warn!(error = %e, "change announcement not flushed");
    }
}
