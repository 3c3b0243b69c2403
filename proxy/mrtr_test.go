package proxy

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// parkedCall parks a call of rt in t and returns its requestState and a
// function that ends its upstream call.
func parkedCall(tb testing.TB, t *pendingCalls, rt route) (string, func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pc := &pendingCall{rt: rt, ctx: ctx, cancel: cancel, asks: make(chan *pendingAsk), done: make(chan struct{})}
	state, err := t.park(pc)
	if err != nil {
		tb.Fatal(err)
	}
	var once sync.Once
	end := func() { once.Do(func() { cancel(); close(pc.done) }) }
	tb.Cleanup(end)
	return state, end
}

// TestRequestState: a retry continues a parked call only with the
// requestState the gateway minted for it, for the same tool, once; a forged,
// altered, reused or foreign state, or one of a call that ended, continues
// nothing.
func TestRequestState(t *testing.T) {
	rt := route{server: "old", tool: "ask"}
	tests := []struct {
		name  string
		state func(minted string, ended func(), tb testing.TB) string
		rt    route
		ok    bool
	}{
		{"minted", func(s string, _ func(), _ testing.TB) string { return s }, rt, true},
		{"another tool", func(s string, _ func(), _ testing.TB) string { return s }, route{server: "old", tool: "other"}, false},
		{"another server", func(s string, _ func(), _ testing.TB) string { return s }, route{server: "new", tool: "ask"}, false},
		{"altered MAC", func(s string, _ func(), _ testing.TB) string { return s[:len(s)-2] + "AA" }, rt, false},
		{"forged", func(string, func(), testing.TB) string { return statePrefix + "bm9uY2U.c2lnbmF0dXJl" }, rt, false},
		{"no MAC", func(s string, _ func(), _ testing.TB) string { return s[:strings.LastIndex(s, ".")] }, rt, false},
		{"call ended", func(s string, ended func(), tb testing.TB) string {
			ended()
			return s
		}, rt, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls pendingCalls
			minted, ended := parkedCall(t, &calls, rt)
			state := tt.state(minted, ended, t)
			if tt.name == "call ended" {
				// The call is forgotten once its upstream call returned.
				deadline := time.Now().Add(10 * time.Second)
				for {
					calls.mu.Lock()
					n := len(calls.m)
					calls.mu.Unlock()
					if n == 0 || time.Now().After(deadline) {
						break
					}
					time.Sleep(time.Millisecond) // polls a condition
				}
			}
			pc, err := calls.resume(state, tt.rt)
			if tt.ok != (err == nil) || (err == nil) != (pc != nil) {
				t.Fatalf("resume = %v, %v; want ok %v", pc, err, tt.ok)
			}
			if err != nil && !errors.Is(err, errUnknownState) {
				t.Errorf("error %v, want errUnknownState", err)
			}
			if tt.ok {
				if _, err := calls.resume(state, tt.rt); !errors.Is(err, errUnknownState) {
					t.Errorf("a second retry with the same state: %v, want errUnknownState", err)
				}
			}
		})
	}
}

// TestPendingCallsBounded: no more than maxPendingCalls calls wait for
// answers at once.
func TestPendingCallsBounded(t *testing.T) {
	var calls pendingCalls
	rt := route{server: "old", tool: "ask"}
	for range maxPendingCalls {
		parkedCall(t, &calls, rt)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pc := &pendingCall{rt: rt, ctx: ctx, cancel: cancel, asks: make(chan *pendingAsk), done: make(chan struct{})}
	if _, err := calls.park(pc); !errors.Is(err, errTooManyPending) {
		t.Errorf("park beyond the bound: %v, want errTooManyPending", err)
	}
}
