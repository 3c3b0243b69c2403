package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"github.com/rs/zerolog"

	"secure-mcp-gateway/internal/secret"
)

// Defaults for RedisOptions fields left zero.
const (
	// DefaultRedisAddr is the Python gateway's default Redis address.
	DefaultRedisAddr = "localhost:6379"
	// DefaultRedisTimeout bounds one Redis operation, including the dial.
	DefaultRedisTimeout = 2 * time.Second
	// DefaultRedisRetry is how long Redis is left alone after a failure.
	DefaultRedisRetry = 30 * time.Second
	// DefaultRedisPrefix namespaces every key this gateway writes.
	DefaultRedisPrefix = "secure-mcp-gateway:discovery:v1:"
)

// RedisOptions configures the shared tier.
type RedisOptions struct {
	// Addr is host:port. Empty means DefaultRedisAddr.
	Addr string
	// DB is the database number; zero is database 0.
	DB int
	// Password authenticates to Redis. Empty means none.
	Password secret.String
	// Timeout bounds one operation. Zero means DefaultRedisTimeout.
	Timeout time.Duration
	// Retry is how long Redis is skipped after a failure, so that an outage
	// costs one timeout per Retry rather than one per lookup. Zero means
	// DefaultRedisRetry.
	Retry time.Duration
	// Prefix namespaces the keys. Empty means DefaultRedisPrefix.
	Prefix string
}

// redisStore is the shared tier. It never fails its caller: an error marks
// Redis down for Retry, logs one warning per outage, and reads as a miss.
type redisStore struct {
	what   string // what the log lines say uses Redis: "discovery cache", "rate limit"
	opts   RedisOptions
	log    zerolog.Logger
	client *redis.Client
	health *redisHealth
}

// redisHealth is what this process knows of one Redis server. The discovery
// cache, the rate limit and the shared state each hold a client, but an
// outage is the server's: the first of them to fail marks it down for all,
// and the process warns once per outage, not once per part.
type redisHealth struct {
	mu        sync.Mutex
	downUntil time.Time
	down      bool // warned about the current outage
}

var (
	healthMu sync.Mutex
	healths  = map[string]*redisHealth{}
)

// healthOf returns the one redisHealth of the Redis database at addr and
// db reached with password (so that one client's wrong password does not
// silence another's warning).
func healthOf(addr string, db int, password string) *redisHealth {
	sum := sha256.Sum256([]byte(password))
	key := addr + "/" + strconv.Itoa(db) + "/" + hex.EncodeToString(sum[:8])
	healthMu.Lock()
	defer healthMu.Unlock()
	h, ok := healths[key]
	if !ok {
		h = &redisHealth{}
		healths[key] = h
	}
	return h
}

var redisLogOnce sync.Once

func newRedisStore(o *RedisOptions, log zerolog.Logger) *redisStore {
	r := &redisStore{what: "discovery cache", opts: *o, log: log}
	if r.opts.Addr == "" {
		r.opts.Addr = DefaultRedisAddr
	}
	if r.opts.Timeout <= 0 {
		r.opts.Timeout = DefaultRedisTimeout
	}
	if r.opts.Retry <= 0 {
		r.opts.Retry = DefaultRedisRetry
	}
	if r.opts.Prefix == "" {
		r.opts.Prefix = DefaultRedisPrefix
	}
	r.health = healthOf(r.opts.Addr, r.opts.DB, r.opts.Password.Reveal())
	// go-redis logs to its own global logger, on stderr, bypassing our
	// redaction; its messages are reported through ours instead.
	redisLogOnce.Do(func() { redis.SetLogger(quietLogger{}) })
	r.client = redis.NewClient(&redis.Options{
		Addr:                     r.opts.Addr,
		DB:                       r.opts.DB,
		Password:                 r.opts.Password.Reveal(),
		Protocol:                 2,
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		DialTimeout:              r.opts.Timeout,
		ReadTimeout:              r.opts.Timeout,
		WriteTimeout:             r.opts.Timeout,
		MaxRetries:               -1, // fail fast; the retry policy is ours
		PoolSize:                 4,
	})
	return r
}

// quietLogger drops go-redis's own log lines; failures reach us as errors.
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

func (r *redisStore) close() error { return r.client.Close() }

// available reports whether Redis may be tried now.
func (r *redisStore) available() bool {
	h := r.health
	h.mu.Lock()
	defer h.mu.Unlock()
	return !time.Now().Before(h.downUntil)
}

// result records the outcome of an operation: a failure marks Redis down
// and warns once per outage of the server, whichever part of the process
// meets it; a success after an outage says so.
func (r *redisStore) result(err error) {
	h := r.health
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		if h.down {
			r.log.Info().Str("redis", r.opts.Addr).Msg(r.what + ": Redis is reachable again")
		}
		h.down, h.downUntil = false, time.Time{}
		return
	}
	h.downUntil = time.Now().Add(r.opts.Retry)
	if !h.down {
		h.down = true
		// The error text names the address and the failure (refused,
		// WRONGPASS, ...), never the password.
		r.log.Warn().Str("redis", r.opts.Addr).Err(err).
			Msg(r.what + ": Redis unavailable; carrying on with this process's local state")
	}
}

func (r *redisStore) get(ctx context.Context, key string) *Entry {
	if !r.available() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.Timeout)
	defer cancel()
	b, err := r.client.Get(ctx, r.opts.Prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		r.result(nil)
		return nil
	}
	r.result(err)
	if err != nil {
		return nil
	}
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		r.log.Debug().Err(err).Msg("discovery cache: undecodable Redis entry; treated as a miss")
		return nil
	}
	return &e
}

func (r *redisStore) put(ctx context.Context, key string, e *Entry, ttl time.Duration) {
	if !r.available() {
		return
	}
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.Timeout)
	defer cancel()
	r.result(r.client.Set(ctx, r.opts.Prefix+key, b, ttl).Err())
}

// clear deletes the namespace's entries of server, or all of them. Unlike
// the other operations it reports failure, for the CLI.
func (r *redisStore) clear(ctx context.Context, server string) (int, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 4*r.opts.Timeout)
	defer cancel()
	n := 0
	iter := r.client.Scan(ctx, 0, r.opts.Prefix+"*", 100).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		if server != "" {
			b, err := r.client.Get(ctx, k).Bytes()
			if errors.Is(err, redis.Nil) {
				continue
			}
			if err != nil {
				r.result(err)
				return n, fmt.Errorf("read Redis entry: %w", err)
			}
			var e Entry
			if json.Unmarshal(b, &e) == nil && e.Server != server {
				continue
			}
		}
		d, err := r.client.Del(ctx, k).Result()
		if err != nil {
			r.result(err)
			return n, fmt.Errorf("delete Redis entry: %w", err)
		}
		n += int(d)
	}
	if err := iter.Err(); err != nil {
		r.result(err)
		return n, fmt.Errorf("scan Redis entries: %w", err)
	}
	r.result(nil)
	return n, nil
}

// del deletes the entry under key.
func (r *redisStore) del(ctx context.Context, key string) error {
	if !r.available() {
		return fmt.Errorf("delete Redis entry: Redis is unavailable")
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.Timeout)
	defer cancel()
	err := r.client.Del(ctx, r.opts.Prefix+key).Err()
	r.result(err)
	if err != nil {
		return fmt.Errorf("delete Redis entry: %w", err)
	}
	return nil
}
