package proxy

import (
	"context"
	"testing"
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
}
