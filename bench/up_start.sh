#!/usr/bin/env bash
# Start benchmark: `shellgate up` with its own PostgreSQL and NATS, cold and warm, and its idle
# memory. Needs the PostgreSQL server programs and nats-server (scripts/up installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
run_bench up_start "$@"
