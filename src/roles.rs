//! Starting and stopping the roles, alone or all in one process.

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};
use anyhow::Context as _;
use shellgate_executor::{ExecutorContext, WorkerPool, spawn_workers};
use shellgate_gateway::GatewayContext;
use shellgate_shared::bus::Bus;
use shellgate_shared::client_addr::TrustedProxies;
use shellgate_shared::config::Settings;
use shellgate_shared::crypto::{NotifierKey, VaultPublicKey, VaultSecretKey};
use shellgate_shared::db::{self, DbPool};
use shellgate_shared::metrics::Metrics;
use tokio::sync::watch;
use tracing_actix_web::TracingLogger;

use crate::vault_keys;

/// A running role: its HTTP server and whatever else must be stopped with it.
pub struct Running {
    pub name: &'static str,
    pub addr: SocketAddr,
    server: ServerHandle,
    workers: Option<WorkerPool>,
    background: Option<watch::Sender<bool>>,
}

impl Running {
    /// Graceful stop: the HTTP server finishes in-flight requests; executors finish theirs.
    pub async fn stop(self) {
        if let Some(bg) = &self.background {
            let _ = bg.send(true);
        }
        self.server.stop(true).await;
        if let Some(workers) = self.workers {
            let _ = tokio::task::spawn_blocking(move || workers.shutdown_and_join()).await;
        }
    }
}

fn bind_error(listen: &str, var: &str) -> String {
    format!("cannot listen on {listen}; is another process using it? Set {var} to another address")
}

fn serve<F>(
    settings: &Settings,
    listen: &str,
    var: &str,
    workers: usize,
    factory: F,
) -> anyhow::Result<(SocketAddr, ServerHandle)>
where
    F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
{
    let trusted: TrustedProxies = settings.trusted_proxies.parse().context("SHELLGATE_TRUSTED_PROXIES")?;
    let trusted = web::Data::new(trusted);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(trusted.clone())
            .wrap(TracingLogger::default())
            // Outermost: runs before the logger reads the client address.
            .wrap(actix_web::middleware::from_fn(crate::forwarded::resolve_client))
            .configure(factory.clone())
    })
    .workers(workers)
    // Responses are written as head then body chunks: without TCP_NODELAY each small write
    // after the first waits for the client's delayed ACK.
    .tcp_nodelay(true)
    .disable_signals()
    .shutdown_timeout(settings.shutdown_grace_ms.div_ceil(1000))
    .bind(listen)
    .with_context(|| bind_error(listen, var))?;
    let addr = server.addrs().first().copied().context("server bound no address")?;
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(async move {
        if let Err(e) = server.await {
            tracing::error!(error = %e, "HTTP server stopped with an error");
        }
    });
    Ok((addr, handle))
}

async fn connect(settings: &Settings, name: &str) -> anyhow::Result<(DbPool, Bus)> {
    let db = db::connect_pool(settings).await?;
    let bus = Bus::connect(settings, name).await?;
    Ok((db, bus))
}

pub async fn start_gateway(settings: &Settings, bus: Bus, db: DbPool, metrics: Metrics) -> anyhow::Result<Running> {
    bus.ensure_audit_stream(&settings.nats_url).await?;
    let ctx = GatewayContext::new(settings, bus, db, metrics);
    ctx.start_background()
        .await
        .map_err(|e| anyhow::anyhow!("cannot subscribe to change events: {e}"))?;
    let mcp = shellgate_gateway::McpEndpoint::new(ctx.clone(), settings);
    let data = web::Data::new(ctx);
    let (addr, server) = serve(
        settings,
        &settings.gateway_listen,
        "SHELLGATE_GATEWAY_LISTEN",
        settings.gateway_workers(),
        move |cfg| {
            cfg.app_data(data.clone());
            shellgate_gateway::configure(cfg, &mcp);
        },
    )?;
    Ok(Running {
        name: "gateway",
        addr,
        server,
        workers: None,
        background: None,
    })
}

pub async fn start_executor(
    settings: &Settings,
    bus: Bus,
    db: DbPool,
    vault: VaultSecretKey,
    metrics: Metrics,
) -> anyhow::Result<Running> {
    let ctx: Arc<ExecutorContext> = ExecutorContext::new(settings, bus, db, vault, metrics);
    let workers = spawn_workers(ctx.clone(), settings.executor_workers()).await?;
    let data = web::Data::new(ctx);
    let (addr, server) = serve(
        settings,
        &settings.executor_listen,
        "SHELLGATE_EXECUTOR_LISTEN",
        1,
        move |cfg| {
            cfg.app_data(data.clone());
            shellgate_executor::configure(cfg);
        },
    )?;
    Ok(Running {
        name: "executor",
        addr,
        server,
        workers: Some(workers),
        background: None,
    })
}

/// Registers SHELLGATE_ADMIN_BOOTSTRAP_KEY if it is set and not known yet.
async fn bootstrap_admin_key(settings: &Settings, db: &DbPool) -> anyhow::Result<()> {
    use secrecy::ExposeSecret as _;
    let Some(key) = &settings.admin_bootstrap_key else {
        return Ok(());
    };
    let hash = shellgate_shared::crypto::hash_secret(key.expose_secret());
    let mut conn = db.get().await.context("database connection")?;
    let new = shellgate_shared::db::models::NewAdminKey {
        id: shellgate_shared::ids::AdminKeyId::new(),
        name: "bootstrap",
        key_hash: &hash,
        scopes: Vec::new(),
    };
    if shellgate_shared::db::queries::admin_keys::ensure_admin_key(&mut conn, &new).await? {
        tracing::info!("registered the admin bootstrap key");
    }
    Ok(())
}

