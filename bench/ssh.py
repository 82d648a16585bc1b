#!/usr/bin/env python3
"""Runs the SSH scenarios (see ssh.sh). Standard library only."""

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from proxy import BIN, NATS, PG, api, delete_stream, start  # noqa: E402

SEQUENTIAL = int(os.environ.get("BENCH_SSH_SEQUENTIAL", "300"))
CONCURRENCY = int(os.environ.get("BENCH_SSH_CONCURRENCY", "16"))
PER_CLIENT = int(os.environ.get("BENCH_SSH_PER_CLIENT", "25"))
USER = "sgtest"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", path], check=True)


def start_sshd(d, port):
    keygen(f"{d}/host")
    keygen(f"{d}/user")
    with open(f"{d}/authorized_keys", "w") as f:
        f.write(open(f"{d}/user.pub").read())
    os.chmod(d, 0o755)
    os.chmod(f"{d}/authorized_keys", 0o644)
    with open(f"{d}/sshd_config", "w") as f:
        f.write(f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host\nPidFile {d}/pid\n"
                f"AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\n"
                f"PasswordAuthentication no\nAllowUsers {USER}\nMaxSessions 16\nMaxStartups 100:30:200\n")
    os.makedirs("/run/sshd", exist_ok=True)
    p = subprocess.Popen(["/usr/sbin/sshd", "-D", "-f", f"{d}/sshd_config", "-E", f"{d}/log"])
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return p
        except OSError:
            time.sleep(0.02)
    sys.exit("sshd did not start")


