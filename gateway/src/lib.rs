//! The gateway role: the only agent-facing service. Stateless, so any replica serves any request:
//! it checks path safety, authenticates the `sg_` token, checks the target permission, and
//! forwards the request over NATS to an executor of the target's pool, streaming both ways.
//! SSH commands (`POST /ssh/:target/exec`) take the same way to an executor of the target's pool.
//! It never holds a decrypted credential (it has no vault key at all).

mod admit;
mod approvals;
mod audit;
mod auth;
mod bootstrap;
mod context;
mod edge;
mod error;
mod exec_stream;
mod gate;
mod handlers;
mod http;
mod install;
mod mcp;
mod routes;
mod ssh;

pub use context::GatewayContext;
pub use mcp::McpEndpoint;
pub use routes::configure;
