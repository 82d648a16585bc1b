//! Executor worker threads. Each runs its own actix system (awc clients are per thread) with a
//! queue subscription to its pool's subject, so NATS spreads requests over all workers of all
//! executor processes of the pool.

use std::sync::Arc;

use tokio::sync::{oneshot, watch};

use crate::context::ExecutorContext;
use crate::http::{build_client, handle_open};
use crate::intake::serve_queue;

pub struct WorkerPool {
    shutdown: watch::Sender<bool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl WorkerPool {
    /// Stops taking new requests, lets in-flight ones finish (up to the grace period), joins.
    pub fn shutdown_and_join(self) {
        let _ = self.shutdown.send(true);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Starts `n` workers and returns once every one of them is subscribed.
pub async fn spawn_workers(ctx: Arc<ExecutorContext>, n: usize) -> anyhow::Result<WorkerPool> {
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut threads = Vec::new();
    let mut ready = Vec::new();
    for i in 0..n {
        let ctx = ctx.clone();
        let shutdown_rx = shutdown_rx.clone();
        let (ready_tx, ready_rx) = oneshot::channel();
        ready.push(ready_rx);
        threads.push(
            std::thread::Builder::new()
                .name(format!("executor-{i}"))
                .spawn(move || {
                    actix_rt::System::new().block_on(worker_loop(ctx, shutdown_rx, ready_tx));
                })?,
        );
    }
    for r in ready {
        r.await
            .map_err(|_| anyhow::anyhow!("executor worker failed to start"))??;
    }
    threads.push(crate::ssh::spawn_ssh_service(ctx.clone(), shutdown_rx.clone()).await?);
    tokio::spawn(crate::heartbeat::run(ctx.clone(), n, shutdown_rx.clone()));
    tokio::spawn(ctx.targets.clone().follow_changes(ctx.bus.clone()));
    ctx.guard_cache
        .clone()
        .follow_changes(ctx.bus.clone())
        .await
        .map_err(|e| anyhow::anyhow!("cannot subscribe to change events: {e}"))?;
    let labels = shellgate_shared::metrics::PoolLabels {
        pool: ctx.pool_name.clone(),
    };
    ctx.metrics
        .executor
        .workers
        .get_or_create(&labels)
        .set(i64::try_from(n).unwrap_or(i64::MAX));
    tracing::info!(workers = n, pool = %ctx.pool_name, executor = %ctx.id, "executor subscribed");
    Ok(WorkerPool { shutdown, threads })
}

async fn worker_loop(
    ctx: Arc<ExecutorContext>,
    shutdown: watch::Receiver<bool>,
    ready: oneshot::Sender<anyhow::Result<()>>,
) {
    let client = build_client(&ctx);
    let subject = ctx.bus.subjects.exec_http(&ctx.pool_name);
    let limit = ctx.settings.executor_max_in_flight;
    serve_queue(&ctx, subject, limit, shutdown, ready, |msg, permit| {
        let (ctx, client) = (ctx.clone(), client.clone());
        actix_rt::spawn(async move {
            handle_open(ctx, client, msg).await;
            drop(permit);
        });
    })
    .await;
}
