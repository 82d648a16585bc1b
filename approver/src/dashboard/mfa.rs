//! The second factor: TOTP (RFC 6238 through `totp-rs`: SHA-1, 6 digits, 30-second steps, one
//! step of clock skew either way — what every authenticator app speaks) with ten one-time
//! recovery codes, and the step-up ("sudo mode") that deciding approvals needs when
//! `SHELLGATE_REQUIRE_MFA_FOR_APPROVALS` is set.
//!
//! A code is never accepted twice: the step of the last TOTP code accepted is stored and only a
//! later step passes (totp-rs leaves that to its caller); a recovery code is used up. The secret
//! is stored sealed under a key derived from `SHELLGATE_SESSION_SECRET`.

use ring::rand::{SecureRandom as _, SystemRandom};
use sha2::{Digest as _, Sha256};
use shellgate_shared::db::models::User;
use shellgate_shared::db::queries;
use shellgate_shared::states::UserRole;
use time::OffsetDateTime;
use totp_rs::{Algorithm, Builder, Totp};

use super::session::SessionKeys;
use crate::context::ApproverContext;
use crate::error::ApiError;

/// The issuer authenticator apps show next to the account.
const ISSUER: &str = "Shellgate";
/// Recovery codes given at enrolment (and when regenerated).
const RECOVERY_CODES: usize = 10;

/// What an authenticator app needs to enrol: the secret in base32 (typed by hand), the
/// `otpauth://` URL, and that URL as a QR code (SVG markup, drawn with `fill` attributes only).
pub struct Enrolment {
    pub secret_base32: String,
    pub url: String,
    pub qr_svg: String,
}

fn no_randomness() -> ApiError {
    ApiError::Internal("no randomness".into())
}

/// A new TOTP secret: 160 random bits, as RFC 4226 recommends.
pub fn new_secret() -> Result<Vec<u8>, ApiError> {
    let mut secret = vec![0u8; 20];
    SystemRandom::new().fill(&mut secret).map_err(|_| no_randomness())?;
    Ok(secret)
}

fn totp(secret: &[u8], account: &str) -> Result<Totp, ApiError> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret.to_vec())
        .with_account_name(account)
        .with_issuer(Some(ISSUER))
        .build()
        .map_err(|e| ApiError::Internal(format!("TOTP parameters: {e:?}")))
}

pub fn enrolment(secret: &[u8], account: &str) -> Result<Enrolment, ApiError> {
    let totp = totp(secret, account)?;
    let url = totp
        .to_url()
        .map_err(|e| ApiError::Internal(format!("TOTP URL: {e:?}")))?;
    let qr = qrcode::QrCode::new(url.as_bytes()).map_err(|e| ApiError::Internal(format!("QR code: {e}")))?;
    let svg = qr
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    // Inline in the page: the XML declaration has no place in HTML.
    let qr_svg = svg.split_once("?>").map_or(svg.as_str(), |(_, rest)| rest).to_string();
    Ok(Enrolment {
        secret_base32: totp.secret().to_base32(),
        url,
        qr_svg,
    })
}

fn now() -> u64 {
    u64::try_from(OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(0)
}

/// The time step a TOTP code belongs to (now, or one step either side), if it is right.
fn step_of(secret: &[u8], account: &str, code: &str, at: u64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let totp = totp(secret, account).ok()?;
    totp.check(&code, at).and_then(|step| i64::try_from(step).ok())
}

/// Ten new recovery codes (shown once) and their hashes (stored).
pub fn new_recovery_codes() -> Result<(Vec<String>, Vec<Vec<u8>>), ApiError> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let rng = SystemRandom::new();
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let mut bytes = [0u8; 10];
        rng.fill(&mut bytes).map_err(|_| no_randomness())?;
        // 10 characters of 31 (a negligible bias from the modulo): ~49 bits each.
        let chars: String = bytes
            .iter()
            .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
            .collect();
        codes.push(format!("{}-{}", &chars[..5], &chars[5..]));
    }
    let hashes = codes.iter().map(|c| recovery_hash(c)).collect();
    Ok((codes, hashes))
}

/// A recovery code's stored form: the SHA-256 of it without case, spaces or dashes.
fn recovery_hash(code: &str) -> Vec<u8> {
    let plain: String = code
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    Sha256::digest(plain.as_bytes()).to_vec()
}

/// The user's TOTP secret, opened.
fn secret_of(keys: &SessionKeys, user: &User) -> Option<Vec<u8>> {
    user.totp_secret.as_deref().and_then(|s| keys.open_totp(user.id, s))
}

/// The enrolment a user has started (their secret stored, not yet confirmed).
pub fn pending_enrolment(keys: &SessionKeys, user: &User) -> Option<Enrolment> {
    if user.has_totp() {
        return None;
    }
    secret_of(keys, user).and_then(|s| enrolment(&s, &user.username).ok())
}

