package proxy

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestNotifierBounded: notifications for a client that accepts nothing
// wait in a queue of DefaultNotificationQueue; the rest are dropped and
// counted, and the queue drains once the client reads again.
func TestNotifierBounded(t *testing.T) {
	g := New(nil, nil, nil)
	unblock := make(chan struct{})
	wrote := make(chan int, DefaultNotificationQueue+2)
	const sent = DefaultNotificationQueue + 100
	for i := range sent {
		g.notes.send("s", func(context.Context) error {
			<-unblock
			wrote <- i
			return nil
		})
	}
	// One is being written, DefaultNotificationQueue wait, the rest were
	// dropped.
	if got, want := g.Dropped("s"), uint64(sent-DefaultNotificationQueue-1); got != want && got != want+1 {
		t.Errorf("dropped %d, want %d (or %d if the writer had not started)", got, want, want+1)
	}
	close(unblock)
	n := int(sent - g.Dropped("s"))
	last := -1
	for range n {
		i := <-wrote
		if i <= last {
			t.Errorf("notification %d written after %d: out of order", i, last)
		}
		last = i
	}
}

// TestLogRateLimit: an upstream's log messages beyond the burst are not
// allowed at once.
func TestLogRateLimit(t *testing.T) {
	g := New(nil, nil, nil)
	allowed := 0
	for range 10 * DefaultLogBurst {
		if g.notes.allow("s") {
			allowed++
		}
	}
	if allowed < DefaultLogBurst || allowed > DefaultLogBurst+DefaultLogRate {
		t.Errorf("allowed %d of %d at once, want about the burst of %d", allowed, 10*DefaultLogBurst, DefaultLogBurst)
	}
	if !New(nil, nil, nil).notes.allow("other") {
		t.Error("another gateway's upstream was limited")
	}
	if !g.notes.allowProgress("s") {
		t.Error("the log limit of an upstream limited its progress")
	}
	progress := 1
	for range 10 * DefaultUpstreamProgressBurst {
		if g.notes.allowProgress("s") {
			progress++
		}
	}
	if progress > DefaultUpstreamProgressBurst+DefaultUpstreamProgressRate {
		t.Errorf("allowed %d progress notifications at once, want about the burst of %d", progress, DefaultUpstreamProgressBurst)
	}
}

// TestNotifierFailsStuckClient: once the queue is full behind a write that
// has not ended within the stuck budget, the session is ended, once.
func TestNotifierFailsStuckClient(t *testing.T) {
	g := New(nil, nil, nil)
	g.notes.stuckAfter = time.Nanosecond
	var ended atomic.Int32
	g.notes.onStuck = func() { ended.Add(1) }
	unblock := make(chan struct{})
	writing := make(chan struct{})
	g.notes.send("s", func(context.Context) error {
		close(writing)
		<-unblock
		return nil
	})
	<-writing // the write is in progress: busy since now
	for range DefaultNotificationQueue {
		g.notes.send("s", func(context.Context) error { return nil })
	}
	if ended.Load() != 0 {
		t.Fatal("the session ended before the queue was full")
	}
	for range 3 {
		g.notes.send("s", func(context.Context) error { return nil })
	}
	if got := ended.Load(); got != 1 {
		t.Errorf("the session was ended %d times, want once", got)
	}
	close(unblock)
}
