//! Identifier newtypes, so a token id can never be passed where a target id is expected.

use diesel_derive_newtype::DieselNewType;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Whether `s` is a valid slug (targets, executor pools): lowercase letters, digits and `-`,
/// starting with a letter or digit, at most 63 characters. Same rule as the database's CHECK.
pub fn is_valid_slug(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0] != b'-'
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, DieselNewType,
        )]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// An agent token (`sg_…`).
    TokenId
);
id_type!(
    /// An HTTP or SSH target.
    TargetId
);
id_type!(
    /// An admin API key (`sga_…`).
    AdminKeyId
);
id_type!(
    /// One audit event; unique, so a redelivered event is written once.
    AuditEventId
);
id_type!(
    /// A human approval of one exact request.
    ApprovalId
);
id_type!(
    /// An approval notifier an admin added through the API.
    NotifierId
);
id_type!(
    /// One agent request, carried across every hop and returned as `X-Shellgate-Request-Id`.
    RequestId
);
id_type!(
    /// A dashboard user.
    UserId
);
