//! What both transports (HTTP, SSH) do with an open message before their own work: take it
//! from the pool's queue group with a bound on concurrency, link the stream back to the gateway,
//! decode the request, resolve the target (never trusting the gateway for it) and open its
//! credential.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use shellgate_shared::bus::messages::{StreamFailure, decode_open};
use shellgate_shared::bus::stream::{Frame, Receiver, Sender, link};
use shellgate_shared::credential::Credential;
use shellgate_shared::error::Code;
use shellgate_shared::ids::TargetId;
use shellgate_shared::states::TargetKind;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot, watch};

use crate::context::ExecutorContext;
use crate::targets::ResolvedTarget;

/// Takes open messages from the pool's queue group on `subject` until shutdown, at most
/// `limit` at once, handing each to `spawn` with the permit it holds; then lets in-flight ones
/// finish within the grace period. `ready` is told once the subscription is known to the server.
pub(crate) async fn serve_queue(
    ctx: &ExecutorContext,
    subject: String,
    limit: usize,
    mut shutdown: watch::Receiver<bool>,
    ready: oneshot::Sender<anyhow::Result<()>>,
    mut spawn: impl FnMut(async_nats::Message, OwnedSemaphorePermit),
) {
    let queue = ctx.bus.subjects.exec_queue(&ctx.pool_name);
    let mut sub = match ctx.bus.client.queue_subscribe(subject.clone(), queue).await {
        Ok(s) => s,
        Err(e) => {
            let _ = ready.send(Err(anyhow::anyhow!("cannot subscribe to {subject}: {e}")));
            return;
        }
    };
    // The subscription must be known to the server before callers are told we are ready.
    if let Err(e) = ctx.bus.client.flush().await {
        let _ = ready.send(Err(anyhow::anyhow!("NATS flush failed: {e}")));
        return;
    }
    let _ = ready.send(Ok(()));
    let limit = limit.max(1);
    let permits = Arc::new(Semaphore::new(limit));
    loop {
        let permit = tokio::select! {
            _ = shutdown.changed() => break,
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let msg = tokio::select! {
            _ = shutdown.changed() => break,
            m = sub.next() => match m { Some(m) => m, None => break },
        };
        spawn(msg, permit);
    }
    let _ = sub.unsubscribe().await;
    let grace = Duration::from_millis(ctx.settings.shutdown_grace_ms);
    let all = u32::try_from(limit).unwrap_or(u32::MAX);
    if tokio::time::timeout(grace, permits.acquire_many(all)).await.is_err() {
        tracing::warn!(subject, "shutdown grace period over with requests still in flight");
    }
}

/// A stream back to the gateway that sent an open message, and the request it carried.
pub(crate) struct Opened<T> {
    pub tx: Sender,
    pub rx: Receiver,
    pub request: T,
    pub inline: Bytes,
}

/// Links a stream with the gateway that published `msg` and decodes the request in it; a
/// malformed request is answered with an error frame. `None`: nothing more to do.
pub(crate) async fn open_request<T: serde::de::DeserializeOwned>(
    ctx: &ExecutorContext,
    msg: async_nats::Message,
) -> Option<Opened<T>> {
    let Some(reply) = msg.reply.clone() else {
        tracing::warn!("open message without reply subject dropped");
        return None;
    };
    let nats = ctx.bus.client.clone();
    let inbox = nats.new_inbox();
    let sub = match nats.subscribe(inbox.clone()).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot subscribe stream inbox");
            return None;
        }
    };
    let (mut tx, rx) = link(nats, ctx.stream, sub, inbox.into(), reply, 0, 0);
    tx.set_origin(&ctx.id);
    match decode_open(msg.payload) {
        Ok((request, inline)) => Some(Opened {
            tx,
            rx,
            request,
            inline,
        }),
        Err(e) => {
            tracing::warn!(error = %e, "malformed open message");
            let failure = StreamFailure::new(Code::ExecutorProtocolError, "malformed request");
            let _ = tx.send(Frame::Error(failure)).await;
            None
        }
    }
}

/// The target of a request, checked: it exists, is of `kind`, is enabled (else it looks
/// missing) and belongs to this executor's pool.
pub(crate) async fn resolve_target(
    ctx: &ExecutorContext,
    id: TargetId,
    kind: TargetKind,
) -> Result<Arc<ResolvedTarget>, StreamFailure> {
    let resolved = ctx
        .targets
        .get(&ctx.db, &ctx.bus, id)
        .await
        .map_err(|_| StreamFailure::new(Code::ExecutorDbUnavailable, "the executor cannot reach its database"))?
        .ok_or_else(|| StreamFailure::new(Code::TargetNotFound, "no such target"))?;
    let target = &resolved.target;
    if target.kind != kind || !target.enabled {
        return Err(StreamFailure::new(Code::TargetNotFound, "no such target"));
    }
    if target.pool != ctx.pool_name {
        tracing::error!(pool = %target.pool, own = %ctx.pool_name, "request routed to the wrong executor pool");
        return Err(StreamFailure::new(
            Code::ExecutorWrongPool,
            "the request reached an executor of another pool",
        ));
    }
    Ok(resolved)
}

/// Opens the target's credential, if it has one.
pub(crate) fn open_credential(
    ctx: &ExecutorContext,
    cred: &shellgate_shared::db::models::TargetCredential,
) -> Result<Credential, StreamFailure> {
    let plain = ctx.vault.open(&cred.key_id, &cred.sealed).map_err(|e| {
        tracing::error!(error = %e, target_id = %cred.target_id, "cannot open credential");
        StreamFailure::new(
            Code::CredentialUnavailable,
            "the target's credential cannot be used by this executor",
        )
    })?;
    serde_json::from_slice(&plain).map_err(|_| {
        tracing::error!(target_id = %cred.target_id, "sealed credential is not a valid credential document");
        StreamFailure::new(
            Code::CredentialUnavailable,
            "the target's credential cannot be used by this executor",
        )
    })
}

/// Counts a request in the in-flight gauge for as long as it lives.
pub(crate) struct InFlight<'a>(&'a prometheus_client::metrics::gauge::Gauge);

impl<'a> InFlight<'a> {
    pub(crate) fn new(gauge: &'a prometheus_client::metrics::gauge::Gauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}
