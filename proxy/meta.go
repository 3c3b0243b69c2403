package proxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/guard"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/internal/secret"
)

// The meta-tool surface: with tool_exposure "meta", the gateway answers
// tools/list with the Python gateway's seven enkrypt_* tools and no upstream
// tool, and runs upstream calls given to enkrypt_secure_call_tools through
// forward, the same path as direct calls. What differs from the Python
// gateway, on purpose: the input verdict comes before the upstream runs,
// blocked output is never returned, and server entries never carry env
// values, header values or OAuth secrets.

// Names of the meta-tools.
const (
	MetaListAllServers    = "enkrypt_list_all_servers"
	MetaGetServerInfo     = "enkrypt_get_server_info"
	MetaDiscoverAllTools  = "enkrypt_discover_all_tools"
	MetaSecureCallTools   = "enkrypt_secure_call_tools"
	MetaGetCacheStatus    = "enkrypt_get_cache_status"
	MetaClearCache        = "enkrypt_clear_cache"
	MetaGetTimeoutMetrics = "enkrypt_get_timeout_metrics"
)

// Error codes of the meta-tools' error envelope, in the Python gateway's
// families.
const (
	CodeServerNotFound  = "DISC_001" // server_name is not a server of the caller's config
	CodeDiscoveryFailed = "DISC_002" // the upstream could not be listed
	CodeDiscoveryTimout = "DISC_003" // listing the upstream exceeded discovery_timeout
	CodeToolFailed      = "TOOL_001" // the upstream failed or answered with an error
	CodeToolNotFound    = "TOOL_002" // no such tool on this server, or not allowed
	CodeToolTimeout     = "TOOL_003" // the call exceeded tool_execution_timeout
	CodeToolWithheld    = "TOOL_004" // a guardrail or a pin withholds the tool
	CodeInvalidToolCall = "TOOL_005" // a tool_calls item has no tool name or bad arguments
	CodeInputBlocked    = "GUARD_001"
	CodeGuardTimeout    = "GUARD_002" // no guardrail verdict within guardrail_timeout
	CodeOutputBlocked   = "GUARD_003"
	CodeCacheFailed     = "CACHE_001"
	CodeInvalidArgument = "SYS_001" // a meta-tool's own arguments are malformed
)

// Aliases accepted for a tool_calls item's tool name and arguments, as the
// Python gateway accepts them.
var (
	toolNameKeys = []string{"name", "tool_name", "tool", "function", "function_name", "function_id"}
	toolArgsKeys = []string{"args", "arguments", "tool_arguments", "tool_input_arguments", "tool_args", "tool_input_args", "parameters", "input", "params"}
)

// toolCacheAdmin is what the meta-tools need of a ToolCache beyond loading
// and storing; *cache.Store implements it. Without it the cache tools say
// that no cache is configured.
type toolCacheAdmin interface {
	// InspectTools reports server s's entry in the MCP config configID.
	InspectTools(ctx context.Context, configID string, s *config.Server) (storedAt, expiresAt time.Time, tools int, ok bool)
	// ClearTools removes server s's entry, reporting whether there was one.
	ClearTools(ctx context.Context, configID string, s *config.Server) (bool, error)
}

func boolPtr(b bool) *bool { return &b }

