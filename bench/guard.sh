#!/usr/bin/env bash
# Guard benchmark: times Guard::check_command over the SSH corpus
# (shared/guard/tests/guard_corpus/ssh.jsonl) plus a few large synthetic scripts, many rounds, in the
# release profile, and prints p50/p99/max decision time per command (commands under 8 KiB).
# Target: p99 under 100 µs. Needs nothing but cargo.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
out="bench/results/guard-$(date -u +%Y%m%dT%H%M%SZ).txt"
cargo bench -q -p shellgate-guard --bench guard "$@" | tee "$out"
echo "saved to $out"
