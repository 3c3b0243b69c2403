package main

import (
	"net/http"
	"strconv"
	"time"

	"secure-mcp-gateway/internal/promtext"
)

// gatewayMetrics are the HTTP mode's Prometheus metrics. Labels never carry
// keys, arguments or session ids.
type gatewayMetrics struct {
	reg      *promtext.Registry
	requests *promtext.CounterVec
	latency  *promtext.HistogramVec
	sessions *promtext.Gauge
	evicted  *promtext.CounterVec
	procs    *promtext.Gauge
	calls    *promtext.CounterVec
	callTime *promtext.HistogramVec
}

func newGatewayMetrics() *gatewayMetrics {
	reg := promtext.NewRegistry()
	m := &gatewayMetrics{
		reg: reg,
		requests: reg.NewCounterVec("smg_http_requests_total",
			"HTTP requests to the MCP endpoint, by method and status code.", "method", "code"),
		latency: reg.NewHistogramVec("smg_http_request_duration_seconds",
			"Latency of HTTP requests to the MCP endpoint.", promtext.ExponentialBuckets(0.0005, 2, 16), "method"),
		sessions: reg.NewGauge("smg_sessions_open", "Open MCP sessions."),
		evicted: reg.NewCounterVec("smg_sessions_evicted_total",
			"Idle MCP sessions closed to make room for a new one, by the cap that was reached (per_key, sessions, upstream_processes).", "reason"),
		procs: reg.NewGauge("smg_upstream_process_slots", "Upstream processes the open sessions may run (their stdio servers), counted against --max-upstream-processes."),
		calls: reg.NewCounterVec("smg_tool_calls_total",
			"Tool calls by server, tool and outcome (ok, tool_error, blocked, unavailable, timeout, rpc_error).", "server", "tool", "outcome"),
		callTime: reg.NewHistogramVec("smg_tool_call_duration_seconds",
			"Latency of tool calls through the gateway, by server.", promtext.ExponentialBuckets(0.0001, 2, 20), "server"),
	}
	reg.RegisterRuntime()
	return m
}

func (m *gatewayMetrics) handler() http.Handler {
	return m.reg.Handler()
}

// count wraps next, counting requests and their latency.
func (m *gatewayMetrics) count(_ string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r)
		m.requests.WithLabelValues(r.Method, strconv.Itoa(sw.code)).Inc()
		m.latency.WithLabelValues(r.Method).Observe(time.Since(start).Seconds())
	})
}

// observeCall records one tool call's outcome.
func (m *gatewayMetrics) observeCall(server, tool, outcome string, d time.Duration) {
	if server == "" {
		tool = "" // a name the client made up: not a label value
	}
	m.calls.WithLabelValues(server, tool, outcome).Inc()
	m.callTime.WithLabelValues(server).Observe(d.Seconds())
}

// statusWriter remembers the status code; it passes Flush through so that
// SSE streams keep working.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
