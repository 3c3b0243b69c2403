package telemetry_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"secure-mcp-gateway/guard"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/proxy"
	"secure-mcp-gateway/telemetry"
	"secure-mcp-gateway/telemetry/otlptest"
)

const secretArg = "sk-live-SHOULD-NEVER-BE-EXPORTED"

func event(start time.Time) *proxy.CallEvent {
	return &proxy.CallEvent{
		Method: "tools/call", Project: "p1", User: "u1", MCPConfig: "c1", SessionID: "s1",
		Server: "echo_server", Tool: "echo_server__echo", Start: start, Duration: 30 * time.Millisecond,
		Stages: []proxy.StageTiming{
			{Name: proxy.StageAuthorise, Duration: time.Millisecond},
			{Name: proxy.StageInputGuard, Duration: 4 * time.Millisecond},
			{Name: proxy.StageForward, Duration: 20 * time.Millisecond},
			{Name: proxy.StageOutputGuard, Duration: 5 * time.Millisecond},
		},
		Verdicts: []guard.Verdict{{Violations: []guard.Violation{{Stage: "input", Detector: "pii", Action: guard.ActionRedact}}}},
		ArgBytes: 42, ResultBytes: 17, ArgSHA256: "ab", Outcome: proxy.OutcomeOK,
		Err: secretArg, // an error text never reaches a span, even when it carries a value
	}
}

