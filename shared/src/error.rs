//! The agent-facing error codes, and the JSON error body every role returns:
//! `{"error": "<stable_code>", "message": "<safe text>"}`.
//!
//! Every code an agent can meet — from the gateway's admission, the guard and approvals, or an
//! executor's refusal carried back over NATS — is a variant of [`Code`], which knows its stable
//! snake_case string, its HTTP status and the audit outcome it records. No role decides a status
//! or an outcome by matching a string.

use serde::{Deserialize, Serialize};

use crate::audit::Outcome;
use crate::http_path::PathError;

macro_rules! codes {
    ($( $(#[$meta:meta])* $variant:ident => ($text:literal, $status:literal, $outcome:ident) ),+ $(,)?) => {
        /// A stable error code an agent may match on.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $( $(#[$meta])* $variant ),+
        }

        impl Code {
            pub const ALL: &'static [Code] = &[$( Code::$variant ),+];

            /// The stable snake_case string.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( Code::$variant => $text ),+
                }
            }

            pub fn parse(s: &str) -> Option<Code> {
                match s {
                    $( $text => Some(Code::$variant), )+
                    _ => None,
                }
            }

            /// The HTTP status an answer with this code carries.
            pub fn status(self) -> u16 {
                match self {
                    $( Code::$variant => $status ),+
                }
            }

            /// What the audit record says became of a request that ended with this code.
            pub fn outcome(self) -> Outcome {
                match self {
                    $( Code::$variant => Outcome::$outcome ),+
                }
            }
        }
    };
}

codes! {
    // Authentication.
    MissingToken => ("missing_token", 401, Refused),
    InvalidToken => ("invalid_token", 401, Refused),
    TokenRevoked => ("token_revoked", 401, Refused),
    TokenExpired => ("token_expired", 401, Refused),
    TokenDisabled => ("token_disabled", 401, Refused),

    // What the request names.
    /// Missing, not granted to the token, or of another kind: all look the same.
    TargetNotFound => ("target_not_found", 404, Refused),
    TargetDisabled => ("target_disabled", 403, Refused),
    /// The token lacks the capability this endpoint or tool needs.
    CapabilityMissing => ("capability_missing", 403, Refused),
    /// The request comes from an address outside the token's `allowedCidrs`.
    AddressNotAllowed => ("address_not_allowed", 403, Refused),
    /// No route has this path.
    NotFound => ("not_found", 404, Refused),

    // Bad input.
    BadRequest => ("bad_request", 400, Refused),
    BadBody => ("bad_body", 400, Refused),
    BadContentLength => ("bad_content_length", 400, Refused),
    BadMethod => ("bad_method", 400, Refused),
    BadCommand => ("bad_command", 400, Refused),
    MissingCommand => ("missing_command", 400, Refused),
    BadTimeout => ("bad_timeout", 400, Refused),
    BadEnv => ("bad_env", 400, Refused),
    BadStdin => ("bad_stdin", 400, Refused),
    InvalidId => ("invalid_id", 400, Refused),
    InvalidApprovalId => ("invalid_approval_id", 400, Refused),
    /// The guard rejected the path (the executor's re-check says this).
    UnsafePath => ("unsafe_path", 400, Refused),
    UnsafePathDotSegment => ("unsafe_path_dot_segment", 400, Refused),
    UnsafePathEmptySegment => ("unsafe_path_empty_segment", 400, Refused),
    UnsafePathBackslash => ("unsafe_path_backslash", 400, Refused),
    UnsafePathControlChar => ("unsafe_path_control_char", 400, Refused),
    UnsafePathBadEncoding => ("unsafe_path_bad_encoding", 400, Refused),
    UnsafePathEncodingLayers => ("unsafe_path_encoding_layers", 400, Refused),
    UnsafePathHostChange => ("unsafe_path_host_change", 400, Refused),
    UnsafePathTooLong => ("unsafe_path_too_long", 400, Refused),
    UnsafePathInvalidChar => ("unsafe_path_invalid_char", 400, Refused),
    PayloadTooLarge => ("payload_too_large", 413, Refused),
    /// A request that needs approval has a body too large to bind and hold.
    ApprovalBodyTooLarge => ("approval_body_too_large", 413, Refused),
    /// WebSocket, h2c: not proxied.
    UpgradeNotSupported => ("upgrade_not_supported", 501, Refused),
    /// A browser page from an origin the MCP endpoint does not allow.
    OriginNotAllowed => ("origin_not_allowed", 403, Refused),

    // The guard and approvals.
    /// The guard blocked it; nothing makes it run.
    Blocked => ("blocked", 403, Blocked),
    /// It needs a human's approval and came without a usable one.
    ApprovalRequired => ("approval_required", 403, Refused),
    /// No such approval, or another token's.
    ApprovalNotFound => ("approval_not_found", 404, Refused),
    ApprovalPending => ("approval_pending", 403, Refused),
    ApprovalDenied => ("approval_denied", 403, Denied),
    ApprovalExpired => ("approval_expired", 403, Refused),
    ApprovalUsed => ("approval_used", 403, Refused),
    /// Approved, but for another request or target (or the target's address changed).
    ApprovalMismatch => ("approval_mismatch", 403, Refused),

    // Shellgate's own parts unavailable.
    BusUnavailable => ("bus_unavailable", 503, Failed),
    AuthUnavailable => ("auth_unavailable", 503, Failed),
    ApprovalsUnavailable => ("approvals_unavailable", 503, Failed),
    GuardUnavailable => ("guard_unavailable", 503, Failed),
    PolicyUnavailable => ("policy_unavailable", 503, Failed),
    NoExecutor => ("no_executor", 503, Failed),
    ExecutorTimeout => ("executor_timeout", 504, Failed),
    ExecutorLost => ("executor_lost", 502, Failed),
    ExecutorProtocolError => ("executor_protocol_error", 502, Failed),
    ExecutorDbUnavailable => ("executor_db_unavailable", 503, Failed),
    ExecutorWrongPool => ("executor_wrong_pool", 502, Failed),

    // The target and its credential.
    TargetMisconfigured => ("target_misconfigured", 502, Failed),
    CredentialUnavailable => ("credential_unavailable", 502, Failed),
    CredentialMissing => ("credential_missing", 502, Failed),

    // HTTP upstreams.
    UpstreamTimeout => ("upstream_timeout", 504, Failed),
    UpstreamConnectFailed => ("upstream_connect_failed", 502, Failed),
    UpstreamBadUrl => ("upstream_bad_url", 502, Failed),
    UpstreamFailed => ("upstream_failed", 502, Failed),
    UpstreamBodyFailed => ("upstream_body_failed", 502, Failed),
    UpstreamEncodingUnsupported => ("upstream_encoding_unsupported", 502, Failed),
    UpstreamResponseTooLarge => ("upstream_response_too_large", 502, Failed),
    RequestBodyFailed => ("request_body_failed", 502, Failed),

    // SSH servers.
    SshConnectFailed => ("ssh_connect_failed", 502, Failed),
    SshConnectTimeout => ("ssh_connect_timeout", 504, Failed),
    SshSessionRefused => ("ssh_session_refused", 502, Failed),
    SshBusy => ("ssh_busy", 503, Failed),
    SshAuthFailed => ("ssh_auth_failed", 502, Failed),
    SshConnectionLost => ("ssh_connection_lost", 502, Failed),
    SshExecRefused => ("ssh_exec_refused", 502, Failed),
    HostKeyMismatch => ("host_key_mismatch", 502, Failed),
    HostKeyUnknown => ("host_key_unknown", 502, Failed),
    CommandTimeout => ("command_timeout", 504, Failed),

    /// The agent went away before the answer was complete (audit only: nobody reads the answer).
    ClientDisconnected => ("client_disconnected", 499, Cancelled),
}

