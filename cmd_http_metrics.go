package main

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// gatewayMetrics are the HTTP mode's Prometheus metrics. Labels never carry
// keys, arguments or session ids.
type gatewayMetrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	sessions prometheus.Gauge
	calls    *prometheus.CounterVec
	callTime *prometheus.HistogramVec
}

func newGatewayMetrics() *gatewayMetrics {
	m := &gatewayMetrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smg_http_requests_total", Help: "HTTP requests to the MCP endpoint, by method and status code.",
		}, []string{"method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "smg_http_request_duration_seconds", Help: "Latency of HTTP requests to the MCP endpoint.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"method"}),
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "smg_sessions_open", Help: "Open MCP sessions.",
		}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smg_tool_calls_total", Help: "Tool calls by server, tool and outcome (ok, tool_error, blocked, unavailable, timeout, rpc_error).",
		}, []string{"server", "tool", "outcome"}),
		callTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "smg_tool_call_duration_seconds", Help: "Latency of tool calls through the gateway, by server.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 20),
		}, []string{"server"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.sessions, m.calls, m.callTime,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *gatewayMetrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
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
