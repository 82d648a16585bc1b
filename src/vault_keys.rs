//! Where each role gets its keys from: the vault key (credentials) and the approver's notifier
//! key (notifiers added through the API).

use std::path::Path;

use anyhow::Context as _;
use secrecy::{ExposeSecret, SecretString};
use shellgate_shared::config::Settings;
use shellgate_shared::crypto::{NotifierKey, VaultPublicKey, VaultSecretKey};

/// The secret key for executors: from SHELLGATE_VAULT_SECRET_KEY, checked against the public
/// key when both are set.
pub fn secret_key(settings: &Settings) -> anyhow::Result<VaultSecretKey> {
    let Some(sk) = &settings.vault_secret_key else {
        anyhow::bail!(
            "the executor needs SHELLGATE_VAULT_SECRET_KEY (create a pair with 'shellgate keygen'; \
             the approver gets the matching SHELLGATE_VAULT_PUBLIC_KEY)"
        );
    };
    let sk = VaultSecretKey::from_base64(sk).context("SHELLGATE_VAULT_SECRET_KEY")?;
    check_pair(settings, &sk)?;
    Ok(sk)
}

fn check_pair(settings: &Settings, sk: &VaultSecretKey) -> anyhow::Result<()> {
    if let Some(pk) = &settings.vault_public_key {
        let pk = VaultPublicKey::from_base64(pk).context("SHELLGATE_VAULT_PUBLIC_KEY")?;
        if pk.key_id() != sk.public_key().key_id() {
            anyhow::bail!("SHELLGATE_VAULT_PUBLIC_KEY does not belong to SHELLGATE_VAULT_SECRET_KEY");
        }
    }
    Ok(())
}

/// The public key for the approver. It should never be given the secret key; if it is, the
/// public half is derived and a warning logged.
pub fn public_key(settings: &Settings) -> anyhow::Result<VaultPublicKey> {
    if let Some(pk) = &settings.vault_public_key {
        return VaultPublicKey::from_base64(pk).context("SHELLGATE_VAULT_PUBLIC_KEY");
    }
    if settings.vault_secret_key.is_some() {
        tracing::warn!("the approver was given the vault secret key; it only needs SHELLGATE_VAULT_PUBLIC_KEY");
        return Ok(secret_key(settings)?.public_key());
    }
    anyhow::bail!("the approver needs SHELLGATE_VAULT_PUBLIC_KEY (create a pair with 'shellgate keygen')")
}

/// For `up`: the configured key, else the one in the data directory, else a new one saved
/// there (mode 0600).
pub fn for_single_process(settings: &Settings) -> anyhow::Result<VaultSecretKey> {
    if settings.vault_secret_key.is_some() {
        return secret_key(settings);
    }
    let path = settings.data_dir.join("vault.key");
    if let Some(text) = read_key_file(&path)? {
        let sk = VaultSecretKey::from_base64(&text)
            .with_context(|| format!("{} does not hold a vault key", path.display()))?;
        check_pair(settings, &sk)?;
        return Ok(sk);
    }
    if settings.vault_public_key.is_some() {
        anyhow::bail!(
            "SHELLGATE_VAULT_PUBLIC_KEY is set but no secret key: set SHELLGATE_VAULT_SECRET_KEY too, \
             or unset both to let 'up' keep a key pair in {}",
            settings.data_dir.display()
        );
    }
    let sk = VaultSecretKey::generate();
    write_private(&path, sk.to_base64().expose_secret())?;
    println!(
        "Generated a vault key pair in {} (back it up: credentials stored with it cannot be used without it).",
        path.display()
    );
    Ok(sk)
}

/// The approver's notifier key, if configured (without it, only the notifiers the settings
/// configure run, and the API refuses to add others).
pub fn notifier_key(settings: &Settings) -> anyhow::Result<Option<NotifierKey>> {
    settings
        .notifier_key
        .as_ref()
        .map(NotifierKey::from_base64)
        .transpose()
        .context("SHELLGATE_NOTIFIER_KEY")
}

/// For `up`: the configured notifier key, else the one in the data directory, else a new one
/// saved there (mode 0600).
pub fn notifier_key_for_single_process(settings: &Settings) -> anyhow::Result<NotifierKey> {
    if let Some(key) = notifier_key(settings)? {
        return Ok(key);
    }
    let path = settings.data_dir.join("notifier.key");
    if let Some(text) = read_key_file(&path)? {
        return NotifierKey::from_base64(&text)
            .with_context(|| format!("{} does not hold a notifier key", path.display()));
    }
    let text = NotifierKey::generate();
    write_private(&path, text.expose_secret())?;
    NotifierKey::from_base64(&text).context("generated notifier key")
}

/// For `up`: the configured dashboard session secret, else the one in the data directory, else a
/// new one saved there (mode 0600), so sessions survive a restart.
pub fn session_secret_for_single_process(settings: &Settings) -> anyhow::Result<SecretString> {
    if let Some(secret) = &settings.session_secret {
        return Ok(secret.clone());
    }
    let path = settings.data_dir.join("session.key");
    if let Some(text) = read_key_file(&path)? {
        return Ok(text);
    }
    // The same shape as a notifier key: base64 of 32 random bytes.
    let text = NotifierKey::generate();
    write_private(&path, text.expose_secret())?;
    Ok(text)
}

/// A key `up` keeps in its data directory, if it has one.
fn read_key_file(path: &Path) -> anyhow::Result<Option<SecretString>> {
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Some(SecretString::from(text.trim().to_string())))
}

fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(content.as_bytes())?;
    f.write_all(b"\n")?;
    Ok(())
}
