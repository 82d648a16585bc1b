//! The closed sets of the domain, each a Rust enum end to end: a checked `TEXT` column in
//! Postgres, the same string in JSON and on the bus (see `text_enum!`). Approval statuses live
//! with their lifecycle (`approval::ApprovalStatus`), audit outcomes with the audit event
//! (`audit::Outcome`).

use crate::text_enum;

text_enum! {
    /// What a target is reached over.
    pub enum TargetKind {
        /// An HTTP(S) API, proxied at `/gateway/<slug>/…`.
        Http => "http",
        /// A server, reached with SSH at `/ssh/<slug>/exec`.
        Ssh => "ssh",
    }
}

text_enum! {
    /// Who may settle a guard's `approve` verdict for a token's requests.
    pub enum ApprovalPolicy {
        /// A human, through the approver (default).
        Human => "human",
        /// The agent itself, by re-sending with `X-Shellgate-Approved: true` (recorded as such).
        AgentConfirm => "agent_confirm",
    }
}

text_enum! {
    /// What a token may use: a tool or endpoint whose capability it lacks is refused (REST: 403
    /// `capability_missing`; MCP: absent from `tools/list`, refused like an unknown tool).
    pub enum Capability {
        /// `/gateway` and the `api_request` / `api_download` tools.
        Http => "http",
        /// `/ssh` and the `ssh_exec` tool.
        Ssh => "ssh",
        Webhooks => "webhooks",
        Vault => "vault",
        MemoryRead => "memory:read",
        MemoryWrite => "memory:write",
        SkillsRead => "skills:read",
        SkillsWrite => "skills:write",
        WikiRead => "wiki:read",
        WikiWrite => "wiki:write",
    }
}

impl Capability {
    /// What a new token may use unless told otherwise (and what existing tokens were given):
    /// the agent paths, and shared knowledge to read — memories also to write — but not to
    /// rewrite for every other agent.
    pub const DEFAULT: &'static [Capability] = &[
        Self::Http,
        Self::Ssh,
        Self::MemoryRead,
        Self::MemoryWrite,
        Self::SkillsRead,
        Self::WikiRead,
    ];

    /// What a target of `kind` needs.
    pub fn for_target(kind: TargetKind) -> Self {
        match kind {
            TargetKind::Http => Self::Http,
            TargetKind::Ssh => Self::Ssh,
        }
    }
}

text_enum! {
    /// A target whose JSON bodies carry queries the guard reads.
    pub enum QueryApi {
        Sql => "sql",
        GraphQl => "graphql",
    }
}

impl From<QueryApi> for crate::guard::QueryApi {
    fn from(q: QueryApi) -> Self {
        match q {
            QueryApi::Sql => Self::Sql,
            QueryApi::GraphQl => Self::GraphQl,
        }
    }
}

text_enum! {
    /// What an audit record is about.
    pub enum AuditKind {
        /// An agent's HTTP request.
        Http => "http",
        /// An agent's SSH command.
        Ssh => "ssh",
        /// A step of an approval's lifecycle.
        Approval => "approval",
        /// A change through the management API.
        Admin => "admin",
    }
}

impl From<TargetKind> for AuditKind {
    fn from(k: TargetKind) -> Self {
        match k {
            TargetKind::Http => Self::Http,
            TargetKind::Ssh => Self::Ssh,
        }
    }
}

text_enum! {
    /// Where a host key an SSH server presented stands.
    pub enum HostKeyStatus {
        /// Seen, not trusted: connections are refused until an admin accepts it.
        Pending => "pending",
        /// Pinned: the server must present exactly this key.
        Accepted => "accepted",
    }
}

text_enum! {
    /// How an approval notifier delivers.
    pub enum NotifierKind {
        /// A signed JSON POST to a URL.
        Webhook => "webhook",
        /// A Slack incoming webhook.
        Slack => "slack",
    }
}

text_enum! {
    /// What a dashboard user may do (docs/dashboard.md).
    pub enum UserRole {
        /// Everything, including users and secrets.
        Admin => "admin",
        /// Decide approvals; read everything but secrets.
        Approver => "approver",
        /// Read everything but secrets.
        Viewer => "viewer",
    }
}
