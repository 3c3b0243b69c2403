package cache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
)

// DefaultSharedPrefix namespaces the state that replicas share (tool pins,
// OAuth tokens, locks), beside the discovery cache's and the rate limit's.
const DefaultSharedPrefix = "secure-mcp-gateway:state:v1:"

// maxUpdateAttempts bounds the optimistic retries of one Update when other
// replicas keep writing the same document.
const maxUpdateAttempts = 32

// UnavailableError is the error of a Shared operation that could not reach
// Redis, or that was not tried because Redis failed moments ago. Callers
// fall back to their local state on it.
type UnavailableError struct {
	// Op is what was attempted: "read pins", "lock oauth token", …
	Op string
	// Err is the Redis client's error; nil when Redis was skipped because
	// it failed within the retry interval.
	Err error
}

func (e *UnavailableError) Error() string {
	if e.Err == nil {
		return "shared state: " + e.Op + ": Redis unavailable (failed recently; retried later)"
	}
	return "shared state: " + e.Op + ": Redis unavailable: " + e.Err.Error()
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// Shared is state every replica sees: small documents updated atomically
// (optimistic WATCH/MULTI transactions, so a read-modify-write never loses
// another replica's write) and short locks. It holds no copy of its own;
// each read is one round trip. When Redis cannot be reached every operation
// fails at once with *UnavailableError for the retry interval, and one
// warning is logged per outage.
type Shared struct {
	r *redisStore
}

// NewShared returns the shared state in the Redis o names. o.Prefix
// defaults to DefaultSharedPrefix. It does not contact Redis.
func NewShared(o *RedisOptions, log zerolog.Logger) *Shared {
	ro := *o
	if ro.Prefix == "" {
		ro.Prefix = DefaultSharedPrefix
	}
	r := newRedisStore(&ro, log)
	r.what = "shared state"
	return &Shared{r: r}
}

// Close releases the Redis connections.
func (s *Shared) Close() error { return s.r.close() }

// Addr is the Redis address, for messages.
func (s *Shared) Addr() string { return s.r.opts.Addr }

func (s *Shared) unavailable(op string, err error) error {
	s.r.result(err)
	return &UnavailableError{Op: op, Err: err}
}

// Get returns the document at key; nil when there is none.
func (s *Shared) Get(ctx context.Context, key string) ([]byte, error) {
	if !s.r.available() {
		return nil, &UnavailableError{Op: "read " + key}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.r.opts.Timeout)
	defer cancel()
	b, err := s.r.client.Get(ctx, s.r.opts.Prefix+key).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		s.r.result(nil)
		return nil, nil
	case err != nil:
		return nil, s.unavailable("read "+key, err)
	}
	s.r.result(nil)
	return b, nil
}

// Update replaces the document at key with fn's answer to its current
// content (nil when there is none), atomically: when another replica writes
// the document between the read and the write, fn runs again on the new
// content. An error from fn aborts the update and is returned as is. A nil
// answer deletes the document. ttl of zero keeps it forever.
func (s *Shared) Update(ctx context.Context, key string, ttl time.Duration, fn func(old []byte) ([]byte, error)) error {
	if !s.r.available() {
		return &UnavailableError{Op: "update " + key}
	}
	full := s.r.opts.Prefix + key
	var fnErr error
	txf := func(tx *redis.Tx) error {
		old, err := tx.Get(ctx, full).Bytes()
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		next, err := fn(old)
		if err != nil {
			fnErr = err
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			if next == nil {
				p.Del(ctx, full)
			} else {
				p.Set(ctx, full, next, ttl)
			}
			return nil
		})
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 4*s.r.opts.Timeout)
	defer cancel()
	for range maxUpdateAttempts {
		err := s.r.client.Watch(ctx, txf, full)
		switch {
		case err == nil:
			s.r.result(nil)
			return nil
		case fnErr != nil:
			s.r.result(nil)
			return fnErr
		case errors.Is(err, redis.TxFailedErr):
			continue // another replica wrote it first: read again
		default:
			return s.unavailable("update "+key, err)
		}
	}
	return fmt.Errorf("shared state: update %s: still contended after %d attempts", key, maxUpdateAttempts)
}

// unlockScript deletes a lock only while it still holds this holder's
// token, so a lock that expired and was taken by another replica is not
// released by the first.
var unlockScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end
return 0
`)

// Lock takes the lock named key for at most ttl, waiting (polling every
// 50 ms) while another replica holds it, until ctx ends. The returned
// function releases it; a lock whose holder died expires after ttl.
func (s *Shared) Lock(ctx context.Context, key string, ttl time.Duration) (func(), error) {
	if !s.r.available() {
		return nil, &UnavailableError{Op: "lock " + key}
	}
	var tok [16]byte
	_, _ = rand.Read(tok[:])
	token := hex.EncodeToString(tok[:])
	full := s.r.opts.Prefix + "lock:" + key
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		octx, cancel := context.WithTimeout(ctx, s.r.opts.Timeout)
		ok, err := s.r.client.SetNX(octx, full, token, ttl).Result()
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("shared state: lock %s: %w", key, ctx.Err())
			}
			return nil, s.unavailable("lock "+key, err)
		}
		s.r.result(nil)
		if ok {
			return func() {
				uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.r.opts.Timeout)
				defer cancel()
				s.r.result(unlockScript.Run(uctx, s.r.client, []string{full}, token).Err())
			}, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("shared state: lock %s: another replica holds it: %w", key, ctx.Err())
		case <-tick.C:
		}
	}
}

// Set stores value at key for ttl (zero: forever), unconditionally.
func (s *Shared) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if !s.r.available() {
		return &UnavailableError{Op: "write " + key}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.r.opts.Timeout)
	defer cancel()
	if err := s.r.client.Set(ctx, s.r.opts.Prefix+key, value, ttl).Err(); err != nil {
		return s.unavailable("write "+key, err)
	}
	s.r.result(nil)
	return nil
}

// Delete removes key; a missing key is no error.
func (s *Shared) Delete(ctx context.Context, key string) error {
	if !s.r.available() {
		return &UnavailableError{Op: "delete " + key}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.r.opts.Timeout)
	defer cancel()
	if err := s.r.client.Del(ctx, s.r.opts.Prefix+key).Err(); err != nil {
		return s.unavailable("delete "+key, err)
	}
	s.r.result(nil)
	return nil
}

// Claim stores value at key for ttl unless key exists, and reports whether
// it did: the first replica to claim a key wins, the others learn it was
// taken.
func (s *Shared) Claim(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if !s.r.available() {
		return false, &UnavailableError{Op: "claim " + key}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.r.opts.Timeout)
	defer cancel()
	ok, err := s.r.client.SetNX(ctx, s.r.opts.Prefix+key, value, ttl).Result()
	if err != nil {
		return false, s.unavailable("claim "+key, err)
	}
	s.r.result(nil)
	return ok, nil
}
