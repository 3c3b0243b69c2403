// Package otlptest is an OpenTelemetry collector for tests: it takes OTLP
// trace and metric exports over gRPC and over HTTP (protobuf) on 127.0.0.1,
// in the real wire format, and keeps what it received.
package otlptest

import (
	"context"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// Span is a received span, flattened for assertions.
type Span struct {
	Name         string
	TraceID      string
	SpanID       string
	ParentSpanID string
	Kind         tracepb.Span_SpanKind
	StartNanos   uint64
	EndNanos     uint64
	Attributes   map[string]string // every value in its string form
	StatusCode   tracepb.Status_StatusCode
	Service      string
}

// Collector receives spans. The zero value is not usable; call Start.
type Collector struct {
	// GRPCAddr is host:port of the gRPC receiver ("http://"+GRPCAddr is an
	// endpoint URL for OTLP/gRPC).
	GRPCAddr string
	// HTTPURL is the OTLP/HTTP traces URL (…/v1/traces).
	HTTPURL string
	// count, when set, makes the collector count spans instead of keeping
	// them (see StartCounting).
	count   bool
	counted atomic.Int64
	mu      sync.Mutex
	spans   []Span
	points  []Point
	raw     [][]byte
	changed chan struct{}

	grpcSrv *grpc.Server
	httpSrv *httptest.Server
}

// Start starts both receivers on 127.0.0.1 ports of their own.
func Start() (*Collector, error) { return start(false) }

// StartCounting starts a collector that decodes every export, as a real
// collector's receiver does, and counts its spans (Counted) without
// keeping them: a receiver for benchmarks, whose memory does not grow.
func StartCounting() (*Collector, error) { return start(true) }

// Counted is how many spans a counting collector has received.
func (c *Collector) Counted() int64 { return c.counted.Load() }

func start(count bool) (*Collector, error) {
	c := &Collector{changed: make(chan struct{}), count: count}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c.GRPCAddr = ln.Addr().String()
	c.grpcSrv = grpc.NewServer()
	coltrace.RegisterTraceServiceServer(c.grpcSrv, grpcReceiver{c: c})
	colmetrics.RegisterMetricsServiceServer(c.grpcSrv, grpcMetricsReceiver{c: c})
	go func() { _ = c.grpcSrv.Serve(ln) }()
	c.httpSrv = httptest.NewServer(http.HandlerFunc(c.serveHTTP))
	c.HTTPURL = c.httpSrv.URL + "/v1/traces"
	return c, nil
}

// Close stops both receivers.
func (c *Collector) Close() {
	c.grpcSrv.Stop()
	c.httpSrv.Close()
}

type grpcReceiver struct {
	coltrace.UnimplementedTraceServiceServer
	c *Collector
}

func (g grpcReceiver) Export(_ context.Context, req *coltrace.ExportTraceServiceRequest) (*coltrace.ExportTraceServiceResponse, error) {
	if g.c.count {
		g.c.countSpans(req)
		return &coltrace.ExportTraceServiceResponse{}, nil
	}
	b, _ := proto.Marshal(req)
	g.c.add(req, b)
	return &coltrace.ExportTraceServiceResponse{}, nil
}

type grpcMetricsReceiver struct {
	colmetrics.UnimplementedMetricsServiceServer
	c *Collector
}

func (g grpcMetricsReceiver) Export(_ context.Context, req *colmetrics.ExportMetricsServiceRequest) (*colmetrics.ExportMetricsServiceResponse, error) {
	g.c.addMetrics(req)
	return &colmetrics.ExportMetricsServiceResponse{}, nil
}

// Point is one received metric data point: a counter's value or a
// histogram's count.
type Point struct {
	Metric     string
	Value      int64
	Attributes map[string]string
}

func (c *Collector) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || (r.URL.Path != "/v1/traces" && r.URL.Path != "/v1/metrics") {
		http.NotFound(w, r)
		return
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if r.URL.Path == "/v1/metrics" {
		var req colmetrics.ExportMetricsServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.addMetrics(&req)
		out, _ := proto.Marshal(&colmetrics.ExportMetricsServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
		return
	}
	var req coltrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if c.count {
		c.countSpans(&req)
	} else {
		c.add(&req, b)
	}
	out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (c *Collector) countSpans(req *coltrace.ExportTraceServiceRequest) {
	var n int64
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			n += int64(len(ss.GetSpans()))
		}
	}
	c.counted.Add(n)
}

func (c *Collector) add(req *coltrace.ExportTraceServiceRequest, raw []byte) {
	var got []Span
	for _, rs := range req.GetResourceSpans() {
		service := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				service = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				sp := Span{
					Name: s.GetName(), TraceID: hex.EncodeToString(s.GetTraceId()), SpanID: hex.EncodeToString(s.GetSpanId()),
					ParentSpanID: hex.EncodeToString(s.GetParentSpanId()), Kind: s.GetKind(),
					StartNanos: s.GetStartTimeUnixNano(), EndNanos: s.GetEndTimeUnixNano(),
					Attributes: map[string]string{}, StatusCode: s.GetStatus().GetCode(), Service: service,
				}
				for _, kv := range s.GetAttributes() {
					sp.Attributes[kv.GetKey()] = valueString(kv.GetValue())
				}
				got = append(got, sp)
			}
		}
	}
	c.mu.Lock()
	c.spans = append(c.spans, got...)
	c.raw = append(c.raw, raw)
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

