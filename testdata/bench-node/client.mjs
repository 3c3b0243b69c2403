// The reference TypeScript client driving one benchmark target, as a
// client-neutral cross-check of the Go harness (cmd/bench). Argument: a JSON
// spec with either {command, args, env} (stdio) or {url, headers, startedAt}
// (streamable HTTP), plus {tool, message, seq, conc, workers}. Prints one
// JSON line of figures with the harness's field names.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const spec = JSON.parse(process.argv[2]);
const now = () => performance.now();

async function connect() {
  if (spec.url) {
    const deadline = Date.now() + 30000;
    for (;;) {
      const client = new Client({ name: "bench-ts", version: "1" });
      const transport = new StreamableHTTPClientTransport(new URL(spec.url), {
        requestInit: { headers: spec.headers || {} },
      });
      try {
        await client.connect(transport);
        return { client, initMs: Date.now() - spec.startedAt };
      } catch (err) {
        // The server is still starting: poll until the deadline.
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 2));
      }
    }
  }
  const client = new Client({ name: "bench-ts", version: "1" });
  const t0 = now();
  await client.connect(new StdioClientTransport({ command: spec.command, args: spec.args, env: spec.env, stderr: "ignore" }));
  return { client, initMs: now() - t0 };
}

async function call(client) {
  const res = await client.callTool({ name: spec.tool, arguments: { message: spec.message } });
  if (res.isError || res.content?.[0]?.text !== spec.message) {
    throw new Error("unexpected result " + JSON.stringify(res));
  }
}

async function drive(client, n, workers) {
  const lat = new Array(n);
  let next = 0;
  const t0 = now();
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (next < n) {
        const i = next++;
        const s = now();
        await call(client);
        lat[i] = (now() - s) * 1000;
      }
    }),
  );
  const secs = (now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const pct = (p) => lat[Math.max(0, Math.min(Math.ceil((n * p) / 100) - 1, n - 1))];
  return { p50: pct(50), p99: pct(99), rate: n / secs };
}

const { client, initMs } = await connect();
let t = now();
await client.listTools();
const listColdMs = now() - t;
t = now();
await client.listTools();
const listWarmMs = now() - t;
await call(client);
const seq = await drive(client, spec.seq, 1);
const conc = await drive(client, spec.conc, spec.workers);
await client.close();
process.stdout.write(
  JSON.stringify({
    init_ms: initMs,
    list_cold_ms: listColdMs,
    list_warm_ms: listWarmMs,
    seq_p50_us: seq.p50,
    seq_p99_us: seq.p99,
    seq_calls_per_s: seq.rate,
    conc_p50_us: conc.p50,
    conc_p99_us: conc.p99,
    conc_calls_per_s: conc.rate,
  }) + "\n",
);
process.exit(0);