var (
	readOnly = func(title string) *mcp.ToolAnnotations {
		return &mcp.ToolAnnotations{Title: title, ReadOnlyHint: true, IdempotentHint: true, DestructiveHint: boolPtr(false), OpenWorldHint: boolPtr(false)}
	}
	destructive = func(title string) *mcp.ToolAnnotations {
		return &mcp.ToolAnnotations{Title: title, DestructiveHint: boolPtr(true), OpenWorldHint: boolPtr(true)}
	}
	nullableString = map[string]any{"anyOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "null"}}, "default": nil}
)

// metaTools returns the seven meta-tools, in the Python gateway's order.
func metaTools() []*mcp.Tool {
	obj := func(props map[string]any, required ...string) map[string]any {
		s := map[string]any{"type": "object", "properties": props}
		if len(required) > 0 {
			s["required"] = required
		}
		return s
	}
	return []*mcp.Tool{
		{Name: MetaListAllServers, Title: "List Available Servers", Annotations: readOnly("List Available Servers"),
			Description: "Lists the MCP servers available to this gateway key, with their tools when discover_tools is true (the default). " +
				"Secrets in server configs (env values, headers, OAuth secrets) are never shown.",
			InputSchema: obj(map[string]any{"discover_tools": map[string]any{"type": "boolean", "default": true}})},
		{Name: MetaGetServerInfo, Title: "Get Server Info", Annotations: readOnly("Get Server Info"),
			Description: "Returns the configuration of one server (secrets masked) and what discovery knows about it.",
			InputSchema: obj(map[string]any{"server_name": map[string]any{"type": "string"}}, "server_name")},
		{Name: MetaDiscoverAllTools, Title: "Discover Server Tools", Annotations: readOnly("Discover Server Tools"),
			Description: "Discovers the tools of one server, or of every server when server_name is null. Tools withheld by guardrails are reported in blocked_tools and cannot be called.",
			InputSchema: obj(map[string]any{"server_name": nullableString})},
		{Name: MetaSecureCallTools, Title: "Securely Call Tools", Annotations: destructive("Securely Call Tools"),
			Description: "Calls one or more tools of one server, in order, through the gateway's guardrails: " +
				"tool_calls is a list of {\"name\": tool, \"args\": {...}}. Batch all calls for a server into one list. " +
				"The batch stops at the first blocked or failed call. With an empty list, the server's tools are discovered instead.",
			InputSchema: obj(map[string]any{
				"server_name": map[string]any{"type": "string"},
				"tool_calls":  map[string]any{"type": "array", "items": map[string]any{"type": "object"}, "default": []any{}},
			}, "server_name")},
		{Name: MetaGetCacheStatus, Title: "Get Cache Status", Annotations: readOnly("Get Cache Status"),
			Description: "Reports the discovery cache's entries for the servers of this gateway key.",
			InputSchema: obj(map[string]any{})},
		{Name: MetaClearCache, Title: "Clear Cache", Annotations: destructive("Clear Cache"),
			Description: "Clears cached tool lists: of server_name, or of every server of this gateway key. cache_type is all (default), server_config or gateway_config.",
			InputSchema: obj(map[string]any{"id": nullableString, "server_name": nullableString, "cache_type": nullableString})},
		{Name: MetaGetTimeoutMetrics, Title: "Get Timeout Metrics", Annotations: readOnly("Get Timeout Metrics"),
			Description: "Reports operation totals, timeouts, cancellations, escalation counts, operations in flight and the configured timeouts.",
			InputSchema: obj(map[string]any{})},
	}
}

// callMeta answers a tools/call in meta mode.
func (g *Gateway) callMeta(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	var args map[string]json.RawMessage
	if raw := req.Params.Arguments; len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &args); err != nil {
			return metaResult(envelope(CodeInvalidArgument, "The arguments must be a JSON object.", nil)), nil
		}
	}
	str := func(k string) string {
		var s *string
		if v, ok := args[k]; ok {
			if json.Unmarshal(v, &s) != nil || s == nil || *s == "null" {
				return ""
			}
			return *s
		}
		return ""
	}
	switch req.Params.Name {
	case MetaListAllServers:
		discover := true
		if v, ok := args["discover_tools"]; ok && string(v) != "null" {
			if err := json.Unmarshal(v, &discover); err != nil {
				return metaResult(envelope(CodeInvalidArgument, "discover_tools must be a boolean.", nil)), nil
			}
		}
		return metaResult(g.metaListServers(ctx, discover)), nil
	case MetaGetServerInfo:
		return metaResult(g.metaServerInfo(ctx, str("server_name"))), nil
	case MetaDiscoverAllTools:
		if name := str("server_name"); name != "" {
			return metaResult(g.metaDiscoverOne(ctx, name)), nil
		}
		return metaResult(g.metaListServers(ctx, true)), nil
	case MetaSecureCallTools:
		return g.metaSecureCall(ctx, req, str("server_name"), args["tool_calls"])
	case MetaGetCacheStatus:
		return metaResult(g.metaCacheStatus(ctx)), nil
	case MetaClearCache:
		return metaResult(g.metaClearCache(ctx, str("id"), str("server_name"), str("cache_type"))), nil
	case MetaGetTimeoutMetrics:
		return metaResult(g.metaTimeoutMetrics()), nil
	}
	return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("unknown tool %q", req.Params.Name)}
}