func (c *Collector) addMetrics(req *colmetrics.ExportMetricsServiceRequest) {
	var got []Point
	attrs := func(kvs []*commonpb.KeyValue) map[string]string {
		m := map[string]string{}
		for _, kv := range kvs {
			m[kv.GetKey()] = valueString(kv.GetValue())
		}
		return m
	}
	for _, rm := range req.GetResourceMetrics() {
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				switch d := m.GetData().(type) {
				case *metricspb.Metric_Sum:
					for _, p := range d.Sum.GetDataPoints() {
						got = append(got, Point{Metric: m.GetName(), Value: p.GetAsInt(), Attributes: attrs(p.GetAttributes())})
					}
				case *metricspb.Metric_Histogram:
					for _, p := range d.Histogram.GetDataPoints() {
						got = append(got, Point{Metric: m.GetName(), Value: int64(p.GetCount()), Attributes: attrs(p.GetAttributes())})
					}
				}
			}
		}
	}
	c.mu.Lock()
	c.points = append(c.points, got...)
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// Points returns a copy of the metric points received so far.
func (c *Collector) Points() []Point {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Point(nil), c.points...)
}

// Spans returns a copy of the spans received so far.
func (c *Collector) Spans() []Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Span(nil), c.spans...)
}

// Raw returns every export body received so far, concatenated.
func (c *Collector) Raw() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []byte
	for _, b := range c.raw {
		out = append(out, b...)
	}
	return out
}

// Wait blocks until cond holds for the spans received, or ctx ends; it
// returns the spans and whether cond held.
func (c *Collector) Wait(ctx context.Context, cond func([]Span) bool) ([]Span, bool) {
	for {
		c.mu.Lock()
		spans := append([]Span(nil), c.spans...)
		ch := c.changed
		c.mu.Unlock()
		if cond(spans) {
			return spans, true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return spans, false
		}
	}
}

func valueString(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *commonpb.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	case *commonpb.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
	case *commonpb.AnyValue_ArrayValue:
		parts := make([]string, 0, len(x.ArrayValue.GetValues()))
		for _, e := range x.ArrayValue.GetValues() {
			parts = append(parts, valueString(e))
		}
		return strings.Join(parts, ",")
	default:
		return ""
	}
}

// WaitPoints blocks until cond holds for the metric points received, or
// ctx ends; it returns the points and whether cond held.
func (c *Collector) WaitPoints(ctx context.Context, cond func([]Point) bool) ([]Point, bool) {
	for {
		c.mu.Lock()
		points := append([]Point(nil), c.points...)
		ch := c.changed
		c.mu.Unlock()
		if cond(points) {
			return points, true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return points, false
		}
	}
}
