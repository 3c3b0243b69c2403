package telemetry

import (
	"context"
	"strconv"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"

	"secure-mcp-gateway/proxy"
)

// nopExporter satisfies the reader; the tests call Produce themselves.
type nopExporter struct{}

func (nopExporter) Temporality(k sdkmetric.InstrumentKind) metricdata.Temporality {
	return sdkmetric.DefaultTemporalitySelector(k)
}
func (nopExporter) Aggregation(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	return sdkmetric.DefaultAggregationSelector(k)
}
func (nopExporter) Export(context.Context, *metricdata.ResourceMetrics) error { return nil }
func (nopExporter) ForceFlush(context.Context) error                          { return nil }
func (nopExporter) Shutdown(context.Context) error                            { return nil }

func produced(t *testing.T, m *metrics) map[string]metricdata.Aggregation {
	t.Helper()
	sm, err := m.Produce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Aggregation{}
	for _, s := range sm {
		for _, x := range s.Metrics {
			out[x.Name] = x.Data
		}
	}
	return out
}

func TestMetricsBucketsAndOverflow(t *testing.T) {
	m, err := newMetrics(nopExporter{}, resource.Empty(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.shutdown(context.Background()) }()
	// One call of 3 ms whose input guard took 300 µs.
	m.record(&proxy.CallEvent{Method: "tools/call", Server: "s", Tool: "s__t", Outcome: proxy.OutcomeOK, Duration: 3 * time.Millisecond,
		Stages: []proxy.StageTiming{{Name: proxy.StageInputGuard, Duration: 300 * time.Microsecond}}})
	got := produced(t, m)
	op := got[MetricOperationDuration].(metricdata.Histogram[float64]).DataPoints
	if len(op) != 1 || op[0].Count != 1 {
		t.Fatalf("operation duration points %+v, want one with one call", op)
	}
	bucket := func(p metricdata.HistogramDataPoint[float64]) float64 {
		for i, n := range p.BucketCounts {
			if n > 0 {
				return p.Bounds[i]
			}
		}
		return -1
	}
	if b := bucket(op[0]); b != 0.005 {
		t.Errorf("a 3 ms call counted in the bucket ending at %gs, want 0.005s", b)
	}
	st := got[MetricStageDuration].(metricdata.Histogram[float64]).DataPoints
	if len(st) != 1 || bucket(st[0]) != 0.0005 {
		t.Errorf("a 300 µs stage: points %+v, want one in the bucket ending at 0.0005s", st)
	}

	// Made-up tool names of a real server: the series stop at the bound and
	// the rest count in one overflow series.
	for i := range maxSeries + 50 {
		m.record(&proxy.CallEvent{Method: "tools/call", Server: "s", Tool: "s__" + strconv.Itoa(i), Outcome: proxy.OutcomeToolError, Duration: time.Millisecond})
	}
	calls := produced(t, m)[MetricToolCalls].(metricdata.Sum[int64]).DataPoints
	if len(calls) > maxSeries+1 {
		t.Errorf("%d tool-call series, bound is %d plus the overflow", len(calls), maxSeries)
	}
	var total, over int64
	for _, p := range calls {
		total += p.Value
		if v, ok := p.Attributes.Value("otel.metric.overflow"); ok && v.AsBool() {
			over += p.Value
		}
	}
	if total != maxSeries+51 || over == 0 {
		t.Errorf("tool calls counted %d (overflow %d), want %d with some in the overflow series", total, over, maxSeries+51)
	}
}
