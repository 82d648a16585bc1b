#!/usr/bin/env python3
"""Time from `shellgate up` to ready with its own PostgreSQL and NATS (SHELLGATE_EMBED=always, a
fresh data directory): cold (first start: initdb, migrations, a new JetStream store) and warm
(the same data directory again), and the idle memory of `up` itself (all roles; Postgres and
NATS are separate processes and not counted). Standard library only."""

import os
import shutil
import statistics
import subprocess
import tempfile
import time

from harness import BIN

RUNS = int(os.environ.get("BENCH_RUNS", "5"))


def start(env):
    """Starts up; seconds until it printed its URLs, and the process."""
    t0 = time.monotonic()
    p = subprocess.Popen([os.path.join(BIN, "shellgate"), "up"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    for line in p.stdout:
        if line.startswith("Stop with"):
            return time.monotonic() - t0, p
    raise SystemExit("up did not start")


def stop(p):
    p.terminate()
    p.wait(timeout=60)


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main():
    cold, warm, idle = [], [], []
    for _ in range(RUNS):
        top = tempfile.mkdtemp(prefix="sg-bench-up-")
        os.chmod(top, 0o755)  # under root the cluster runs as `postgres`, which must reach it
        env = dict(os.environ)
        for k in ("SHELLGATE_DATABASE_URL", "SHELLGATE_NATS_URL"):
            env.pop(k, None)
        env.update(SHELLGATE_EMBED="always", SHELLGATE_DATA_DIR=os.path.join(top, "data"),
                   SHELLGATE_GATEWAY_LISTEN="127.0.0.1:0", SHELLGATE_APPROVER_LISTEN="127.0.0.1:0",
                   SHELLGATE_EXECUTOR_LISTEN="127.0.0.1:0", RUST_LOG="warn")
        try:
            t, p = start(env)
            cold.append(t)
            stop(p)
            t, p = start(env)
            warm.append(t)
            time.sleep(5)
            idle.append(rss_mb(p.pid))
            stop(p)
        finally:
            shutil.rmtree(top, ignore_errors=True)

    print(f"# Shellgate start benchmark — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{os.cpu_count()} CPUs, release build, `shellgate up` with SHELLGATE_EMBED=always, {RUNS} runs")
    print()
    print("| | median | min | max | target |")
    print("|---|---|---|---|---|")
    print(f"| cold start (initdb, migrations) s | {statistics.median(cold):.2f} | {min(cold):.2f} | {max(cold):.2f} | ≤ 10 |")
    print(f"| warm start s | {statistics.median(warm):.2f} | {min(warm):.2f} | {max(warm):.2f} | ≤ 2 |")
    print(f"| idle RSS of up, MB | {statistics.median(idle):.1f} | {min(idle):.1f} | {max(idle):.1f} | ≤ 60 |")


if __name__ == "__main__":
    main()
