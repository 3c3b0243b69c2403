package cache

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/internal/secret"
)

// DefaultRateLimitPrefix namespaces the rate-limit keys in Redis, beside
// the discovery cache's.
const DefaultRateLimitPrefix = "secure-mcp-gateway:ratelimit:v1:"

// maxLocalBuckets bounds the local buckets: past it the oldest-unused
// half is dropped (a dropped bucket starts full again).
const maxLocalBuckets = 10_000

// LimiterOptions configures a Limiter.
type LimiterOptions struct {
	// Rate is the sustained requests per second allowed per key; it must
	// be positive.
	Rate float64
	// Burst is how many requests a key may make at once; it must be
	// positive.
	Burst int
	// Redis shares the buckets between every process that uses the same
	// Redis, so that N replicas enforce Rate in total, not N×Rate. Nil
	// means buckets local to this process. Its Prefix defaults to
	// DefaultRateLimitPrefix.
	Redis *RedisOptions
	// Logger receives one warning per Redis outage. Nil means no logs.
	Logger *zerolog.Logger
}

// Limiter is a per-key token bucket. With Redis it is one bucket per key
// across every replica: one round trip per request runs the generic cell
// rate algorithm (GCRA) in a Lua script, atomically, on Redis's own clock,
// so replicas' clocks do not matter. When Redis cannot be reached the
// limiter carries on with local buckets (Rate per replica) and warns once
// per outage; it never lets a request through without a bucket.
type Limiter struct {
	opts  LimiterOptions
	redis *redisStore // nil: local buckets only

	mu    sync.Mutex
	local map[string]*localBucket
}

type localBucket struct {
	lim  *rate.Limiter
	used time.Time
}

// NewLimiter returns a Limiter. It does not contact Redis: the first
// request does.
func NewLimiter(opts LimiterOptions) (*Limiter, error) {
	if opts.Rate <= 0 || opts.Burst <= 0 {
		return nil, fmt.Errorf("rate limit: rate %g/s and burst %d must both be positive", opts.Rate, opts.Burst)
	}
	l := &Limiter{opts: opts, local: map[string]*localBucket{}}
	if opts.Redis != nil {
		ro := *opts.Redis
		if ro.Prefix == "" {
			ro.Prefix = DefaultRateLimitPrefix
		}
		log := zerolog.Nop()
		if opts.Logger != nil {
			log = *opts.Logger
		}
		l.redis = newRedisStore(&ro, log)
		l.redis.what = "rate limit"
	}
	return l, nil
}

// Shared reports whether the buckets live in Redis.
func (l *Limiter) Shared() bool { return l.redis != nil }

// Close releases the Redis connections.
func (l *Limiter) Close() error {
	if l.redis != nil {
		return l.redis.close()
	}
	return nil
}

// Allow takes one token from key's bucket and reports whether there was
// one. key should already be a fingerprint (it is stored in Redis as is).
func (l *Limiter) Allow(ctx context.Context, key string) bool {
	if l.redis != nil && l.redis.available() {
		ok, err := l.allowRedis(ctx, key)
		l.redis.result(err)
		if err == nil {
			return ok
		}
	}
	return l.allowLocal(key)
}

func (l *Limiter) allowLocal(key string) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.local[key]
	if !ok {
		if len(l.local) >= maxLocalBuckets {
			l.dropOldest()
		}
		b = &localBucket{lim: rate.NewLimiter(rate.Limit(l.opts.Rate), l.opts.Burst)}
		l.local[key] = b
	}
	b.used = now
	return b.lim.AllowN(now, 1)
}

// dropOldest forgets the least recently used half of the local buckets.
func (l *Limiter) dropOldest() {
	times := make([]time.Time, 0, len(l.local))
	for _, b := range l.local {
		times = append(times, b.used)
	}
	// Everything used no later than the mean use time goes: at least one
	// bucket, usually about half.
	var sum int64
	for _, t := range times {
		sum += t.UnixNano() / int64(len(times))
	}
	cut := time.Unix(0, sum)
	for k, b := range l.local {
		if !b.used.After(cut) {
			delete(l.local, k)
		}
	}
}

// gcra is the generic cell rate algorithm on Redis's clock. KEYS[1] holds
// the theoretical arrival time (TAT) in microseconds; ARGV are the
// emission interval and the burst tolerance, both in microseconds. It
// answers 1 (allowed) or 0.
var gcra = redis.NewScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call("GET", KEYS[1]) or now)
if tat < now then tat = now end
if tat - now > tolerance then return 0 end
local new = tat + interval
redis.call("SET", KEYS[1], string.format("%d", new), "PX", math.ceil((new - now) / 1000) + 1)
return 1
`)

func (l *Limiter) allowRedis(ctx context.Context, key string) (bool, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.redis.opts.Timeout)
	defer cancel()
	interval := int64(1e6 / l.opts.Rate)
	if interval < 1 {
		interval = 1
	}
	// A burst of B lets B requests in at once: the TAT may run B-1
	// intervals ahead of now.
	tolerance := interval * int64(l.opts.Burst-1)
	n, err := gcra.Run(ctx, l.redis.client, []string{l.redis.opts.Prefix + key},
		strconv.FormatInt(interval, 10), strconv.FormatInt(tolerance, 10)).Int()
	if err != nil {
		return false, fmt.Errorf("rate limit in Redis: %w", err)
	}
	return n == 1, nil
}

// RedisFromConfig is the Redis the config's common settings name
// (enkrypt_mcp_use_external_cache and the enkrypt_cache_* fields, as the
// Python gateway reads them), or nil when the external cache is off. The
// discovery cache and the shared rate limit use the same Redis.
func RedisFromConfig(c *config.Common) *RedisOptions {
	if c == nil || !c.UseExternalCache {
		return nil
	}
	host, port := c.CacheHost, c.CachePort
	if host == "" {
		host = "localhost"
	}
	if port == 0 {
		port = 6379
	}
	ro := &RedisOptions{Addr: net.JoinHostPort(host, strconv.Itoa(port)), DB: c.CacheDB}
	if c.CachePassword != nil {
		ro.Password = secret.String(*c.CachePassword)
	}
	if c.Timeouts.Cache > 0 {
		ro.Timeout = c.Timeouts.CacheTimeout()
	}
	return ro
}
