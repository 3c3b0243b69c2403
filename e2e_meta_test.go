package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"secure-mcp-gateway/examples"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/proxy"
)

// metaJSON calls a meta-tool and decodes the JSON text of its result,
// checking that the structured content says the same.
func metaJSON(t *testing.T, g *gateway, tool string, args any) map[string]any {
	t.Helper()
	r := g.call(t, tool, args)
	var m map[string]any
	if err := json.Unmarshal([]byte(resultText(r)), &m); err != nil {
		t.Fatalf("%s: result is not JSON: %v: %s", tool, err, resultText(r))
	}
	b, _ := json.Marshal(r.StructuredContent)
	var sc map[string]any
	if err := json.Unmarshal(b, &sc); err != nil || sc["status"] != m["status"] {
		t.Errorf("%s: structured content %s disagrees with the text", tool, b)
	}
	if r.IsError != (m["status"] == "error") {
		t.Errorf("%s: isError=%v with status %v", tool, r.IsError, m["status"])
	}
	return m
}

// path walks nested JSON objects and arrays by keys and indexes.
func path(v any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func TestMetaToolsSurface(t *testing.T) {
	dir := t.TempDir()
	record := filepath.Join(dir, "record.jsonl")
	const envSecret, headerSecret, oauthSecret = "env-secret-7Hq2Lm", "hdr-secret-Pw93Kx", "oauth-secret-Zt55Rv"
	rec := guarded(exampleServer("rec", "recorder", map[string]string{"EXAMPLE_RECORD_FILE": record, "API_TOKEN": envSecret}))
	rec.OAuth = &config.OAuthConfig{ClientID: "client-1", ClientSecret: oauthSecret, TokenURL: "https://auth.example/token"}
	remote := &config.Server{Name: "remote", Config: config.ServerConfig{URL: "https://127.0.0.1:1/mcp",
		Headers: map[string]string{"Authorization": "Bearer " + headerSecret}}}
	f := newFixture(t, rec, guarded(exampleServer("bad", "bad_output", nil)), guarded(exampleServer("poison", "tool_poisoning", nil)), remote)
	f.cfg.Common.ToolExposure = config.ToolExposureMeta
	f.save(t)
	g := startGateway(t, f)

	var all []string // every result text, checked for secrets at the end
	call := func(tool string, args any) map[string]any {
		t.Helper()
		m := metaJSON(t, g, tool, args)
		b, _ := json.Marshal(m)
		all = append(all, string(b))
		return m
	}

	names := g.toolNames(t)
	want := []string{proxy.MetaListAllServers, proxy.MetaGetServerInfo, proxy.MetaDiscoverAllTools, proxy.MetaSecureCallTools,
		proxy.MetaGetCacheStatus, proxy.MetaClearCache, proxy.MetaGetTimeoutMetrics}
	if !slices.Equal(names, want) {
		t.Fatalf("tools/list = %v, want exactly %v", names, want)
	}

	// Listing without discovery starts nothing and shows masked configs.
	m := call(proxy.MetaListAllServers, map[string]any{"discover_tools": false})
	if m["status"] != "success" || len(path(m, "servers_needing_discovery").([]any)) != 4 {
		t.Errorf("list without discovery: %v", m)
	}
	if v := path(m, "available_servers", "rec", "config", "env", "API_TOKEN"); v != "[REDACTED]" {
		t.Errorf("env value shown as %v", v)
	}

	// Discovery of everything: guarded tools withheld and reported, the
	// unreachable remote server reported as failed.
	m = call(proxy.MetaListAllServers, nil)
	if !slices.Contains(toStrings(path(m, "discovery_failed_servers")), "remote") ||
		!slices.Contains(toStrings(path(m, "discovery_success_servers")), "rec") {
		t.Errorf("discovery: %v", m)
	}
	if n := path(m, "available_servers", "poison", "blocked_count"); n != float64(2) {
		t.Errorf("poison blocked_count = %v, want 2: %v", n, path(m, "available_servers", "poison"))
	}
	m = call(proxy.MetaDiscoverAllTools, map[string]any{"server_name": "poison"})
	var listed []string
	for i := range 10 {
		if n, ok := path(m, "tools", i, "name").(string); ok {
			listed = append(listed, n)
		}
	}
	if !slices.Equal(listed, []string{"word_count"}) || m["source"] == nil {
		t.Errorf("discover poison: tools %v, result %v", listed, m)
	}
	if m = call(proxy.MetaDiscoverAllTools, map[string]any{"server_name": "nope"}); path(m, "error", "code") != proxy.CodeServerNotFound {
		t.Errorf("unknown server: %v", m)
	}
	if m = call(proxy.MetaDiscoverAllTools, map[string]any{"server_name": "null"}); m["discovery_success_servers"] == nil {
		t.Errorf("server_name \"null\" is every server: %v", m)
	}

	m = call(proxy.MetaGetServerInfo, map[string]any{"server_name": "rec"})
	if m["status"] != "success" || path(m, "server_info", "oauth_config", "OAUTH_CLIENT_SECRET") != "[REDACTED]" {
		t.Errorf("server info: %v", m)
	}
	m = call(proxy.MetaGetServerInfo, map[string]any{"server_name": "remote"})
	if path(m, "server_info", "config", "headers", "Authorization") != "[REDACTED]" {
		t.Errorf("remote server info: %v", m)
	}

	// A batch with aliases: both calls run, in one upstream session.
	m = call(proxy.MetaSecureCallTools, map[string]any{"server_name": "rec", "tool_calls": []any{
		map[string]any{"name": "store", "args": map[string]any{"text": "one"}},
		map[string]any{"tool_name": "store", "tool_input_arguments": map[string]any{"text": "two"}},
		map[string]any{"function": "store", "parameters": `{"text": "three"}`},
	}})
	if path(m, "summary", "successful_calls") != float64(3) || path(m, "results", 1, "response") != "stored: two" ||
		path(m, "guardrails_applied", "input_guardrails_enabled") != true || path(m, "guardrails_applied", "pii_redaction_enabled") != true {
		t.Errorf("alias batch: %v", m)
	}

	// Blocked input never reaches the upstream, and the batch stops there.
	const leaked = "AKIAIOSFODNN7EXAMPLE"
	m = call(proxy.MetaSecureCallTools, map[string]any{"server_name": "rec", "tool_calls": []any{
		map[string]any{"tool": "store", "arguments": map[string]any{"text": "key " + leaked}},
		map[string]any{"name": "store", "args": map[string]any{"text": "after the block"}},
	}})
	if path(m, "results", 0, "status") != "blocked_input" || path(m, "summary", "blocked_calls") != float64(1) ||
		path(m, "summary", "skipped_calls") != float64(1) || len(path(m, "results").([]any)) != 1 {
		t.Errorf("blocked input batch: %v", m)
	}
	got, _ := os.ReadFile(record)
	if strings.Contains(string(got), leaked) || strings.Contains(string(got), "after the block") {
		t.Errorf("the upstream received blocked or later arguments: %s", got)
	}
	if !strings.Contains(string(got), `"three"`) {
		t.Errorf("the upstream did not receive the allowed calls: %s", got)
	}

	// Blocked output is withheld, not returned.
	m = call(proxy.MetaSecureCallTools, map[string]any{"server_name": "bad", "tool_calls": []any{map[string]any{"name": "get_environment_info"}}})
	if path(m, "results", 0, "status") != "blocked_output" || path(m, "results", 0, "response") != "" {
		t.Errorf("blocked output: %v", m)
	}
	for _, leak := range []string{leaked, "P@ssw0rd"} {
		if b, _ := json.Marshal(m); strings.Contains(string(b), leak) {
			t.Errorf("blocked output leaked %q: %s", leak, b)
		}
	}

	// Withheld and unknown tools are refused through the meta surface too.
	m = call(proxy.MetaSecureCallTools, map[string]any{"server_name": "poison", "tool_calls": []any{map[string]any{"name": "calculate_statistics"}}})
	if path(m, "results", 0, "error", "code") != proxy.CodeToolWithheld {
		t.Errorf("withheld tool: %v", m)
	}
	m = call(proxy.MetaSecureCallTools, map[string]any{"server_name": "rec", "tool_calls": []any{map[string]any{"name": "nope"}}})
	if path(m, "results", 0, "error", "code") != proxy.CodeToolNotFound || path(m, "results", 0, "status") != "error" {
		t.Errorf("unknown tool: %v", m)
	}
	m = call(proxy.MetaSecureCallTools, map[string]any{"server_name": "rec", "tool_calls": []any{map[string]any{"args": map[string]any{}}}})
	if path(m, "results", 0, "error", "code") != proxy.CodeInvalidToolCall {
		t.Errorf("nameless call: %v", m)
	}
	// An empty batch discovers.
	m = call(proxy.MetaSecureCallTools, map[string]any{"server_name": "rec"})
	if m["message"] != "Successfully discovered tools for rec" || path(m, "tools", 0, "name") != "store" {
		t.Errorf("empty batch: %v", m)
	}

	// The discovery cache: rec's entry exists, clearing it empties it.
	m = call(proxy.MetaGetCacheStatus, nil)
	if path(m, "cache_status", "gateway_specific", "servers", "rec", "exists") != true ||
		path(m, "cache_status", "gateway_specific", "servers", "rec", "tool_count") != float64(1) {
		t.Errorf("cache status: %v", m)
	}
	if m = call(proxy.MetaClearCache, map[string]any{"server_name": "rec"}); m["message"] != "Cache cleared for server: rec" {
		t.Errorf("clear rec: %v", m)
	}
	if m = call(proxy.MetaClearCache, map[string]any{"server_name": "rec", "cache_type": "server_config"}); m["status"] != "info" {
		t.Errorf("clear rec again: %v", m)
	}
	if m = call(proxy.MetaGetCacheStatus, nil); path(m, "cache_status", "gateway_specific", "servers", "rec", "exists") != false {
		t.Errorf("cache status after clear: %v", m)
	}
	if m = call(proxy.MetaClearCache, map[string]any{"cache_type": "gateway_config"}); m["status"] != "info" {
		t.Errorf("clear gateway config: %v", m)
	}
	if m = call(proxy.MetaClearCache, nil); !strings.HasPrefix(m["message"].(string), "Cache cleared for all servers") {
		t.Errorf("clear all: %v", m)
	}

	m = call(proxy.MetaGetTimeoutMetrics, nil)
	if n, _ := path(m, "timeout_metrics", "total_operations").(float64); n < 5 ||
		path(m, "timeout_config", "tool_execution_timeout") == nil || path(m, "escalation_policies", "fail_threshold") != 1.2 {
		t.Errorf("timeout metrics: %v", m)
	}

	for _, s := range []string{envSecret, headerSecret, oauthSecret} {
		for _, txt := range all {
			if strings.Contains(txt, s) {
				t.Errorf("secret %q appears in a result: %s", s, txt)
			}
		}
		if strings.Contains(g.stderr.String(), s) {
			t.Errorf("secret %q appears in the log", s)
		}
	}
}

// TestMetaTimeouts drives the tool_execution and discovery budgets with
// upstreams that hang: probe's sleep outlives tool_execution_timeout, and a
// command that never speaks MCP outlives discovery_timeout.
func TestMetaTimeouts(t *testing.T) {
	hang := &config.Server{Name: "hang", Config: config.ServerConfig{Command: "sleep", Args: []string{"60"}}}
	f := newFixture(t, exampleServer("probe", "probe", nil), hang)
	f.cfg.Common.ToolExposure = config.ToolExposureMeta
	f.cfg.Common.Timeouts = config.TimeoutSettings{ToolExecution: 0.5, Discovery: 3}
	f.save(t)
	g := startGateway(t, f)

	m := metaJSON(t, g, proxy.MetaSecureCallTools, map[string]any{"server_name": "probe", "tool_calls": []any{
		map[string]any{"name": "sleep", "args": map[string]any{"ms": 20000}},
		map[string]any{"name": "pid"},
	}})
	if path(m, "results", 0, "error", "code") != proxy.CodeToolTimeout || path(m, "summary", "skipped_calls") != float64(1) ||
		!strings.Contains(path(m, "results", 0, "error", "message").(string), "tool_execution_timeout") {
		t.Errorf("tool timeout: %v", m)
	}
	m = metaJSON(t, g, proxy.MetaDiscoverAllTools, map[string]any{"server_name": "hang"})
	if path(m, "error", "code") != proxy.CodeDiscoveryTimout {
		t.Errorf("discovery timeout: %v", m)
	}
	m = metaJSON(t, g, proxy.MetaGetTimeoutMetrics, nil)
	if n, _ := path(m, "timeout_metrics", "timeout_operations").(float64); n < 2 {
		t.Errorf("timeout_operations = %v, want >= 2: %v", n, m)
	}
	if n, _ := path(m, "timeout_metrics", "escalation_counts", "timeout").(float64); n < 2 {
		t.Errorf("escalation_counts.timeout = %v, want >= 2", n)
	}
	for _, k := range []string{"tool_execution", "discovery"} {
		if path(m, "timeout_metrics", "operations_by_kind", k) == nil {
			t.Errorf("no %s operations counted: %v", k, path(m, "timeout_metrics"))
		}
	}
	if path(m, "timeout_config", "tool_execution_timeout") != 0.5 {
		t.Errorf("timeout_config: %v", path(m, "timeout_config"))
	}
	if !strings.Contains(g.stderr.String(), `"escalation":"timeout"`) {
		t.Errorf("no escalation in the log")
	}

	// The direct surface applies the same budget.
	f.cfg.Common.ToolExposure = config.ToolExposureDirect
	f.save(t)
	d := startGateway(t, f)
	// Started first: on a loaded machine the upstream's start alone can
	// outlast the 0.5 s budget, which reports it unavailable instead.
	waitFor(t, 30e9, "the probe upstream to start", func() bool {
		return !d.call(t, "probe__sleep", map[string]any{"ms": 1}).IsError
	})
	r := d.call(t, "probe__sleep", map[string]any{"ms": 20000})
	if !r.IsError || !strings.Contains(resultText(r), "tool_execution_timeout") {
		t.Errorf("direct timeout: %s", resultText(r))
	}
}

func toStrings(v any) []string {
	a, _ := v.([]any)
	out := make([]string, 0, len(a))
	for _, x := range a {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// TestCase20TimeoutCancelsUpstream: a call that outlasts
// tool_execution_timeout is answered with the timeout error and the
// upstream is told (notifications/cancelled): its sleep stops and records
// the cancellation.
func TestCase20TimeoutCancelsUpstream(t *testing.T) {
	marks := filepath.Join(t.TempDir(), "cancel.marks")
	f := newFixture(t, exampleServer("probe", "probe", map[string]string{examples.ProbeCancelFileEnv: marks}))
	f.cfg.Common.Timeouts = config.TimeoutSettings{ToolExecution: 0.5}
	f.save(t)
	g := startGateway(t, f)
	// Started first: on a loaded machine the upstream's start alone can
	// outlast the 0.5 s budget, which reports it unavailable instead.
	waitFor(t, 30*time.Second, "the probe upstream to start", func() bool {
		return !g.call(t, "probe__sleep", map[string]any{"ms": 1}).IsError
	})
	r := g.call(t, "probe__sleep", map[string]any{"ms": 60_000})
	if !r.IsError || !strings.Contains(resultText(r), "tool_execution_timeout") {
		t.Fatalf("call past the budget: %s", resultText(r))
	}
	waitFor(t, 10*time.Second, "the upstream to record the cancellation", func() bool {
		b, _ := os.ReadFile(marks)
		return strings.Count(string(b), "cancelled") == 1
	})
}
