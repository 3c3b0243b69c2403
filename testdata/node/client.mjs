// A scripted MCP client built on the reference TypeScript SDK, driven by the
// Go end-to-end tests. Usage: node client.mjs '<scenario JSON>'
//   scenario = {command, args, env, steps: [{op: "list"} | {op: "call", name, arguments}]}
// It prints one JSON object: {serverInfo, results: [...]} or {error}.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const scenario = JSON.parse(process.argv[2]);
const transport = new StdioClientTransport({
  command: scenario.command,
  args: scenario.args ?? [],
  env: scenario.env ?? {},
  stderr: "pipe",
});
let stderr = "";
transport.stderr?.on("data", (d) => { stderr += d.toString(); });
const client = new Client({ name: "ts-reference-client", version: "1.0.0" });
const out = { results: [] };
try {
  await client.connect(transport);
  out.serverInfo = client.getServerVersion();
  for (const step of scenario.steps ?? []) {
    try {
      if (step.op === "list") {
        out.results.push(await client.listTools());
      } else if (step.op === "call") {
        out.results.push(await client.callTool({ name: step.name, arguments: step.arguments ?? {} }));
      } else {
        out.results.push({ error: `unknown op ${step.op}` });
      }
    } catch (e) {
      out.results.push({ error: String(e?.message ?? e), code: e?.code });
    }
  }
  await client.close();
} catch (e) {
  out.error = String(e?.message ?? e);
}
out.stderr = stderr;
process.stdout.write(JSON.stringify(out) + "\n");
process.exit(0);
