"""What the benchmarks share: starting the upstream and `shellgate up` on a private database and
NATS prefix, the management API, and wrk. Standard library only."""

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


def wrk(url, conns, token=None, post_mib=0, lua=None):
    """wrk against url; `lua` is a wrk script (e.g. setting the method, headers and body)."""
    threads = min(conns, 2)
    cmd = ["wrk", "-t", str(threads), "-c", str(conns), "-d", f"{DURATION}s", "--latency", url]
    if token:
        cmd[1:1] = ["-H", f"Authorization: Bearer {token}"]
    if post_mib:
        lua = (
            f'wrk.method = "POST"\nwrk.body = string.rep("x", {post_mib * 1024 * 1024})\n'
            'wrk.headers["Content-Type"] = "application/octet-stream"\n'
        )
    script = None
    if lua:
        script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
        script.write(lua)
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


def delete_stream(name):
    """Deletes a JetStream stream through the NATS protocol (no nats CLI needed)."""
    host, port = NATS.split("//")[1].split(":")
    with socket.create_connection((host, int(port))) as s:
        s.recv(4096)
        s.sendall(b'CONNECT {"verbose":false}\r\nSUB _INBOX.bench 1\r\n')
        s.sendall(f"PUB $JS.API.STREAM.DELETE.{name} _INBOX.bench 0\r\n\r\nPING\r\n".encode())
        time.sleep(0.3)



class Stack:
    """`sg-bench-upstream` and `shellgate up` (its own database and NATS prefix), with one HTTP
    target `bench` on the upstream (a bearer credential) and a token for it."""

    def __enter__(self):
        stamp = int(time.time())
        self.db = f"sg_bench_{stamp}"
        self.prefix = f"bench{stamp}"
        self.upstream, urls = start([os.path.join(BIN, "sg-bench-upstream")])
        self.up_url = urls["listening"]
        env = dict(os.environ)
        env.update(
            SHELLGATE_DATABASE_URL=f"{PG}/{self.db}",
            SHELLGATE_NATS_URL=NATS,
            SHELLGATE_NATS_PREFIX=self.prefix,
            SHELLGATE_DATA_DIR=tempfile.mkdtemp(),
            SHELLGATE_GATEWAY_LISTEN="127.0.0.1:0",
            SHELLGATE_APPROVER_LISTEN="127.0.0.1:0",
            SHELLGATE_EXECUTOR_LISTEN="127.0.0.1:0",
            RUST_LOG="warn",
        )
        self.key = subprocess.run(
            [os.path.join(BIN, "shellgate"), "admin-key", "create", "--name", "bench"],
            env=env, capture_output=True, text=True, check=True,
        ).stdout.strip()
        self.env = env
        self.sg, urls = start([os.path.join(BIN, "shellgate"), "up"], env=env)
        self.gw, self.approver = urls["gateway"], urls["approver"]
        target = api(self.approver, self.key, "POST", "/api/targets",
                     {"name": "bench", "baseUrl": self.up_url,
                      "credential": {"type": "bearer", "token": "bench-secret-token-0123456789"}})
        self.token = api(self.approver, self.key, "POST", "/api/tokens",
                         {"name": "bench", "targetIds": [target["id"]]})["token"]
        return self

    def __exit__(self, *exc):
        self.sg.terminate()
        self.upstream.terminate()
        self.sg.wait(timeout=30)
        subprocess.run(["psql", f"{PG}/postgres", "-qc", f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)"],
                       capture_output=True)
        delete_stream(f"{self.prefix.upper()}_AUDIT")
        return False
