//! Token authentication with a short-lived in-memory cache. A cached answer is dropped at once
//! when the approver announces a change (NATS), when the NATS connection was interrupted (we may
//! have missed an announcement), and in any case after the TTL.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::HttpRequest;
use actix_web::http::header;
use futures_util::StreamExt;
use shellgate_shared::approval::{TargetBinding, target_address};
use shellgate_shared::bus::Bus;
use shellgate_shared::bus::messages::AuthInvalidation;
use shellgate_shared::client_addr::AllowedAddresses;
use shellgate_shared::crypto::{TOKEN_PREFIX, bearer_secret, hash_secret};
use shellgate_shared::db::models::Token;
use shellgate_shared::db::{DbPool, queries};
use shellgate_shared::error::Code;
use shellgate_shared::ids::{TargetId, TokenId};
use shellgate_shared::states::{Capability, QueryApi, TargetKind};

use crate::context::GatewayContext;
use time::OffsetDateTime;

use crate::error::ApiError;

/// A target a token may use, as the gateway needs it for routing.
#[derive(Debug, Clone)]
pub struct Grant {
    pub target_id: TargetId,
    pub slug: String,
    pub kind: TargetKind,
    pub pool: String,
    pub enabled: bool,
    /// `sql` / `graphql`: the guard reads queries in the body.
    pub query_api: Option<QueryApi>,
    /// Where the target sends requests (HTTP base URL, SSH `user@host:port`): approvals bind it.
    pub address: String,
    /// What an agent is told about the target (`bootstrap`).
    pub about: TargetAbout,
}

/// What an agent may know of a target: never its credential.
#[derive(Debug, Clone)]
pub struct TargetAbout {
    pub name: String,
    pub description: String,
    pub base_url: Option<String>,
    pub ssh_host: Option<String>,
    pub ssh_port: Option<i32>,
    pub ssh_username: Option<String>,
}

impl Grant {
    /// What an approval made for a request to this target is bound to.
    pub fn binding(&self) -> TargetBinding<'_> {
        TargetBinding {
            id: self.target_id,
            kind: self.kind,
            address: &self.address,
        }
    }
}

#[derive(Debug)]
pub struct Principal {
    pub token: Token,
    pub grants: HashMap<String, Grant>,
    /// The token's `allowedCidrs`; `None` if they cannot be read (then no address may use it).
    allowed: Option<AllowedAddresses>,
    fetched: Instant,
    epoch: u64,
    touched: Mutex<Instant>,
}

impl Principal {
    pub fn token_id(&self) -> TokenId {
        self.token.id
    }

    pub fn has(&self, capability: Capability) -> bool {
        self.token.capabilities.contains(&capability)
    }

    /// Refuses a token without `capability` (403 `capability_missing`).
    pub fn require(&self, capability: Capability) -> Result<(), ApiError> {
        if self.has(capability) {
            Ok(())
        } else {
            Err(ApiError::CapabilityMissing(capability.as_str()))
        }
    }

    /// Refuses a request from outside the token's `allowedCidrs` (403 `address_not_allowed`);
    /// `client` is the address the trusted-proxy setting resolved.
    pub fn check_address(&self, client: Option<&str>) -> Result<(), ApiError> {
        let ip = client.and_then(|c| c.parse().ok());
        match &self.allowed {
            Some(allowed) if allowed.allows(ip) => Ok(()),
            _ => Err(ApiError::AddressNotAllowed),
        }
    }

    /// The granted target with this slug; a target that exists but is not granted is
    /// indistinguishable from one that does not exist.
    pub fn grant(&self, slug: &str) -> Result<&Grant, ApiError> {
        self.grants.get(slug).ok_or(ApiError::TargetNotFound)
    }
}

pub struct AuthCache {
    ttl: Duration,
    entries: Mutex<HashMap<Vec<u8>, Arc<Principal>>>,
    /// Bumped by every invalidation: a lookup that started before one does not cache its result.
    generation: AtomicU64,
    /// When this node last recorded each target's use (`targets.last_used_at`).
    target_use: Mutex<HashMap<TargetId, Instant>>,
}

/// Upper bound on cached tokens; past it the cache starts over.
const MAX_ENTRIES: usize = 100_000;
/// `last_used_at` is written at most this often per token.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// The bearer token of a request, if it has the `sg_` shape.
/// The principal of a REST request: its bearer token, usable, from an allowed address.
pub async fn authenticate_request(ctx: &GatewayContext, req: &HttpRequest) -> Result<Arc<Principal>, ApiError> {
    let principal = ctx.auth.authenticate(&ctx.db, &ctx.bus, bearer(req)?).await?;
    principal.check_address(crate::edge::client_ip(req).as_deref())?;
    Ok(principal)
}

pub fn bearer(req: &HttpRequest) -> Result<&str, ApiError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::MissingToken)?
        .to_str()
        .map_err(|_| ApiError::InvalidToken)?;
    bearer_secret(value, TOKEN_PREFIX).ok_or(ApiError::InvalidToken)
}

