//! Input validation shared by the management handlers; every failure is a 400 with a stable code.

use serde::{Deserialize, Deserializer};
use shellgate_shared::client_addr::AllowedAddresses;
use shellgate_shared::states::{ApprovalPolicy, Capability, QueryApi};
use shellgate_shared::text_enum::TextEnum;
use time::OffsetDateTime;

use crate::error::ApiError;

/// A display name: trimmed, 1–200 characters, no control characters.
pub fn name(s: &str) -> Result<String, ApiError> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > 200 || s.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "invalid_name",
            "name must be 1-200 characters without control characters",
        ));
    }
    Ok(s.to_string())
}

/// A slug derived from a name: `Prod API (EU)` → `prod-api-eu`.
pub fn slug_from_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_matches('-');
    out.chars()
        .take(63)
        .collect::<String>()
        .trim_end_matches('-')
        .to_string()
}

pub fn slug(s: &str, what: &'static str) -> Result<String, ApiError> {
    if shellgate_shared::ids::is_valid_slug(s) {
        Ok(s.to_string())
    } else {
        Err(ApiError::validation(
            what,
            format!("{s:?} must be 1-63 lowercase letters, digits or '-', not starting with '-'"),
        ))
    }
}

fn plain(v: &str, max: usize) -> bool {
    !v.is_empty() && v.len() <= max && !v.starts_with('-') && !v.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// An SSH target's host: a name or address, no spaces or control characters, not an option.
pub fn ssh_host(s: &str) -> Result<String, ApiError> {
    let s = s.trim();
    if !plain(s, 253) {
        return Err(ApiError::validation(
            "invalid_ssh_target",
            "host is not a valid host name or address",
        ));
    }
    Ok(s.to_string())
}

/// An SSH target's user name.
pub fn ssh_username(s: &str) -> Result<String, ApiError> {
    let s = s.trim();
    if !plain(s, 64) {
        return Err(ApiError::validation(
            "invalid_ssh_target",
            "username is not a valid user name",
        ));
    }
    Ok(s.to_string())
}

/// An SSH target's port: 1-65535 (0 is refused, not rounded).
pub fn ssh_port(port: u16) -> Result<i32, ApiError> {
    if port == 0 {
        return Err(ApiError::validation("invalid_ssh_target", "port must be 1-65535"));
    }
    Ok(i32::from(port))
}

/// One of a closed set (`field` as the API names it): refused with `code` and the accepted
/// values otherwise.
pub fn one_of<T: TextEnum>(s: &str, field: &str, code: &'static str) -> Result<T, ApiError> {
    T::from_text(s).ok_or_else(|| ApiError::validation(code, format!("{field} must be {}", T::expected())))
}

/// A token's capabilities: each a known one; kept once each, in declaration order.
pub fn capabilities(list: &[String]) -> Result<Vec<Capability>, ApiError> {
    let given = list
        .iter()
        .map(|c| one_of::<Capability>(c, "each capability", "invalid_capability"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Capability::ALL.iter().copied().filter(|c| given.contains(c)).collect())
}

/// A token's source-address allow-list (CIDR blocks or addresses), normalised.
pub fn allowed_cidrs(list: &[String]) -> Result<Vec<String>, ApiError> {
    if list.len() > 64 {
        return Err(ApiError::validation(
            "invalid_allowed_cidrs",
            "allowedCidrs holds at most 64 blocks",
        ));
    }
    AllowedAddresses::parse(list)
        .map(|a| a.to_strings())
        .map_err(|e| ApiError::validation("invalid_allowed_cidrs", format!("allowedCidrs: {e}")))
}

/// A token's approval policy: `human` or `agent_confirm`.
pub fn approval_policy(s: &str) -> Result<ApprovalPolicy, ApiError> {
    one_of(s, "approvalPolicy", "invalid_approval_policy")
}

/// A target's query-API marking: `sql` or `graphql` (or `null`, which the caller handles).
pub fn query_api(s: &str) -> Result<QueryApi, ApiError> {
    one_of(s, "queryApi", "invalid_query_api")
}

/// For PATCH bodies: absent → `None`, `null` → `Some(None)`, a value → `Some(Some(v))`.
pub fn double_option_string<'de, D>(d: D) -> Result<Option<Option<String>>, D::Error>
where
    D: Deserializer<'de>,
{
    Option::<String>::deserialize(d).map(Some)
}

/// An expiry in the future.
pub fn expiry(at: Option<OffsetDateTime>) -> Result<Option<OffsetDateTime>, ApiError> {
    match at {
        Some(t) if t <= OffsetDateTime::now_utc() => Err(ApiError::validation(
            "invalid_expiry",
            "expiresAt must be in the future",
        )),
        other => Ok(other),
    }
}

/// For PATCH bodies: absent → `None`, `null` → `Some(None)`, a time → `Some(Some(t))`.
pub fn double_option_rfc3339<'de, D>(d: D) -> Result<Option<Option<OffsetDateTime>>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    struct Wrap(#[serde(with = "time::serde::rfc3339::option")] Option<OffsetDateTime>);
    Wrap::deserialize(d).map(|w| Some(w.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_from_names() {
        assert_eq!(slug_from_name("Prod API (EU)"), "prod-api-eu");
        assert_eq!(slug_from_name("--x--"), "x");
        assert_eq!(slug_from_name("é"), "");
        assert!(slug("ok-1", "invalid_slug").is_ok());
        assert!(slug("-bad", "invalid_slug").is_err());
        assert!(slug("Bad", "invalid_slug").is_err());
    }

    #[test]
    fn names() {
        assert_eq!(name("  a ").unwrap(), "a");
        assert!(name("").is_err());
        assert!(name("a\nb").is_err());
        assert!(name(&"x".repeat(201)).is_err());
    }
}
