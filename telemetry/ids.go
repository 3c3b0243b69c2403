package telemetry

import (
	"context"
	"math/rand/v2"

	"go.opentelemetry.io/otel/trace"
)

// The gateway decides a request's span ids while the request runs (they go
// to the upstream as its parent; see proxy.Options.TraceContext) and builds
// the spans afterwards. idGenerator hands the SDK those ids: the ones a
// span start asks for through its context, random ones otherwise.
type idGenerator struct{}

type wantKey struct{}

// wantIDs is what one span start asks for; zero fields mean random.
type wantIDs struct {
	trace trace.TraceID
	span  trace.SpanID
}

// want returns ctx asking the next span start for these ids.
func want(ctx context.Context, traceHex, spanHex string) context.Context {
	var w wantIDs
	w.trace, _ = trace.TraceIDFromHex(traceHex)
	w.span, _ = trace.SpanIDFromHex(spanHex)
	return context.WithValue(ctx, wantKey{}, w)
}

func wanted(ctx context.Context) wantIDs {
	w, _ := ctx.Value(wantKey{}).(wantIDs)
	return w
}

// NewIDs implements sdktrace.IDGenerator for a span without a parent.
func (idGenerator) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	w := wanted(ctx)
	tid := w.trace
	if !tid.IsValid() {
		tid = randomTraceID()
	}
	return tid, spanID(w)
}

// NewSpanID implements sdktrace.IDGenerator for a span with a parent.
func (idGenerator) NewSpanID(ctx context.Context, _ trace.TraceID) trace.SpanID {
	return spanID(wanted(ctx))
}

func spanID(w wantIDs) trace.SpanID {
	if w.span.IsValid() {
		return w.span
	}
	var id trace.SpanID
	for !id.IsValid() {
		v := rand.Uint64()
		for i := range 8 {
			id[i] = byte(v >> (56 - 8*i))
		}
	}
	return id
}

func randomTraceID() trace.TraceID {
	var id trace.TraceID
	for !id.IsValid() {
		hi, lo := rand.Uint64(), rand.Uint64()
		for i := range 8 {
			id[i], id[8+i] = byte(hi>>(56-8*i)), byte(lo>>(56-8*i))
		}
	}
	return id
}
