// A 2026-07-28 MCP client built on the TypeScript SDK v2, for the
// end-to-end tests. Usage:
//   node client.mjs --http URL [--header Name=Value]... OPS_JSON
//   node client.mjs --stdio COMMAND [ARG]... -- OPS_JSON
// OPS_JSON is an array of {"op":"list"} and
// {"op":"call","name":..,"arguments":..,"answer":..}.
// Elicitation requests (server-initiated, or embedded in an input_required
// result) are accepted with the call's "answer" (default {"ok": true}).
// Prints one JSON object:
// {protocol, serverInfo, results, elicitations, error}.
// V2_MODE selects the version negotiation: auto (default: server/discover,
// falling back to initialize), legacy (the 2025 handshake only) or pin
// (2026-07-28 only).
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';

const args = process.argv.slice(2);
const out = { protocol: null, serverInfo: null, results: [], elicitations: [], error: null };
let transport;
let ops;
if (args[0] === '--http') {
  const headers = {};
  let i = 2;
  while (args[i] === '--header') {
    const [k, ...v] = args[i + 1].split('=');
    headers[k] = v.join('=');
    i += 2;
  }
  transport = new StreamableHTTPClientTransport(new URL(args[1]), { requestInit: { headers } });
  ops = JSON.parse(args[i]);
} else if (args[0] === '--stdio') {
  const sep = args.indexOf('--');
  transport = new StdioClientTransport({ command: args[1], args: args.slice(2, sep), env: process.env, stderr: 'inherit' });
  ops = JSON.parse(args[sep + 1]);
} else {
  process.stderr.write('usage: client.mjs --http URL [--header K=V]... OPS | --stdio CMD [ARG]... -- OPS\n');
  process.exit(2);
}

const modes = { auto: 'auto', legacy: 'legacy', pin: { pin: '2026-07-28' } };
const mode = modes[process.env.V2_MODE ?? 'auto'];
const client = new Client({ name: 'node-v2-client', version: '1.0.0' }, {
  capabilities: { elicitation: { form: {} } },
  versionNegotiation: { mode },
});
let answer = { ok: true };
client.setRequestHandler('elicitation/create', async (request) => {
  out.elicitations.push(request.params.message);
  return { action: 'accept', content: answer };
});
try {
  await client.connect(transport);
  out.protocol = client.getNegotiatedProtocolVersion() ?? null;
  out.serverInfo = client.getServerVersion() ?? null;
  for (const op of ops) {
    if (op.op === 'list') {
      out.results.push(await client.listTools());
    } else if (op.op === 'call') {
      answer = op.answer ?? { ok: true };
      out.results.push(await client.callTool({ name: op.name, arguments: op.arguments ?? {} }));
    } else {
      throw new Error(`unknown op ${op.op}`);
    }
  }
} catch (err) {
  out.error = String(err?.message ?? err);
}
process.stdout.write(JSON.stringify(out) + '\n');
await client.close().catch(() => {});
process.exit(0);
