//! What every approver worker shares.

use std::sync::Arc;

use shellgate_shared::audit::publisher::AuditPublisher;
use shellgate_shared::bus::Bus;
use shellgate_shared::config::Settings;
use shellgate_shared::crypto::{NotifierKey, VaultPublicKey};
use shellgate_shared::db::DbPool;
use shellgate_shared::metrics::Metrics;

pub struct ApproverContext {
    pub bus: Bus,
    pub db: DbPool,
    pub vault: VaultPublicKey,
    /// Seals and opens the notifiers added through the API; without it there are none.
    pub notifier_key: Option<NotifierKey>,
    pub settings: Settings,
    pub metrics: Metrics,
    pub audit: AuditPublisher,
    /// Lets a notifier change through the API wait until this replica applied it.
    pub notifier_sync: crate::notify::registry::NotifierSync,
    /// The dashboard's templates, session keys and login limits.
    pub dashboard: crate::dashboard::Dashboard,
    /// The executors heard from lately.
    pub executors: Arc<crate::executors::Executors>,
}

impl ApproverContext {
    pub fn new(
        settings: &Settings,
        bus: Bus,
        db: DbPool,
        vault: VaultPublicKey,
        notifier_key: Option<NotifierKey>,
        metrics: Metrics,
    ) -> Arc<Self> {
        let audit = AuditPublisher::new(&bus);
        Arc::new(Self {
            bus,
            db,
            vault,
            notifier_key,
            settings: settings.clone(),
            metrics,
            audit,
            notifier_sync: crate::notify::registry::NotifierSync::default(),
            dashboard: crate::dashboard::Dashboard::new(settings),
            executors: Arc::default(),
        })
    }

    /// A pooled connection, or 503 when the database is unavailable.
    pub async fn conn(&self) -> Result<shellgate_shared::db::DbConn, crate::error::ApiError> {
        self.db.get().await.map_err(|e| {
            tracing::error!(error = %e, "database unavailable");
            crate::error::ApiError::Unavailable
        })
    }
}
