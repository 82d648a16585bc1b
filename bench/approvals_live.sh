#!/usr/bin/env bash
# Live approvals benchmark: the time from an agent's held request to its card on an open
# Approvals page in headless Chromium. Needs the local Postgres and NATS (as for `shellgate up`)
# and Debian's chromium + chromium-driver (installed here when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
if ! command -v chromedriver >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
fi
run_bench approvals_live "$@"
