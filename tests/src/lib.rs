//! Integration-test harness: starts the real `shellgate` binary against the machine's Postgres
//! (a database per test) and NATS (a subject prefix and stream names per test), plus real HTTP
//! upstreams on loopback. Everything a test creates is removed when it ends, and leftovers of
//! crashed runs are swept at the next start.
#![expect(clippy::expect_used, reason = "a test harness should fail loudly, with context")]

pub mod browser;
pub mod client;
pub mod cluster;
pub mod db;
pub mod otlp;
pub mod pages;
pub mod private_pg;
pub mod process;
pub mod sdk;
pub mod sshd;
pub mod upstream;

pub use client::{Client, raw_request};
pub use cluster::Cluster;

/// Runs a future to completion on a fresh thread with its own runtime (for cleanup in `Drop`).
pub fn block_on_thread<F>(fut: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(fut)
    })
    .join()
    .expect("cleanup thread")
}

/// Deterministic pseudo-random bytes (binary bodies that are cheap to regenerate and compare).
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

pub fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

/// Seconds since the epoch, for names that let a sweep recognise stale leftovers.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Leftovers older than this are removed by the sweep.
pub const STALE_AFTER_SECS: u64 = 2 * 3600;
