//! The approval lifecycle as types: the statuses and their legal transitions, the events that
//! announce them, and why an approval cannot be used for a request. The guarded SQL statements in
//! `db::queries::approvals` carry out the transitions; this is what they, the gateway, the
//! approver, its sweeper and the executor's re-check all name.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::db::models::Approval;
use crate::error::Code;
use crate::ids::{TargetId, TokenId};

crate::text_enum! {
    /// Where an approval is in its life.
    pub enum ApprovalStatus {
        /// Waiting for a human.
        Pending => "pending",
        /// A human approved it; the agent may run the request once.
        Approved => "approved",
        /// A human denied it.
        Denied => "denied",
        /// Nobody decided in time.
        Expired => "expired",
        /// Approved and run.
        Used => "used",
    }
}

impl ApprovalStatus {
    /// The legal transitions: pending → approved | denied (a human, before expiry) | expired
    /// (the sweeper); approved → used (the agent, once, before expiry). Nothing else, ever.
    pub fn can_become(self, next: Self) -> bool {
        matches!(
            (self, next),
            (Self::Pending, Self::Approved | Self::Denied | Self::Expired) | (Self::Approved, Self::Used)
        )
    }

    /// The status as of `now`: a pending approval past its expiry is expired, whether or not the
    /// sweeper has marked it yet.
    pub fn at(self, expires_at: OffsetDateTime, now: OffsetDateTime) -> Self {
        if self == Self::Pending && expires_at <= now {
            Self::Expired
        } else {
            self
        }
    }
}

/// What an approval event announces (`<p>.v1.approvals.<id>.<event>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalEventKind {
    Requested,
    Approved,
    Denied,
    Expired,
    Used,
}

impl ApprovalEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Expired => "expired",
            Self::Used => "used",
        }
    }

    /// The event that announces a move into `status` (none for `pending`: that is `requested`).
    pub fn entering(status: ApprovalStatus) -> Self {
        match status {
            ApprovalStatus::Pending => Self::Requested,
            ApprovalStatus::Approved => Self::Approved,
            ApprovalStatus::Denied => Self::Denied,
            ApprovalStatus::Expired => Self::Expired,
            ApprovalStatus::Used => Self::Used,
        }
    }
}

impl std::fmt::Display for ApprovalEventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an approval cannot be used for a request; each is a 403 with its code (404 for
/// `NotFound`: another token's approval looks missing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UseRefusal {
    NotFound,
    Pending,
    Denied,
    Expired,
    Used,
    /// Approved, but for another target.
    OtherTarget,
    /// Approved, but for another request, or its target's address changed since.
    OtherRequest,
}

impl UseRefusal {
    pub fn code(self) -> Code {
        match self {
            Self::NotFound => Code::ApprovalNotFound,
            Self::Pending => Code::ApprovalPending,
            Self::Denied => Code::ApprovalDenied,
            Self::Expired => Code::ApprovalExpired,
            Self::Used => Code::ApprovalUsed,
            Self::OtherTarget | Self::OtherRequest => Code::ApprovalMismatch,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Self::NotFound => "no such approval for this token",
            Self::Pending => "no human has decided yet",
            Self::Denied => "a human denied this request",
            Self::Expired => "this approval has expired",
            Self::Used => "this approval has already been used",
            Self::OtherTarget => "this approval is for a request to another target",
            Self::OtherRequest => "this approval is for a different request, or its target's address changed since",
        }
    }
}

