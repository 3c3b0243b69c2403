package cache

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"secure-mcp-gateway/internal/secret"
)

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A rate so low that no token comes back while the test runs: what is
// allowed is exactly the burst, whatever the machine's speed.
const testRate = 0.0001

func allowed(t *testing.T, n int, ls ...*Limiter) int {
	t.Helper()
	got := 0
	for i := range n {
		if ls[i%len(ls)].Allow(context.Background(), "key-fp") {
			got++
		}
	}
	return got
}

func TestLimiterOptions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rate  float64
		burst int
	}{{"zero rate", 0, 1}, {"negative rate", -1, 1}, {"zero burst", 1, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewLimiter(LimiterOptions{Rate: tc.rate, Burst: tc.burst}); err == nil {
				t.Fatal("NewLimiter accepted a limit that is not positive")
			}
		})
	}
}

func TestLimiterLocal(t *testing.T) {
	a, err := NewLimiter(LimiterOptions{Rate: testRate, Burst: 5})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewLimiter(LimiterOptions{Rate: testRate, Burst: 5})
	if a.Shared() {
		t.Error("a limiter without Redis says it is shared")
	}
	// Two processes without Redis: each has its own bucket.
	if got := allowed(t, 40, a, b); got != 10 {
		t.Errorf("two local limiters allowed %d, want 5 each", got)
	}
	if !a.Allow(context.Background(), "other-key") {
		t.Error("a second key shares the first key's bucket")
	}
}

// TestLimiterRedis: two limiters on one real redis-server enforce one
// burst in total; when Redis goes away they carry on with local buckets,
// each logging one warning for the outage.
func TestLimiterRedis(t *testing.T) {
	addr, cmd := startRedis(t, "rl-pw")
	var logs syncBuffer
	log := zerolog.New(&logs)
	ro := &RedisOptions{Addr: addr, Password: secret.String("rl-pw")}
	a, err := NewLimiter(LimiterOptions{Rate: testRate, Burst: 5, Redis: ro, Logger: &log})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, _ := NewLimiter(LimiterOptions{Rate: testRate, Burst: 5, Redis: ro, Logger: &log})
	defer b.Close()
	if !a.Shared() {
		t.Error("a limiter with Redis says it is not shared")
	}
	if got := allowed(t, 40, a, b); got != 5 {
		t.Fatalf("two limiters on one Redis allowed %d in total, want the burst of 5", got)
	}
	if !b.Allow(context.Background(), "another-key") {
		t.Error("a second key shares the first key's bucket in Redis")
	}

	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	// Local buckets start full: each replica now allows its own burst,
	// and never more.
	if got := allowed(t, 40, a, b); got != 10 {
		t.Errorf("with Redis down two limiters allowed %d, want 5 each from local buckets", got)
	}
	out := logs.String()
	// Both limiters live in this process: one outage, one warning.
	if n := strings.Count(out, "rate limit: Redis unavailable"); n != 1 {
		t.Errorf("outage warnings: %d, want one for the process:\n%s", n, out)
	}
	if strings.Contains(out, "rl-pw") {
		t.Errorf("the Redis password reached the log:\n%s", out)
	}
}

func TestLimiterBoundsLocalBuckets(t *testing.T) {
	l, _ := NewLimiter(LimiterOptions{Rate: testRate, Burst: 1})
	for i := range maxLocalBuckets + 10 {
		l.Allow(context.Background(), "key-"+strconv.Itoa(i))
	}
	if n := len(l.local); n > maxLocalBuckets {
		t.Errorf("%d local buckets kept, bound is %d", n, maxLocalBuckets)
	}
}

// BenchmarkLimiter is what a request pays for its rate limit: a local
// bucket, or one Lua round trip to a real redis-server on loopback.
func BenchmarkLimiter(b *testing.B) {
	for _, shared := range []bool{false, true} {
		name := "local"
		o := LimiterOptions{Rate: 1e9, Burst: 1 << 30}
		if shared {
			name = "redis"
		}
		b.Run(name, func(b *testing.B) {
			if shared {
				addr, _ := startRedis(b, "bench-pw")
				o.Redis = &RedisOptions{Addr: addr, Password: secret.String("bench-pw")}
			}
			l, err := NewLimiter(o)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if !l.Allow(ctx, "key-fp") {
					b.Fatal("refused under a limit it cannot reach")
				}
			}
		})
	}
}
