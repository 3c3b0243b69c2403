// Package telemetry exports OpenTelemetry traces of the requests the gateway
// handles. It is an observer of the proxy's call-event stream: every
// proxy.CallEvent becomes one span per request with a child span per
// pipeline stage, built after the response is decided, so tracing never
// reaches back into a call nor slows it. It never records argument or
// result values, keys or error texts; only names, ids, sizes, timings and
// verdicts.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"

	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/proxy"
)

// Defaults for Options fields left zero.
const (
	// DefaultQueueSize bounds the call events waiting to become spans;
	// beyond it events are dropped and counted.
	DefaultQueueSize = 4096
	// DefaultExportTimeout bounds one export to the collector.
	DefaultExportTimeout = 5 * time.Second
	// DefaultErrorInterval is the least time between two log lines about a
	// failing collector.
	DefaultErrorInterval = 5 * time.Minute
)

// Options configures Start.
type Options struct {
	// Settings is the decoded plugins.telemetry block.
	Settings config.Telemetry
	// Version is the service.version resource; empty means none.
	Version string
	// Logger receives the few lines tracing writes (start, collector
	// failures); nil means none.
	Logger *zerolog.Logger
	// QueueSize bounds the events waiting to become spans; zero means
	// DefaultQueueSize.
	QueueSize int
	// ExportTimeout bounds one export; zero means DefaultExportTimeout.
	ExportTimeout time.Duration
	// MetricInterval is how often metrics are exported; zero means
	// OTEL_METRIC_EXPORT_INTERVAL, else 60 s.
	MetricInterval time.Duration
	// Getenv reads the OTEL_* environment; nil means os.Getenv.
	Getenv func(string) string
}

// Enabled reports whether tracing is on: the config block's enabled, or an
// OTLP endpoint in the standard environment, unless OTEL_SDK_DISABLED is
// true or OTEL_TRACES_EXPORTER is none.
func Enabled(s config.Telemetry, getenv func(string) string) bool {
	if getenv == nil {
		getenv = os.Getenv
	}
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") || strings.EqualFold(getenv("OTEL_TRACES_EXPORTER"), "none") {
		return false
	}
	return s.Enabled || getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Tracing turns call events into spans and exports them. It is a
// proxy.Observer; ObserveCall never blocks.
type Tracing struct {
	tp       *sdktrace.TracerProvider
	tracer   trace.Tracer
	events   chan *proxy.CallEvent
	done     chan struct{}
	drained  chan struct{} // closed when run has turned every queued event into spans
	dropped  atomic.Uint64
	metrics  *metrics // nil when OTEL_METRICS_EXPORTER is none
	endpoint string
	protocol string
	once     sync.Once
}

var _ proxy.Observer = (*Tracing)(nil)

// Start builds the exporter and the span pipeline. It returns nil, nil when
// tracing is off (see Enabled). It does not dial: an unreachable collector
// shows later as one log line per DefaultErrorInterval, never as a stall.
func Start(ctx context.Context, opts Options) (*Tracing, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	s := opts.Settings
	if !Enabled(s, getenv) {
		return nil, nil
	}
	log := zerolog.Nop()
	if opts.Logger != nil {
		log = *opts.Logger
	}
	protocol := s.Protocol
	if protocol == "" {
		protocol = firstNonEmpty(getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"), getenv("OTEL_EXPORTER_OTLP_PROTOCOL"), config.TelemetryGRPC)
	}
	timeout := opts.ExportTimeout
	if timeout <= 0 {
		timeout = DefaultExportTimeout
	}
	// The config's url wins; else the exporter reads OTEL_EXPORTER_OTLP_*;
	// else the Python gateway's default collector.
	endpoint := s.URL
	if endpoint == "" && getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		endpoint = config.DefaultTelemetryURL
		if protocol == config.TelemetryHTTP {
			endpoint = "http://localhost:4318"
		}
	}
	exp, err := newExporter(ctx, protocol, signalURL(protocol, endpoint, "traces"), s.Insecure, timeout)
	if err != nil {
		return nil, err
	}
	attrs := []resource.Option{resource.WithAttributes(semconv.ServiceName(config.DefaultTelemetryServiceName))}
	if opts.Version != "" {
		attrs = append(attrs, resource.WithAttributes(semconv.ServiceVersion(opts.Version)))
	}
	// WithFromEnv comes after the defaults: OTEL_SERVICE_NAME and
	// OTEL_RESOURCE_ATTRIBUTES override them, and the config's service_name
	// overrides those.
	attrs = append(attrs, resource.WithFromEnv(), resource.WithTelemetrySDK())
	if s.ServiceName != "" {
		attrs = append(attrs, resource.WithAttributes(semconv.ServiceName(s.ServiceName)))
	}
	res, err := resource.New(ctx, attrs...)
	if err != nil && res == nil {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}
	tpOpts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithIDGenerator(idGenerator{}),
		// Blocking here only holds back the converter goroutine: calls hand
		// their events to a bounded queue of our own (ObserveCall), which
		// drops and counts instead.
		sdktrace.WithBatcher(exp, batchOpts(getenv, timeout)...),
	}
	if s.SampleRatio != nil {
		tpOpts = append(tpOpts, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(*s.SampleRatio))))
	}
	installErrorHandler(log, DefaultErrorInterval)
	n := opts.QueueSize
	if n <= 0 {
		n = DefaultQueueSize
	}
	t := &Tracing{
		tp:       sdktrace.NewTracerProvider(tpOpts...),
		events:   make(chan *proxy.CallEvent, n),
		done:     make(chan struct{}),
		drained:  make(chan struct{}),
		endpoint: firstNonEmpty(endpoint, "from OTEL_EXPORTER_OTLP_*"),
		protocol: protocol,
	}
	t.tracer = t.tp.Tracer("secure-mcp-gateway")
	if !strings.EqualFold(getenv("OTEL_METRICS_EXPORTER"), "none") {
		mexp, err := newMetricExporter(ctx, protocol, signalURL(protocol, endpoint, "metrics"), s.Insecure, timeout)
		if err != nil {
			_ = t.tp.Shutdown(ctx)
			return nil, err
		}
		if t.metrics, err = newMetrics(mexp, res, opts.MetricInterval); err != nil {
			_ = t.tp.Shutdown(ctx)
			return nil, err
		}
	}
	go t.run()
	log.Info().Str("endpoint", t.endpoint).Str("protocol", protocol).Msg("tracing on")
	return t, nil
}

