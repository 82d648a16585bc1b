//! The executor role: workers in the NATS queue group of one executor pool. Only executors hold
//! the vault secret key. For each agent request an executor resolves the target from Postgres
//! (never trusting the gateway for the URL), opens the credential at the moment of the call,
//! performs the upstream call (HTTP with awc, SSH with russh over pooled connections), streams
//! the answer back and scrubs the credential from it.

mod context;
mod decode;
mod handlers;
mod heartbeat;
mod http;
mod intake;
mod recheck;
mod routes;
mod scrub;
mod ssh;
mod targets;
mod worker;

pub use context::ExecutorContext;
pub use routes::configure;
pub use worker::{WorkerPool, spawn_workers};
