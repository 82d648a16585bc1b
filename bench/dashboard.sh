#!/usr/bin/env bash
# Dashboard benchmark: page render times with 100k audit events (overview, audit list and
# search, targets) against the approver's /health, one and four connections. Needs the local
# Postgres and NATS (as for `shellgate up`). Installs wrk from Debian if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
need_wrk
run_bench dashboard "$@"
