package cache

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/rs/zerolog"

	"secure-mcp-gateway/internal/secret"
)

func TestSharedUpdateIsAtomicAcrossClients(t *testing.T) {
	ctx := context.Background()
	addr, _ := startRedis(t, "shared-pw")
	ro := &RedisOptions{Addr: addr, Password: secret.String("shared-pw")}
	a, b := NewShared(ro, zerolog.Nop()), NewShared(ro, zerolog.Nop())
	defer a.Close()
	defer b.Close()

	// Two "replicas" each add 25 to a counter, concurrently: no increment
	// is lost to a read-modify-write race.
	incr := func(old []byte) ([]byte, error) {
		n, _ := strconv.Atoi(string(old))
		return []byte(strconv.Itoa(n + 1)), nil
	}
	var wg sync.WaitGroup
	for _, s := range []*Shared{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				if err := s.Update(ctx, "counter", 0, incr); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if got, err := b.Get(ctx, "counter"); err != nil || string(got) != "100" {
		t.Fatalf("counter = %q, %v; want 100", got, err)
	}

	refused := errors.New("refused by the caller")
	if err := a.Update(ctx, "counter", 0, func([]byte) ([]byte, error) { return nil, refused }); !errors.Is(err, refused) {
		t.Fatalf("fn's error: got %v", err)
	}
	if got, _ := a.Get(ctx, "counter"); string(got) != "100" {
		t.Fatalf("an aborted update changed the document: %q", got)
	}
	if err := a.Set(ctx, "plain", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Get(ctx, "plain"); err != nil || string(got) != "v" {
		t.Fatalf("set: %q %v", got, err)
	}
	if ok, err := a.Claim(ctx, "claimed", []byte("a"), time.Minute); !ok || err != nil {
		t.Fatalf("first claim: %v %v", ok, err)
	}
	if ok, err := b.Claim(ctx, "claimed", []byte("b"), time.Minute); ok || err != nil {
		t.Fatalf("second claim of a taken key: %v %v", ok, err)
	}
	if err := b.Delete(ctx, "plain"); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Get(ctx, "plain"); got != nil || err != nil {
		t.Fatalf("after delete: %q %v", got, err)
	}
	if err := a.Update(ctx, "counter", 0, func([]byte) ([]byte, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Get(ctx, "counter"); got != nil || err != nil {
		t.Fatalf("deleted document: %q, %v", got, err)
	}
}

func TestSharedLock(t *testing.T) {
	ctx := context.Background()
	addr, cmd := startRedis(t, "lock-pw")
	ro := &RedisOptions{Addr: addr, Password: secret.String("lock-pw"), Retry: time.Nanosecond}
	a, b := NewShared(ro, zerolog.Nop()), NewShared(ro, zerolog.Nop())
	defer a.Close()
	defer b.Close()

	// Holders never overlap.
	var inside, overlaps atomic.Int32
	var wg sync.WaitGroup
	for _, s := range []*Shared{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				unlock, err := s.Lock(ctx, "token", 10*time.Second)
				if err != nil {
					t.Error(err)
					return
				}
				if inside.Add(1) > 1 {
					overlaps.Add(1)
				}
				inside.Add(-1)
				unlock()
			}
		}()
	}
	wg.Wait()
	if overlaps.Load() != 0 {
		t.Fatalf("%d overlapping holders", overlaps.Load())
	}

	// A held lock makes the other wait until its context ends.
	unlock, err := a.Lock(ctx, "held", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := b.Lock(short, "held", 10*time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second holder: got %v, want the context's deadline", err)
	}
	unlock()
	unlock2, err := b.Lock(ctx, "held", 10*time.Second)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	unlock2()

	// A lock whose holder died expires.
	if _, err := a.Lock(ctx, "expires", 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	unlock3, err := b.Lock(ctx, "expires", time.Second)
	if err != nil {
		t.Fatalf("expired lock not taken: %v", err)
	}
	unlock3()

	// Redis gone: every operation says so, typed.
	cmd.Process.Kill()
	cmd.Wait()
	var ue *UnavailableError
	if _, err := a.Get(ctx, "counter"); !errors.As(err, &ue) {
		t.Errorf("get with Redis down: %v", err)
	}
	if err := a.Update(ctx, "counter", 0, func(b []byte) ([]byte, error) { return b, nil }); !errors.As(err, &ue) {
		t.Errorf("update with Redis down: %v", err)
	}
	if _, err := a.Lock(ctx, "token", time.Second); !errors.As(err, &ue) {
		t.Errorf("lock with Redis down: %v", err)
	}
}

// TestOneWarningPerOutageAcrossParts checks that the discovery cache and
// the shared state, two clients of one dead Redis, warn once between them.
func TestOneWarningPerOutageAcrossParts(t *testing.T) {
	ctx := context.Background()
	mr := miniredis.RunT(t)
	addr := mr.Addr()
	mr.Close()
	var buf logLines
	log := zerolog.New(&buf)
	ro := &RedisOptions{Addr: addr, Retry: time.Nanosecond, Timeout: 200 * time.Millisecond}
	store, err := New(&Options{Dir: t.TempDir(), Redis: ro, Logger: &log})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	shared := NewShared(ro, log)
	defer shared.Close()
	for range 3 {
		store.StoreTools(ctx, "cfg", server(), json.RawMessage(toolsJSON))
		if _, err := shared.Get(ctx, "pins"); err == nil {
			t.Fatal("shared read of a dead Redis succeeded")
		}
	}
	if n := strings.Count(buf.String(), "Redis unavailable"); n != 1 {
		t.Errorf("warned %d times, want once:\n%s", n, buf.String())
	}
}

// TestCallerHangUpIsNoOutage checks that a request whose client went away
// (its context cancelled) neither fails its Redis operation nor marks
// Redis down for the rest of the process.
func TestCallerHangUpIsNoOutage(t *testing.T) {
	addr, _ := startRedis(t, "hangup-pw")
	var buf logLines
	log := zerolog.New(&buf)
	ro := &RedisOptions{Addr: addr, Password: secret.String("hangup-pw")}
	a, b := NewShared(ro, log), NewShared(ro, log)
	defer a.Close()
	defer b.Close()
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if ok, err := a.Claim(gone, "call:1", []byte("1"), time.Minute); !ok || err != nil {
		t.Fatalf("claim for a caller that hung up: %v %v", ok, err)
	}
	if got, err := b.Get(context.Background(), "call:1"); err != nil || string(got) != "1" {
		t.Fatalf("read after another caller hung up: %q %v", got, err)
	}
	if strings.Contains(buf.String(), "Redis unavailable") {
		t.Errorf("a caller's hang-up was taken for an outage:\n%s", buf.String())
	}
}
