//! Pooled SSH connections: per target, authenticated connections kept open and shared by many
//! exec channels (up to the server's session limit), more opened under load, idle ones closed,
//! broken ones replaced on the next command. Connection setup is paid once, not per command.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use russh::Channel;
use russh::client::{self, Handle, Msg};
use russh::keys::{PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use shellgate_shared::bus::messages::StreamFailure;
use shellgate_shared::config::Settings;
use shellgate_shared::credential::Credential;
use shellgate_shared::error::Code;
use shellgate_shared::ids::TargetId;
use shellgate_shared::metrics::{ExecutorMetrics, OutcomeLabels};
use shellgate_shared::ssh::{HostKeyInfo, describe_host_key};
use tokio::sync::Notify;

/// Where and as whom to connect, with the keys the server may present.
pub struct Endpoint {
    pub target_id: TargetId,
    pub host: String,
    pub port: u16,
    pub username: String,
    pub credential: Credential,
    /// When the credential was last changed: a new credential means new connections.
    pub credential_version: i128,
    pub pins: Vec<PublicKey>,
}

impl Endpoint {
    /// Connections made for one endpoint configuration are reused only for the same one.
    fn config_key(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (&self.host, self.port, &self.username, self.credential_version).hash(&mut h);
        for p in &self.pins {
            p.fingerprint(russh::keys::HashAlg::Sha256).to_string().hash(&mut h);
        }
        h.finish()
    }
}

/// Why no channel could be had.
#[derive(Debug)]
pub enum ConnectError {
    /// The server presented a key that is not accepted; `pinned`: the target has accepted keys
    /// (so this is a changed key, not a first contact).
    HostKey {
        presented: HostKeyInfo,
        pinned: bool,
    },
    Failure(StreamFailure),
}

fn failure(code: Code, message: &str) -> ConnectError {
    ConnectError::Failure(StreamFailure::new(code, message))
}

/// Verifies the server's host key against the target's accepted keys; remembers what it saw.
struct ClientHandler {
    pins: Vec<PublicKey>,
    presented: Arc<Mutex<Option<PublicKey>>>,
}

impl client::Handler for ClientHandler {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let key = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            PublicKeyOrCertificate::Certificate(cert) => PublicKey::new(cert.public_key().clone(), ""),
        };
        // Equality of the key data only: a stored key's comment must not matter.
        let accepted = self.pins.iter().any(|p| p.key_data() == key.key_data());
        if let Ok(mut slot) = self.presented.lock() {
            *slot = Some(key);
        }
        Ok(accepted)
    }
}

struct Conn {
    id: u64,
    handle: Handle<ClientHandler>,
    active: AtomicUsize,
    /// Channels this connection may carry at once: the configured maximum, lowered when the
    /// server refuses a channel (its MaxSessions).
    limit: AtomicUsize,
    uses: AtomicU64,
    idle_since: Mutex<Instant>,
}

struct TargetPool {
    key: u64,
    conns: Mutex<Vec<Arc<Conn>>>,
    opening: AtomicUsize,
    released: Notify,
}

/// A channel on a pooled connection; returns its slot when dropped.
pub struct Lease {
    pub channel: Option<Channel<Msg>>,
    /// The connection had carried commands before this one.
    pub reused: bool,
    conn: Arc<Conn>,
    pool: Arc<TargetPool>,
    metrics: ExecutorMetrics,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.metrics.ssh_channels.dec();
        self.conn.active.fetch_sub(1, Ordering::AcqRel);
        if let Ok(mut t) = self.conn.idle_since.lock() {
            *t = Instant::now();
        }
        self.pool.released.notify_waiters();
    }
}

#[derive(Clone)]
pub struct PoolSettings {
    connect_timeout: Duration,
    idle_timeout: Duration,
    max_sessions: usize,
    max_connections: usize,
    keepalive: Duration,
}

impl PoolSettings {
    pub fn from_settings(s: &Settings) -> Self {
        Self {
            connect_timeout: Duration::from_millis(s.ssh_connect_timeout_ms),
            idle_timeout: Duration::from_secs(s.ssh_idle_timeout_secs),
            max_sessions: s.ssh_max_sessions_per_connection,
            max_connections: s.ssh_max_connections_per_target,
            keepalive: Duration::from_secs(s.ssh_keepalive_secs.max(1)),
        }
    }
}

/// Every pooled connection of one executor.
pub struct SshPools {
    settings: PoolSettings,
    pools: Mutex<HashMap<TargetId, Arc<TargetPool>>>,
    next_id: AtomicU64,
    metrics: ExecutorMetrics,
}

