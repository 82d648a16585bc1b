#!/usr/bin/env bash
# MCP benchmark: `tools/call api_request` over MCP against the same request over REST (and the
# upstream directly), sequential and 16 concurrent clients, in one run. Prints requests/s, p50/p99
# and what MCP adds over REST. Needs the local Postgres and NATS (as for `shellgate up`). Installs
# wrk from Debian if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
need_wrk
run_bench mcp "$@"
