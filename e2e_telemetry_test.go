package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/examples"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/telemetry/otlptest"
)

// TestE2ETelemetryExportsRealCalls runs the real stdio gateway with tracing
// on — through the seed's plugins.telemetry block over gRPC, and through the
// standard OTEL_* environment over HTTP — against a real OTLP receiver on
// 127.0.0.1. A forwarded call and a blocked one become request spans with
// their stage spans, the block names its detector, and neither the blocked
// secret nor the gateway key appears in anything exported.
func TestE2ETelemetryExportsRealCalls(t *testing.T) {
	const secretArg = "AKIAIOSFODNN7EXAMPLE"
	col, err := otlptest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(col.Close)
	cases := []struct {
		name   string
		plugin *config.Plugin
		env    []string
	}{
		{"config block over grpc", &config.Plugin{Provider: "opentelemetry", Config: map[string]any{
			"enabled": true, "url": "http://" + col.GRPCAddr, "insecure": true, "service_name": "gw-config"}}, nil},
		{"OTEL env over http", nil, []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + strings.TrimSuffix(col.HTTPURL, "/v1/traces"),
			"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf", "OTEL_SERVICE_NAME=gw-env"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := exampleServer("echo_server", "echo", nil)
			s.InputGuardrailsPolicy = &config.Policy{Enabled: true, Block: []string{"secrets"}}
			f := newFixture(t, s)
			f.cfg.Plugins.Telemetry = tc.plugin
			f.save(t)
			service := "gw-config"
			if tc.plugin == nil {
				service = "gw-env"
			}

			g := startGateway(t, f, tc.env...)
			if res := g.call(t, "echo_server__echo", map[string]any{"message": "hello"}); res.IsError {
				t.Fatalf("echo: %s", resultText(res))
			}
			if res := g.call(t, "echo_server__echo", map[string]any{"message": "key " + secretArg}); !res.IsError {
				t.Fatalf("a call with an AWS key was forwarded: %s", resultText(res))
			}
			// Closing the client ends the gateway, which flushes its spans.
			if err := g.cs.Close(); err != nil {
				t.Logf("close: %v", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			spans, ok := col.Wait(ctx, func(ss []otlptest.Span) bool {
				n := 0
				for _, s := range ss {
					if s.Service == service && s.Name == "tools/call echo_server__echo" {
						n++
					}
				}
				return n >= 2
			})
			if !ok {
				t.Fatalf("want 2 tools/call spans of service %s; got %+v\nstderr:\n%s", service, spans, g.stderr)
			}
			var okSpan, blocked *otlptest.Span
			children := map[string]int{}
			for i, s := range spans {
				if s.Service != service {
					continue
				}
				if s.Name == "tools/call echo_server__echo" {
					switch s.Attributes["enkrypt.outcome"] {
					case "ok":
						okSpan = &spans[i]
					case "blocked":
						blocked = &spans[i]
					}
				}
			}
			if okSpan == nil || blocked == nil {
				t.Fatalf("want one ok and one blocked call span, got %+v", spans)
			}
			for _, s := range spans {
				if s.ParentSpanID == okSpan.SpanID || s.ParentSpanID == blocked.SpanID {
					children[s.ParentSpanID]++
				}
			}
			if children[okSpan.SpanID] == 0 || children[blocked.SpanID] == 0 {
				t.Errorf("call spans without stage spans: ok has %d, blocked has %d", children[okSpan.SpanID], children[blocked.SpanID])
			}
			for k, want := range map[string]string{"mcp.method.name": "tools/call", "gen_ai.tool.name": "echo_server__echo", "enkrypt.server": "echo_server"} {
				if okSpan.Attributes[k] != want {
					t.Errorf("ok span %s = %q, want %q", k, okSpan.Attributes[k], want)
				}
			}
			if okSpan.Attributes["enkrypt.project.id"] == "" || okSpan.Attributes["enkrypt.user.id"] == "" {
				t.Errorf("ok span lacks the principal's ids: %v", okSpan.Attributes)
			}
			if !strings.Contains(blocked.Attributes["enkrypt.detectors"], "secrets") || blocked.Attributes["enkrypt.verdict"] != "block" {
				t.Errorf("blocked span does not name the secrets detector: %v", blocked.Attributes)
			}
			if raw := col.Raw(); bytes.Contains(raw, []byte(secretArg)) || bytes.Contains(raw, []byte(f.key)) {
				t.Error("an export holds the blocked secret or the gateway key")
			}
		})
	}
}

// TestE2ETelemetryTraceContext: a client's params._meta.traceparent is
// continued. The gateway's request span is the client span's child in the
// same trace, and the upstream (raw_hostile, which records every line it
// receives) gets a traceparent of that trace whose parent is the gateway's
// forward span.
func TestE2ETelemetryTraceContext(t *testing.T) {
	col, err := otlptest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(col.Close)
	record := filepath.Join(t.TempDir(), "received.jsonl")
	f := newFixture(t, exampleServer("raw", "raw_hostile", map[string]string{examples.EnvRecordFile: record}))
	g := startGateway(t, f, "OTEL_EXPORTER_OTLP_ENDPOINT=http://"+col.GRPCAddr)

	const traceID, clientSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := g.cs.CallTool(ctx, &mcp.CallToolParams{Name: "raw__echo", Arguments: map[string]any{"message": "hi"},
		Meta: mcp.Meta{"traceparent": "00-" + traceID + "-" + clientSpan + "-01", "tracestate": "vendor=abc"}})
	if err != nil || res.IsError {
		t.Fatalf("raw__echo: %v %v", err, res)
	}
	if err := g.cs.Close(); err != nil {
		t.Logf("close: %v", err)
	}

	// What the upstream received.
	b, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	var upstreamParent, upstreamState string
	for _, line := range strings.Split(string(b), "\n") {
		var m struct {
			Method string `json:"method"`
			Params struct {
				Meta map[string]any `json:"_meta"`
			} `json:"params"`
		}
		if json.Unmarshal([]byte(line), &m) == nil && m.Method == "tools/call" {
			upstreamParent, _ = m.Params.Meta["traceparent"].(string)
			upstreamState, _ = m.Params.Meta["tracestate"].(string)
		}
	}
	parts := strings.Split(upstreamParent, "-")
	if len(parts) != 4 || parts[1] != traceID || parts[2] == clientSpan || parts[3] != "01" {
		t.Fatalf("upstream traceparent = %q; want trace %s with the gateway's span as parent", upstreamParent, traceID)
	}
	if upstreamState != "vendor=abc" {
		t.Errorf("upstream tracestate = %q, want the client's vendor=abc", upstreamState)
	}

	// What the collector received.
	spans, ok := col.Wait(ctx, func(ss []otlptest.Span) bool {
		var req, fwd bool
		for _, s := range ss {
			req = req || (s.Name == "tools/call raw__echo" && s.TraceID == traceID)
			fwd = fwd || (s.Name == "forward" && s.TraceID == traceID)
		}
		return req && fwd
	})
	if !ok {
		t.Fatalf("no request and forward spans in trace %s: %+v\nstderr:\n%s", traceID, spans, g.stderr)
	}
	var reqSpan, fwdSpan otlptest.Span
	for _, s := range spans {
		switch {
		case s.TraceID != traceID:
		case s.Name == "tools/call raw__echo":
			reqSpan = s
		case s.Name == "forward":
			fwdSpan = s
		}
	}
	if reqSpan.ParentSpanID != clientSpan {
		t.Errorf("request span's parent = %s, want the client's span %s", reqSpan.ParentSpanID, clientSpan)
	}
	if fwdSpan.ParentSpanID != reqSpan.SpanID || fwdSpan.SpanID != parts[2] {
		t.Errorf("forward span %s (parent %s); want the upstream's parent %s under the request span %s",
			fwdSpan.SpanID, fwdSpan.ParentSpanID, parts[2], reqSpan.SpanID)
	}
}
