//! Streaming credential scrubber: replaces every occurrence of a credential (in any of the forms
//! `Credential::scrub_needles` lists) with `*` of the same length, so Content-Length stays true.
//! Across chunk boundaries it holds back only the shortest tail that could still begin a
//! credential, so event streams are not delayed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aho_corasick::{AhoCorasick, MatchKind};
use bytes::{Bytes, BytesMut};
use shellgate_shared::ids::TargetId;

/// The compiled forms of one credential: built once per credential version and shared by every
/// response scrubbed for it (building the automaton per request cost more than the scan).
pub struct Patterns {
    ac: Option<AhoCorasick>,
    needles: Vec<Vec<u8>>,
}

impl Patterns {
    pub fn new(needles: Vec<Vec<u8>>) -> Self {
        let ac = if needles.is_empty() {
            None
        } else {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&needles)
                .ok()
        };
        Self { ac, needles }
    }
}

/// Compiled patterns by target and credential version (a changed credential has a new version,
/// so an entry is never stale; the map starts over past its bound).
#[derive(Default)]
pub struct PatternCache {
    entries: Mutex<HashMap<(TargetId, i128), Arc<Patterns>>>,
}

/// Upper bound on cached credentials.
const MAX_PATTERNS: usize = 10_000;

impl PatternCache {
    /// The patterns of this target's credential at `version`, built from `needles` if new.
    pub fn get(&self, target: TargetId, version: i128, needles: impl FnOnce() -> Vec<Vec<u8>>) -> Arc<Patterns> {
        if let Some(p) = self
            .entries
            .lock()
            .ok()
            .and_then(|e| e.get(&(target, version)).cloned())
        {
            return p;
        }
        let patterns = Arc::new(Patterns::new(needles()));
        if let Ok(mut e) = self.entries.lock() {
            if e.len() >= MAX_PATTERNS {
                e.clear();
            }
            e.insert((target, version), patterns.clone());
        }
        patterns
    }
}

pub struct Scrubber {
    patterns: Arc<Patterns>,
    held: BytesMut,
}

impl Scrubber {
    pub fn new(needles: Vec<Vec<u8>>) -> Self {
        Self::with(Arc::new(Patterns::new(needles)))
    }

    pub fn with(patterns: Arc<Patterns>) -> Self {
        Self {
            patterns,
            held: BytesMut::new(),
        }
    }

    pub fn is_active(&self) -> bool {
        self.patterns.ac.is_some()
    }

    fn mask(&self, buf: &mut [u8]) {
        if let Some(ac) = &self.patterns.ac {
            let spans: Vec<_> = ac.find_iter(&*buf).map(|m| m.span()).collect();
            for s in spans {
                buf[s.start..s.end].fill(b'*');
            }
        }
    }

    /// Longest suffix of `buf` that is a proper prefix of some needle.
    fn holdback(&self, buf: &[u8]) -> usize {
        let mut best = 0;
        for n in &self.patterns.needles {
            let max = (n.len() - 1).min(buf.len());
            for k in (best + 1..=max).rev() {
                if buf[buf.len() - k..] == n[..k] {
                    best = k;
                    break;
                }
            }
        }
        best
    }

    /// Bytes that are safe to emit now.
    pub fn push(&mut self, chunk: Bytes) -> Bytes {
        if self.patterns.ac.is_none() {
            return chunk;
        }
        self.held.extend_from_slice(&chunk);
        let mut buf = std::mem::take(&mut self.held);
        self.mask(&mut buf);
        let keep = self.holdback(&buf);
        self.held = buf.split_off(buf.len() - keep);
        buf.freeze()
    }

    /// The held tail at the end of the stream.
    pub fn finish(&mut self) -> Bytes {
        let mut buf = std::mem::take(&mut self.held);
        self.mask(&mut buf);
        buf.freeze()
    }

    /// Scrubs a header value.
    pub fn scrub_str(&self, s: &str) -> String {
        let mut b = s.as_bytes().to_vec();
        self.mask(&mut b);
        String::from_utf8(b).unwrap_or_else(|_| "*".repeat(s.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(needles: &[&str], chunks: &[&str]) -> (String, Vec<usize>) {
        let mut s = Scrubber::new(needles.iter().map(|n| n.as_bytes().to_vec()).collect());
        let mut out = Vec::new();
        let mut sizes = Vec::new();
        for c in chunks {
            let b = s.push(Bytes::copy_from_slice(c.as_bytes()));
            sizes.push(b.len());
            out.extend_from_slice(&b);
        }
        out.extend_from_slice(&s.finish());
        (String::from_utf8(out).unwrap(), sizes)
    }

    #[test]
    fn masks_within_and_across_chunks() {
        let (out, _) = run(&["SECRET-123"], &["a SECRET-123 b"]);
        assert_eq!(out, "a ********** b");
        let (out, _) = run(&["SECRET-123"], &["a SEC", "RET-1", "23 b"]);
        assert_eq!(out, "a ********** b");
        let (out, _) = run(&["SECRET-123", "dXNlcjpw"], &["dXNlc", "jpw SECRET-12", "3"]);
        assert_eq!(out, "******** **********");
    }

    #[test]
    fn does_not_delay_unrelated_bytes() {
        let (out, sizes) = run(&["SECRET-123"], &["data: tok1\n\n", "data: tok2\n\n"]);
        assert_eq!(out, "data: tok1\n\ndata: tok2\n\n");
        assert_eq!(sizes, vec![12, 12]);
    }

    #[test]
    fn partial_prefix_at_end_is_released() {
        let (out, _) = run(&["SECRET-123"], &["ends with SECR"]);
        assert_eq!(out, "ends with SECR");
    }

    #[test]
    fn patterns_are_built_once_per_credential_version() {
        let cache = PatternCache::default();
        let target = TargetId::new();
        let mut built = 0;
        let mut get = |version| {
            cache.get(target, version, || {
                built += 1;
                vec![b"SECRET-123".to_vec()]
            })
        };
        let (a, b, c) = (get(1), get(1), get(2));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(built, 2);
        let mut s = Scrubber::with(a);
        assert_eq!(&s.push(Bytes::from_static(b"x SECRET-123 y"))[..], b"x ********** y");
    }

    #[test]
    fn no_needles_is_passthrough() {
        let mut s = Scrubber::new(vec![]);
        assert!(!s.is_active());
        assert_eq!(&s.push(Bytes::from_static(b"abc"))[..], b"abc");
    }
}