/// Whether `code` is a fresh second factor for this user: a right TOTP code of a step later than
/// any accepted before (then it is the last accepted), or an unused recovery code (then used up).
pub async fn accept(ctx: &ApproverContext, keys: &SessionKeys, user: &User, code: &str) -> Result<bool, ApiError> {
    let code = code.trim();
    if code.is_empty() || code.len() > 64 {
        return Ok(false);
    }
    let mut conn = ctx.conn().await?;
    if code.chars().all(|c| c.is_ascii_digit() || c == ' ') {
        let Some(secret) = secret_of(keys, user) else {
            return Ok(false);
        };
        let Some(step) = step_of(&secret, &user.username, code, now()) else {
            return Ok(false);
        };
        return Ok(queries::users::accept_totp_step(&mut conn, user.id, step).await?);
    }
    Ok(queries::users::use_recovery_code(&mut conn, user.id, &recovery_hash(code)).await?)
}

/// Confirms an enrolment with its first code: TOTP on, and new recovery codes (returned, to show
/// once). `None` when the code is wrong (or not fresh).
pub async fn confirm(
    ctx: &ApproverContext,
    keys: &SessionKeys,
    user: &User,
    code: &str,
) -> Result<Option<Vec<String>>, ApiError> {
    let Some(secret) = secret_of(keys, user) else {
        return Ok(None);
    };
    let Some(step) = step_of(&secret, &user.username, code, now()) else {
        return Ok(None);
    };
    let (codes, hashes) = new_recovery_codes()?;
    let mut conn = ctx.conn().await?;
    let on = queries::users::enable_totp(&mut conn, user.id, step, &hashes).await?;
    Ok(on.then_some(codes))
}

/// What deciding approvals needs of a dashboard user beyond their role.
#[derive(Debug, PartialEq, Eq)]
pub enum DecisionGate {
    Open,
    /// MFA is required for approvals and the user has none: enrol first.
    NeedsSecondFactor,
    /// A fresh code is needed (the last step-up is older than the window).
    NeedsStepUp,
}

/// Whether a user may decide approvals now, given when their session last stepped up.
pub fn decision_gate(ctx: &ApproverContext, user: &User, stepped_up_at: Option<OffsetDateTime>) -> DecisionGate {
    let d = &ctx.dashboard;
    if !d.require_mfa || !matches!(user.role, UserRole::Admin | UserRole::Approver) {
        return DecisionGate::Open;
    }
    if !user.has_totp() {
        return DecisionGate::NeedsSecondFactor;
    }
    let window = time::Duration::try_from(d.step_up).unwrap_or(time::Duration::MAX);
    match stepped_up_at {
        Some(at) if OffsetDateTime::now_utc() - at <= window => DecisionGate::Open,
        _ => DecisionGate::NeedsStepUp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_their_step_and_one_step_of_skew() {
        let secret = new_secret().unwrap();
        let t = totp(&secret, "alice").unwrap();
        let at = 1_800_000_000;
        let code = t.generate(at).to_string();
        assert_eq!(step_of(&secret, "alice", &code, at), Some(60_000_000));
        assert_eq!(
            step_of(&secret, "alice", &code, at + 30),
            Some(60_000_000),
            "a step late"
        );
        assert_eq!(step_of(&secret, "alice", &code, at + 90), None, "three steps late");
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert_eq!(step_of(&secret, "alice", &spaced, at), Some(60_000_000));
        assert_eq!(step_of(&secret, "alice", "12345", at), None);
        assert_eq!(step_of(&secret, "alice", "abcdef", at), None);
        let other = new_secret().unwrap();
        assert_ne!(secret, other);
    }

    #[test]
    fn recovery_codes_are_distinct_and_forgiving_in_form() {
        let (codes, hashes) = new_recovery_codes().unwrap();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let unique: std::collections::HashSet<_> = hashes.iter().collect();
        assert_eq!(unique.len(), RECOVERY_CODES);
        assert!(codes.iter().all(|c| c.len() == 11 && c.as_bytes()[5] == b'-'));
        let c = &codes[0];
        assert_eq!(recovery_hash(&c.to_uppercase().replace('-', " ")), hashes[0]);
    }

    #[test]
    fn the_enrolment_offers_url_and_qr() {
        let secret = new_secret().unwrap();
        let e = enrolment(&secret, "alice").unwrap();
        assert!(e.url.starts_with("otpauth://totp/Shellgate:alice?"), "{}", e.url);
        assert!(e.url.contains(&format!("secret={}", e.secret_base32)));
        assert!(e.qr_svg.starts_with("<svg"), "{}", &e.qr_svg[..40]);
        assert!(!e.qr_svg.contains("style"), "no inline styles (the CSP refuses them)");
    }
}
