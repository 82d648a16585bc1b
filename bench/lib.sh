# shellcheck shell=bash
# What the benchmark scripts share (sourced): the release build, then bench/<name>.py with the
# script's arguments, its output kept in bench/results/<name>-<UTC time>.txt.
run_bench() {
  local name=$1
  shift
  cargo build --release --workspace --bins
  mkdir -p bench/results
  local out
  out="bench/results/$name-$(date -u +%Y%m%dT%H%M%SZ).txt"
  python3 "bench/$name.py" "$@" | tee "$out"
  echo "saved to $out"
}

# wrk, from Debian when missing.
need_wrk() {
  if ! command -v wrk >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk
  fi
}
