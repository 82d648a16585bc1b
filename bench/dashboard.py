#!/usr/bin/env python3
"""Dashboard page renders (see dashboard.sh): with 100,000 audit events of the last day in the
database, the time to render the overview (24-hour aggregates), the Audit page (newest 50), an
audit search (trigram index), a target list, against the approver's `/health` as the floor,
one connection and four. Standard library only."""

import http.client
import os
import re
import subprocess
import time
import urllib.parse

from harness import BIN, DURATION, PG, Stack, wrk

ROWS = int(os.environ.get("BENCH_AUDIT_ROWS", "100000"))
PASSWORD = "kestrel orbit marmalade 7731"


def sign_in(st):
    """The first admin through /setup with a fresh setup code; the session cookie."""
    code = subprocess.run([os.path.join(BIN, "shellgate"), "setup-code"], env=st.env,
                          capture_output=True, text=True, check=True).stdout.strip()
    host = urllib.parse.urlparse(st.approver).netloc
    conn = http.client.HTTPConnection(host)
    body = urllib.parse.urlencode({"code": code, "username": "bench", "password": PASSWORD,
                                   "password_again": PASSWORD})
    conn.request("POST", "/setup", body, {"Content-Type": "application/x-www-form-urlencoded"})
    res = conn.getresponse()
    cookie = res.getheader("set-cookie")
    if res.status != 303 or not cookie:
        page = res.read().decode(errors="replace")
        said = re.search(r'class="error"[^>]*>([^<]*)<', page)
        raise SystemExit(f"setup failed: {res.status} {said.group(1) if said else page[:300]}")
    return cookie.split(";")[0]


def fill_audit(st):
    sql = (
        "INSERT INTO audit_events (id, occurred_at, recorded_at, request_id, kind, outcome, status, "
        "duration_ms, bytes_in, bytes_out, detail, method, path, target_slug) "
        "SELECT gen_random_uuid(), now() - (g || ' seconds')::interval * 0.8, now(), gen_random_uuid(), "
        "'http', (ARRAY['allowed','allowed','allowed','refused','failed'])[1 + g % 5], 200, 1, 0, 0, '{}', "
        f"'GET', '/gateway/bench/items/' || g, 'bench' FROM generate_series(1, {ROWS}) g; ANALYZE audit_events;"
    )
    subprocess.run(["psql", f"{PG}/{st.db}", "-qc", sql], check=True, capture_output=True)


def main():
    with Stack() as st:
        fill_audit(st)
        cookie = sign_in(st)
        lua = f'wrk.headers["Cookie"] = "{cookie}"\n'
        pages = [
            ("health (floor)", "/health"),
            ("overview", "/"),
            ("audit, newest 50", "/audit"),
            ("audit search", "/audit?q=items%2F4242"),
            ("targets", "/targets"),
        ]
        for _, path in pages:
            wrk(st.approver + path, 1, lua=lua)
        rows = []
        for name, path in pages:
            one = wrk(st.approver + path, 1, lua=lua)
            four = wrk(st.approver + path, 4, lua=lua)
            if one["errors"] or four["errors"]:
                raise SystemExit(f"{path} answered errors: {one} {four}")
            rows.append((name, one, four))

    print(f"# Shellgate dashboard benchmark — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{os.cpu_count()} CPUs, wrk {DURATION}s per run, release build, `shellgate up`, {ROWS:,} audit events")
    print()
    print("| page | 1 conn p50 ms | p99 ms | req/s | 4 conns p50 ms | req/s |")
    print("|---|---|---|---|---|---|")
    for name, one, four in rows:
        print(f"| {name} | {one['p50']:.2f} | {one['p99']:.2f} | {one['rps']:.0f} | {four['p50']:.2f} | {four['rps']:.0f} |")
    print()
    floor = rows[0][1]["p50"]
    worst = max(r[1]["p50"] for r in rows[1:])
    print(f"slowest page p50 at one connection: {worst:.2f} ms (target ≤ 5 ms: "
          f"{'met' if worst <= 5 else 'NOT met'}); rendering adds at most {worst - floor:.2f} ms over /health")


if __name__ == "__main__":
    main()