pub async fn start_approver(
    settings: &Settings,
    bus: Bus,
    db: DbPool,
    vault: VaultPublicKey,
    notifier_key: Option<NotifierKey>,
    metrics: Metrics,
) -> anyhow::Result<Running> {
    bootstrap_admin_key(settings, &db).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let ctx = shellgate_approver::start_background(settings, bus, db, vault, notifier_key, metrics, stop_rx).await?;
    let data = web::Data::new(ctx);
    let (addr, server) = serve(
        settings,
        &settings.approver_listen,
        "SHELLGATE_APPROVER_LISTEN",
        settings.approver_workers.max(1),
        move |cfg| {
            cfg.app_data(data.clone());
            shellgate_approver::configure(cfg);
        },
    )?;
    Ok(Running {
        name: "approver",
        addr,
        server,
        workers: None,
        background: Some(stop_tx),
    })
}

fn announce(running: &[&Running]) {
    println!("Shellgate is up:");
    for r in running {
        let what = match r.name {
            "gateway" => "agents: /gateway/<target>/…",
            "approver" => "people: the dashboard at /, admins: /api/…",
            _ => "health: /health, /ready",
        };
        println!("  {:<9} http://{}   ({what})", format!("{}:", r.name), r.addr);
    }
    println!("Stop with Ctrl-C (or SIGTERM): in-flight requests finish first.");
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(t) => t,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

async fn shut_down(buses: Vec<Bus>, running: Vec<Running>) {
    tracing::info!("shutting down");
    for r in running {
        r.stop().await;
    }
    for bus in buses {
        if let Err(e) = bus.client.drain().await {
            tracing::warn!(error = %e, "NATS drain failed");
        }
    }
}

pub async fn up(mut settings: Settings) -> anyhow::Result<()> {
    // Postgres and NATS of its own where none runs (stopped when `up` stops, or on an error).
    let mut embedded = crate::embed::Embedded::prepare(&mut settings)?;
    if let Err(e) = crate::migrate(&settings).await {
        return Err(embedded.explain(&settings, e));
    }
    settings.session_secret = Some(vault_keys::session_secret_for_single_process(&settings)?);
    let vault = vault_keys::for_single_process(&settings)?;
    let (db, bus) = connect(&settings, "shellgate-up-approver").await?;
    // One NATS connection per role, as when they run apart: each has its own I/O task.
    let executor_bus = Bus::connect(&settings, "shellgate-up-executor").await?;
    let gateway_bus = Bus::connect(&settings, "shellgate-up-gateway").await?;
    let metrics = Metrics::new();
    let notifier_key = vault_keys::notifier_key_for_single_process(&settings)?;
    let approver = start_approver(
        &settings,
        bus.clone(),
        db.clone(),
        vault.public_key(),
        Some(notifier_key),
        metrics.clone(),
    )
    .await?;
    let executor = start_executor(&settings, executor_bus.clone(), db.clone(), vault, metrics.clone()).await?;
    let gateway = start_gateway(&settings, gateway_bus.clone(), db, metrics).await?;
    embedded.describe(&settings);
    announce(&[&gateway, &approver, &executor]);
    wait_for_signal().await;
    shut_down(vec![gateway_bus, executor_bus, bus], vec![gateway, executor, approver]).await;
    embedded.stop();
    Ok(())
}

pub async fn gateway(settings: Settings) -> anyhow::Result<()> {
    let (db, bus) = connect(&settings, "shellgate-gateway").await?;
    let gateway = start_gateway(&settings, bus.clone(), db, Metrics::new()).await?;
    announce(&[&gateway]);
    wait_for_signal().await;
    shut_down(vec![bus], vec![gateway]).await;
    Ok(())
}

pub async fn executor(settings: Settings) -> anyhow::Result<()> {
    let vault = vault_keys::secret_key(&settings)?;
    let (db, bus) = connect(&settings, "shellgate-executor").await?;
    let executor = start_executor(&settings, bus.clone(), db, vault, Metrics::new()).await?;
    announce(&[&executor]);
    wait_for_signal().await;
    shut_down(vec![bus], vec![executor]).await;
    Ok(())
}

pub async fn approver(settings: Settings) -> anyhow::Result<()> {
    let vault = vault_keys::public_key(&settings)?;
    let (db, bus) = connect(&settings, "shellgate-approver").await?;
    let notifier_key = vault_keys::notifier_key(&settings)?;
    if notifier_key.is_none() {
        tracing::warn!("no SHELLGATE_NOTIFIER_KEY: notifiers cannot be added through the API");
    }
    let approver = start_approver(&settings, bus.clone(), db, vault, notifier_key, Metrics::new()).await?;
    announce(&[&approver]);
    wait_for_signal().await;
    shut_down(vec![bus], vec![approver]).await;
    Ok(())
}
