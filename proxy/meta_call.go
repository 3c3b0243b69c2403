package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/guard"
)

// enkrypt_secure_call_tools: a batch of calls of one server, each through
// the pipeline.

// toolCall is one item of tool_calls, aliases resolved.
type toolCall struct {
	name string
	args json.RawMessage
	err  string // why the item is unusable
}

func parseToolCalls(raw json.RawMessage) ([]toolCall, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = json.RawMessage(s) // a list passed as a JSON string
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, errors.New("tool_calls must be a list of objects")
	}
	calls := make([]toolCall, 0, len(items))
	for _, it := range items {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(it, &m); err != nil || m == nil {
			calls = append(calls, toolCall{err: "each tool_calls item must be an object"})
			continue
		}
		var c toolCall
		for _, k := range toolNameKeys {
			if v, ok := m[k]; ok {
				if json.Unmarshal(v, &c.name) == nil && c.name != "" {
					break
				}
			}
		}
		for _, k := range toolArgsKeys {
			v, ok := m[k]
			if !ok || string(v) == "null" {
				continue
			}
			if json.Unmarshal(v, &s) == nil {
				v = json.RawMessage(s) // arguments passed as a JSON string
			}
			var obj map[string]json.RawMessage
			if json.Unmarshal(v, &obj) != nil || obj == nil {
				c.err = fmt.Sprintf("the arguments (%s) must be a JSON object", k)
			}
			c.args = v
			break
		}
		if c.name == "" && c.err == "" {
			c.err = "the item names no tool (name, tool_name, tool, function, function_name or function_id)"
		}
		if len(c.args) == 0 {
			c.args = json.RawMessage("{}")
		}
		calls = append(calls, c)
	}
	return calls, nil
}

func (m *metaSurface) secureCall(ctx context.Context, req *mcp.CallToolRequest, server string, rawCalls json.RawMessage) (*mcp.CallToolResult, error) {
	s := findServer(m.servers, server)
	if s == nil {
		return metaResult(notFound(server)), nil
	}
	calls, err := parseToolCalls(rawCalls)
	if err != nil {
		return metaResult(envelope(CodeInvalidArgument, err.Error(), map[string]any{"server_name": server})), nil
	}
	m.cat.discoverOnly(ctx, server)
	if len(calls) == 0 {
		d := m.discoveryResult(server)
		if d["status"] == "success" {
			d["message"] = "Successfully discovered tools for " + server
		}
		return metaResult(d), nil
	}
	if !m.cat.status(server).ok {
		return metaResult(m.discoveryResult(server)), nil
	}
	var results []map[string]any
	success, blocked, failed := 0, 0, 0
	for i, c := range calls {
		data := map[string]any{"call_index": i, "server_name": server, "tool_name": c.name}
		ctxFields := map[string]any{"server_name": server, "tool_name": c.name, "operation": "tool_call"}
		fail := func(code, msg string) {
			e := envelope(code, msg, ctxFields)
			e["enkrypt_mcp_data"] = data
			results = append(results, e)
			failed++
		}
		if c.err != "" {
			fail(CodeInvalidToolCall, fmt.Sprintf("tool_calls[%d]: %s.", i, c.err))
			break
		}
		rt, exported, why, found := m.cat.route(server, c.name)
		if !found {
			if why != "" {
				fail(CodeToolWithheld, fmt.Sprintf("Tool %q of server %q is withheld: %s", c.name, server, why))
			} else {
				fail(CodeToolNotFound, fmt.Sprintf("Tool '%s' not found for this server.", c.name))
			}
			break
		}
		call := m.pipe.callRouted(ctx, rt, exported, c.args, req)
		res, oc, err := call.res, call.oc, call.err
		if oc.outcome == OutcomeCancelled {
			return nil, err
		}
		switch oc.outcome {
		case OutcomeOK:
			data["args"] = json.RawMessage(c.args)
			r := map[string]any{"status": "success", "message": "Request processed successfully",
				"response": contentText(res), "enkrypt_mcp_data": data}
			if res.StructuredContent != nil {
				r["structured_content"] = res.StructuredContent
			}
			results = append(results, r)
			success++
			continue
		case OutcomeBlocked:
			results = append(results, blockedCall(oc, data))
			blocked++
		case OutcomeTimeout:
			fail(CodeToolTimeout, oc.err.Error())
		case OutcomeToolError:
			fail(CodeToolFailed, fmt.Sprintf("Tool %q on server %q returned an error: %s", c.name, server, contentText(res)))
		default:
			msg := "the call failed"
			if oc.err != nil {
				msg = oc.err.Error()
			}
			fail(CodeToolFailed, msg)
		}
		break // the batch stops at the first blocked or failed call
	}
	return metaResult(map[string]any{
		"server_name": server, "status": "success",
		"summary": map[string]any{"total_calls": len(calls), "successful_calls": success, "blocked_calls": blocked,
			"failed_calls": failed, "skipped_calls": len(calls) - len(results)},
		"guardrails_applied": guardrailsApplied(s),
		"results":            results,
	}), nil
}

// blockedCall is a tool_calls result for a call a guardrail stopped. It
// never carries the arguments or the result that was blocked.
func blockedCall(oc callOutcome, data map[string]any) map[string]any {
	var reasons []string
	var be *guard.BlockedError
	var te *TimeoutError
	switch {
	case errors.As(oc.err, &be):
		reasons = be.Reasons
	case errors.As(oc.err, &te):
		reasons = []string{te.Error()}
	case oc.err != nil:
		reasons = []string{oc.err.Error()}
	}
	violations := make([]map[string]any, 0, len(reasons))
	for _, r := range reasons {
		typ := r
		if i := strings.IndexAny(r, " ("); i > 0 {
			typ = r[:i]
		}
		if te != nil {
			typ = "guardrail_timeout"
		}
		violations = append(violations, map[string]any{"type": typ, "severity": "high", "message": r, "action": "BLOCK"})
	}
	code := CodeInputBlocked
	if oc.stage == "output" {
		code = CodeOutputBlocked
	}
	if te != nil {
		code = CodeGuardTimeout
	}
	r := map[string]any{
		"status":                         "blocked_" + oc.stage,
		"code":                           code,
		"message":                        fmt.Sprintf("Request blocked due to %s guardrail violations: %s", oc.stage, strings.Join(reasons, "; ")),
		"response":                       "",
		"enkrypt_mcp_data":               data,
		oc.stage + "_guardrail_response": map[string]any{"is_safe": false, "violations": violations},
	}
	return r
}

func contentText(res *mcp.CallToolResult) string {
	if res == nil {
		return ""
	}
	var parts []string
	for _, c := range res.Content {
		switch v := c.(type) {
		case *mcp.TextContent:
			parts = append(parts, v.Text)
		default:
			b, _ := json.Marshal(c)
			parts = append(parts, string(b))
		}
	}
	return strings.Join(parts, "\n")
}
