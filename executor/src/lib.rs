//! The executor role: workers in the NATS queue group of one executor pool. Only executors hold
//! the vault secret key. For each agent request an executor resolves the target from Postgres
//! (never trusting the gateway for the URL), opens the credential at the moment of the call,
//! performs the upstream call (HTTP with awc, SSH with russh over pooled connections), streams
//! the answer back and scrubs the credential from it.

pub mod context;
pub mod decode;
pub mod handlers;
pub mod http;
pub mod intake;
pub mod recheck;
pub mod routes;
pub mod scrub;
pub mod ssh;
pub mod targets;
pub mod worker;

pub use context::ExecutorContext;
pub use worker::{WorkerPool, spawn_workers};
