//! Outbound approval notifications, driven by the approval events in JetStream: a generic
//! webhook (JSON, HMAC-SHA256 signed) and a Slack-compatible incoming webhook. Each notifier has
//! a durable consumer of its own, so a receiver that is down delays only its own deliveries:
//! failures are retried with growing delays (JetStream redelivers, across restarts too) and
//! after the last attempt the notification goes to a dead-letter record. A notification only
//! says what waits and links to the dashboard, which asks for a login: nothing in it approves.

use std::time::Duration;

use async_nats::jetstream::AckKind;
use async_nats::jetstream::consumer::{AckPolicy, Consumer, DeliverPolicy, pull};
use futures_util::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use shellgate_shared::approval::{ApprovalEvent, ApprovalEventKind};
use shellgate_shared::bus::Bus;
use shellgate_shared::config::Settings;
use shellgate_shared::db::{DbPool, queries};
use shellgate_shared::metrics::{Metrics, NotifyLabels};
use tokio::sync::watch;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Header with the HMAC-SHA256 of `<timestamp>.<body>`, as `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "x-shellgate-signature";
pub const TIMESTAMP_HEADER: &str = "x-shellgate-timestamp";
pub const EVENT_HEADER: &str = "x-shellgate-event";
/// The same for every attempt of one notification (receivers deduplicate on it).
pub const DELIVERY_HEADER: &str = "x-shellgate-delivery";

const MAX_RETRY_DELAY: Duration = Duration::from_secs(300);

pub enum Target {
    Webhook { url: String, secret: SecretString },
    Slack { url: SecretString },
}

pub struct Notifier {
    /// The metric label and the dead-letter record's: `webhook` or `slack` for the ones the
    /// settings configure, the admin's name for the others.
    pub name: String,
    /// Its durable JetStream consumer.
    pub consumer: String,
    pub target: Target,
}

/// Names of the notifiers the settings configure (the API refuses them for its own).
pub const CONFIGURED_NAMES: [&str; 2] = ["webhook", "slack"];

/// The notifiers the settings configure.
pub fn configured(settings: &Settings) -> Vec<Notifier> {
    let mut out = Vec::new();
    let named = |name: &str, target| Notifier {
        name: name.to_string(),
        consumer: format!("notify-{name}"),
        target,
    };
    if let (Some(url), Some(secret)) = (&settings.notify_webhook_url, &settings.notify_webhook_secret) {
        out.push(named(
            CONFIGURED_NAMES[0],
            Target::Webhook {
                url: url.clone(),
                secret: secret.clone(),
            },
        ));
    }
    if let Some(url) = &settings.notify_slack_url {
        out.push(named(CONFIGURED_NAMES[1], Target::Slack { url: url.clone() }));
    }
    out
}

#[derive(Debug, Clone)]
pub struct NotifySettings {
    pub max_attempts: u32,
    pub retry_base: Duration,
    pub timeout: Duration,
    pub dashboard_url: Option<String>,
}

impl NotifySettings {
    pub fn from_settings(s: &Settings) -> Self {
        Self {
            max_attempts: s.notify_max_attempts,
            retry_base: Duration::from_millis(s.notify_retry_base_ms),
            timeout: Duration::from_millis(s.notify_timeout_ms),
            dashboard_url: s
                .notify_dashboard_url
                .as_ref()
                .map(|u| u.trim_end_matches('/').to_string()),
        }
    }

    /// How long JetStream waits for an acknowledgement before it redelivers an event.
    pub fn ack_wait(&self) -> Duration {
        self.timeout + Duration::from_secs(30)
    }

    fn retry_delay(&self, attempt: u32) -> Duration {
        self.retry_base
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
            .min(MAX_RETRY_DELAY)
    }
}

/// A notifier's durable consumer: new events only (a first start does not replay history).
pub async fn prepare(
    bus: &Bus,
    nats_url: &str,
    consumer: &str,
    ack_wait: Duration,
) -> anyhow::Result<Consumer<pull::Config>> {
    let stream = bus.ensure_approval_stream(nats_url).await?;
    let name = consumer.to_string();
    stream
        .get_or_create_consumer(
            &name,
            pull::Config {
                durable_name: Some(name.clone()),
                deliver_policy: DeliverPolicy::New,
                ack_policy: AckPolicy::Explicit,
                ack_wait,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("cannot create the {name} consumer: {e}"))
}

/// Delivers events until shutdown. Runs on an actix runtime (it uses awc).
pub async fn run(
    notifier: Notifier,
    consumer: Consumer<pull::Config>,
    settings: NotifySettings,
    db: DbPool,
    metrics: Metrics,
    mut shutdown: watch::Receiver<bool>,
) {
    let client = awc::Client::builder()
        .timeout(settings.timeout)
        .disable_redirects()
        .finish();
    loop {
        let mut messages = match consumer.messages().await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, notifier = %notifier.name, "cannot fetch approval events; retrying");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = shutdown.changed() => return,
                }
            }
        };
        loop {
            // A stopped notifier (disabled, or restarted with a new secret or URL) delivers
            // nothing more, even with a message ready: its successor does.
            let msg = tokio::select! {
                biased;
                _ = shutdown.changed() => return,
                m = messages.next() => m,
            };
            match msg {
                Some(Ok(msg)) => handle(&notifier, &client, &settings, &db, &metrics, msg).await,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, notifier = %notifier.name, "approval event stream interrupted");
                    break;
                }
                None => break,
            }
        }
    }
}

fn count(metrics: &Metrics, notifier: &str, outcome: &str) {
    metrics
        .approver
        .notifications
        .get_or_create(&NotifyLabels {
            notifier: notifier.to_string(),
            outcome: outcome.to_string(),
        })
        .inc();
}

async fn handle(
    notifier: &Notifier,
    client: &awc::Client,
    settings: &NotifySettings,
    db: &DbPool,
    metrics: &Metrics,
    msg: async_nats::jetstream::Message,
) {
    let attempt = msg
        .info()
        .map(|i| u32::try_from(i.delivered).unwrap_or(u32::MAX))
        .unwrap_or(1);
    let event: ApprovalEvent = match serde_json::from_slice(&msg.payload) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, subject = %msg.subject, "dropping a malformed approval event");
            let _ = msg.ack_with(AckKind::Term).await;
            return;
        }
    };
    let span = tracing::info_span!(
        "approval_event",
        otel.kind = "consumer",
        approval_id = %event.approval.id,
        event = %event.event,
        notifier = %notifier.name,
        attempt,
    );
    if let Err(e) = span.set_parent(shellgate_shared::telemetry::extract(msg.headers.as_ref())) {
        tracing::debug!(error = ?e, "trace context not attached");
    }
    let result = deliver(notifier, client, settings, db, &event).instrument(span).await;
    match result {
        Ok(()) => {
            count(metrics, &notifier.name, "delivered");
            if let Err(e) = msg.ack().await {
                tracing::warn!(error = %e, "notification ack failed; it may be sent again (same delivery id)");
            }
        }
        Err(error) if attempt >= settings.max_attempts => {
            tracing::warn!(notifier = %notifier.name, approval_id = %event.approval.id, attempt, %error,
                "notification undeliverable; recorded as a dead letter");
            let payload = serde_json::to_value(&event).unwrap_or_default();
            let letter = queries::notifications::NewDeadLetter {
                notifier: &notifier.name,
                approval_id: event.approval.id,
                event: event.event.as_str(),
                attempts: i32::try_from(attempt).unwrap_or(i32::MAX),
                last_error: &error,
                payload: &payload,
            };
            let stored = match db.get().await {
                Ok(mut conn) => queries::notifications::insert_dead_letter(&mut conn, &letter)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match stored {
                Ok(()) => {
                    count(metrics, &notifier.name, "dead_letter");
                    let _ = msg.ack_with(AckKind::Term).await;
                }
                // Not lost: delivered again later, and recorded then.
                Err(e) => {
                    tracing::error!(error = %e, "cannot record a dead letter; the event stays pending");
                    let _ = msg.ack_with(AckKind::Nak(Some(settings.retry_delay(attempt)))).await;
                }
            }
        }
        Err(error) => {
            count(metrics, &notifier.name, "retry");
            tracing::info!(notifier = %notifier.name, attempt, %error, "notification failed; will retry");
            let _ = msg.ack_with(AckKind::Nak(Some(settings.retry_delay(attempt)))).await;
        }
    }
}

/// Where a human reviews the approval (the dashboard asks for a login).
fn review_url(settings: &NotifySettings, event: &ApprovalEvent) -> Option<String> {
    settings
        .dashboard_url
        .as_ref()
        .map(|base| format!("{base}/approvals/{}", event.approval.id))
}

/// One line on what the approval is for: the command, or method and path.
fn summary(event: &ApprovalEvent) -> String {
    let r = &event.approval.request;
    match r.get("command").and_then(|c| c.as_str()) {
        Some(command) => command.to_string(),
        None => format!(
            "{} {}",
            r.get("method").and_then(|m| m.as_str()).unwrap_or("?"),
            r.get("path").and_then(|p| p.as_str()).unwrap_or("/")
        ),
    }
}

async fn deliver(
    notifier: &Notifier,
    client: &awc::Client,
    settings: &NotifySettings,
    db: &DbPool,
    event: &ApprovalEvent,
) -> Result<(), String> {
    let review = review_url(settings, event);
    let delivery = format!("{}.{}", event.approval.id, event.event);
    let (url, body, signature) = match &notifier.target {
        Target::Webhook { url, secret } => {
            let body = serde_json::to_vec(&serde_json::json!({
                "event": event.event,
                "approval": event.approval,
                "reviewUrl": review,
            }))
            .map_err(|e| e.to_string())?;
            let timestamp = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
            let signature = sign(secret.expose_secret().as_bytes(), &timestamp, &body);
            (url.as_str(), body, Some((timestamp, signature)))
        }
        Target::Slack { url } => {
            let slug = target_slug(db, event).await;
            let body = serde_json::to_vec(&serde_json::json!({ "text": slack_text(event, &slug, review.as_deref()) }))
                .map_err(|e| e.to_string())?;
            (url.expose_secret(), body, None)
        }
    };
    let mut req = client
        .post(url)
        .insert_header(("content-type", "application/json"))
        .insert_header((EVENT_HEADER, event.event.as_str()))
        .insert_header((DELIVERY_HEADER, delivery.as_str()));
    if let Some((timestamp, signature)) = signature {
        req = req
            .insert_header((TIMESTAMP_HEADER, timestamp))
            .insert_header((SIGNATURE_HEADER, format!("sha256={signature}")));
    }
    // Errors name the kind only: a Slack URL is itself a secret.
    let res = req.send_body(body).await.map_err(|e| match e {
        awc::error::SendRequestError::Timeout => "timed out".to_string(),
        awc::error::SendRequestError::Connect(_) => "cannot connect".to_string(),
        _ => "request failed".to_string(),
    })?;
    if res.status().is_success() {
        Ok(())
    } else {
        Err(format!("answered HTTP {}", res.status().as_u16()))
    }
}

/// Hex HMAC-SHA256 of `<timestamp>.<body>` (what receivers recompute to verify).
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let mut ctx = ring::hmac::Context::with_key(&key);
    ctx.update(timestamp.as_bytes());
    ctx.update(b".");
    ctx.update(body);
    hex::encode(ctx.sign().as_ref())
}

async fn target_slug(db: &DbPool, event: &ApprovalEvent) -> String {
    let found = match db.get().await {
        Ok(mut conn) => queries::targets::find_target(&mut conn, event.approval.target_id)
            .await
            .ok()
            .flatten(),
        Err(_) => None,
    };
    found.map_or_else(|| event.approval.target_id.to_string(), |t| t.slug)
}

/// Slack mrkdwn needs `&`, `<` and `>` escaped.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn slack_text(event: &ApprovalEvent, slug: &str, review: Option<&str>) -> String {
    let a = &event.approval;
    let headline = match event.event {
        ApprovalEventKind::Requested => "Approval needed",
        ApprovalEventKind::Approved => "Approved",
        ApprovalEventKind::Denied => "Denied",
        ApprovalEventKind::Expired => "Expired",
        ApprovalEventKind::Used => "Approved request ran",
    };
    let mut text = format!(
        "*Shellgate: {headline}* ({kind} on `{slug}`)\n```{summary}```\n{reason}",
        kind = a.kind,
        slug = slack_escape(slug),
        summary = slack_escape(&summary(event)).replace("```", "'''"),
        reason = slack_escape(&a.reason),
    );
    if let Some(rule) = &a.rule {
        text.push_str(&format!(" (rule `{}`)", slack_escape(rule)));
    }
    if let Some(by) = &a.decided_by {
        text.push_str(&format!("\nDecided by {}", slack_escape(by)));
    }
    if let Some(url) = review {
        text.push_str(&format!("\n<{url}|Review in the dashboard> (login required)"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_vector() {
        // HMAC-SHA256("Jefe", "what do ya want.for nothing?"), computed with Python's hmac.
        assert_eq!(
            sign(b"Jefe", "what do ya want", b"for nothing?"),
            "e33f91577b90d4b3bbd73cb61803074f1965d27701b5527942dd9ea9443af37c"
        );
    }

    #[test]
    fn retries_back_off_up_to_a_limit() {
        let s = NotifySettings {
            max_attempts: 8,
            retry_base: Duration::from_secs(2),
            timeout: Duration::from_secs(1),
            dashboard_url: None,
        };
        assert_eq!(s.retry_delay(1), Duration::from_secs(2));
        assert_eq!(s.retry_delay(3), Duration::from_secs(8));
        assert_eq!(s.retry_delay(30), MAX_RETRY_DELAY);
    }

    #[test]
    fn slack_text_is_escaped() {
        assert_eq!(slack_escape("a<b>&c"), "a&lt;b&gt;&amp;c");
    }
}