func getenv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func start(t *testing.T, s config.Telemetry, log *zerolog.Logger) *telemetry.Tracing {
	t.Helper()
	tr, err := telemetry.Start(context.Background(), telemetry.Options{Settings: s, Logger: log, Version: "test",
		ExportTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if tr == nil {
		t.Fatal("Start returned nil with tracing enabled")
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = tr.Shutdown(ctx)
	})
	return tr
}

// TestExportsSpans sends one call event through each protocol to a real
// OTLP receiver and checks the span tree, its attributes and timings, the
// continued client trace, and that no value left the process.
func TestExportsSpans(t *testing.T) {
	col, err := otlptest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer col.Close()
	cases := []struct {
		name string
		s    config.Telemetry
		env  map[string]string
	}{
		{"grpc from config", config.Telemetry{Enabled: true, URL: "http://" + col.GRPCAddr, Insecure: true}, nil},
		{"http from config", config.Telemetry{Enabled: true, URL: col.HTTPURL, Protocol: config.TelemetryHTTP}, nil},
		{"grpc from env", config.Telemetry{}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + col.GRPCAddr, "OTEL_SERVICE_NAME": "gw-env"}},
		{"http from env", config.Telemetry{}, map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": col.HTTPURL,
			"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": strings.TrimSuffix(col.HTTPURL, "traces") + "metrics", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The exporters read OTEL_EXPORTER_OTLP_* themselves, from the
			// process environment.
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			tr := start(t, tc.s, nil)
			traceID := strings.Repeat("0", 31) + string(rune('1'+i))
			ev := event(time.Now())
			ev.TraceParent = "00-" + traceID + "-00f067aa0ba902b7-01"
			tr.ObserveCall(ev)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// The event becomes spans on the tracer's goroutine: flush until
			// they have left.
			spans, ok := col.Wait(ctx, func(s []otlptest.Span) bool {
				if len(inTrace(s, traceID)) >= 4 {
					return true
				}
				fctx, fcancel := context.WithTimeout(ctx, 100*time.Millisecond)
				defer fcancel()
				_ = tr.Flush(fctx)
				return len(inTrace(col.Spans(), traceID)) >= 4
			})
			if !ok {
				t.Fatalf("collector got %d spans of trace %s, want 4", len(inTrace(spans, traceID)), traceID)
			}
			mine := inTrace(col.Spans(), traceID)
			root := mine["tools/call echo_server__echo"]
			if root.ParentSpanID != "00f067aa0ba902b7" {
				t.Errorf("root parent = %q, want the client's span 00f067aa0ba902b7", root.ParentSpanID)
			}
			want := map[string]string{
				"mcp.method.name": "tools/call", "gen_ai.tool.name": "echo_server__echo", "gen_ai.operation.name": "execute_tool",
				"mcp.session.id": "s1", "enkrypt.project.id": "p1", "enkrypt.user.id": "u1", "enkrypt.server": "echo_server",
				"enkrypt.outcome": "ok", "enkrypt.verdict": "redact", "enkrypt.detectors": "input:pii:redact",
				"enkrypt.arguments.bytes": "42",
			}
			for k, v := range want {
				if root.Attributes[k] != v {
					t.Errorf("attribute %s = %q, want %q", k, root.Attributes[k], v)
				}
			}
			if got := root.EndNanos - root.StartNanos; got != uint64(30*time.Millisecond) {
				t.Errorf("root duration = %d ns, want 30ms", got)
			}
			at := root.StartNanos
			for _, st := range ev.Stages {
				s, ok := mine[st.Name]
				if st.Name == proxy.StageAuthorise {
					if ok {
						t.Errorf("the authorise stage has a span of its own")
					}
					at += uint64(st.Duration)
					continue
				}
				if !ok {
					t.Errorf("no span for stage %q", st.Name)
					continue
				}
				if s.ParentSpanID != root.SpanID {
					t.Errorf("stage %q parent = %s, want the request span %s", st.Name, s.ParentSpanID, root.SpanID)
				}
				if s.StartNanos != at || s.EndNanos-s.StartNanos != uint64(st.Duration) {
					t.Errorf("stage %q runs [%d,+%d], want [%d,+%d]", st.Name, s.StartNanos, s.EndNanos-s.StartNanos, at, st.Duration)
				}
				at += uint64(st.Duration)
			}
			if tc.env["OTEL_SERVICE_NAME"] != "" && root.Service != tc.env["OTEL_SERVICE_NAME"] {
				t.Errorf("service.name = %q, want %q", root.Service, tc.env["OTEL_SERVICE_NAME"])
			} else if tc.env["OTEL_SERVICE_NAME"] == "" && root.Service != config.DefaultTelemetryServiceName {
				t.Errorf("service.name = %q, want %q", root.Service, config.DefaultTelemetryServiceName)
			}
			if bytes.Contains(col.Raw(), []byte(secretArg)) {
				t.Error("an exported span holds the event's error text")
			}
			// The same event as OTel metrics: the event was recorded when its
			// spans ended, so this flush carries it.
			if err := tr.Flush(ctx); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			wantPoints := []otlptest.Point{
				{Metric: telemetry.MetricToolCalls, Attributes: map[string]string{"enkrypt.server": "echo_server", "gen_ai.tool.name": "echo_server__echo", "enkrypt.outcome": "ok"}},
				{Metric: telemetry.MetricOperationDuration, Attributes: map[string]string{"mcp.method.name": "tools/call", "gen_ai.tool.name": "echo_server__echo"}},
				{Metric: telemetry.MetricStageDuration, Attributes: map[string]string{"stage": proxy.StageForward}},
				{Metric: telemetry.MetricViolations, Attributes: map[string]string{"stage": "input", "detector": "pii", "action": "redact"}},
			}
			points, ok := col.WaitPoints(ctx, func(ps []otlptest.Point) bool {
				for _, w := range wantPoints {
					if !hasPoint(ps, w) {
						return false
					}
				}
				return true
			})
			if !ok {
				t.Fatalf("metric points %+v, want each of %+v", points, wantPoints)
			}
		})
	}
}

func hasPoint(ps []otlptest.Point, want otlptest.Point) bool {
	for _, p := range ps {
		if p.Metric != want.Metric || p.Value < 1 {
			continue
		}
		match := true
		for k, v := range want.Attributes {
			if p.Attributes[k] != v {
				match = false
			}
		}
		if match {
			return true
		}
	}
	return false
}

func inTrace(spans []otlptest.Span, traceID string) map[string]otlptest.Span {
	m := map[string]otlptest.Span{}
	for _, s := range spans {
		if s.TraceID == traceID {
			m[s.Name] = s
		}
	}
	return m
}