// DefaultExportBatch is the most spans one export carries unless
// OTEL_BSP_MAX_EXPORT_BATCH_SIZE says otherwise. The SDK's 512 makes each
// export build buffers of about 128 KB, past the allocator's small sizes;
// the runtime then spends more returning them to the OS than exporting
// costs. Measured on the stdio benchmark (cmd/bench stdio+guard+otlp, 2
// cores): 32, 64, 128 and 512 spans cost +23 %, +24 %, +18 % and +21 % CPU
// per call; 128 also had the smallest latency cost.
const DefaultExportBatch = 128

// batchOpts are the batch span processor's options: the standard
// OTEL_BSP_* environment wins over the defaults here.
func batchOpts(getenv func(string) string, timeout time.Duration) []sdktrace.BatchSpanProcessorOption {
	o := []sdktrace.BatchSpanProcessorOption{sdktrace.WithBlocking(), sdktrace.WithExportTimeout(timeout)}
	if getenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE") == "" {
		o = append(o, sdktrace.WithMaxExportBatchSize(DefaultExportBatch))
	}
	return o
}

func newExporter(ctx context.Context, protocol, endpoint string, insecure bool, timeout time.Duration) (sdktrace.SpanExporter, error) {
	switch protocol {
	case config.TelemetryGRPC:
		o := []otlptracegrpc.Option{otlptracegrpc.WithTimeout(timeout), otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{
			Enabled: true, InitialInterval: time.Second, MaxInterval: timeout, MaxElapsedTime: 2 * timeout,
		})}
		if endpoint != "" {
			o = append(o, otlptracegrpc.WithEndpointURL(endpoint))
		}
		if insecure {
			o = append(o, otlptracegrpc.WithInsecure())
		}
		e, err := otlptracegrpc.New(ctx, o...)
		if err != nil {
			return nil, fmt.Errorf("telemetry exporter (grpc %s): %w", endpoint, err)
		}
		return e, nil
	case config.TelemetryHTTP, "http":
		o := []otlptracehttp.Option{otlptracehttp.WithTimeout(timeout), otlptracehttp.WithRetry(otlptracehttp.RetryConfig{
			Enabled: true, InitialInterval: time.Second, MaxInterval: timeout, MaxElapsedTime: 2 * timeout,
		})}
		if endpoint != "" {
			o = append(o, otlptracehttp.WithEndpointURL(endpoint))
		}
		if insecure {
			o = append(o, otlptracehttp.WithInsecure())
		}
		e, err := otlptracehttp.New(ctx, o...)
		if err != nil {
			return nil, fmt.Errorf("telemetry exporter (http/protobuf %s): %w", endpoint, err)
		}
		return e, nil
	default:
		return nil, &config.ValidationError{Problems: []config.FieldError{{
			Path: "OTEL_EXPORTER_OTLP_PROTOCOL", Problem: fmt.Sprintf("unknown protocol %q", protocol),
			Fix: fmt.Sprintf("use %q or %q", config.TelemetryGRPC, config.TelemetryHTTP),
		}}}
	}
}

// ObserveCall queues ev to become spans; when the queue is full the event
// is dropped and counted (Dropped), and the call goes on unslowed.
func (t *Tracing) ObserveCall(ev *proxy.CallEvent) {
	select {
	case <-t.done:
		t.dropped.Add(1)
		return
	default:
	}
	select {
	case t.events <- ev:
	default:
		t.dropped.Add(1)
	}
}

// Dropped is how many call events were dropped because the queue was full
// or tracing had shut down.
func (t *Tracing) Dropped() uint64 { return t.dropped.Load() }

