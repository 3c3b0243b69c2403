package telemetry

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"

	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/proxy"
)

// Names of the OpenTelemetry metrics, beside the semantic conventions'
// mcp.server.operation.duration.
const (
	MetricOperationDuration = "mcp.server.operation.duration"
	MetricToolCalls         = "enkrypt.tool.calls"
	MetricStageDuration     = "enkrypt.stage.duration"
	MetricViolations        = "enkrypt.guard.violations"
)

// metrics are the OTel twins of the /metrics series, exported over OTLP
// next to the traces. They are aggregated here, on the goroutine that
// turns events into spans, and handed to the SDK's periodic reader as a
// producer at each export: a measurement through the SDK's instruments
// looks its series up by attribute set under a lock, which cost more per
// call than all of this.
type metrics struct {
	mp    *sdkmetric.MeterProvider
	start time.Time

	mu         sync.Mutex
	opDuration map[labelKey]*histogram
	calls      map[labelKey]*counter
	stage      map[string]*histogram
	violations map[[3]string]*counter
}

// maxSeries bounds each metric's series; past it new label values count in
// one overflow series (otel.metric.overflow=true), as the SDK's own
// cardinality limit does.
const maxSeries = 2000

// durationBounds are the histogram buckets of every duration, in seconds:
// those the MCP semantic conventions give for mcp.server.operation.duration,
// below which the guard stages' sub-millisecond times get buckets of their
// own.
var durationBounds = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300}

// labelKey is what the operation-duration and tool-call series are
// labelled by.
type labelKey struct{ method, tool, server, outcome, errType string }

var overflow = attribute.NewSet(attribute.Bool("otel.metric.overflow", true))

type histogram struct {
	attrs    attribute.Set
	count    uint64
	sum      float64
	min, max float64
	buckets  []uint64 // len(durationBounds)+1
}

func (h *histogram) add(v float64) {
	if h.count == 0 || v < h.min {
		h.min = v
	}
	if h.count == 0 || v > h.max {
		h.max = v
	}
	h.count++
	h.sum += v
	i := 0
	for i < len(durationBounds) && v > durationBounds[i] {
		i++
	}
	h.buckets[i]++
}

type counter struct {
	attrs attribute.Set
	value int64
}

// series finds key's series in m, making it with attrs() when it is new,
// or the overflow series when m is full.
func series[K comparable, V any](m map[K]*V, key K, attrs func() attribute.Set, mk func(attribute.Set) *V) *V {
	if v, ok := m[key]; ok {
		return v
	}
	var zero K
	if len(m) >= maxSeries {
		key = zero // the overflow series lives under the zero key
		if v, ok := m[key]; ok {
			return v
		}
		v := mk(overflow)
		m[key] = v
		return v
	}
	v := mk(attrs())
	m[key] = v
	return v
}

func newHistogram(a attribute.Set) *histogram {
	return &histogram{attrs: a, buckets: make([]uint64, len(durationBounds)+1)}
}

func newCounter(a attribute.Set) *counter { return &counter{attrs: a} }

func newMetrics(exp sdkmetric.Exporter, res *resource.Resource, interval time.Duration) (*metrics, error) {
	m := &metrics{
		start: time.Now(), opDuration: map[labelKey]*histogram{}, calls: map[labelKey]*counter{},
		stage: map[string]*histogram{}, violations: map[[3]string]*counter{},
	}
	ro := []sdkmetric.PeriodicReaderOption{sdkmetric.WithProducer(m)}
	if interval > 0 {
		ro = append(ro, sdkmetric.WithInterval(interval))
	}
	m.mp = sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, ro...)))
	return m, nil
}

// record adds one event. It runs on the one goroutine that turns events
// into spans; the lock is for the reader's Produce.
func (m *metrics) record(ev *proxy.CallEvent) {
	method := firstNonEmpty(ev.Method, "tools/call")
	tool := ""
	if method == "tools/call" && ev.Server != "" {
		tool = ev.Tool // a name the client made up (no server) is not a label value
	}
	errType := ""
	if ev.Outcome != "" && ev.Outcome != proxy.OutcomeOK {
		errType = ev.Outcome
	}
	k := labelKey{method: method, tool: tool, server: ev.Server, outcome: ev.Outcome, errType: errType}
	m.mu.Lock()
	defer m.mu.Unlock()
	op := m.opDuration[k]
	if op == nil {
		op = series(m.opDuration, k, func() attribute.Set {
			a := []attribute.KeyValue{semconv.McpMethodNameKey.String(method), AttrServer.String(ev.Server)}
			if tool != "" {
				a = append(a, semconv.GenAIToolName(tool))
			}
			if errType != "" {
				a = append(a, semconv.ErrorTypeKey.String(errType))
			}
			return attribute.NewSet(a...)
		}, newHistogram)
	}
	op.add(ev.Duration.Seconds())
	if method == "tools/call" {
		ck := labelKey{tool: tool, server: ev.Server, outcome: ev.Outcome}
		c := m.calls[ck]
		if c == nil {
			c = series(m.calls, ck, func() attribute.Set {
				return attribute.NewSet(AttrServer.String(ev.Server), semconv.GenAIToolName(tool), AttrOutcome.String(ev.Outcome))
			}, newCounter)
		}
		c.value++
	}
	for _, st := range ev.Stages {
		h := m.stage[st.Name]
		if h == nil {
			h = series(m.stage, st.Name, func() attribute.Set { return attribute.NewSet(attribute.String("stage", st.Name)) }, newHistogram)
		}
		h.add(st.Duration.Seconds())
	}
	for _, v := range ev.Verdicts {
		for _, x := range v.Violations {
			vk := [3]string{x.Stage, x.Detector, x.Action}
			series(m.violations, vk, func() attribute.Set {
				return attribute.NewSet(attribute.String("stage", x.Stage), attribute.String("detector", x.Detector), attribute.String("action", x.Action))
			}, newCounter).value++
		}
	}
}

