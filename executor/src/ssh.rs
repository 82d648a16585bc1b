//! The SSH transport: a queue subscription to the pool's SSH subject on a runtime of its own,
//! the connection pool, and the execution of one command.

pub mod exec;
pub mod pool;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};

use crate::context::ExecutorContext;
use crate::intake::serve_queue;
use pool::{PoolSettings, SshPools};

/// How often idle and broken pooled connections are looked for.
const REAP_EVERY: Duration = Duration::from_secs(5);

/// Starts the SSH service thread; returns once it is subscribed.
pub async fn spawn_ssh_service(
    ctx: Arc<ExecutorContext>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let (ready_tx, ready_rx) = oneshot::channel();
    let thread = std::thread::Builder::new().name("executor-ssh".into()).spawn(move || {
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("executor-ssh")
            .enable_all()
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                let _ = ready_tx.send(Err(anyhow::anyhow!("cannot start the SSH runtime: {e}")));
                return;
            }
        };
        runtime.block_on(serve(ctx, shutdown, ready_tx));
        // Pooled connections end with the runtime.
        runtime.shutdown_timeout(Duration::from_secs(1));
    })?;
    ready_rx
        .await
        .map_err(|_| anyhow::anyhow!("the SSH service failed to start"))??;
    Ok(thread)
}

async fn serve(ctx: Arc<ExecutorContext>, shutdown: watch::Receiver<bool>, ready: oneshot::Sender<anyhow::Result<()>>) {
    let pools = SshPools::new(PoolSettings::from_settings(&ctx.settings), ctx.metrics.executor.clone());
    let reaper = {
        let pools = pools.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(REAP_EVERY);
            loop {
                tick.tick().await;
                pools.reap().await;
            }
        })
    };
    let subject = ctx.bus.subjects.exec_ssh(&ctx.pool_name);
    let limit = ctx.settings.ssh_max_in_flight;
    serve_queue(&ctx, subject, limit, shutdown, ready, |msg, permit| {
        let (ctx, pools) = (ctx.clone(), pools.clone());
        tokio::spawn(async move {
            exec::handle_ssh_open(ctx, pools, msg).await;
            drop(permit);
        });
    })
    .await;
    reaper.abort();
}
