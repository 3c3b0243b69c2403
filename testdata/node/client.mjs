// A scripted MCP client built on the reference TypeScript SDK, driven by the
// Go end-to-end tests. Usage: node client.mjs '<scenario JSON>'
//   scenario = {command, args, env, steps: [{op: "list"} | {op: "call", name, arguments}]}
//   more ops: resources, templates, read {uri}, prompts, prompt {name, arguments},
//   complete {ref, argument}, waitTool {name} (polls tools/list until it appears),
//   call with "progress": true records progress notifications and when they came.
// The client advertises sampling and elicitation: it answers a sampling request
// with the fixed text "sampled by the test client" and accepts an elicitation
// with {name: "Test Client", ...} filled from the requested schema's properties.
// It prints one JSON object: {serverInfo, results: [...], events: [...]} or {error}.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CreateMessageRequestSchema, ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";

const scenario = JSON.parse(process.argv[2]);
// scenario.url (with optional scenario.headers) speaks streamable HTTP instead.
const transport = scenario.url
  ? new StreamableHTTPClientTransport(new URL(scenario.url), { requestInit: { headers: scenario.headers ?? {} } })
  : new StdioClientTransport({
    command: scenario.command,
    args: scenario.args ?? [],
    env: scenario.env ?? {},
    stderr: "pipe",
  });
let stderr = "";
transport.stderr?.on("data", (d) => { stderr += d.toString(); });
const client = new Client({ name: "ts-reference-client", version: "1.0.0" },
  { capabilities: { sampling: {}, elicitation: {} } });
const out = { results: [], events: [] };
client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
  out.events.push({ kind: "sampling", messages: req.params.messages.length });
  return { role: "assistant", model: "test-model", content: { type: "text", text: "sampled by the test client" } };
});
client.setRequestHandler(ElicitRequestSchema, async (req) => {
  out.events.push({ kind: "elicitation", message: req.params.message });
  const content = {};
  const fill = (v) => {
    if (v.oneOf || v.anyOf) return (v.oneOf ?? v.anyOf)[0].const;
    if (v.enum) return v.enum[0];
    if (v.type === "array") {
      const it = v.items ?? {};
      const first = it.enum?.[0] ?? (it.anyOf ?? it.oneOf)?.[0]?.const;
      return first === undefined ? [] : [first];
    }
    if (v.type === "string") {
      if (v.format === "email") return "test@example.com";
      if (v.format === "date") return "2026-01-01";
      if (v.format === "uri") return "https://example.com";
      return "Test Client";
    }
    if (v.type === "boolean") return true;
    if (v.type === "number" || v.type === "integer") return v.minimum ?? 1;
    return undefined;
  };
  for (const [k, v] of Object.entries(req.params.requestedSchema?.properties ?? {})) {
    const x = fill(v);
    if (x !== undefined) content[k] = x;
  }
  return { action: "accept", content };
});
try {
  await client.connect(transport);
  out.serverInfo = client.getServerVersion();
  for (const step of scenario.steps ?? []) {
    try {
      if (step.op === "list") {
        out.results.push(await client.listTools());
      } else if (step.op === "call") {
        const opts = {};
        if (step.progress) {
          opts.onprogress = (p) => out.events.push({ kind: "progress", call: step.name, progress: p.progress, total: p.total });
        }
        const res = await client.callTool({ name: step.name, arguments: step.arguments ?? {} }, undefined, opts);
        out.events.push({ kind: "result", call: step.name });
        out.results.push(res);
      } else if (step.op === "resources") {
        out.results.push(await client.listResources());
      } else if (step.op === "templates") {
        out.results.push(await client.listResourceTemplates());
      } else if (step.op === "read") {
        out.results.push(await client.readResource({ uri: step.uri }));
      } else if (step.op === "prompts") {
        out.results.push(await client.listPrompts());
      } else if (step.op === "prompt") {
        out.results.push(await client.getPrompt({ name: step.name, arguments: step.arguments ?? {} }));
      } else if (step.op === "complete") {
        out.results.push(await client.complete({ ref: step.ref, argument: step.argument }));
      } else if (step.op === "waitTool") {
        let found = false;
        for (let i = 0; i < 200 && !found; i++) {
          const { tools } = await client.listTools();
          found = tools.some((t) => t.name === step.name);
          if (!found) await new Promise((r) => setTimeout(r, 25));
        }
        out.results.push({ found });
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