impl Code {
    /// The outcome of a failure with this code string, as an executor sent it: the code's own,
    /// or (a code this build does not know, from a newer executor) by its status.
    pub fn outcome_of(code: &str, status: u16) -> Outcome {
        match Code::parse(code) {
            Some(c) => c.outcome(),
            None if (400..500).contains(&status) => Outcome::Refused,
            None => Outcome::Failed,
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl From<PathError> for Code {
    fn from(e: PathError) -> Self {
        match e {
            PathError::DotSegment => Code::UnsafePathDotSegment,
            PathError::EmptySegment => Code::UnsafePathEmptySegment,
            PathError::Backslash => Code::UnsafePathBackslash,
            PathError::ControlChar => Code::UnsafePathControlChar,
            PathError::BadEncoding => Code::UnsafePathBadEncoding,
            PathError::TooManyLayers => Code::UnsafePathEncodingLayers,
            PathError::HostChange => Code::UnsafePathHostChange,
            PathError::TooLong => Code::UnsafePathTooLong,
            PathError::InvalidChar => Code::UnsafePathInvalidChar,
        }
    }
}

/// Wire form of an error. `error` is a stable snake_case code clients may match on;
/// `message` is for humans and never carries internal detail or secrets.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
}

impl ErrorBody {
    pub fn new(error: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for &c in Code::ALL {
            let s = c.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{s}");
            assert_eq!(Code::parse(s), Some(c));
            assert_eq!(serde_json::to_value(c).unwrap(), s);
        }
    }

    #[test]
    fn statuses_and_outcomes_agree() {
        for &c in Code::ALL {
            let (status, outcome) = (c.status(), c.outcome());
            assert!((400..600).contains(&status), "{c}");
            match outcome {
                Outcome::Failed => assert!(status >= 500, "{c}"),
                // A protocol upgrade is refused by policy, though its status says "not implemented".
                Outcome::Refused => assert!(status < 500 || c == Code::UpgradeNotSupported, "{c}"),
                Outcome::Blocked | Outcome::Denied => assert_eq!(status, 403, "{c}"),
                Outcome::Cancelled => assert_eq!(c, Code::ClientDisconnected),
                other => panic!("{c} records {other}"),
            }
        }
    }

    #[test]
    fn path_errors_keep_their_codes() {
        for e in [
            PathError::DotSegment,
            PathError::EmptySegment,
            PathError::Backslash,
            PathError::ControlChar,
            PathError::BadEncoding,
            PathError::TooManyLayers,
            PathError::HostChange,
            PathError::TooLong,
            PathError::InvalidChar,
        ] {
            assert_eq!(Code::from(e).as_str(), e.code());
        }
    }

    #[test]
    fn unknown_codes_from_a_newer_executor_fall_back_on_status() {
        assert_eq!(Code::outcome_of("blocked", 403), Outcome::Blocked);
        assert_eq!(Code::outcome_of("brand_new", 409), Outcome::Refused);
        assert_eq!(Code::outcome_of("brand_new", 502), Outcome::Failed);
    }
}
