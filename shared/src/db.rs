//! Postgres: the connection pool (every connection with a statement timeout), creating the
//! database when missing, the embedded migrations, and the query functions of every role.

pub mod models;
pub mod queries;
pub mod schema;

use std::time::Duration;

use diesel::prelude::*;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use futures_util::FutureExt;
use secrecy::ExposeSecret;

use crate::config::Settings;

pub type DbPool = Pool<AsyncPgConnection>;
pub type DbConn = diesel_async::pooled_connection::deadpool::Object<AsyncPgConnection>;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");

#[derive(Debug, thiserror::Error)]
pub enum DbSetupError {
    #[error(
        "cannot reach Postgres at {url}: {reason}. Start Postgres there, or point Shellgate \
         elsewhere with SHELLGATE_DATABASE_URL=postgres://user@host:port/db"
    )]
    Unreachable { url: String, reason: String },
    #[error("SHELLGATE_DATABASE_URL is not a valid postgres:// URL")]
    BadUrl,
    #[error("migrations failed: {0}")]
    Migrations(String),
    #[error("database pool: {0}")]
    Pool(String),
}

/// The database URL with any password replaced, for messages.
pub fn redacted_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "<unparseable URL>".to_string(),
    }
}

fn unreachable(url: &str, e: impl std::fmt::Display) -> DbSetupError {
    DbSetupError::Unreachable {
        url: redacted_url(url),
        reason: e.to_string().lines().next().unwrap_or_default().to_string(),
    }
}

async fn establish(url: &str, timeout: Duration) -> Result<AsyncPgConnection, DbSetupError> {
    match tokio::time::timeout(timeout, AsyncPgConnection::establish(url)).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(unreachable(url, e)),
        Err(_) => Err(unreachable(url, "connection timed out")),
    }
}

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    exists: bool,
}

/// Creates the database named in the URL when it does not exist yet (connecting to the
/// `postgres` maintenance database of the same server).
pub async fn ensure_database(settings: &Settings) -> Result<(), DbSetupError> {
    let url = settings.database_url.expose_secret();
    let timeout = Duration::from_millis(settings.database_connect_timeout_ms);
    let parsed = url::Url::parse(url).map_err(|_| DbSetupError::BadUrl)?;
    let name = parsed.path().trim_start_matches('/').to_string();
    if name.is_empty() || name == "postgres" {
        return Ok(());
    }
    let mut maint = parsed.clone();
    maint.set_path("/postgres");
    let mut conn = establish(maint.as_str(), timeout).await?;
    let found: Exists = diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
        .bind::<diesel::sql_types::Text, _>(&name)
        .get_result(&mut conn)
        .await
        .map_err(|e| unreachable(url, e))?;
    if !found.exists {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        match diesel::sql_query(format!("CREATE DATABASE {quoted}"))
            .execute(&mut conn)
            .await
        {
            Ok(_) => tracing::info!(database = %name, "created database"),
            // Another process created it between the check and the create.
            Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {}
            Err(e) if e.to_string().contains("already exists") => {}
            Err(e) => return Err(unreachable(url, e)),
        }
    }
    Ok(())
}

/// Applies pending migrations; returns the versions applied.
pub async fn run_migrations(settings: &Settings) -> Result<Vec<String>, DbSetupError> {
    let url = settings.database_url.expose_secret().to_string();
    let timeout = Duration::from_millis(settings.database_connect_timeout_ms);
    let conn = establish(&url, timeout).await?;
    // diesel_migrations is synchronous: run it on a blocking thread through the wrapper
    // (block_in_place would panic on actix's current-thread runtime).
    let handle = tokio::task::spawn_blocking(move || {
        let mut wrapped: AsyncConnectionWrapper<AsyncPgConnection> = AsyncConnectionWrapper::from(conn);
        wrapped
            .run_pending_migrations(MIGRATIONS)
            .map(|v| v.iter().map(ToString::to_string).collect::<Vec<_>>())
            .map_err(|e| DbSetupError::Migrations(e.to_string()))
    });
    handle.await.map_err(|e| DbSetupError::Migrations(e.to_string()))?
}

/// A pool whose connections all carry `statement_timeout`. Checks one connection up front so a
/// wrong URL fails at start with a clear message rather than on the first request.
pub async fn connect_pool(settings: &Settings) -> Result<DbPool, DbSetupError> {
    let url = settings.database_url.expose_secret().to_string();
    let statement_timeout = settings.database_statement_timeout_ms;
    let connect_timeout = Duration::from_millis(settings.database_connect_timeout_ms);
    let mut config = ManagerConfig::default();
    // A connection that broke while Postgres restarted must not be handed out again.
    config.recycling_method = RecyclingMethod::Verified;
    config.custom_setup = Box::new(move |url| {
        let url = url.to_string();
        async move {
            let mut conn = AsyncPgConnection::establish(&url).await?;
            diesel::sql_query(format!("SET statement_timeout = {statement_timeout}"))
                .execute(&mut conn)
                .await
                .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
            Ok(conn)
        }
        .boxed()
    });
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url.clone(), config);
    let pool = Pool::builder(manager)
        .max_size(settings.database_pool_size)
        .wait_timeout(Some(connect_timeout))
        .create_timeout(Some(connect_timeout))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| DbSetupError::Pool(e.to_string()))?;
    let conn = pool.get().await.map_err(|e| unreachable(&url, e))?;
    drop(conn);
    Ok(pool)
}

/// Whether the pool can run a query now (readiness).
pub async fn ping(pool: &DbPool) -> bool {
    match tokio::time::timeout(Duration::from_secs(2), pool.get()).await {
        Ok(Ok(mut conn)) => diesel::sql_query("SELECT 1").execute(&mut conn).await.is_ok(),
        _ => false,
    }
}
