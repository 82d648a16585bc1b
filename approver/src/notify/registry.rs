//! Notifiers an admin manages through the API (`/api/notifiers`), next to the ones the settings
//! configure. A row seals the URL and the signing secret with the approver's notifier key; the
//! API shows only a hint of the URL. Every approver replica runs every enabled notifier (their
//! durable consumers are shared, so each event is delivered once), and re-reads the rows when
//! the API announces a change, and every `notify_reload_secs` in case it missed one.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt as _;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use shellgate_shared::bus::messages::NotifiersChanged;
use shellgate_shared::crypto::{CryptoError, NotifierKey};
use shellgate_shared::db::models::NotifierRow;
use shellgate_shared::db::queries;
use shellgate_shared::ids::NotifierId;
use time::OffsetDateTime;
use tokio::sync::{Notify, watch};

use shellgate_shared::states::NotifierKind;

use crate::context::ApproverContext;
use crate::notify::delivery::{self as notifier, Notifier, NotifySettings, Target};

/// What a row seals: where the notifier posts and, for a webhook, what it signs with.
#[derive(Serialize, Deserialize)]
struct Sealed {
    url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

/// The durable consumer of an API-managed notifier.
pub fn consumer_name(id: NotifierId) -> String {
    format!("notifier-{id}")
}

pub fn seal(key: &NotifierKey, id: NotifierId, url: &str, secret: Option<&str>) -> Result<Vec<u8>, CryptoError> {
    let plain = serde_json::to_vec(&Sealed {
        url: url.to_string(),
        secret: secret.map(str::to_string),
    })
    .map_err(|_| CryptoError::Seal)?;
    key.seal(id.0.as_bytes(), &plain)
}

/// The URL and the secret a row seals.
pub fn open(key: &NotifierKey, row: &NotifierRow) -> Result<(String, Option<String>), CryptoError> {
    let plain = key.open(&row.key_id, row.id.0.as_bytes(), &row.sealed)?;
    let sealed: Sealed = serde_json::from_slice(&plain).map_err(|_| CryptoError::Open)?;
    Ok((sealed.url, sealed.secret))
}

fn target(kind: NotifierKind, url: String, secret: Option<String>) -> Result<Target, String> {
    match (kind, secret) {
        (NotifierKind::Webhook, Some(secret)) => Ok(Target::Webhook {
            url,
            secret: SecretString::from(secret),
        }),
        (NotifierKind::Slack, _) => Ok(Target::Slack {
            url: SecretString::from(url),
        }),
        (other, _) => Err(format!("a {other} notifier without what it needs")),
    }
}

/// What admins see of a URL: scheme, host and port (the path and query may hold a token).
pub fn url_hint(url: &url::Url) -> String {
    let mut hint = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    if let Some(port) = url.port() {
        hint.push_str(&format!(":{port}"));
    }
    if url.path() != "/" || url.query().is_some() {
        hint.push_str("/…");
    }
    hint
}

/// Tells every approver replica that the notifiers changed (best effort: each also re-reads
/// them on a timer), and applies the change on this replica before returning, so that an event
/// raised after the API answered is delivered as changed (a regenerated secret signs it).
pub async fn announce(ctx: &ApproverContext) {
    let client = &ctx.bus.client;
    let payload = serde_json::to_vec(&NotifiersChanged::default()).unwrap_or_default();
    if let Err(e) = client.publish(ctx.bus.subjects.notifier_events(), payload.into()).await {
        tracing::warn!(error = %e, "cannot announce a notifier change; replicas pick it up on their next reload");
    } else if let Err(e) = client.flush().await {
        tracing::warn!(error = %e, "notifier change announcement not flushed");
    }
    ctx.notifier_sync.apply_here().await;
}

/// How long an API change waits for this replica's notifiers to follow it.
const APPLY_WAIT: Duration = Duration::from_secs(5);

/// Lets the API wait until this replica's supervisor has re-read the notifiers.
pub struct NotifierSync {
    requested: AtomicU64,
    wake: Notify,
    done: watch::Sender<u64>,
}

impl Default for NotifierSync {
    fn default() -> Self {
        Self {
            requested: AtomicU64::new(0),
            wake: Notify::new(),
            done: watch::Sender::new(0),
        }
    }
}

impl NotifierSync {
    /// Asks the supervisor to re-read the notifiers and waits (at most [`APPLY_WAIT`]) until a
    /// re-read that started after this call has finished.
    pub async fn apply_here(&self) {
        let want = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let mut done = self.done.subscribe();
        self.wake.notify_one();
        if tokio::time::timeout(APPLY_WAIT, done.wait_for(|d| *d >= want))
            .await
            .is_err()
        {
            tracing::warn!("this replica's notifiers did not follow a change in time; they will on the next reload");
        }
    }
}

/// Creates the notifier's consumer, so events from now on wait for it even before a replica
/// starts delivering them.
pub async fn create_consumer(ctx: &ApproverContext, id: NotifierId) -> anyhow::Result<()> {
    let settings = NotifySettings::from_settings(&ctx.settings);
    notifier::prepare(
        &ctx.bus,
        &ctx.settings.nats_url,
        &consumer_name(id),
        settings.ack_wait(),
    )
    .await
    .map(|_| ())
}

/// Deletes the notifier's consumer and the events waiting in it (a missing one is fine).
pub async fn delete_consumer(ctx: &ApproverContext, id: NotifierId) -> anyhow::Result<()> {
    let stream = ctx.bus.ensure_approval_stream(&ctx.settings.nats_url).await?;
    use async_nats::jetstream::ErrorCode;
    use async_nats::jetstream::stream::ConsumerErrorKind;
    match stream.delete_consumer(&consumer_name(id)).await {
        Ok(_) => Ok(()),
        Err(e) if matches!(e.kind(), ConsumerErrorKind::JetStream(j) if j.error_code() == ErrorCode::CONSUMER_NOT_FOUND) => {
            Ok(())
        }
        Err(e) => Err(anyhow::anyhow!("cannot delete the consumer of notifier {id}: {e}")),
    }
}

struct Running {
    name: String,
    version: OffsetDateTime,
    /// Dropping it (or sending `true`) stops the delivery task.
    _stop: watch::Sender<bool>,
}

/// Runs the API-managed notifiers until shutdown. Runs on an actix runtime (delivery uses awc).
pub async fn supervise(ctx: Arc<ApproverContext>, mut shutdown: watch::Receiver<bool>) {
    let reload = Duration::from_secs(ctx.settings.notify_reload_secs.max(1));
    let mut changes = match ctx.bus.client.subscribe(ctx.bus.subjects.notifier_events()).await {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot follow notifier changes; re-reading them on a timer only");
            None
        }
    };
    let mut running = HashMap::new();
    loop {
        let requested = ctx.notifier_sync.requested.load(Ordering::SeqCst);
        reconcile(&ctx, &mut running).await;
        ctx.notifier_sync.done.send_if_modified(|d| {
            let advanced = requested > *d;
            *d = (*d).max(requested);
            advanced
        });
        let change = async {
            match changes.as_mut() {
                Some(sub) => sub.next().await.is_some(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            more = change => if !more { changes = None },
            () = tokio::time::sleep(reload) => {}
            () = ctx.notifier_sync.wake.notified() => {}
            _ = shutdown.changed() => break,
        }
    }
}

async fn reconcile(ctx: &ApproverContext, running: &mut HashMap<NotifierId, Running>) {
    let rows = match ctx.db.get().await {
        Ok(mut conn) => queries::notifications::list_notifiers(&mut conn)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the notifiers; the running ones go on");
            return;
        }
    };
    let by_id: HashMap<NotifierId, &NotifierRow> = rows.iter().map(|r| (r.id, r)).collect();
    let mut gone = Vec::new();
    running.retain(|id, r| match by_id.get(id) {
        Some(row) if row.enabled && row.updated_at == r.version => true,
        Some(row) if row.enabled => {
            tracing::info!(notifier = %r.name, "notifier changed; restarting it");
            false
        }
        _ => {
            tracing::info!(notifier = %r.name, "notifier removed or disabled; stopping it");
            gone.push(*id);
            false
        }
    });
    // A replica that read the rows just before a deletion may have created the consumer again.
    for id in gone {
        if let Err(e) = delete_consumer(ctx, id).await {
            tracing::warn!(error = %e, "leaving a consumer behind");
        }
    }
    for row in &rows {
        if !row.enabled || running.contains_key(&row.id) {
            continue;
        }
        match start(ctx, row).await {
            Ok(r) => {
                tracing::info!(notifier = %row.name, "approval notifications on");
                running.insert(row.id, r);
            }
            // Tried again at the next reload.
            Err(e) => tracing::error!(notifier = %row.name, error = %e, "cannot start the notifier"),
        }
    }
}

async fn start(ctx: &ApproverContext, row: &NotifierRow) -> anyhow::Result<Running> {
    let key = ctx
        .notifier_key
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("SHELLGATE_NOTIFIER_KEY is not set"))?;
    let (url, secret) = open(key, row).map_err(|e| anyhow::anyhow!("{e}"))?;
    let target = target(row.kind, url, secret).map_err(anyhow::Error::msg)?;
    let settings = NotifySettings::from_settings(&ctx.settings);
    let consumer = consumer_name(row.id);
    let stream_consumer = notifier::prepare(&ctx.bus, &ctx.settings.nats_url, &consumer, settings.ack_wait()).await?;
    let (stop, stopped) = watch::channel(false);
    actix_rt::spawn(notifier::run(
        Notifier {
            name: row.name.clone(),
            consumer,
            target,
        },
        stream_consumer,
        settings,
        ctx.db.clone(),
        ctx.metrics.clone(),
        stopped,
    ));
    Ok(Running {
        name: row.name.clone(),
        version: row.updated_at,
        _stop: stop,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_hints_hide_paths_and_queries() {
        let hint = |u: &str| url_hint(&url::Url::parse(u).unwrap());
        assert_eq!(
            hint("https://hooks.slack.com/services/T000/B000/XXXX"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(hint("http://127.0.0.1:8080/"), "http://127.0.0.1:8080");
        assert_eq!(hint("https://h.example/?token=x"), "https://h.example/…");
    }

    #[test]
    fn sealed_rows_open_to_their_url_and_secret() {
        let key = NotifierKey::from_base64(&NotifierKey::generate()).unwrap();
        let id = NotifierId::new();
        let now = OffsetDateTime::now_utc();
        let mut row = NotifierRow {
            id,
            name: "n".into(),
            kind: NotifierKind::Webhook,
            url_hint: String::new(),
            sealed: seal(&key, id, "https://h.example/x", Some("canary-secret")).unwrap(),
            key_id: key.key_id().to_string(),
            enabled: true,
            created_by: "t".into(),
            created_at: now,
            updated_at: now,
        };
        assert_eq!(
            open(&key, &row).unwrap(),
            ("https://h.example/x".to_string(), Some("canary-secret".to_string()))
        );
        // Sealed for one row, it does not open for another.
        row.id = NotifierId::new();
        assert!(open(&key, &row).is_err());
    }
}
