//! Secrets at rest. Agent tokens (`sg_…`) and admin keys (`sga_…`) are random and stored only as
//! SHA-256 hashes. Target credentials are sealed (libsodium-compatible X25519 sealed box, from
//! the RustCrypto `crypto_box` crate) to the vault public key: the approver can seal but not open
//! them, and only executors hold the secret key that opens them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use crypto_box::aead::OsRng;
use crypto_box::aead::rand_core::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

pub const TOKEN_PREFIX: &str = "sg_";
pub const ADMIN_KEY_PREFIX: &str = "sga_";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("vault key is not valid base64 of 32 bytes")]
    BadKey,
    #[error("credential was sealed to a different vault key ({0})")]
    KeyMismatch(String),
    #[error("sealed credential cannot be opened")]
    Open,
    #[error("sealing failed")]
    Seal,
}

/// A new random secret with `prefix` and 64 lowercase hex digits.
pub fn generate_secret(prefix: &str) -> SecretString {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    SecretString::from(format!("{prefix}{}", hex::encode(bytes)))
}

/// Whether `s` has the exact shape `prefix` + 64 lowercase hex digits.
pub fn is_well_formed_secret(prefix: &str, s: &str) -> bool {
    s.strip_prefix(prefix)
        .is_some_and(|rest| rest.len() == 64 && rest.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// The stored form of a token or admin key.
pub fn hash_secret(s: &str) -> Vec<u8> {
    Sha256::digest(s.as_bytes()).to_vec()
}

/// The public half: seals credentials. Held by the approver (and anything that writes them).
#[derive(Clone)]
pub struct VaultPublicKey(crypto_box::PublicKey);

/// The secret half: opens credentials. Held only by executors.
#[derive(Clone)]
pub struct VaultSecretKey(crypto_box::SecretKey);

impl std::fmt::Debug for VaultSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VaultSecretKey(..)")
    }
}

impl std::fmt::Debug for VaultPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VaultPublicKey({})", self.key_id())
    }
}

fn decode32(s: &str) -> Result<[u8; 32], CryptoError> {
    let bytes = B64.decode(s.trim()).map_err(|_| CryptoError::BadKey)?;
    bytes.try_into().map_err(|_| CryptoError::BadKey)
}

impl VaultPublicKey {
    pub fn from_base64(s: &str) -> Result<Self, CryptoError> {
        Ok(Self(crypto_box::PublicKey::from(decode32(s)?)))
    }

    pub fn to_base64(&self) -> String {
        B64.encode(self.0.as_bytes())
    }

    /// Short fingerprint stored next to each sealed credential, so an executor holding the
    /// wrong key says so instead of failing obscurely.
    pub fn key_id(&self) -> String {
        hex::encode(&Sha256::digest(self.0.as_bytes())[..8])
    }

    pub fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.0.seal(&mut OsRng, plaintext).map_err(|_| CryptoError::Seal)
    }
}

impl VaultSecretKey {
    pub fn generate() -> Self {
        Self(crypto_box::SecretKey::generate(&mut OsRng))
    }

    pub fn from_base64(s: &SecretString) -> Result<Self, CryptoError> {
        Ok(Self(crypto_box::SecretKey::from(decode32(s.expose_secret())?)))
    }

    pub fn to_base64(&self) -> SecretString {
        SecretString::from(B64.encode(self.0.to_bytes()))
    }

    pub fn public_key(&self) -> VaultPublicKey {
        VaultPublicKey(self.0.public_key())
    }

    /// Opens a credential sealed to this key's public half.
    pub fn open(&self, key_id: &str, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let own = self.public_key().key_id();
        if key_id != own {
            return Err(CryptoError::KeyMismatch(key_id.to_string()));
        }
        self.0.unseal(sealed).map_err(|_| CryptoError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_round_trip() {
        let sk = VaultSecretKey::generate();
        let pk = sk.public_key();
        let sealed = pk.seal(b"canary-secret").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"canary"));
        assert_eq!(sk.open(&pk.key_id(), &sealed).unwrap(), b"canary-secret");
    }

    #[test]
    fn other_key_cannot_open() {
        let pk = VaultSecretKey::generate().public_key();
        let other = VaultSecretKey::generate();
        let sealed = pk.seal(b"x").unwrap();
        assert_eq!(
            other.open(&pk.key_id(), &sealed),
            Err(CryptoError::KeyMismatch(pk.key_id()))
        );
        assert_eq!(
            other.open(&other.public_key().key_id(), &sealed),
            Err(CryptoError::Open)
        );
    }

    #[test]
    fn keys_round_trip_base64() {
        let sk = VaultSecretKey::generate();
        let again = VaultSecretKey::from_base64(&sk.to_base64()).unwrap();
        assert_eq!(again.public_key().to_base64(), sk.public_key().to_base64());
        assert!(VaultPublicKey::from_base64("not base64!").is_err());
        assert!(VaultPublicKey::from_base64("AAAA").is_err());
    }

    #[test]
    fn secrets_have_the_documented_shape() {
        let t = generate_secret(TOKEN_PREFIX);
        assert!(is_well_formed_secret(TOKEN_PREFIX, t.expose_secret()));
        assert!(!is_well_formed_secret(TOKEN_PREFIX, "sg_abc"));
        assert!(!is_well_formed_secret(ADMIN_KEY_PREFIX, t.expose_secret()));
        assert_eq!(hash_secret("a").len(), 32);
    }
}
