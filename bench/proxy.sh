#!/usr/bin/env bash
# Proxy benchmark: a fast local upstream measured directly and through Shellgate (gateway ->
# NATS -> executor) in one run. Prints requests/s and p50/p99 latency at 1 and 32 connections
# for a small GET and a 1 MiB POST, time to first SSE event, and the ratios.
# Needs the local Postgres and NATS (as for `shellgate up`). Installs wrk from Debian if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
need_wrk
run_bench proxy "$@"
