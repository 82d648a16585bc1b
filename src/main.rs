//! `shellgate`: the single binary. `up` runs every role in one process (the laptop and
//! single-machine default); `gateway`, `executor` and `approver` run one role each (the
//! Kubernetes way); `migrate`, `keygen` and `admin-key` are for operators.

mod embed;
mod forwarded;
mod guard_cli;
mod roles;
mod users_cli;
mod vault_keys;

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;
use shellgate_shared::config::Settings;
use shellgate_shared::crypto::{ADMIN_KEY_PREFIX, NotifierKey, VaultSecretKey, generate_secret, hash_secret};
use shellgate_shared::db::{self, models::NewAdminKey, queries};
use shellgate_shared::ids::AdminKeyId;

#[derive(Parser)]
#[command(
    name = "shellgate",
    version,
    about = "A gateway between AI agents and the APIs and servers they work on"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run gateway, executor and approver in one process (runs migrations first).
    Up,
    /// Run the agent-facing gateway role.
    Gateway,
    /// Run an executor of SHELLGATE_EXECUTOR_POOL (needs SHELLGATE_VAULT_SECRET_KEY).
    Executor,
    /// Run the approver role: management API and audit writer (needs SHELLGATE_VAULT_PUBLIC_KEY).
    Approver,
    /// Create the database if missing and apply pending migrations.
    Migrate,
    /// Print a new vault key pair, a notifier key and a dashboard session secret as environment
    /// variables.
    Keygen,
    /// Print a fresh one-time code for the dashboard's first-run /setup page (the old one stops
    /// working); refused once a user exists.
    SetupCode,
    /// Manage dashboard users.
    User {
        #[command(subcommand)]
        command: users_cli::UserCommand,
    },
    /// Manage admin API keys.
    AdminKey {
        #[command(subcommand)]
        command: AdminKeyCommand,
    },
    /// Check commands and HTTP requests against the guard's rules (needs no services).
    Guard {
        #[command(subcommand)]
        command: guard_cli::GuardCommand,
    },
}

#[derive(Subcommand)]
enum AdminKeyCommand {
    /// Create an admin API key and print it (shown once).
    Create {
        #[arg(long)]
        name: String,
        /// Extra powers: `approvals` lets the key decide approvals when
        /// SHELLGATE_REQUIRE_MFA_FOR_APPROVALS is set (without it, such keys cannot).
        #[arg(long = "scope", value_parser = ["approvals"])]
        scopes: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Keygen = cli.command {
        let sk = VaultSecretKey::generate();
        println!("SHELLGATE_VAULT_PUBLIC_KEY={}", sk.public_key().to_base64());
        println!("SHELLGATE_VAULT_SECRET_KEY={}", sk.to_base64().expose_secret());
        println!("SHELLGATE_NOTIFIER_KEY={}", NotifierKey::generate().expose_secret());
        println!("SHELLGATE_SESSION_SECRET={}", NotifierKey::generate().expose_secret());
        return ExitCode::SUCCESS;
    }
    if let Command::Guard { command } = &cli.command {
        return guard_cli::run(command);
    }
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let quiet = matches!(cli.command, Command::Up);
    let _telemetry = shellgate_shared::telemetry::init(
        &settings.log_format,
        service_name(&cli.command),
        if quiet { "warn" } else { "info" },
    );
    let result = actix_rt::System::new().block_on(run(cli.command, settings));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Up => roles::up(settings).await,
        Command::Gateway => roles::gateway(settings).await,
        Command::Executor => roles::executor(settings).await,
        Command::Approver => roles::approver(settings).await,
        Command::Migrate => {
            migrate(&settings).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::AdminKey {
            command: AdminKeyCommand::Create { name, scopes },
        } => create_admin_key(&settings, &name, scopes).await,
        Command::SetupCode => {
            migrate(&settings).await?;
            let pool = db::connect_pool(&settings).await?;
            let code = shellgate_approver::dashboard::setup_code::replace(&pool).await?;
            println!("{code}");
            eprintln!("Dashboard setup code (one use, valid for 24 h): open the approver's /setup page.");
            Ok(())
        }
        Command::User { command } => users_cli::run(command, &settings).await,
        Command::Keygen => Ok(()),
        Command::Guard { .. } => Ok(()),
    }
}

pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    db::ensure_database(settings).await?;
    let applied = db::run_migrations(settings).await?;
    for v in applied {
        tracing::info!(version = %v, "migration applied");
    }
    Ok(())
}

async fn create_admin_key(settings: &Settings, name: &str, scopes: Vec<String>) -> anyhow::Result<()> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 {
        anyhow::bail!("--name must be 1-200 characters");
    }
    migrate(settings).await?;
    let pool = db::connect_pool(settings).await?;
    let key = generate_secret(ADMIN_KEY_PREFIX);
    let hash = hash_secret(key.expose_secret());
    let mut conn = pool.get().await.context("database connection")?;
    queries::admin_keys::insert_admin_key(
        &mut conn,
        &NewAdminKey {
            id: AdminKeyId::new(),
            name,
            key_hash: &hash,
            scopes,
        },
    )
    .await
    .context("storing the admin key")?;
    println!("{}", key.expose_secret());
    eprintln!("admin key {name:?} created; it is shown only once. Use it as 'Authorization: Bearer <key>'.");
    Ok(())
}

/// The service name in traces (unless OTEL_SERVICE_NAME overrides it).
fn service_name(command: &Command) -> &'static str {
    match command {
        Command::Gateway => "shellgate-gateway",
        Command::Executor => "shellgate-executor",
        Command::Approver => "shellgate-approver",
        _ => "shellgate",
    }
}