def ssh_base(d, port):
    with open(f"{d}/known_hosts", "w") as f:
        f.write(f"[127.0.0.1]:{port} {open(f'{d}/host.pub').read()}")
    return ["ssh", "-q", "-i", f"{d}/user", "-p", str(port), "-o", f"UserKnownHostsFile={d}/known_hosts",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"]


def timed(run_one, n):
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        run_one()
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def scenario(make_runner, sequential, clients, per_client):
    """Sequential latencies, then `clients` threads each running `per_client` commands."""
    run = make_runner()
    run()  # warm up
    seq = sorted(timed(run, sequential))
    results = []
    runners = [make_runner() for _ in range(clients)]
    threads = [threading.Thread(target=lambda r=r: results.append(timed(r, per_client))) for r in runners]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    conc = sorted(x for r in results for x in r)
    pct = lambda s, p: s[min(len(s) - 1, int(len(s) * p))]  # noqa: E731
    return {
        "seq_p50": pct(seq, 0.5), "seq_p99": pct(seq, 0.99), "seq_rate": 1000 / (sum(seq) / len(seq)),
        "conc_p50": pct(conc, 0.5), "conc_p99": pct(conc, 0.99), "conc_rate": len(conc) / wall,
    }


def main():
    stamp = int(time.time())
    db, prefix = f"sg_benchssh_{stamp}", f"benchssh{stamp}"
    d = tempfile.mkdtemp(prefix="sg-bench-sshd-")
    port = free_port()
    sshd = start_sshd(d, port)
    base = ssh_base(d, port)
    env = dict(os.environ)
    env.update(
        SHELLGATE_DATABASE_URL=f"{PG}/{db}", SHELLGATE_NATS_URL=NATS, SHELLGATE_NATS_PREFIX=prefix,
        SHELLGATE_DATA_DIR=tempfile.mkdtemp(), SHELLGATE_GATEWAY_LISTEN="127.0.0.1:0",
        SHELLGATE_APPROVER_LISTEN="127.0.0.1:0", SHELLGATE_EXECUTOR_LISTEN="127.0.0.1:0", RUST_LOG="warn",
    )
    key = subprocess.run([os.path.join(BIN, "shellgate"), "admin-key", "create", "--name", "bench"],
                         env=env, capture_output=True, text=True, check=True).stdout.strip()
    sg, urls = start([os.path.join(BIN, "shellgate"), "up"], env=env)
    master = None
    try:
        approver, gw = urls["approver"], urls["gateway"]
        target = api(approver, key, "POST", "/api/targets", {
            "name": "bench", "kind": "ssh", "host": "127.0.0.1", "port": port, "username": USER,
            "credential": {"type": "ssh_key", "privateKey": open(f"{d}/user").read()}})
        api(approver, key, "POST", f"/api/targets/{target['id']}/host-keys",
            {"publicKey": open(f"{d}/host.pub").read()})
        token = api(approver, key, "POST", "/api/tokens", {"name": "bench", "targetIds": [target["id"]]})["token"]
        host, gport = gw.split("//")[1].split(":")
        body = json.dumps({"command": "echo hi"})

        def shellgate_runner():
            conn = http.client.HTTPConnection(host, int(gport))

            def run():
                conn.request("POST", "/ssh/bench/exec", body=body,
                             headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
                r = conn.getresponse()
                out = json.loads(r.read())
                if r.status != 200 or out.get("stdout") != "hi\n":
                    raise SystemExit(f"shellgate: {r.status} {out}")
            return run

        def fresh_runner():
            def run():
                subprocess.run(base + [f"{USER}@127.0.0.1", "echo hi"], check=True, capture_output=True)
            return run

        sock = f"{d}/cm.sock"
        master = subprocess.Popen(base + ["-M", "-S", sock, "-N", f"{USER}@127.0.0.1"])
        deadline = time.time() + 10
        while not os.path.exists(sock) and time.time() < deadline:
            time.sleep(0.02)

        def master_runner():
            def run():
                subprocess.run(base + ["-S", sock, f"{USER}@127.0.0.1", "echo hi"], check=True, capture_output=True)
            return run

        fresh_n = max(20, SEQUENTIAL // 5)
        rows = [
            ("fresh ssh client", scenario(fresh_runner, fresh_n, CONCURRENCY, max(5, PER_CLIENT // 5))),
            ("ssh ControlMaster", scenario(master_runner, SEQUENTIAL, CONCURRENCY, PER_CLIENT)),
            ("Shellgate /ssh/:target/exec", scenario(shellgate_runner, SEQUENTIAL, CONCURRENCY, PER_CLIENT)),
        ]
    finally:
        if master:
            master.terminate()
        sg.terminate()
        sshd.terminate()
        sg.wait(timeout=30)
        subprocess.run(["psql", f"{PG}/postgres", "-qc", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"],
                       capture_output=True)
        delete_stream(f"{prefix.upper()}_AUDIT")
        delete_stream(f"{prefix.upper()}_APPROVALS")

    print(f"# Shellgate SSH benchmark — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
          f"release build, `shellgate up` (all roles in one process), OpenSSH on loopback, `echo hi`")
    print()
    print(f"| path | sequential p50 | sequential p99 | sequential cmd/s | {CONCURRENCY} clients p50 | "
          f"{CONCURRENCY} clients p99 | {CONCURRENCY} clients cmd/s |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r['seq_p50']:.2f} ms | {r['seq_p99']:.2f} ms | {r['seq_rate']:.0f} | "
              f"{r['conc_p50']:.2f} ms | {r['conc_p99']:.2f} ms | {r['conc_rate']:.0f} |")
    cm, sgr, fresh = rows[1][1], rows[2][1], rows[0][1]
    print()
    print(f"Shellgate vs ControlMaster: p50 {sgr['seq_p50'] - cm['seq_p50']:+.2f} ms sequential "
          f"(target: within +2 ms), throughput {sgr['conc_rate'] / cm['conc_rate']:.2f}x with {CONCURRENCY} clients.")
    print(f"Shellgate vs a fresh ssh client: p50 {sgr['seq_p50'] / fresh['seq_p50']:.2f}x, "
          f"throughput {sgr['conc_rate'] / fresh['conc_rate']:.2f}x.")


if __name__ == "__main__":
    main()