impl AuthCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            target_use: Mutex::new(HashMap::new()),
        }
    }

    /// The principal of a well-formed token, or why it may not be used.
    pub async fn authenticate(&self, db: &DbPool, bus: &Bus, token: &str) -> Result<Arc<Principal>, ApiError> {
        let hash = hash_secret(token);
        let epoch = bus.reconnect_epoch();
        let cached = self.entries.lock().ok().and_then(|e| e.get(&hash).cloned());
        let principal = match cached {
            Some(p) if p.fetched.elapsed() < self.ttl && p.epoch == epoch => p,
            _ => self.load(db, epoch, hash).await?,
        };
        check_usable(&principal.token)?;
        self.maybe_touch(db, &principal);
        Ok(principal)
    }

    async fn load(&self, db: &DbPool, epoch: u64, hash: Vec<u8>) -> Result<Arc<Principal>, ApiError> {
        let generation = self.generation.load(Ordering::SeqCst);
        let unavailable = |e: &dyn std::fmt::Display| {
            tracing::error!(error = %e, "token lookup failed");
            ApiError::Unavailable(Code::AuthUnavailable)
        };
        let (token, grants) = {
            let mut conn = db.get().await.map_err(|e| unavailable(&e))?;
            let token = queries::tokens::find_token_by_hash(&mut conn, &hash)
                .await
                .map_err(|e| unavailable(&e))?
                .ok_or(ApiError::InvalidToken)?;
            let grants = queries::permissions::targets_of_token(&mut conn, token.id)
                .await
                .map_err(|e| unavailable(&e))?;
            (token, grants)
        };
        let grants = grants
            .into_iter()
            .map(|(_, t)| {
                let grant = Grant {
                    address: target_address(&t),
                    about: TargetAbout {
                        name: t.name,
                        description: t.description,
                        base_url: t.base_url,
                        ssh_host: t.ssh_host,
                        ssh_port: t.ssh_port,
                        ssh_username: t.ssh_username,
                    },
                    target_id: t.id,
                    slug: t.slug.clone(),
                    kind: t.kind,
                    pool: t.pool,
                    enabled: t.enabled,
                    query_api: t.query_api,
                };
                (t.slug, grant)
            })
            .collect();
        let allowed = AllowedAddresses::parse(&token.allowed_cidrs)
            .inspect_err(|e| tracing::error!(error = %e, token = %token.id, "unreadable allowedCidrs: token refused"))
            .ok();
        let principal = Arc::new(Principal {
            allowed,
            token,
            grants,
            fetched: Instant::now(),
            epoch,
            touched: Mutex::new(Instant::now() - TOUCH_EVERY),
        });
        if let Ok(mut entries) = self.entries.lock()
            && self.generation.load(Ordering::SeqCst) == generation
        {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(hash, principal.clone());
        }
        Ok(principal)
    }

    fn maybe_touch(&self, db: &DbPool, principal: &Principal) {
        let due = principal.touched.lock().is_ok_and(|mut t| {
            let due = t.elapsed() >= TOUCH_EVERY;
            if due {
                *t = Instant::now();
            }
            due
        });
        if due {
            let db = db.clone();
            let id = principal.token.id;
            tokio::spawn(async move {
                if let Ok(mut conn) = db.get().await
                    && let Err(e) = queries::tokens::touch_token(&mut conn, id).await
                {
                    tracing::warn!(error = %e, "cannot record token use");
                }
            });
        }
    }

    /// Records that an agent was admitted to a target: at most once a minute per target from this
    /// node (and the database skips the write when another node did it within the minute).
    pub fn record_target_use(&self, db: &DbPool, target: TargetId) {
        let due = self.target_use.lock().is_ok_and(|mut seen| {
            let now = Instant::now();
            if seen.len() >= MAX_ENTRIES {
                seen.clear();
            }
            let due = seen.get(&target).is_none_or(|t| now.duration_since(*t) >= TOUCH_EVERY);
            if due {
                seen.insert(target, now);
            }
            due
        });
        if due {
            let db = db.clone();
            tokio::spawn(async move {
                if let Ok(mut conn) = db.get().await
                    && let Err(e) = queries::targets::touch_target(&mut conn, target).await
                {
                    tracing::warn!(error = %e, "cannot record target use");
                }
            });
        }
    }

    pub fn invalidate(&self, token: Option<TokenId>) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut entries) = self.entries.lock() {
            match token {
                Some(id) => entries.retain(|_, p| p.token.id != id),
                None => entries.clear(),
            }
        }
    }

    /// Subscribes to the approver's change announcements, then applies them in the background
    /// for as long as the process runs. Returns once the subscription is in place.
    pub async fn follow_changes(self: Arc<Self>, bus: Bus) -> Result<(), async_nats::Error> {
        let mut sub = bus.client.subscribe(bus.subjects.auth_events()).await?;
        bus.client.flush().await?;
        tokio::spawn(async move {
            while let Some(msg) = sub.next().await {
                match serde_json::from_slice::<AuthInvalidation>(&msg.payload) {
                    Ok(ev) => self.invalidate(ev.token_id),
                    Err(_) => self.invalidate(None),
                }
            }
        });
        Ok(())
    }
}

fn check_usable(token: &Token) -> Result<(), ApiError> {
    if token.revoked_at.is_some() {
        return Err(ApiError::TokenRevoked);
    }
    if !token.enabled {
        return Err(ApiError::TokenDisabled);
    }
    if token.expires_at.is_some_and(|e| e <= OffsetDateTime::now_utc()) {
        return Err(ApiError::TokenExpired);
    }
    Ok(())
}