// Produce implements sdkmetric.Producer: the metrics as they stand, with
// cumulative temporality since the gateway started.
func (m *metrics) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	histo := func(name, desc string, hs []*histogram) metricdata.Metrics {
		pts := make([]metricdata.HistogramDataPoint[float64], 0, len(hs))
		for _, h := range hs {
			pts = append(pts, metricdata.HistogramDataPoint[float64]{
				Attributes: h.attrs, StartTime: m.start, Time: now, Count: h.count, Sum: h.sum,
				Bounds: durationBounds, BucketCounts: slices.Clone(h.buckets),
				Min: metricdata.NewExtrema(h.min), Max: metricdata.NewExtrema(h.max),
			})
		}
		return metricdata.Metrics{Name: name, Description: desc, Unit: "s",
			Data: metricdata.Histogram[float64]{DataPoints: pts, Temporality: metricdata.CumulativeTemporality}}
	}
	sum := func(name, desc, unit string, cs []*counter) metricdata.Metrics {
		pts := make([]metricdata.DataPoint[int64], 0, len(cs))
		for _, c := range cs {
			pts = append(pts, metricdata.DataPoint[int64]{Attributes: c.attrs, StartTime: m.start, Time: now, Value: c.value})
		}
		return metricdata.Metrics{Name: name, Description: desc, Unit: unit,
			Data: metricdata.Sum[int64]{DataPoints: pts, Temporality: metricdata.CumulativeTemporality, IsMonotonic: true}}
	}
	var out []metricdata.Metrics
	if len(m.opDuration) > 0 {
		out = append(out, histo(MetricOperationDuration, "Duration of the MCP requests the gateway served.", slices.Collect(maps.Values(m.opDuration))))
	}
	if len(m.calls) > 0 {
		out = append(out, sum(MetricToolCalls, "Tool calls by server, tool and outcome (smg_tool_calls_total).", "{call}", slices.Collect(maps.Values(m.calls))))
	}
	if len(m.stage) > 0 {
		out = append(out, histo(MetricStageDuration, "Duration of each call pipeline stage (smg_stage_duration_seconds).", slices.Collect(maps.Values(m.stage))))
	}
	if len(m.violations) > 0 {
		out = append(out, sum(MetricViolations, "Guardrail violations by stage, detector and action (smg_guard_violations_total).", "{violation}", slices.Collect(maps.Values(m.violations))))
	}
	if len(out) == 0 {
		return nil, nil
	}
	return []metricdata.ScopeMetrics{{Scope: instrumentation.Scope{Name: "secure-mcp-gateway"}, Metrics: out}}, nil
}

func (m *metrics) flush(ctx context.Context) error    { return m.mp.ForceFlush(ctx) }
func (m *metrics) shutdown(ctx context.Context) error { return m.mp.Shutdown(ctx) }

func newMetricExporter(ctx context.Context, protocol, endpoint string, insecure bool, timeout time.Duration) (sdkmetric.Exporter, error) {
	switch protocol {
	case config.TelemetryGRPC:
		o := []otlpmetricgrpc.Option{otlpmetricgrpc.WithTimeout(timeout)}
		if endpoint != "" {
			o = append(o, otlpmetricgrpc.WithEndpointURL(endpoint))
		}
		if insecure {
			o = append(o, otlpmetricgrpc.WithInsecure())
		}
		e, err := otlpmetricgrpc.New(ctx, o...)
		if err != nil {
			return nil, fmt.Errorf("telemetry metric exporter (grpc %s): %w", endpoint, err)
		}
		return e, nil
	default: // newExporter has refused any other protocol already
		o := []otlpmetrichttp.Option{otlpmetrichttp.WithTimeout(timeout)}
		if endpoint != "" {
			o = append(o, otlpmetrichttp.WithEndpointURL(endpoint))
		}
		if insecure {
			o = append(o, otlpmetrichttp.WithInsecure())
		}
		e, err := otlpmetrichttp.New(ctx, o...)
		if err != nil {
			return nil, fmt.Errorf("telemetry metric exporter (http/protobuf %s): %w", endpoint, err)
		}
		return e, nil
	}
}
