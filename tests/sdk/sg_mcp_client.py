"""MCP client for shellgate built on the official `mcp` SDK (2.x).

usage: sg_mcp_client.py URLS TOKEN PROTOCOL PLAN
  URLS      one gateway URL, or two comma-separated; requests alternate between them
  TOKEN     sg_… bearer token
  PROTOCOL  2025-06-18 | 2025-11-25 (initialize handshake), 2026-07-28 (sessionless, no probe),
            auto (server/discover probe, falls back to initialize)
  PLAN      JSON list of {"tool": name, "args": {...}} (or @file)
Prints {"negotiated": …}, then one JSON line per tool result. Exit 2 on a protocol failure.
"""

import itertools
import json
import sys

import anyio
import httpx2
import mcp.client.session as _session
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError


class RoundRobin(httpx2.AsyncBaseTransport):
    """Sends each HTTP request to the next base URL in turn (same path)."""

    def __init__(self, urls):
        self._next = itertools.cycle([httpx2.URL(u) for u in urls])
        self._inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request):
        base = next(self._next)
        request.url = request.url.copy_with(scheme=base.scheme, host=base.host, port=base.port)
        request.headers["host"] = base.netloc.decode()
        return await self._inner.handle_async_request(request)

    async def aclose(self):
        await self._inner.aclose()


last_status = [None]  # HTTP status of the latest response: the SDK reports a 401 only as MCPError -32603


async def _record(response):
    last_status[0] = response.status_code


async def run(urls, token, protocol, plan):
    if protocol in ("2026-07-28", "auto"):
        mode = protocol
    else:  # the SDK always offers its newest handshake version; pin the offer (not public API)
        _session.LATEST_HANDSHAKE_VERSION = protocol
        mode = "legacy"
    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx2.Timeout(30, read=300),
        transport=RoundRobin(urls) if len(urls) > 1 else None,
        event_hooks={"response": [_record]},
    )
    async with http, Client(streamable_http_client(urls[0], http_client=http), mode=mode) as client:
        print(json.dumps({"negotiated": client.protocol_version}), flush=True)
        tools = await client.list_tools()
        print(json.dumps({"tools": sorted(t.name for t in tools.tools)}), flush=True)
        for step in plan:
            r = await client.call_tool(step["tool"], step.get("args") or {})
            d = r.model_dump(by_alias=True, mode="json", exclude_none=True)
            print(json.dumps({"tool": step["tool"], "isError": r.is_error,
                              "structuredContent": d.get("structuredContent"), "content": d.get("content")}),
                  flush=True)


def main():
    urls, token, protocol, plan = sys.argv[1:5]
    plan = json.load(open(plan[1:])) if plan.startswith("@") else json.loads(plan)
    try:
        anyio.run(run, urls.split(","), token, protocol, plan)
    except Exception as e:  # noqa: BLE001 - report every protocol failure the same way
        while isinstance(e, BaseExceptionGroup) and len(e.exceptions) == 1:
            e = e.exceptions[0]
        err = {"error": type(e).__name__, "message": str(e), "httpStatus": last_status[0]}
        if isinstance(e, MCPError):
            err["code"] = e.code
        print(json.dumps(err), file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
