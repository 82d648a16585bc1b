//! Change announcements: what a role must stop trusting in its caches, or re-read, now that an
//! admin changed something. Delivered to every listener (no queue group); each also has a TTL or
//! a timer, so a lost announcement only delays a change.

use serde::{Deserialize, Serialize};

use crate::ids::TokenId;

/// Published by the approver when a token or its permissions change, or a target changes:
/// gateways drop what they cached. `tokenId: null` means everything.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthInvalidation {
    pub token_id: Option<TokenId>,
}

/// Published by the approver (`Subjects::notifier_events`) when a notifier was added, changed or
/// removed through the API: every approver replica re-reads the notifiers. Receivers ignore the
/// payload (an empty one, as older approvers send, means the same).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotifiersChanged {}