// metaResult renders v as the JSON text of the result and as its
// structured content. An error envelope is also an isError result.
func metaResult(v map[string]any) *mcp.CallToolResult {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"status":"error","error":{"code":"SYS_002","message":"the result could not be encoded"}}`)
	}
	return &mcp.CallToolResult{
		Content:           []mcp.Content{&mcp.TextContent{Text: string(b)}},
		StructuredContent: json.RawMessage(b),
		IsError:           v["status"] == "error",
	}
}

// envelope is the Python gateway's error envelope. ctxFields name the
// server, tool and operation; message must hold no secret.
func envelope(code, message string, ctxFields map[string]any) map[string]any {
	now := time.Now().UTC().Format(time.RFC3339Nano)
	var id [8]byte
	_, _ = rand.Read(id[:])
	cid := hex.EncodeToString(id[:])
	severity, recovery := "medium", "retry"
	switch {
	case strings.HasPrefix(code, "GUARD_001"), strings.HasPrefix(code, "GUARD_003"), code == CodeToolWithheld:
		severity, recovery = "high", "none"
	case code == CodeServerNotFound, code == CodeToolNotFound, code == CodeInvalidToolCall, code == CodeInvalidArgument:
		severity, recovery = "low", "none"
	}
	if ctxFields == nil {
		ctxFields = map[string]any{}
	}
	return map[string]any{
		"status": "error",
		"error": map[string]any{
			"code": code, "message": message, "severity": severity, "recovery_strategy": recovery,
			"correlation_id": cid, "timestamp": now, "context": ctxFields,
			"details": map[string]any{"user_message": message},
		},
		"timestamp": now, "correlation_id": cid,
	}
}

func (g *Gateway) serverConfig(name string) *config.Server {
	for _, s := range g.servers {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func notFound(name string) map[string]any {
	return envelope(CodeServerNotFound, fmt.Sprintf("Server %q is not available for this gateway key.", name),
		map[string]any{"server_name": name})
}

// serverTools returns server's callable tools under their upstream names,
// and the tools guardrails or pins withhold, with why.
func (g *Gateway) serverTools(server string) (tools []*mcp.Tool, blocked []map[string]any) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	for _, t := range g.exported {
		if rt, ok := g.routes[t.Name]; ok && rt.server == server {
			c := *t
			c.Name = rt.tool
			tools = append(tools, &c)
		}
	}
	if st := g.state[server]; st != nil {
		for tool, why := range st.withheld {
			blocked = append(blocked, map[string]any{"name": tool, "reasons": []string{why}})
		}
	}
	if tools == nil {
		tools = []*mcp.Tool{}
	}
	if blocked == nil {
		blocked = []map[string]any{}
	}
	return tools, blocked
}

// discoveryResult is one server's discovery, as enkrypt_discover_all_tools
// reports it. It assumes discovery ran.
func (g *Gateway) discoveryResult(name string) map[string]any {
	g.mu.RLock()
	st := g.state[name]
	ok, err := st.ok, st.err
	g.mu.RUnlock()
	if !ok {
		code, msg := CodeDiscoveryFailed, fmt.Sprintf("Tool discovery of server %q failed: %v", name, undecodable(err))
		if errors.Is(err, context.DeadlineExceeded) {
			code = CodeDiscoveryTimout
		}
		e := envelope(code, msg, map[string]any{"server_name": name, "operation": "discovery"})
		e["server_name"] = name
		return e
	}
	tools, blocked := g.serverTools(name)
	blocked, denied := g.splitDenied(name, blocked)
	reasons := make([]string, 0, len(blocked))
	for _, b := range blocked {
		reasons = append(reasons, b["reasons"].([]string)...)
	}
	source := "discovery"
	g.dc.mu.Lock()
	if _, cached := g.dc.cached[name]; cached {
		source = "cache"
	}
	g.dc.mu.Unlock()
	return map[string]any{
		"status": "success", "message": fmt.Sprintf("Tools discovered for server %s", name),
		"server_name": name, "tools": tools, "source": source,
		"blocked_tools": blocked, "blocked_count": len(blocked), "blocked_reasons": reasons,
		"policy_denied_tools": denied, "policy_denied_count": len(denied),
	}
}

// splitDenied separates, as the Python gateway 2.2 does, the tools a
// denied_tools list removes from those guardrails withheld.
func (g *Gateway) splitDenied(server string, blocked []map[string]any) (rest, denied []map[string]any) {
	d, ok := g.opts.Guard.(interface {
		Denied(server, tool string) (*guard.DeniedError, bool)
	})
	rest, denied = []map[string]any{}, []map[string]any{}
	for _, b := range blocked {
		if name, _ := b["name"].(string); ok {
			if de, isDenied := d.Denied(server, name); isDenied {
				denied = append(denied, map[string]any{"name": name, "pattern": de.Pattern, "reason": de.Reason})
				continue
			}
		}
		rest = append(rest, b)
	}
	return rest, denied
}

func (g *Gateway) metaDiscoverOne(ctx context.Context, name string) map[string]any {
	if g.serverConfig(name) == nil {
		return notFound(name)
	}
	g.discoverOnly(ctx, name)
	return g.discoveryResult(name)
}

func (g *Gateway) metaListServers(ctx context.Context, discover bool) map[string]any {
	servers := map[string]any{}
	if !discover {
		var needing []string
		for _, s := range g.servers {
			e := safeServerEntry(s)
			g.mu.RLock()
			known := g.state[s.Name].ok
			g.mu.RUnlock()
			if known {
				d := g.discoveryResult(s.Name)
				e["tools"], e["tools_source"], e["has_cached_tools"] = d["tools"], d["source"], d["source"] == "cache"
			} else {
				e["tools"], e["tools_source"], e["has_cached_tools"] = nil, nil, false
				needing = append(needing, s.Name)
			}
			servers[s.Name] = e
		}
		if needing == nil {
			needing = []string{}
		}
		return map[string]any{"status": "success", "available_servers": servers, "servers_needing_discovery": needing}
	}
	g.discover(ctx)
	failed, succeeded := []string{}, []string{}
	for _, s := range g.servers {
		d := g.discoveryResult(s.Name)
		if d["status"] == "success" {
			succeeded = append(succeeded, s.Name)
		} else {
			failed = append(failed, s.Name)
		}
		servers[s.Name] = d
	}
	return map[string]any{"status": "success", "message": "Tools discovery tried for all servers",
		"discovery_failed_servers": failed, "discovery_success_servers": succeeded, "available_servers": servers}
}

func (g *Gateway) metaServerInfo(ctx context.Context, name string) map[string]any {
	s := g.serverConfig(name)
	if s == nil {
		return notFound(name)
	}
	g.mu.RLock()
	st := g.state[name]
	state := map[string]any{"discovered": st.ok, "tool_count": len(st.tools)}
	if st.err != nil && !st.ok {
		state["last_error"] = st.err.Error()
	}
	g.mu.RUnlock()
	return map[string]any{"status": "success", "server_name": name, "server_info": safeServerEntry(s), "discovery": state}
}

// secretArg matches command-line flags whose value is likely a secret.
var secretArg = regexp.MustCompile(`(?i)(key|token|secret|passw|auth|credential|bearer)`)

// safeServerEntry is a server's config entry without secrets: env and
// header values are masked entirely, the OAuth config is redacted, a URL
// loses its user info and query, and the values of secret-looking flags are
// masked. Guardrail policies show their switches, not their extra config.
func safeServerEntry(s *config.Server) map[string]any {
	cfg := map[string]any{}
	if s.Config.Command != "" {
		cfg["command"] = s.Config.Command
		args := make([]string, len(s.Config.Args))
		maskNext := false
		for i, a := range s.Config.Args {
			switch {
			case maskNext:
				args[i], maskNext = secret.Masked, false
			case strings.HasPrefix(a, "-") && strings.Contains(a, "=") && secretArg.MatchString(a[:strings.Index(a, "=")]):
				args[i] = a[:strings.Index(a, "=")+1] + secret.Masked
			case strings.HasPrefix(a, "-") && secretArg.MatchString(a):
				args[i], maskNext = a, true
			default:
				args[i] = a
			}
		}
		cfg["args"] = args
	}
	if s.Config.URL != "" {
		cfg["url"] = safeURL(s.Config.URL)
	}
	mask := func(m map[string]string) map[string]string {
		out := make(map[string]string, len(m))
		for k := range m {
			out[k] = secret.Masked
		}
		return out
	}
	cfg["env"] = mask(s.Config.Env)
	if len(s.Config.Headers) > 0 {
		cfg["headers"] = mask(s.Config.Headers)
	}
	e := map[string]any{"server_name": s.Name, "description": s.Description, "config": cfg}
	if len(s.Tools) > 0 {
		names := make([]string, 0, len(s.Tools))
		for t := range s.Tools {
			if s.ToolAllowed(t) {
				names = append(names, t)
			}
		}
		e["allowed_tools"] = names
	}
	policy := func(p *config.Policy) map[string]any {
		if p == nil {
			return map[string]any{"enabled": false}
		}
		return map[string]any{"enabled": p.Enabled, "policy_name": p.PolicyName, "block": p.Block}
	}
	e["input_guardrails_policy"] = policy(s.InputGuardrailsPolicy)
	e["output_guardrails_policy"] = policy(s.OutputGuardrailsPolicy)
	e["tool_guardrails_policy"] = policy(s.ToolGuardrailsPolicy)
	if s.OAuth != nil {
		e["oauth_config"] = s.OAuth.Redacted()
	}
	return e
}

func safeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return secret.Masked
	}
	if u.User != nil {
		u.User = url.User(secret.Masked)
	}
	if u.RawQuery != "" {
		u.RawQuery = secret.Masked
	}
	u.Fragment = ""
	return u.String()
}

// guardrailsApplied is the Python gateway's guardrails_applied block.
func guardrailsApplied(s *config.Server) map[string]any {
	on := func(p *config.Policy) bool { return p != nil && p.Enabled }
	flag := func(p *config.Policy, k string) bool {
		if !on(p) {
			return false
		}
		b, _ := p.AdditionalConfig[k].(bool)
		return b
	}
	in, out := s.InputGuardrailsPolicy, s.OutputGuardrailsPolicy
	return map[string]any{
		"input_guardrails_enabled": on(in), "output_guardrails_enabled": on(out),
		"pii_redaction_enabled":   flag(in, "pii_redaction") || flag(out, "pii_redaction"),
		"relevancy_check_enabled": flag(out, "relevancy"), "adherence_check_enabled": flag(out, "adherence"),
		"hallucination_check_enabled": flag(out, "hallucination"),
	}
}

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

// metaRoute finds the route of server's upstream tool, or why it cannot be
// called.
func (g *Gateway) metaRoute(server, tool string) (route, string, string, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	for name, rt := range g.routes {
		if rt.server == server && rt.tool == tool {
			return rt, name, "", true
		}
	}
	if st := g.state[server]; st != nil {
		if why, ok := st.withheld[tool]; ok {
			return route{}, "", why, false
		}
	}
	return route{}, "", "", false
}

func (g *Gateway) metaSecureCall(ctx context.Context, req *mcp.CallToolRequest, server string, rawCalls json.RawMessage) (*mcp.CallToolResult, error) {
	s := g.serverConfig(server)
	if s == nil {
		return metaResult(notFound(server)), nil
	}
	calls, err := parseToolCalls(rawCalls)
	if err != nil {
		return metaResult(envelope(CodeInvalidArgument, err.Error(), map[string]any{"server_name": server})), nil
	}
	g.discoverOnly(ctx, server)
	if len(calls) == 0 {
		d := g.discoveryResult(server)
		if d["status"] == "success" {
			d["message"] = "Successfully discovered tools for " + server
		}
		return metaResult(d), nil
	}
	g.mu.RLock()
	ok := g.state[server].ok
	g.mu.RUnlock()
	if !ok {
		return metaResult(g.discoveryResult(server)), nil
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
		rt, exported, why, found := g.metaRoute(server, c.name)
		if !found {
			if why != "" {
				fail(CodeToolWithheld, fmt.Sprintf("Tool %q of server %q is withheld: %s", c.name, server, why))
			} else {
				fail(CodeToolNotFound, fmt.Sprintf("Tool '%s' not found for this server.", c.name))
			}
			break
		}
		start := time.Now()
		res, oc, err := g.forward(ctx, rt, exported, c.args, req)
		g.emitCall(req, server, exported, start, c.args, res, oc, err)
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

func (g *Gateway) metaCacheStatus(ctx context.Context) map[string]any {
	admin, _ := g.rawCache.(toolCacheAdmin)
	servers := map[string]any{}
	now := time.Now()
	for _, s := range g.servers {
		e := map[string]any{"exists": false, "are_tools_explicitly_defined": len(s.Tools) > 0}
		g.mu.RLock()
		e["needs_discovery"] = !g.state[s.Name].ok
		g.mu.RUnlock()
		if admin != nil {
			cctx, op := g.timeouts.Start(ctx, KindCache, fmt.Sprintf("discovery cache status of server %q", s.Name))
			type found struct {
				stored, expires time.Time
				n               int
				ok              bool
			}
			f, err := within(cctx, op, func(ctx context.Context) (found, error) {
				st, ex, n, ok := admin.InspectTools(ctx, g.dc.configID, s)
				return found{st, ex, n, ok}, nil
			})
			op.End(err)
			switch {
			case err != nil:
				e["error"] = err.Error()
			case f.ok:
				e["exists"], e["tool_count"] = true, f.n
				e["stored_at"], e["expires_at"] = f.stored.UTC().Format(time.RFC3339), f.expires.UTC().Format(time.RFC3339)
				e["expires_in_hours"] = f.expires.Sub(now).Hours()
				e["is_expired"] = !now.Before(f.expires)
			}
		}
		servers[s.Name] = e
	}
	return map[string]any{"status": "success", "cache_status": map[string]any{
		"gateway_specific": map[string]any{
			"config":  map[string]any{"exists": false, "note": "the gateway config is read from the config file when a session starts; it is not cached"},
			"servers": servers,
		},
		"global": map[string]any{"cache_available": admin != nil, "cache_type": cacheType(admin)},
	}}
}

func cacheType(admin toolCacheAdmin) string {
	if admin == nil {
		return "none"
	}
	return "tiered"
}

func (g *Gateway) metaClearCache(ctx context.Context, id, server, cacheType string) map[string]any {
	if cacheType == "" {
		cacheType = "all"
	}
	switch cacheType {
	case "gateway_config", "gateway", "gateway_cache", "gateway_config_cache":
		return map[string]any{"status": "info", "message": "The gateway config is not cached: it is read from the config file when a session starts. Nothing to clear."}
	}
	admin, _ := g.rawCache.(toolCacheAdmin)
	if admin == nil {
		return map[string]any{"status": "info", "message": "No discovery cache is configured; nothing to clear."}
	}
	targets := g.servers
	if server != "" {
		s := g.serverConfig(server)
		if s == nil {
			return notFound(server)
		}
		targets = []*config.Server{s}
	}
	cleared := 0
	for _, s := range targets {
		cctx, op := g.timeouts.Start(ctx, KindCache, fmt.Sprintf("discovery cache clear of server %q", s.Name))
		found, err := within(cctx, op, func(ctx context.Context) (bool, error) { return admin.ClearTools(ctx, g.dc.configID, s) })
		op.End(err)
		if err != nil {
			return envelope(CodeCacheFailed, fmt.Sprintf("Clearing the cached tools of server %q failed: %v", s.Name, err),
				map[string]any{"server_name": s.Name, "operation": "clear_cache"})
		}
		if found {
			cleared++
		}
		// The next discovery lists the upstream live again.
		g.mu.Lock()
		g.state[s.Name].gen++
		g.mu.Unlock()
	}
	out := map[string]any{"status": "success"}
	if id != "" {
		out["note"] = "id is ignored: a gateway key can only clear its own servers' entries"
	}
	switch {
	case server != "" && cleared == 0:
		out["status"], out["message"] = "info", "No cache found for server: "+server
	case server != "":
		out["message"] = "Cache cleared for server: " + server
	case cacheType == "all":
		out["message"] = fmt.Sprintf("Cache cleared for all servers (%d servers) and gateway config (none)", cleared)
	default:
		out["message"] = fmt.Sprintf("Cache cleared for all servers (%d servers)", cleared)
	}
	return out
}

func (g *Gateway) metaTimeoutMetrics() map[string]any {
	m, active := g.timeouts.Metrics()
	b := g.timeouts.Budgets()
	warn, timeout, fail := b.ratios()
	return map[string]any{
		"status":            "success",
		"timeout_metrics":   m,
		"active_operations": active,
		"timeout_config":    b.TimeoutConfig(),
		"escalation_policies": map[string]float64{
			"warn_threshold": warn, "timeout_threshold": timeout, "fail_threshold": fail,
		},
	}
}