impl SshPools {
    pub fn new(settings: PoolSettings, metrics: ExecutorMetrics) -> Arc<Self> {
        Arc::new(Self {
            settings,
            pools: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            metrics,
        })
    }

    fn count_connects(&self, outcome: &str) {
        self.metrics
            .ssh_connects
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    fn update_gauge(&self) {
        self.metrics
            .ssh_connections
            .set(i64::try_from(self.connection_count()).unwrap_or(i64::MAX));
    }

    fn pool_for(&self, ep: &Endpoint) -> Arc<TargetPool> {
        let key = ep.config_key();
        let mut pools = self.pools.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match pools.get(&ep.target_id) {
            Some(p) if p.key == key => p.clone(),
            _ => {
                // A changed target (address, credential, accepted keys): its old connections
                // are closed when their last command ends.
                let p = Arc::new(TargetPool {
                    key,
                    conns: Mutex::new(Vec::new()),
                    opening: AtomicUsize::new(0),
                    released: Notify::new(),
                });
                pools.insert(ep.target_id, p.clone());
                p
            }
        }
    }

    /// A session channel to the endpoint: on an existing connection with a free slot, else on
    /// a new connection, else (every connection full, none may be added) once one frees up.
    pub async fn channel(&self, ep: &Endpoint) -> Result<Lease, ConnectError> {
        let pool = self.pool_for(ep);
        let deadline = tokio::time::Instant::now() + self.settings.connect_timeout;
        let mut failed_opens = 0;
        loop {
            if let Some(conn) = pick(&pool) {
                let uses = conn.uses.fetch_add(1, Ordering::AcqRel);
                match conn.handle.channel_open_session().await {
                    Ok(channel) => {
                        self.metrics.ssh_channels.inc();
                        return Ok(Lease {
                            channel: Some(channel),
                            reused: uses > 0,
                            conn,
                            pool,
                            metrics: self.metrics.clone(),
                        });
                    }
                    Err(e) => {
                        let others = conn.active.fetch_sub(1, Ordering::AcqRel) - 1;
                        let refused = matches!(e, russh::Error::ChannelOpenFailure(_)) && !conn.handle.is_closed();
                        if refused && others > 0 {
                            // The server's session limit: remember it, use another connection.
                            conn.limit.store(others, Ordering::Release);
                            tracing::debug!(
                                conn = conn.id,
                                limit = others,
                                "server refused a channel; limit learned"
                            );
                        } else {
                            tracing::info!(conn = conn.id, error = %e, "pooled SSH connection broken; replacing it");
                            remove(&pool, &conn);
                            self.update_gauge();
                            let _ = conn.handle.disconnect(russh::Disconnect::ByApplication, "", "en").await;
                        }
                        failed_opens += 1;
                        if failed_opens > self.settings.max_connections + 2 {
                            return Err(failure(Code::SshSessionRefused, "the server refused to open a session"));
                        }
                    }
                }
                continue;
            }
            let count = lock(&pool.conns).len() + pool.opening.load(Ordering::Acquire);
            if count < self.settings.max_connections {
                pool.opening.fetch_add(1, Ordering::AcqRel);
                let made = self.connect(ep).await;
                pool.opening.fetch_sub(1, Ordering::AcqRel);
                match made {
                    Ok(conn) => {
                        self.count_connects("ok");
                        lock(&pool.conns).push(Arc::new(conn));
                        self.update_gauge();
                    }
                    Err(e) => {
                        self.count_connects(match &e {
                            ConnectError::HostKey { pinned: true, .. } => "host_key_mismatch",
                            ConnectError::HostKey { pinned: false, .. } => "host_key_unknown",
                            ConnectError::Failure(f) => &f.code,
                        });
                        return Err(e);
                    }
                }
                continue;
            }
            // Every connection is full: wait for a slot (bounded by the connect timeout).
            let wait = tokio::time::timeout_at(deadline, pool.released.notified());
            if tokio::time::timeout(Duration::from_millis(50), wait)
                .await
                .is_ok_and(|r| r.is_err())
            {
                return Err(failure(
                    Code::SshBusy,
                    "every connection to this server is busy; try again",
                ));
            }
        }
    }

    async fn connect(&self, ep: &Endpoint) -> Result<Conn, ConnectError> {
        let config = Arc::new(client::Config {
            keepalive_interval: Some(self.settings.keepalive),
            keepalive_max: 3,
            nodelay: true,
            ..Default::default()
        });
        let presented = Arc::new(Mutex::new(None));
        let handler = ClientHandler {
            pins: ep.pins.clone(),
            presented: presented.clone(),
        };
        let setup = async {
            let mut handle = client::connect(config, (ep.host.as_str(), ep.port), handler)
                .await
                .map_err(|e| match e {
                    russh::Error::UnknownKey => {
                        let seen = lock(&presented).clone();
                        match seen {
                            Some(key) => ConnectError::HostKey {
                                presented: describe_host_key(&key),
                                pinned: !ep.pins.is_empty(),
                            },
                            None => failure(Code::SshConnectFailed, "the server's host key could not be read"),
                        }
                    }
                    other => {
                        tracing::info!(error = %other, host = %ep.host, port = ep.port, "SSH connect failed");
                        failure(Code::SshConnectFailed, "cannot connect to the SSH server")
                    }
                })?;
            authenticate(&mut handle, ep).await?;
            Ok::<_, ConnectError>(handle)
        };
        let handle = tokio::time::timeout(self.settings.connect_timeout, setup)
            .await
            .map_err(|_| {
                failure(
                    Code::SshConnectTimeout,
                    "the SSH server did not complete the connection in time",
                )
            })??;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(conn = id, host = %ep.host, "SSH connection established");
        Ok(Conn {
            id,
            handle,
            active: AtomicUsize::new(0),
            limit: AtomicUsize::new(self.settings.max_sessions),
            uses: AtomicU64::new(0),
            idle_since: Mutex::new(Instant::now()),
        })
    }

    /// Closes connections idle for longer than the idle timeout and forgets closed ones; run
    /// periodically.
    pub async fn reap(&self) {
        let pools: Vec<Arc<TargetPool>> = lock(&self.pools).values().cloned().collect();
        for pool in pools {
            let idle: Vec<Arc<Conn>> = {
                let mut conns = lock(&pool.conns);
                let (drop_now, keep): (Vec<_>, Vec<_>) = conns.drain(..).partition(|c| {
                    let unused = c.active.load(Ordering::Acquire) == 0;
                    let idle_for = lock(&c.idle_since).elapsed();
                    c.handle.is_closed() || (unused && idle_for >= self.settings.idle_timeout)
                });
                *conns = keep;
                drop_now
            };
            for c in idle {
                tracing::debug!(conn = c.id, "closing idle SSH connection");
                let _ = c
                    .handle
                    .disconnect(russh::Disconnect::ByApplication, "idle", "en")
                    .await;
            }
        }
        lock(&self.pools).retain(|_, p| !lock(&p.conns).is_empty() || p.opening.load(Ordering::Acquire) > 0);
        self.update_gauge();
    }

    /// Connections currently pooled (all targets).
    pub fn connection_count(&self) -> usize {
        lock(&self.pools).values().map(|p| lock(&p.conns).len()).sum()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A live connection with a free slot, its slot taken.
fn pick(pool: &TargetPool) -> Option<Arc<Conn>> {
    let mut conns = lock(&pool.conns);
    conns.retain(|c| !c.handle.is_closed());
    conns.iter().find_map(|c| {
        let limit = c.limit.load(Ordering::Acquire);
        c.active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |a| (a < limit).then_some(a + 1))
            .ok()
            .map(|_| c.clone())
    })
}

fn remove(pool: &TargetPool, conn: &Arc<Conn>) {
    lock(&pool.conns).retain(|c| !Arc::ptr_eq(c, conn));
}

async fn authenticate(handle: &mut Handle<ClientHandler>, ep: &Endpoint) -> Result<(), ConnectError> {
    let auth_failed = || failure(Code::SshAuthFailed, "the SSH server rejected the target's credential");
    let result = match &ep.credential {
        Credential::SshKey { .. } => {
            let key = match ep.credential.ssh_private_key() {
                Some(Ok(k)) => k,
                _ => {
                    return Err(failure(
                        Code::CredentialUnavailable,
                        "the target's SSH key cannot be read",
                    ));
                }
            };
            let hash_alg = if key.algorithm().is_rsa() {
                handle.best_supported_rsa_hash().await.ok().flatten().flatten()
            } else {
                None
            };
            handle
                .authenticate_publickey(&ep.username, PrivateKeyWithHashAlg::new(Arc::new(key), hash_alg))
                .await
        }
        Credential::Password { password } => handle.authenticate_password(&ep.username, password).await,
        _ => {
            return Err(failure(
                Code::CredentialUnavailable,
                "the target's credential is not an SSH credential",
            ));
        }
    };
    match result {
        Ok(r) if r.success() => Ok(()),
        Ok(_) => Err(auth_failed()),
        Err(e) => {
            tracing::info!(error = %e, "SSH authentication failed");
            Err(auth_failed())
        }
    }
}
