#!/usr/bin/env python3
"""Runs the proxy scenarios (see proxy.sh). Standard library only."""

import os
import socket
import time

from harness import DURATION, Stack, wrk

SSE_SAMPLES = int(os.environ.get("BENCH_SSE_SAMPLES", "300"))


def first_event_ms(url, token=None):
    """Time from sending the request to receiving the first SSE event, in ms."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    path = "/" + url.split("//")[1].split("/", 1)[1]
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    samples = []
    for _ in range(SSE_SAMPLES):
        s = socket.create_connection((host, int(port)))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t0 = time.perf_counter()
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n".encode())
        buf = b""
        while b"data: first" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                raise SystemExit(f"no event from {url}: {buf[:200]!r}")
            buf += chunk
        samples.append((time.perf_counter() - t0) * 1000)
        s.close()
    samples.sort()
    return {"p50": samples[len(samples) // 2], "p99": samples[int(len(samples) * 0.99) - 1]}


def main():
    with Stack() as st:
        up_url, token = st.up_url, st.token
        through = st.gw + "/gateway/bench"
        # Warm up both paths.
        wrk(up_url + "/small", 4)
        wrk(through + "/small", 4, token)

        rows = []
        for name, path, mib in [("small GET", "/small", 0), ("1 MiB POST", "/upload", 1)]:
            for conns in (1, 32):
                d = wrk(up_url + path, conns, post_mib=mib)
                s = wrk(through + path, conns, token, post_mib=mib)
                rows.append((name, conns, d, s))
        d_sse = first_event_ms(up_url + "/sse")
        s_sse = first_event_ms(through + "/sse", token)

    cpu = os.cpu_count()
    print(f"# Shellgate proxy benchmark — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {cpu} CPUs, "
          f"wrk {DURATION}s per run, release build, `shellgate up` (all roles in one process)")
    print()
    print("| scenario | conns | direct req/s | direct p50 | direct p99 | shellgate req/s | shellgate p50 | shellgate p99 | throughput ratio | added p50 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, conns, d, s in rows:
        err = f" ({s['errors']} non-2xx)" if s["errors"] else ""
        print(f"| {name} | {conns} | {d['rps']:.0f} | {d['p50']:.2f} ms | {d['p99']:.2f} ms | "
              f"{s['rps']:.0f}{err} | {s['p50']:.2f} ms | {s['p99']:.2f} ms | {s['rps'] / d['rps']:.2f}x | "
              f"{s['p50'] - d['p50']:+.2f} ms |")
    print(f"| SSE time to first event ({SSE_SAMPLES} sequential, new connection each) | 1 | | "
          f"{d_sse['p50']:.2f} ms | {d_sse['p99']:.2f} ms | | {s_sse['p50']:.2f} ms | {s_sse['p99']:.2f} ms | | "
          f"{s_sse['p50'] - d_sse['p50']:+.2f} ms |")
    print()
    print("Targets: added p50 <= 1 ms at one connection; saturation throughput >= 0.3x direct.")


if __name__ == "__main__":
    main()
