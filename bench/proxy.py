#!/usr/bin/env python3
"""Runs the proxy scenarios (see proxy.sh). Standard library only."""

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release")
DURATION = int(os.environ.get("BENCH_DURATION", "10"))
SSE_SAMPLES = int(os.environ.get("BENCH_SSE_SAMPLES", "300"))
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
NATS = os.environ.get("BENCH_NATS", "nats://127.0.0.1:4222")


def start(cmd, env=None, marker="http://"):
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    urls = {}
    deadline = time.time() + 60
    while time.time() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        m = re.search(r"(\w+):?\s+(http://[\d.:]+)", line)
        if m:
            urls[m.group(1)] = m.group(2)
        if "listening" in line or line.startswith("Stop with"):
            return p, urls
    p.kill()
    sys.exit(f"{cmd[0]} did not start")


def api(base, key, method, path, body=None):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None)
    req.add_header("authorization", f"Bearer {key}")
    req.add_header("content-type", "application/json")
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


def wrk(url, conns, token=None, post_mib=0):
    threads = min(conns, 2)
    cmd = ["wrk", "-t", str(threads), "-c", str(conns), "-d", f"{DURATION}s", "--latency", url]
    if token:
        cmd[1:1] = ["-H", f"Authorization: Bearer {token}"]
    script = None
    if post_mib:
        script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
        script.write(
            f'wrk.method = "POST"\nwrk.body = string.rep("x", {post_mib * 1024 * 1024})\n'
            'wrk.headers["Content-Type"] = "application/octet-stream"\n'
        )
        script.close()
        cmd[1:1] = ["-s", script.name]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    if script:
        os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    return {"rps": rps, "p50": pct(50), "p99": pct(99), "errors": int(errors.group(1)) if errors else 0}


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


def delete_stream(name):
    """Deletes a JetStream stream through the NATS protocol (no nats CLI needed)."""
    host, port = NATS.split("//")[1].split(":")
    with socket.create_connection((host, int(port))) as s:
        s.recv(4096)
        s.sendall(b'CONNECT {"verbose":false}\r\nSUB _INBOX.bench 1\r\n')
        s.sendall(f"PUB $JS.API.STREAM.DELETE.{name} _INBOX.bench 0\r\n\r\nPING\r\n".encode())
        time.sleep(0.3)


def main():
    stamp = int(time.time())
    db = f"sg_bench_{stamp}"
    prefix = f"bench{stamp}"
    upstream, urls = start([os.path.join(BIN, "sg-bench-upstream")])
    up_url = urls["listening"]
    env = dict(os.environ)
    data = tempfile.mkdtemp()
    env.update(
        SHELLGATE_DATABASE_URL=f"{PG}/{db}",
        SHELLGATE_NATS_URL=NATS,
        SHELLGATE_NATS_PREFIX=prefix,
        SHELLGATE_DATA_DIR=data,
        SHELLGATE_GATEWAY_LISTEN="127.0.0.1:0",
        SHELLGATE_APPROVER_LISTEN="127.0.0.1:0",
        SHELLGATE_EXECUTOR_LISTEN="127.0.0.1:0",
        RUST_LOG="warn",
    )
    key = subprocess.run(
        [os.path.join(BIN, "shellgate"), "admin-key", "create", "--name", "bench"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()
    sg, urls = start([os.path.join(BIN, "shellgate"), "up"], env=env)
    gw, approver = urls["gateway"], urls["approver"]
    try:
        target = api(approver, key, "POST", "/api/targets",
                     {"name": "bench", "baseUrl": up_url,
                      "credential": {"type": "bearer", "token": "bench-secret-token-0123456789"}})
        token = api(approver, key, "POST", "/api/tokens", {"name": "bench", "targetIds": [target["id"]]})["token"]
        through = gw + "/gateway/bench"
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
    finally:
        sg.terminate()
        upstream.terminate()
        sg.wait(timeout=30)
        subprocess.run(["psql", f"{PG}/postgres", "-qc", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"],
                       capture_output=True)
        delete_stream(f"{prefix.upper()}_AUDIT")

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
