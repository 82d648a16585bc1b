//! The gateway role: the only agent-facing service. Stateless, so any replica serves any request:
//! it checks path safety, authenticates the `sg_` token, checks the target permission, and
//! forwards the request over NATS to an executor of the target's pool, streaming both ways.
//! SSH commands (`POST /ssh/:target/exec`) take the same way to an executor of the target's pool.
//! It never holds a decrypted credential (it has no vault key at all).

pub mod admit;
pub mod approvals;
pub mod audit;
pub mod auth;
pub mod context;
pub mod edge;
pub mod error;
pub mod exec_stream;
pub mod gate;
pub mod handlers;
pub mod http;
pub mod routes;
pub mod ssh;

pub use context::GatewayContext;
