package proxy

import (
	"context"
	"math/rand/v2"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// traceIDs place one request in a W3C trace (Options.TraceContext): the
// client's trace when it sent a context, else a new one; an id for the
// request's own span and one for its upstream round trip, which the
// upstream receives as its parent. Tracing builds its spans with these ids
// after the fact (package telemetry), so the upstream's spans hang under
// the gateway's forward span.
type traceIDs struct {
	sc               trace.SpanContext // trace id, flags and state; the client's span id, or none
	parent, state    string            // as the client sent them
	request, forward trace.SpanID
}

var w3c = propagation.TraceContext{}

// newTraceIDs reads the client's trace context from the request's _meta
// (traceparent, tracestate), else from the HTTP headers.
func newTraceIDs(meta map[string]any, h http.Header) *traceIDs {
	carrier := propagation.MapCarrier{}
	if tp, ok := meta["traceparent"].(string); ok {
		carrier["traceparent"] = tp
		if ts, ok := meta["tracestate"].(string); ok {
			carrier["tracestate"] = ts
		}
	} else if tp := h.Get("traceparent"); tp != "" {
		carrier["traceparent"], carrier["tracestate"] = tp, h.Get("tracestate")
	}
	t := &traceIDs{request: newSpanID(), forward: newSpanID()}
	sc := trace.SpanContextFromContext(w3c.Extract(context.Background(), carrier))
	if sc.IsValid() {
		t.sc, t.parent, t.state = sc, carrier["traceparent"], carrier["tracestate"]
		return t
	}
	var tid trace.TraceID
	for tid == (trace.TraceID{}) {
		hi, lo := rand.Uint64(), rand.Uint64()
		for i := range 8 {
			tid[i], tid[8+i] = byte(hi>>(56-8*i)), byte(lo>>(56-8*i))
		}
	}
	t.sc = trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, TraceFlags: trace.FlagsSampled})
	return t
}

func newSpanID() trace.SpanID {
	var id trace.SpanID
	for id == (trace.SpanID{}) {
		v := rand.Uint64()
		for i := range 8 {
			id[i] = byte(v >> (56 - 8*i))
		}
	}
	return id
}

// upstreamMeta returns meta (copied, may be nil) with the trace context an
// upstream gets: this trace, with the gateway's forward span as parent.
func (t *traceIDs) upstreamMeta(meta map[string]any) mcp.Meta {
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: t.sc.TraceID(), SpanID: t.forward,
		TraceFlags: t.sc.TraceFlags(), TraceState: t.sc.TraceState()})
	carrier := propagation.MapCarrier{}
	w3c.Inject(trace.ContextWithSpanContext(context.Background(), sc), carrier)
	out := make(mcp.Meta, len(meta)+2)
	for k, v := range meta {
		out[k] = v
	}
	delete(out, "tracestate")
	for k, v := range carrier {
		out[k] = v
	}
	return out
}

// fill records the ids on ev.
func (t *traceIDs) fill(ev *CallEvent) {
	if t == nil {
		return
	}
	ev.TraceParent, ev.TraceState = t.parent, t.state
	ev.TraceID, ev.SpanID, ev.ForwardSpanID = t.sc.TraceID().String(), t.request.String(), t.forward.String()
}

// traceOf is the request's trace ids when Options.TraceContext is on, else
// nil.
func (p *pipeline) traceOf(meta map[string]any, extra *mcp.RequestExtra) *traceIDs {
	if !p.traceContext {
		return nil
	}
	var h http.Header
	if extra != nil {
		h = extra.Header
	}
	return newTraceIDs(meta, h)
}
