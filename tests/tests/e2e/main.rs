//! End-to-end tests: the real binary, Postgres, NATS and HTTP upstreams on loopback.
#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

mod approval_binding;
mod approvals;
mod audit_restart;
mod browser;
mod capabilities;
mod cli;
mod client_addr;
mod dashboard;
mod dashboard_accounts;
mod dashboard_audit;
mod dashboard_manage;
mod edge;
mod embed;
mod encoded_responses;
mod executor_death;
mod install;
mod log_secrets;
mod management;
mod mcp;
mod mcp_sdks;
mod mcp_tools;
mod notify;
mod observability;
mod paths;
mod proxy;
mod revocation;
mod ssh;
mod ssh_kill;
mod states;
mod streaming;