// Shutdown stops taking events, turns the queued ones into spans and
// flushes them, waiting at most until ctx ends.
func (t *Tracing) Shutdown(ctx context.Context) error {
	var err error
	t.once.Do(func() {
		close(t.done)
		select {
		case <-t.drained:
		case <-ctx.Done():
		}
		err = t.tp.Shutdown(ctx)
		if t.metrics != nil {
			err = errors.Join(err, t.metrics.shutdown(ctx))
		}
	})
	return err
}

// Flush exports every span ended and every metric recorded so far, waiting
// at most until ctx ends. Events still queued are not included.
func (t *Tracing) Flush(ctx context.Context) error {
	err := t.tp.ForceFlush(ctx)
	if t.metrics != nil {
		err = errors.Join(err, t.metrics.flush(ctx))
	}
	return err
}

// drainEvery is how often queued events become spans. The converter
// sleeps between rounds instead of waiting on the queue: a call's send
// then never wakes a goroutine (a wake-up per call cost more CPU than the
// spans themselves), and the queue absorbs what arrives in between.
const drainEvery = 50 * time.Millisecond

func (t *Tracing) run() {
	defer close(t.drained)
	tick := time.NewTicker(drainEvery)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			t.drain()
		case <-t.done:
			t.drain()
			return
		}
	}
}

// drain turns every event queued so far into spans.
func (t *Tracing) drain() {
	for {
		select {
		case ev := <-t.events:
			t.record(ev)
		default:
			return
		}
	}
}

var propagator = propagation.TraceContext{}

// record turns one event into a request span and its stage spans, with
// the event's own start time and durations.
func (t *Tracing) record(ev *proxy.CallEvent) {
	ctx := context.Background()
	if ev.TraceParent != "" {
		ctx = propagator.Extract(ctx, propagation.MapCarrier{"traceparent": ev.TraceParent, "tracestate": ev.TraceState})
	}
	method := firstNonEmpty(ev.Method, "tools/call")
	attrs := Attributes(ev)
	// The request's span takes the ids the gateway chose while it ran (see
	// idGenerator); so does its forward stage, the parent the upstream
	// was given.
	ctx, span := t.tracer.Start(want(ctx, ev.TraceID, ev.SpanID), spanName(method, ev.Tool),
		trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(ev.Start), trace.WithAttributes(attrs...))
	ctx = want(ctx, "", "")
	at := ev.Start
	for _, st := range ev.Stages {
		if !spanned[st.Name] {
			// A bookkeeping stage (authorise, deny/pin check) takes
			// microseconds; a span of its own would cost more than it
			// shows. Its time stays in the stage metric.
			at = at.Add(st.Duration)
			continue
		}
		kind, sctx := trace.SpanKindInternal, ctx
		if st.Name == proxy.StageForward { // the upstream round trip
			kind, sctx = trace.SpanKindClient, want(ctx, "", ev.ForwardSpanID)
		}
		_, s := t.tracer.Start(sctx, st.Name, trace.WithSpanKind(kind), trace.WithTimestamp(at))
		at = at.Add(st.Duration)
		s.End(trace.WithTimestamp(at))
	}
	if ev.Outcome != proxy.OutcomeOK {
		span.SetStatus(statusOf(ev.Outcome), ev.Outcome)
	}
	span.End(trace.WithTimestamp(ev.Start.Add(ev.Duration)))
	if t.metrics != nil {
		t.metrics.record(ev)
	}
}

// spanned are the stages that get a span of their own: the guard's checks
// and the upstream round trip.
var spanned = map[string]bool{proxy.StageInputGuard: true, proxy.StageForward: true, proxy.StageOutputGuard: true}

// signalURL is the endpoint of one signal ("traces", "metrics"). Over
// HTTP a bare collector address gets the signal's standard path, and a
// …/v1/traces URL becomes …/v1/metrics for metrics; gRPC endpoints have no
// path. An empty endpoint stays empty (the exporters read the environment).
func signalURL(protocol, endpoint, signal string) string {
	if endpoint == "" || protocol == config.TelemetryGRPC {
		return endpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return endpoint
	}
	switch {
	case u.Path == "" || u.Path == "/":
		u.Path = "/v1/" + signal
	case strings.HasSuffix(u.Path, "/v1/traces"):
		u.Path = strings.TrimSuffix(u.Path, "traces") + signal
	}
	return u.String()
}

// spanName follows the MCP semantic conventions: "{method} {target}".
func spanName(method, target string) string {
	if target == "" {
		return method
	}
	return method + " " + target
}

// installErrorHandler sends the SDK's errors (a collector that refuses or
// does not answer) to the log, at most one line per interval, with how
// many were suppressed in between.
func installErrorHandler(log zerolog.Logger, every time.Duration) {
	var mu sync.Mutex
	var last time.Time
	var suppressed int
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		if !last.IsZero() && now.Sub(last) < every {
			suppressed++
			return
		}
		log.Warn().Err(err).Int("suppressed", suppressed).Dur("next_report_after", every).
			Msg("trace export failed; spans are queued and dropped when the queue is full, calls are not slowed")
		last, suppressed = now, 0
	}))
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
