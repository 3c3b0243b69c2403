package proxy

import (
	"net/http"
	"strings"
	"testing"
)

func TestTraceIDs(t *testing.T) {
	const tid, span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	good := "00-" + tid + "-" + span + "-01"
	tests := []struct {
		name      string
		meta      map[string]any
		header    http.Header
		wantTrace string // empty: a new random trace
		wantState string
	}{
		{"meta", map[string]any{"traceparent": good, "tracestate": "a=1"}, nil, tid, "a=1"},
		{"header", nil, http.Header{"Traceparent": {good}, "Tracestate": {"b=2"}}, tid, "b=2"},
		{"meta wins over header", map[string]any{"traceparent": good}, http.Header{"Traceparent": {"00-" + strings.Repeat("1", 32) + "-" + span + "-01"}}, tid, ""},
		{"none", nil, nil, "", ""},
		{"malformed", map[string]any{"traceparent": "00-zz-yy-01"}, nil, "", ""},
		{"all-zero trace", map[string]any{"traceparent": "00-" + strings.Repeat("0", 32) + "-" + span + "-01"}, nil, "", ""},
		{"not a string", map[string]any{"traceparent": 42}, nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTraceIDs(tt.meta, tt.header)
			var ev CallEvent
			tr.fill(&ev)
			if tt.wantTrace != "" && ev.TraceID != tt.wantTrace {
				t.Errorf("trace = %s, want the client's %s", ev.TraceID, tt.wantTrace)
			}
			if tt.wantTrace == "" && (ev.TraceParent != "" || len(ev.TraceID) != 32 || ev.TraceID == strings.Repeat("0", 32)) {
				t.Errorf("no usable client context: want a new trace and no parent, got %+v", ev)
			}
			if ev.TraceState != tt.wantState {
				t.Errorf("state = %q, want %q", ev.TraceState, tt.wantState)
			}
			if ev.SpanID == ev.ForwardSpanID || len(ev.SpanID) != 16 || ev.SpanID == span {
				t.Errorf("span ids %s / %s: want two new distinct ids", ev.SpanID, ev.ForwardSpanID)
			}
			meta := tr.upstreamMeta(map[string]any{"progressToken": "p", "tracestate": "stale=1"})
			want := "00-" + ev.TraceID + "-" + ev.ForwardSpanID + "-01"
			if meta["traceparent"] != want || meta["progressToken"] != "p" {
				t.Errorf("upstream _meta = %v, want traceparent %s beside the progress token", meta, want)
			}
			if tt.wantState == "" && meta["tracestate"] != nil {
				t.Errorf("upstream _meta kept a tracestate the trace does not have: %v", meta)
			}
		})
	}
	var nilTrace *traceIDs
	var ev CallEvent
	nilTrace.fill(&ev) // trace context off: nothing recorded
	if ev.TraceID != "" {
		t.Errorf("nil trace filled %+v", ev)
	}
}
