package telemetry

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
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
// next to the traces.
type metrics struct {
	mp         *sdkmetric.MeterProvider
	opDuration metric.Float64Histogram
	calls      metric.Int64Counter
	stage      metric.Float64Histogram
	violations metric.Int64Counter
	stageSets  sync.Map // stage name → metric.MeasurementOption, built once
	labels     map[labelKey]*labelSets
}

// maxLabelSets bounds the cache of attribute sets built for
// (method, server, tool, outcome) label values.
const maxLabelSets = 4096

// labelKey is what the operation-duration and tool-call series are
// labelled by.
type labelKey struct{ method, tool, server, outcome, errType string }

// labelSets are the attribute sets of one labelKey, built once: building
// a set sorts and copies its attributes, which is most of what a
// measurement costs.
type labelSets struct{ op, calls metric.MeasurementOption }

// stageAttrs is the attribute option of one stage, built once per name.
func (m *metrics) stageAttrs(name string) metric.MeasurementOption {
	if o, ok := m.stageSets.Load(name); ok {
		return o.(metric.MeasurementOption)
	}
	o := metric.WithAttributeSet(attribute.NewSet(attribute.String("stage", name)))
	m.stageSets.Store(name, o)
	return o
}

func newMetrics(exp sdkmetric.Exporter, res *resource.Resource, interval time.Duration) (*metrics, error) {
	var ro []sdkmetric.PeriodicReaderOption
	if interval > 0 {
		ro = append(ro, sdkmetric.WithInterval(interval))
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, ro...)))
	m := &metrics{mp: mp, labels: map[labelKey]*labelSets{}}
	meter := mp.Meter("secure-mcp-gateway")
	var err error
	if m.opDuration, err = meter.Float64Histogram(MetricOperationDuration, metric.WithUnit("s"),
		metric.WithDescription("Duration of the MCP requests the gateway served.")); err != nil {
		return nil, fmt.Errorf("telemetry metric %s: %w", MetricOperationDuration, err)
	}
	if m.calls, err = meter.Int64Counter(MetricToolCalls, metric.WithUnit("{call}"),
		metric.WithDescription("Tool calls by server, tool and outcome (smg_tool_calls_total).")); err != nil {
		return nil, fmt.Errorf("telemetry metric %s: %w", MetricToolCalls, err)
	}
	if m.stage, err = meter.Float64Histogram(MetricStageDuration, metric.WithUnit("s"),
		metric.WithDescription("Duration of each call pipeline stage (smg_stage_duration_seconds).")); err != nil {
		return nil, fmt.Errorf("telemetry metric %s: %w", MetricStageDuration, err)
	}
	if m.violations, err = meter.Int64Counter(MetricViolations, metric.WithUnit("{violation}"),
		metric.WithDescription("Guardrail violations by stage, detector and action (smg_guard_violations_total).")); err != nil {
		return nil, fmt.Errorf("telemetry metric %s: %w", MetricViolations, err)
	}
	return m, nil
}

// record adds one event; spanAttrs are its span's attributes, of which the
// low-cardinality ones label the operation duration. It runs on the one
// goroutine that turns events into spans, so its attribute-set cache needs
// no lock.
func (m *metrics) record(ctx context.Context, ev *proxy.CallEvent) {
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
	o := m.labels[k]
	if o == nil {
		if len(m.labels) >= maxLabelSets {
			clear(m.labels) // bounded: a churn of names rebuilds sets, never grows memory
		}
		op := []attribute.KeyValue{semconv.McpMethodNameKey.String(method), AttrServer.String(ev.Server)}
		if tool != "" {
			op = append(op, semconv.GenAIToolName(tool))
		}
		if errType != "" {
			op = append(op, semconv.ErrorTypeKey.String(errType))
		}
		o = &labelSets{
			op:    metric.WithAttributeSet(attribute.NewSet(op...)),
			calls: metric.WithAttributeSet(attribute.NewSet(AttrServer.String(ev.Server), semconv.GenAIToolName(tool), AttrOutcome.String(ev.Outcome))),
		}
		m.labels[k] = o
	}
	m.opDuration.Record(ctx, ev.Duration.Seconds(), o.op)
	if method == "tools/call" {
		m.calls.Add(ctx, 1, o.calls)
	}
	for _, st := range ev.Stages {
		m.stage.Record(ctx, st.Duration.Seconds(), m.stageAttrs(st.Name))
	}
	for _, v := range ev.Verdicts {
		for _, x := range v.Violations {
			m.violations.Add(ctx, 1, metric.WithAttributes(attribute.String("stage", x.Stage),
				attribute.String("detector", x.Detector), attribute.String("action", x.Action)))
		}
	}
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
