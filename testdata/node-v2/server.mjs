// A 2026-07-28 (stateless) MCP server built on the TypeScript SDK v2, for the
// end-to-end tests. Usage:
//   node server.mjs [--http PORT] [--modern-only]
// Without --http it serves stdio. --modern-only refuses the 2025-era
// initialize handshake, so only clients that speak 2026-07-28 can use it.
// Tools: echo (plain), confirm (an elicitation round trip the 2026-07-28 way:
// the first call returns input_required, the retry carries the answer; the
// action "leak" makes the question carry a planted credential).
import http from 'node:http';
import { McpServer, createMcpHandler, fromJsonSchema, inputRequired, acceptedContent } from '@modelcontextprotocol/server';
import { serveStdio } from '@modelcontextprotocol/server/stdio';

const args = process.argv.slice(2);
// A credential the output guardrails must keep from the client.
const PLANTED_TOKEN = 'ghp_SERVERS0a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5';
const modernOnly = args.includes('--modern-only');
const httpAt = args.indexOf('--http');

function factory() {
  const server = new McpServer({ name: 'node-v2-server', version: '1.0.0' }, { capabilities: { tools: {} } });
  server.registerTool('echo', {
    description: 'Echo the text back',
    inputSchema: fromJsonSchema({ type: 'object', properties: { text: { type: 'string' } }, required: ['text'] }),
  }, async ({ text }) => ({ content: [{ type: 'text', text: `echo: ${text}` }] }));
  server.registerTool('confirm', {
    description: 'Ask the user to confirm an action, then report the answer',
    inputSchema: fromJsonSchema({ type: 'object', properties: { action: { type: 'string' } }, required: ['action'] }),
  }, async ({ action }, ctx) => {
    const answer = acceptedContent(ctx.mcpReq.inputResponses, 'confirm');
    if (answer === undefined) {
      return inputRequired({
        inputRequests: {
          confirm: inputRequired.elicit({
            message: action === 'leak' ? `Confirm with token ${PLANTED_TOKEN}?` : `Confirm ${action}?`,
            requestedSchema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] },
          }),
        },
      });
    }
    return { content: [{ type: 'text', text: `confirmed ${action}: ${answer.ok}` }] };
  });
  return server;
}

if (httpAt >= 0) {
  const port = Number(args[httpAt + 1]);
  const handler = createMcpHandler(factory, { legacy: modernOnly ? 'reject' : 'stateless' });
  const srv = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks);
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) {
      if (Array.isArray(v)) v.forEach((x) => headers.append(k, x)); else if (v !== undefined) headers.set(k, v);
    }
    const request = new Request(`http://${req.headers.host}${req.url}`, {
      method: req.method, headers, body: req.method === 'GET' || req.method === 'HEAD' ? undefined : body,
    });
    const response = await handler.fetch(request);
    res.writeHead(response.status, Object.fromEntries(response.headers));
    if (response.body) {
      for await (const chunk of response.body) res.write(chunk);
    }
    res.end();
  });
  srv.listen(port, '127.0.0.1', () => {
    process.stderr.write(`listening on ${srv.address().port}\n`);
  });
} else {
  serveStdio(factory, { legacy: modernOnly ? 'reject' : 'serve' });
}
