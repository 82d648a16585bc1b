#!/usr/bin/env bash
# SSH benchmark: `echo hi` through POST /ssh/:target/exec (warm pooled connection) against the
# same command over a fresh `ssh` client and over an OpenSSH ControlMaster connection, in one
# run, sequentially and with 16 concurrent clients. Prints p50/p99 latency, commands/s and the
# ratios. Starts its own sshd on a loopback port (root, like the tests) and `shellgate up`;
# needs the local Postgres and NATS. Installs openssh-server/-client from Debian if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
id -u sgtest >/dev/null 2>&1 || useradd -m -s /bin/sh sgtest
run_bench ssh "$@"