// TestEnabled covers the switches: the config block, the standard
// environment, and the environment's off switches.
func TestEnabled(t *testing.T) {
	cases := []struct {
		name string
		s    config.Telemetry
		env  map[string]string
		want bool
	}{
		{"nothing", config.Telemetry{}, nil, false},
		{"config", config.Telemetry{Enabled: true}, nil, true},
		{"env endpoint", config.Telemetry{}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4317"}, true},
		{"env traces endpoint", config.Telemetry{}, map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://x:4318/v1/traces"}, true},
		{"sdk disabled", config.Telemetry{Enabled: true}, map[string]string{"OTEL_SDK_DISABLED": "true"}, false},
		{"exporter none", config.Telemetry{Enabled: true}, map[string]string{"OTEL_TRACES_EXPORTER": "none"}, false},
	}
	for _, tc := range cases {
		if got := telemetry.Enabled(tc.s, getenv(tc.env)); got != tc.want {
			t.Errorf("%s: Enabled = %v, want %v", tc.name, got, tc.want)
		}
	}
	tr, err := telemetry.Start(context.Background(), telemetry.Options{Getenv: getenv(nil)})
	if tr != nil || err != nil {
		t.Errorf("Start with tracing off = %v, %v; want nil, nil", tr, err)
	}
}

// syncBuffer is a log sink the SDK's goroutines may write to; waiters
// learn of every write.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
	return s.b.Write(p)
}

// waitFor blocks until the buffer holds sub or ctx ends.
func (s *syncBuffer) waitFor(ctx context.Context, sub string) bool {
	for {
		s.mu.Lock()
		if strings.Contains(s.b.String(), sub) {
			s.mu.Unlock()
			return true
		}
		if s.changed == nil {
			s.changed = make(chan struct{})
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestUnreachableCollector floods a tracer whose collector does not
// answer: ObserveCall never blocks, the overflow is counted, the failure
// costs one log line, and Shutdown returns within its deadline.
func TestUnreachableCollector(t *testing.T) {
	var buf syncBuffer
	log := zerolog.New(&buf)
	tr, err := telemetry.Start(context.Background(), telemetry.Options{
		Settings: config.Telemetry{Enabled: true, URL: "http://127.0.0.1:1", Insecure: true},
		Getenv:   getenv(nil), Logger: &log, QueueSize: 8, ExportTimeout: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20000
	now := time.Now()
	for range n {
		tr.ObserveCall(event(now))
	}
	if tr.Dropped() == 0 {
		t.Errorf("no event dropped out of %d with a queue of 8 and a dead collector", n)
	}
	// The flood fills whole batches, whose failed exports the SDK reports.
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	if !buf.waitFor(wctx, "trace export failed") {
		t.Fatalf("no export failure logged:\n%s", buf.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = tr.Shutdown(ctx)
	if ctx.Err() != nil {
		t.Error("Shutdown overran its deadline")
	}
	if got := strings.Count(buf.String(), "trace export failed"); got != 1 {
		t.Errorf("export failures logged %d times, want once:\n%s", got, buf.String())
	}
	tr.ObserveCall(event(now)) // after shutdown: dropped, no panic
}

// BenchmarkObserveCall is what a call pays for tracing: handing its event
// to the queue.
func BenchmarkObserveCall(b *testing.B) {
	col, err := otlptest.Start()
	if err != nil {
		b.Fatal(err)
	}
	defer col.Close()
	tr, err := telemetry.Start(context.Background(), telemetry.Options{
		Settings: config.Telemetry{Enabled: true, URL: "http://" + col.GRPCAddr, Insecure: true}, Getenv: getenv(nil),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = tr.Shutdown(context.Background()) }()
	ev := event(time.Now())
	b.ReportAllocs()
	for b.Loop() {
		tr.ObserveCall(ev)
	}
	b.ReportMetric(float64(tr.Dropped()), "dropped")
}

// BenchmarkExport is the whole cost of one event off the call path: queue,
// five spans, batching, protobuf and an OTLP/gRPC export to a local
// receiver, with nothing dropped; the flush at the end is timed too.
func BenchmarkExport(b *testing.B) {
	col, err := otlptest.Start()
	if err != nil {
		b.Fatal(err)
	}
	defer col.Close()
	tr, err := telemetry.Start(context.Background(), telemetry.Options{
		Settings: config.Telemetry{Enabled: true, URL: "http://" + col.GRPCAddr, Insecure: true}, Getenv: getenv(nil),
		QueueSize: b.N + 1,
	})
	if err != nil {
		b.Fatal(err)
	}
	ev := event(time.Now())
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		tr.ObserveCall(ev)
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if tr.Dropped() != 0 {
		b.Fatalf("%d events dropped", tr.Dropped())
	}
}
