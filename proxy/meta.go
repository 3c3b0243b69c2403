package proxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/internal/config"
)

// The meta-tool surface: with tool_exposure "meta", the gateway answers
// tools/list with the Python gateway's seven enkrypt_* tools and no upstream
// tool, and runs upstream calls given to enkrypt_secure_call_tools through
// the call pipeline, the same path as direct calls. What differs from the Python
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

// metaSurface answers tools/call in meta mode: the seven enkrypt_* tools,
// a client of the catalog (discovery, withheld tools, the cache) and of the
// pipeline (every upstream call). It holds no lock of its own.
type metaSurface struct {
	servers  []*config.Server
	cat      *catalog
	pipe     *pipeline
	guard    Guard
	rawCache ToolCache // Options.ToolCache unwrapped, for the cache status and clear
	timeouts *TimeoutTracker
}

// call answers a tools/call in meta mode.
func (m *metaSurface) call(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
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
		return metaResult(m.listServers(ctx, discover)), nil
	case MetaGetServerInfo:
		return metaResult(m.serverInfo(ctx, str("server_name"))), nil
	case MetaDiscoverAllTools:
		if name := str("server_name"); name != "" {
			return metaResult(m.discoverOne(ctx, name)), nil
		}
		return metaResult(m.listServers(ctx, true)), nil
	case MetaSecureCallTools:
		return m.secureCall(ctx, req, str("server_name"), args["tool_calls"])
	case MetaGetCacheStatus:
		return metaResult(m.cacheStatus(ctx)), nil
	case MetaClearCache:
		return metaResult(m.clearCache(ctx, str("id"), str("server_name"), str("cache_type"))), nil
	case MetaGetTimeoutMetrics:
		return metaResult(m.timeoutMetrics()), nil
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

func notFound(name string) map[string]any {
	return envelope(CodeServerNotFound, fmt.Sprintf("Server %q is not available for this gateway key.", name),
		map[string]any{"server_name": name})
}