/// Why `approval` cannot be used by `token` for the request with `hash` to `target` at `now`,
/// or `None` when it can. Used is reported as used, expiry as expired (never as denied), and a
/// mismatch only for an approval that would otherwise be usable.
pub fn use_refusal(
    approval: Option<&Approval>,
    token: TokenId,
    target: TargetId,
    hash: &str,
    now: OffsetDateTime,
) -> Option<UseRefusal> {
    let Some(a) = approval.filter(|a| a.token_id == token) else {
        return Some(UseRefusal::NotFound);
    };
    let status = a.status;
    let expired = a.expires_at <= now;
    Some(match status {
        ApprovalStatus::Used => UseRefusal::Used,
        _ if expired || status == ApprovalStatus::Expired => UseRefusal::Expired,
        ApprovalStatus::Denied => UseRefusal::Denied,
        ApprovalStatus::Pending => UseRefusal::Pending,
        ApprovalStatus::Approved if a.target_id != target => UseRefusal::OtherTarget,
        ApprovalStatus::Approved if a.request_hash != hash => UseRefusal::OtherRequest,
        ApprovalStatus::Approved => return None,
        ApprovalStatus::Expired => UseRefusal::Expired,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ApprovalId;

    #[test]
    fn only_the_documented_transitions_are_legal() {
        use ApprovalStatus::*;
        let legal = [
            (Pending, Approved),
            (Pending, Denied),
            (Pending, Expired),
            (Approved, Used),
        ];
        for &from in ApprovalStatus::ALL {
            for &to in ApprovalStatus::ALL {
                assert_eq!(from.can_become(to), legal.contains(&(from, to)), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn names_round_trip_and_match_serde() {
        for &s in ApprovalStatus::ALL {
            assert_eq!(ApprovalStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_eq!(
                serde_json::to_value(ApprovalEventKind::entering(s)).unwrap(),
                ApprovalEventKind::entering(s).as_str()
            );
        }
        assert_eq!(ApprovalStatus::parse("Pending"), None);
    }

    fn row(status: &str, expires_in: i64) -> (Approval, TokenId, TargetId) {
        let now = OffsetDateTime::now_utc();
        let (token, target) = (TokenId::new(), TargetId::new());
        let a = Approval {
            id: ApprovalId::new(),
            token_id: token,
            target_id: target,
            kind: crate::states::TargetKind::Http,
            request: serde_json::Value::Null,
            request_hash: "h".into(),
            rule: None,
            reason: String::new(),
            matched: None,
            status: ApprovalStatus::parse(status).unwrap(),
            created_at: now,
            expires_at: now + time::Duration::seconds(expires_in),
            decided_at: None,
            decided_by: None,
            decision_comment: None,
            used_at: None,
            body_excerpt: None,
        };
        (a, token, target)
    }

    #[test]
    fn refusals_say_exactly_why() {
        let now = OffsetDateTime::now_utc();
        let check = |status: &str, expires_in: i64| {
            let (a, token, target) = row(status, expires_in);
            use_refusal(Some(&a), token, target, "h", now)
        };
        assert_eq!(check("approved", 60), None);
        assert_eq!(check("pending", 60), Some(UseRefusal::Pending));
        assert_eq!(check("denied", 60), Some(UseRefusal::Denied));
        assert_eq!(check("used", 60), Some(UseRefusal::Used));
        assert_eq!(check("used", -60), Some(UseRefusal::Used));
        assert_eq!(check("approved", -60), Some(UseRefusal::Expired));
        assert_eq!(check("pending", -60), Some(UseRefusal::Expired));
        assert_eq!(check("denied", -60), Some(UseRefusal::Expired));
        let (a, token, target) = row("approved", 60);
        assert_eq!(
            use_refusal(Some(&a), TokenId::new(), target, "h", now),
            Some(UseRefusal::NotFound)
        );
        assert_eq!(use_refusal(None, token, target, "h", now), Some(UseRefusal::NotFound));
        assert_eq!(
            use_refusal(Some(&a), token, TargetId::new(), "h", now),
            Some(UseRefusal::OtherTarget)
        );
        assert_eq!(
            use_refusal(Some(&a), token, target, "x", now),
            Some(UseRefusal::OtherRequest)
        );
        assert_eq!(UseRefusal::OtherTarget.code().as_str(), "approval_mismatch");
    }
}
