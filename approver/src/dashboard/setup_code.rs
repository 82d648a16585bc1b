//! The first run: while no user exists, the only way in is `/setup` with a one-time code. The
//! code (80 random bits, written `XXXX-XXXX-XXXX-XXXX`) is stored as its SHA-256 in Postgres — one
//! for all replicas, valid for a day — and printed once by the replica that made it;
//! `shellgate setup-code` makes a fresh one (the old one stops working).

use ring::rand::{SecureRandom as _, SystemRandom};
use sha2::{Digest as _, Sha256};
use shellgate_shared::db::DbPool;
use shellgate_shared::db::queries;

/// How long a setup code works.
pub const VALID: time::Duration = time::Duration::hours(24);

/// Crockford's base32: no I, L, O or U to misread.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A new random code.
pub fn generate() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("no randomness for a setup code"))?;
    let chars: Vec<char> = bytes.iter().map(|b| ALPHABET[usize::from(b & 31)] as char).collect();
    Ok(chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-"))
}

/// The stored form of what someone typed: spaces and dashes dropped, case and the letters that
/// look like digits forgiven.
pub fn hash(typed: &str) -> Vec<u8> {
    let normal: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        })
        .collect();
    Sha256::digest(normal.as_bytes()).to_vec()
}

/// At start: when nobody can log in yet and no code is waiting, make one and print it (of
/// several replicas starting together, only the one whose code was stored prints).
pub async fn offer_at_start(db: &DbPool) -> anyhow::Result<()> {
    let mut conn = db.get().await?;
    if queries::users::count_users(&mut conn).await? > 0 {
        return Ok(());
    }
    let code = generate()?;
    if queries::users::offer_setup_code(&mut conn, &hash(&code), VALID).await? {
        println!("Dashboard setup code (one use, valid for 24 h): {code} — open the approver's /setup page");
    } else {
        tracing::info!("no dashboard user yet: a setup code is waiting (`shellgate setup-code` prints a new one)");
    }
    Ok(())
}

/// A fresh code replacing any other (`shellgate setup-code`); refused once a user exists.
pub async fn replace(db: &DbPool) -> anyhow::Result<String> {
    let mut conn = db.get().await?;
    if queries::users::count_users(&mut conn).await? > 0 {
        anyhow::bail!("a dashboard user exists already: setup is done (use `shellgate user` to manage users)");
    }
    let code = generate()?;
    queries::users::replace_setup_code(&mut conn, &hash(&code), VALID).await?;
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_random_readable_and_forgiving() {
        let a = generate().unwrap();
        assert_eq!(a.len(), 19);
        assert_ne!(a, generate().unwrap());
        assert!(a.chars().all(|c| c == '-' || ALPHABET.contains(&(c as u8))), "{a}");
        assert_eq!(hash(&a), hash(&a.to_lowercase().replace('-', " ")));
        assert_eq!(hash("0011-ABCD"), hash("oOil-abcd"));
        assert_ne!(hash("0011-ABCD"), hash("0011-ABCE"));
    }
}
