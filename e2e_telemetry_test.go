package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

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
