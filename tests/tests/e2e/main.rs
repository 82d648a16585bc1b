//! End-to-end tests: the real binary, Postgres, NATS and HTTP upstreams on loopback.

mod audit_restart;
mod cli;
mod executor_death;
mod management;
mod paths;
mod proxy;
mod revocation;
mod streaming;
