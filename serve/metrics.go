package serve

import (
	"net/http"
	"strconv"
	"time"

	"secure-mcp-gateway/internal/promtext"
	"secure-mcp-gateway/proxy"
	"secure-mcp-gateway/upstream"
)

// Metrics are the HTTP mode's Prometheus metrics (docs/METRICS.md). Labels
// never carry keys, arguments or session ids. Metrics is a proxy.Observer:
// every tool call a gateway reports becomes a count and a latency sample.
type Metrics struct {
	reg      *promtext.Registry
	requests *promtext.CounterVec
	latency  *promtext.HistogramVec
	sessions *promtext.Gauge
	resumed  *promtext.Counter
	resent   *promtext.Counter
	evicted  *promtext.CounterVec
	procs    *promtext.Gauge
	calls    *promtext.CounterVec
	callTime *promtext.HistogramVec
	stage    *promtext.HistogramVec
	violate  *promtext.CounterVec
	upstream *promtext.CounterVec
}

var _ proxy.Observer = (*Metrics)(nil)

// NewMetrics registers the gateway's series and the Go runtime's in a new
// registry.
func NewMetrics() *Metrics {
	reg := promtext.NewRegistry()
	m := &Metrics{
		reg: reg,
		requests: reg.NewCounterVec("smg_http_requests_total",
			"HTTP requests to the MCP endpoint, by method and status code.", "method", "code"),
		latency: reg.NewHistogramVec("smg_http_request_duration_seconds",
			"Latency of HTTP requests to the MCP endpoint.", promtext.ExponentialBuckets(0.0005, 2, 16), "method"),
		sessions: reg.NewGauge("smg_sessions_open", "Open MCP sessions."),
		resumed: reg.NewCounter("smg_sessions_resumed_total",
			"Sessions another replica opened, re-created here from their state in Redis (the first replica died or the balancer moved the client)."),
		resent: reg.NewCounter("smg_tool_calls_resent_total",
			"Tool calls refused because their request id had reached a replica before (a balancer's retry after a replica died): they may have run, and are not run twice."),
		evicted: reg.NewCounterVec("smg_sessions_evicted_total",
			"Idle MCP sessions closed to make room for a new one, by the cap that was reached (per_key, sessions, upstream_processes).", "reason"),
		procs: reg.NewGauge("smg_upstream_process_slots", "Upstream processes the open sessions may run (their stdio servers), counted against --max-upstream-processes."),
		calls: reg.NewCounterVec("smg_tool_calls_total",
			"Tool calls by server, tool and outcome (ok, tool_error, blocked, unavailable, timeout, rpc_error).", "server", "tool", "outcome"),
		callTime: reg.NewHistogramVec("smg_tool_call_duration_seconds",
			"Latency of tool calls through the gateway, by server.", promtext.ExponentialBuckets(0.0001, 2, 20), "server"),
		stage: reg.NewHistogramVec("smg_stage_duration_seconds",
			"Time spent in each named stage of the call pipeline.", promtext.ExponentialBuckets(0.00005, 2, 20), "stage"),
		violate: reg.NewCounterVec("smg_guard_violations_total",
			"Guardrail violations by stage (input, output, definition), detector and action (block, redact, warn).", "stage", "detector", "action"),
		upstream: reg.NewCounterVec("smg_upstream_events_total",
			"Upstream server lifecycle events by server: started, start_failed, exited (an unexpected exit; the next call restarts it).", "server", "event"),
	}
	reg.RegisterRuntime()
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return m.reg.Handler()
}

// Count wraps next, counting requests and their latency.
func (m *Metrics) Count(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r)
		m.requests.WithLabelValues(r.Method, strconv.Itoa(sw.code)).Inc()
		m.latency.WithLabelValues(r.Method).Observe(time.Since(start).Seconds())
	})
}

// ObserveCall records one tool call's outcome and latency.
func (m *Metrics) ObserveCall(ev *proxy.CallEvent) {
	tool := ev.Tool
	if ev.Server == "" {
		tool = "" // a name the client made up: not a label value
	}
	if ev.Method == "" || ev.Method == "tools/call" {
		m.calls.WithLabelValues(ev.Server, tool, ev.Outcome).Inc()
		m.callTime.WithLabelValues(ev.Server).Observe(ev.Duration.Seconds())
	}
	for _, st := range ev.Stages {
		m.stage.WithLabelValues(st.Name).Observe(st.Duration.Seconds())
	}
	for _, v := range ev.Verdicts {
		for _, x := range v.Violations {
			m.violate.WithLabelValues(x.Stage, x.Detector, x.Action).Inc()
		}
	}
}

// UpstreamEvent counts one upstream start, failed start or exit.
func (m *Metrics) UpstreamEvent(ev upstream.Event) {
	m.upstream.WithLabelValues(ev.Server, ev.Kind).Inc()
}

// SessionOpened and SessionClosed track the open-sessions gauge.
func (m *Metrics) SessionOpened() { m.sessions.Inc() }

// SessionResumed counts a session of another replica re-created here.
func (m *Metrics) SessionResumed() { m.resumed.Inc() }

// CallResent counts a tool call refused as a resend of one that may have run.
func (m *Metrics) CallResent() { m.resent.Inc() }

// SessionClosed decrements the open-sessions gauge.
func (m *Metrics) SessionClosed() { m.sessions.Dec() }

// Evicted counts one idle session closed for reason (per_key, sessions,
// upstream_processes).
func (m *Metrics) Evicted(reason string) { m.evicted.WithLabelValues(reason).Inc() }

// SetProcessSlots sets the upstream-process-slots gauge.
func (m *Metrics) SetProcessSlots(n int) { m.procs.Set(float64(n)) }

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
