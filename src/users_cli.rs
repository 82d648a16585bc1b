//! `shellgate user …`: dashboard users from the command line — the way back in for a locked-out
//! admin. A password is read from standard input when it is not a terminal, else generated and
//! printed once.

use std::io::{IsTerminal as _, Read as _};

use anyhow::Context as _;
use clap::Subcommand;
use shellgate_approver::dashboard::password;
use shellgate_shared::config::Settings;
use shellgate_shared::db::models::NewUser;
use shellgate_shared::db::{self, queries};
use shellgate_shared::ids::UserId;
use shellgate_shared::states::UserRole;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user (password from stdin, or generated and printed once).
    Create {
        #[arg(long)]
        name: String,
        /// admin, approver or viewer.
        #[arg(long, default_value = "viewer")]
        role: String,
    },
    /// Set a user's password (from stdin, or generated and printed once); ends their sessions.
    ResetPassword {
        #[arg(long)]
        name: String,
    },
    /// Turn a user's two-factor authentication off (secret and recovery codes deleted, sessions
    /// ended): the way back in after a lost authenticator. They can enrol again after logging in.
    ResetMfa {
        #[arg(long)]
        name: String,
    },
}

/// The new password: stdin (one line) when piped, else a generated one (printed by the caller).
fn new_password(name: &str) -> anyhow::Result<(String, bool)> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok((password::generate(), true));
    }
    let mut text = String::new();
    stdin
        .lock()
        .take(4096)
        .read_to_string(&mut text)
        .context("reading the password")?;
    let password = text.trim_end_matches(['\r', '\n']).to_string();
    if let Some(weak) = password::weakness(&password, name) {
        anyhow::bail!("{weak}");
    }
    Ok((password, false))
}

pub async fn run(command: UserCommand, settings: &Settings) -> anyhow::Result<()> {
    crate::migrate(settings).await?;
    let pool = db::connect_pool(settings).await?;
    let mut conn = pool.get().await.context("database connection")?;
    match command {
        UserCommand::Create { name, role } => {
            let name = shellgate_approver::dashboard::username(&name)
                .context("--name must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")?;
            let role = UserRole::parse(&role).context("--role must be admin, approver or viewer")?;
            let (password, generated) = new_password(&name)?;
            let hash = password::hash(password.clone()).await?;
            let new = NewUser {
                id: UserId::new(),
                username: &name,
                password_hash: &hash,
                role,
            };
            queries::users::insert_user(&mut conn, &new)
                .await
                .with_context(|| format!("creating user {name:?} (does it exist already?)"))?;
            if generated {
                println!("{password}");
            }
            eprintln!("user {name:?} ({}) created", role.as_str());
        }
        UserCommand::ResetPassword { name } => {
            let name = name.trim().to_lowercase();
            let (password, generated) = new_password(&name)?;
            let hash = password::hash(password.clone()).await?;
            if !queries::users::set_password(&mut conn, &name, &hash).await? {
                anyhow::bail!("no user {name:?}");
            }
            if generated {
                println!("{password}");
            }
            eprintln!("the password of {name:?} is set; their sessions have ended");
        }
        UserCommand::ResetMfa { name } => {
            let name = name.trim().to_lowercase();
            let user = queries::users::find_user_by_name(&mut conn, &name)
                .await?
                .with_context(|| format!("no user {name:?}"))?;
            queries::users::reset_mfa(&mut conn, user.id).await?;
            eprintln!("two-factor authentication of {name:?} is off; their sessions have ended");
        }
    }
    Ok(())
}
