//! Secrets at rest. Agent tokens (`sg_…`) and admin keys (`sga_…`) are random and stored only as
//! SHA-256 hashes. Target credentials are sealed (libsodium-compatible X25519 sealed box, from
//! the RustCrypto `crypto_box` crate) to the vault public key: the approver can seal but not open
//! them, and only executors hold the secret key that opens them. Notifier secrets (webhook
//! signing secrets, Slack URLs) are the approver's own: it signs and posts the notifications, so
//! it seals them with a symmetric key of its own ([`NotifierKey`], ChaCha20-Poly1305 from `ring`,
//! already in the tree for HMAC and TLS), never with the vault key.

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

/// The secret in an `Authorization` value `Bearer <prefix>…` (scheme in any case), if it has the
/// exact shape of one.
pub fn bearer_secret<'a>(authorization: &'a str, prefix: &str) -> Option<&'a str> {
    let (scheme, secret) = authorization.trim().split_once(' ')?;
    let secret = secret.trim();
    (scheme.eq_ignore_ascii_case("bearer") && is_well_formed_secret(prefix, secret)).then_some(secret)
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

/// The approver's key for notifier secrets at rest: ChaCha20-Poly1305 with a random nonce per
/// seal, and the notifier's id as associated data, so a sealed secret copied to another row does
/// not open there.
pub struct NotifierKey {
    key: ring::aead::LessSafeKey,
    id: String,
}

impl std::fmt::Debug for NotifierKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NotifierKey({})", self.id)
    }
}

const NONCE_LEN: usize = ring::aead::NONCE_LEN;

impl NotifierKey {
    /// A new random key, as base64 (what `SHELLGATE_NOTIFIER_KEY` holds).
    pub fn generate() -> SecretString {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        SecretString::from(B64.encode(bytes))
    }

    pub fn from_base64(s: &SecretString) -> Result<Self, CryptoError> {
        let bytes = decode32(s.expose_secret())?;
        let unbound =
            ring::aead::UnboundKey::new(&ring::aead::CHACHA20_POLY1305, &bytes).map_err(|_| CryptoError::BadKey)?;
        let mut h = Sha256::new();
        h.update(b"shellgate notifier key id\0");
        h.update(bytes);
        Ok(Self {
            key: ring::aead::LessSafeKey::new(unbound),
            id: hex::encode(&h.finalize()[..8]),
        })
    }

    /// Fingerprint stored next to each sealed secret (names the key, reveals nothing of it).
    pub fn key_id(&self) -> &str {
        &self.id
    }

    /// `nonce ‖ ciphertext ‖ tag`, bound to `context` (the notifier's id).
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + ring::aead::MAX_TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                ring::aead::Nonce::assume_unique_for_key(nonce),
                ring::aead::Aad::from(context),
                &mut out[NONCE_LEN..],
            )
            .map_err(|_| CryptoError::Seal)?;
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }

    pub fn open(&self, key_id: &str, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if key_id != self.id {
            return Err(CryptoError::KeyMismatch(key_id.to_string()));
        }
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError::Open);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = ring::aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Open)?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, ring::aead::Aad::from(context), &mut body)
            .map_err(|_| CryptoError::Open)?;
        let n = plain.len();
        body.truncate(n);
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_secrets_have_the_exact_shape() {
        let t = format!("{TOKEN_PREFIX}{}", "0a".repeat(32));
        assert_eq!(bearer_secret(&format!("Bearer {t}"), TOKEN_PREFIX), Some(t.as_str()));
        assert_eq!(bearer_secret(&format!(" bearer  {t} "), TOKEN_PREFIX), Some(t.as_str()));
        assert_eq!(bearer_secret(&format!("Basic {t}"), TOKEN_PREFIX), None);
        assert_eq!(bearer_secret(&format!("Bearer {t}"), ADMIN_KEY_PREFIX), None);
        assert_eq!(bearer_secret(&format!("Bearer {t}x"), TOKEN_PREFIX), None);
        assert_eq!(bearer_secret(&t, TOKEN_PREFIX), None);
    }

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
    fn notifier_secrets_open_only_with_their_key_and_row() {
        let key = NotifierKey::from_base64(&NotifierKey::generate()).unwrap();
        let sealed = key.seal(b"row-1", b"canary-hook-secret").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"canary"));
        assert_ne!(
            sealed,
            key.seal(b"row-1", b"canary-hook-secret").unwrap(),
            "fresh nonce"
        );
        assert_eq!(
            key.open(key.key_id(), b"row-1", &sealed).unwrap(),
            b"canary-hook-secret"
        );
        assert_eq!(key.open(key.key_id(), b"row-2", &sealed), Err(CryptoError::Open));
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(key.open(key.key_id(), b"row-1", &tampered), Err(CryptoError::Open));
        assert_eq!(key.open(key.key_id(), b"row-1", &sealed[..5]), Err(CryptoError::Open));
        let other = NotifierKey::from_base64(&NotifierKey::generate()).unwrap();
        assert_ne!(other.key_id(), key.key_id());
        assert_eq!(
            other.open(key.key_id(), b"row-1", &sealed),
            Err(CryptoError::KeyMismatch(key.key_id().to_string()))
        );
        assert_eq!(other.open(other.key_id(), b"row-1", &sealed), Err(CryptoError::Open));
        assert!(NotifierKey::from_base64(&SecretString::from("AAAA")).is_err());
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
