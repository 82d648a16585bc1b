// MCP client for shellgate built on the official TypeScript SDK (plain ESM, Node >= 20).
// usage: node sg_mcp_client.mjs URLS TOKEN PROTOCOL PLAN
//   URLS      one gateway URL, or two comma-separated; requests alternate between them
//   TOKEN     sg_… bearer token
//   PROTOCOL  2025-06-18 | 2025-11-25 (initialize handshake), 2026-07-28 (server/discover, pinned),
//             auto (discover, falls back to initialize)
//   PLAN      JSON list of {"tool": name, "args": {...}} (or @file)
//   MCP_SDK=v1 (default: @modelcontextprotocol/sdk 1.x, handshake only, always offers 2025-11-25)
//   MCP_SDK=v2 (@modelcontextprotocol/client 2.x: every PROTOCOL above)
// Prints {"negotiated": …}, then one JSON line per tool result. Exit 2 on a protocol failure.
import { readFileSync } from 'node:fs';

const [urlList, token, protocol, planArg] = process.argv.slice(2);
const plan = JSON.parse(planArg.startsWith('@') ? readFileSync(planArg.slice(1), 'utf8') : planArg);
const v2 = process.env.MCP_SDK === 'v2';
const { Client, StreamableHTTPClientTransport } = v2
  ? await import('@modelcontextprotocol/client')
  : {
      ...(await import('@modelcontextprotocol/sdk/client/index.js')),
      ...(await import('@modelcontextprotocol/sdk/client/streamableHttp.js')),
    };

const urls = urlList.split(',').map((u) => new URL(u));
let turn = 0;
let lastStatus = null; // the HTTP status of the latest response
async function roundRobinFetch(input, init) {
  const url = new URL(input instanceof Request ? input.url : String(input));
  const base = urls[turn++ % urls.length];
  url.protocol = base.protocol;
  url.host = base.host;
  const res = await fetch(url, init);
  lastStatus = res.status;
  return res;
}

const options = {};
if (v2) {
  if (protocol === 'auto') options.versionNegotiation = { mode: 'auto' };
  else if (protocol.startsWith('2026')) options.versionNegotiation = { mode: { pin: protocol } };
  else options.supportedProtocolVersions = [protocol]; // the initialize offer
} else if (protocol !== '2025-11-25') {
  console.error(`@modelcontextprotocol/sdk 1.x can only offer 2025-11-25, not ${protocol}`);
  process.exit(64);
}
const client = new Client({ name: 'sg-node-test', version: '0.1.0' }, options);
const transport = new StreamableHTTPClientTransport(urls[0], {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
  fetch: roundRobinFetch,
});

try {
  await client.connect(transport);
  console.log(JSON.stringify({ negotiated: client.getNegotiatedProtocolVersion?.() ?? transport.protocolVersion }));
  const { tools } = await client.listTools();
  console.log(JSON.stringify({ tools: tools.map((t) => t.name).sort() }));
  for (const { tool, args } of plan) {
    const r = await client.callTool({ name: tool, arguments: args ?? {} });
    console.log(JSON.stringify({ tool, isError: r.isError ?? false, structuredContent: r.structuredContent ?? null, content: r.content }));
  }
  await client.close();
} catch (e) {
  console.error(JSON.stringify({ error: e.constructor.name, message: e.message, code: e.code ?? null, data: e.data ?? null, httpStatus: lastStatus }));
  process.exit(2);
}
