//! Passwords: at least 12 characters, not a well-known one, hashed with argon2id (default
//! parameters: 19 MiB, 2 passes) on the blocking pool so a login never stalls the server.

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Argon2, PasswordHash};

pub const MIN_CHARS: usize = 12;
const MAX_CHARS: usize = 1024;

/// Passwords of 12 characters or more that lists of leaked passwords hold near the top.
const COMMON: &str = include_str!("common-passwords.txt");

/// Why a new password is refused, if it is.
pub fn weakness(password: &str, username: &str) -> Option<String> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Some(format!("The password needs at least {MIN_CHARS} characters."));
    }
    if chars > MAX_CHARS {
        return Some(format!("The password may have at most {MAX_CHARS} characters."));
    }
    let lower = password.to_lowercase();
    let first = lower.chars().next();
    if lower.chars().all(|c| Some(c) == first)
        || COMMON.lines().any(|l| l.trim() == lower)
        || (!username.is_empty() && lower.contains(&username.to_lowercase()))
    {
        return Some("That password is too easy to guess: choose another.".into());
    }
    None
}

/// A new random password (24 URL-safe characters, ~143 bits), for an account an admin creates
/// or resets.
pub fn generate() -> String {
    let secret = shellgate_shared::crypto::generate_secret("");
    secrecy::ExposeSecret::expose_secret(&secret).chars().take(24).collect()
}

/// A new random password and its hash.
pub async fn generated() -> anyhow::Result<(String, String)> {
    let plain = generate();
    let hash = hash(plain.clone()).await?;
    Ok((plain, hash))
}

/// The argon2id PHC string of a password.
pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
    })
    .await?
}

/// A hash of a password nobody has, checked when the account does not exist, so an unknown
/// name takes as long as a wrong password.
const DECOY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2hlbGxnYXRlZGVjb3k$7Y8a0l8WQ1mZbC2y8lIhP0m9Ckq9rM4yq0Sg7R6Yb0g";

/// Whether `password` matches the stored hash (`None`: no such account — always false, in the
/// same time).
pub async fn verify(password: String, stored: Option<String>) -> bool {
    let known = stored.is_some();
    let stored = stored.unwrap_or_else(|| DECOY.to_string());
    let matches = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
    })
    .await
    .unwrap_or(false);
    known && matches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_passwords_are_refused() {
        assert!(weakness("short", "ann").is_some());
        assert!(weakness("aaaaaaaaaaaaaaaa", "ann").is_some());
        assert!(weakness("Password1234", "ann").is_some(), "on the common list");
        assert!(weakness("ann-rocks-the-house", "ann").is_some(), "holds the user name");
        assert!(weakness("correct horse battery staple", "ann").is_none());
    }

    #[actix_web::test]
    async fn hashes_verify_and_the_decoy_parses() {
        let h = hash("correct horse battery staple".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery staple".into(), Some(h.clone())).await);
        assert!(!verify("wrong horse battery staple".into(), Some(h)).await);
        assert!(
            PasswordHash::new(DECOY).is_ok(),
            "the decoy must cost a real verification"
        );
        assert!(!verify("anything at all".into(), None).await);
    }
}
