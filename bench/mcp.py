#!/usr/bin/env python3
"""MCP against REST in one run (see mcp.sh): the same small GET through Shellgate, once as
`GET /gateway/bench/small` and once as the MCP call `tools/call api_request` on `POST /mcp`
(stateless, protocol 2025-11-25), each sequentially (one connection) and with 16 concurrent
clients, and the upstream directly as the baseline. Standard library only."""

import json
import os
import time
import urllib.request

from harness import DURATION, Stack, wrk

CALL = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/call",
    "params": {"name": "api_request", "arguments": {"target": "bench", "method": "GET", "path": "/small"}},
}
HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-11-25",
}


def mcp_lua():
    headers = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in HEADERS.items())
    body = json.dumps(CALL).replace("\\", "\\\\").replace('"', '\\"')
    return f'wrk.method = "POST"\nwrk.body = "{body}"\n{headers}'


def check_mcp(gw, token):
    """One call first: the benchmark must measure successful tool calls, not errors."""
    req = urllib.request.Request(gw + "/mcp", method="POST", data=json.dumps(CALL).encode())
    for k, v in {**HEADERS, "Authorization": f"Bearer {token}"}.items():
        req.add_header(k, v)
    with urllib.request.urlopen(req) as r:
        result = json.loads(r.read())["result"]
    if result.get("isError") or result["structuredContent"]["status"] != 200:
        raise SystemExit(f"the MCP call failed: {result}")


def main():
    with Stack() as st:
        check_mcp(st.gw, st.token)
        rest = st.gw + "/gateway/bench/small"
        mcp = st.gw + "/mcp"
        wrk(rest, 4, st.token)
        wrk(mcp, 4, st.token, lua=mcp_lua())
        rows = []
        for conns in (1, 16):
            d = wrk(st.up_url + "/small", conns)
            r = wrk(rest, conns, st.token)
            m = wrk(mcp, conns, st.token, lua=mcp_lua())
            rows.append((conns, d, r, m))

    print(f"# Shellgate MCP benchmark — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
          f"wrk {DURATION}s per run, release build, `shellgate up` (all roles in one process)")
    print()
    print("| clients | direct req/s | REST req/s | REST p50 | REST p99 | MCP req/s | MCP p50 | MCP p99 | MCP/REST throughput | MCP added p50 over REST |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for conns, d, r, m in rows:
        err = "".join(f" ({x['errors']} non-2xx)" if x["errors"] else "" for x in (r, m))
        print(f"| {conns} | {d['rps']:.0f} | {r['rps']:.0f} | {r['p50']:.2f} ms | {r['p99']:.2f} ms | "
              f"{m['rps']:.0f} | {m['p50']:.2f} ms | {m['p99']:.2f} ms | {m['rps'] / r['rps']:.2f}x | "
              f"{m['p50'] - r['p50']:+.2f} ms |{err}")
    print()
    print("Target: MCP adds <= 0.5 ms p50 over REST. (The original Shellgate served 171 sequential MCP "
          "calls/s, p50 5.1 ms, on this kind of machine.)")


if __name__ == "__main__":
    main()
