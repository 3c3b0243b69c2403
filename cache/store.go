package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/rs/zerolog"

	"secure-mcp-gateway/internal/config"
)

// Defaults for Options fields left zero.
const (
	// DefaultToolTTL is how long a discovered tool list is fresh: the
	// Python gateway's enkrypt_tool_cache_expiration default of 4 hours.
	DefaultToolTTL = 4 * time.Hour
	// DefaultMemoryMaxCost bounds the in-process tier, in bytes of tool JSON.
	DefaultMemoryMaxCost = 32 << 20
	// DefaultDirName is the persistent store's directory, beside the config file.
	DefaultDirName = "discovery-cache"
)

// Tier names one storage tier of a Store.
type Tier string

// The tiers, fastest first.
const (
	TierMemory Tier = "memory"
	TierDisk   Tier = "disk"
	TierRedis  Tier = "redis"
)

// Entry is one server's discovered tool list.
type Entry struct {
	// Server is the server's name in its MCP config.
	Server string `json:"server"`
	// ConfigID is the MCP config the server belongs to.
	ConfigID string `json:"config_id"`
	// Tools is the JSON array of tool definitions as the upstream listed
	// them, before any guardrail ran.
	Tools json.RawMessage `json:"tools"`
	// StoredAt is when the list was discovered.
	StoredAt time.Time `json:"stored_at"`
	// ExpiresAt is when the entry stops being fresh.
	ExpiresAt time.Time `json:"expires_at"`
}

// ToolCount returns how many tools the entry holds, or -1 when its tool list
// cannot be decoded.
func (e *Entry) ToolCount() int {
	var tools []json.RawMessage
	if err := json.Unmarshal(e.Tools, &tools); err != nil {
		return -1
	}
	return len(tools)
}

// Options configures a Store. A nil *Options means an in-process tier only.
type Options struct {
	// Dir is the persistent store's directory, created with mode 0700 when
	// needed. Empty means no persistent tier.
	Dir string
	// ToolTTL is how long an entry stays fresh. Zero means DefaultToolTTL.
	ToolTTL time.Duration
	// MaxStale is how long past its TTL an entry may still be served while
	// it is revalidated. Zero means ToolTTL; an entry older than
	// ToolTTL+MaxStale is never served.
	MaxStale time.Duration
	// MemoryMaxCost bounds the in-process tier in bytes. Zero means
	// DefaultMemoryMaxCost.
	MemoryMaxCost int64
	// Redis enables the shared tier. Nil means no Redis.
	Redis *RedisOptions
	// Logger receives warnings about unusable tiers. Nil means no logs.
	Logger *zerolog.Logger
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
}

// Store is a tiered discovery cache. Its methods are safe for concurrent use.
type Store struct {
	opts  Options
	log   zerolog.Logger
	mem   *ristretto.Cache[string, *Entry]
	disk  *diskStore // nil without a persistent tier
	redis *redisStore
}

// New returns a Store. It does not contact Redis: the first operation that
// needs it does, and an unreachable Redis only costs a warning.
func New(opts *Options) (*Store, error) {
	s := &Store{}
	if opts != nil {
		s.opts = *opts
	}
	s.log = zerolog.Nop()
	if s.opts.Logger != nil {
		s.log = *s.opts.Logger
	}
	if s.opts.ToolTTL <= 0 {
		s.opts.ToolTTL = DefaultToolTTL
	}
	if s.opts.MaxStale <= 0 {
		s.opts.MaxStale = s.opts.ToolTTL
	}
	if s.opts.MemoryMaxCost <= 0 {
		s.opts.MemoryMaxCost = DefaultMemoryMaxCost
	}
	if s.opts.Now == nil {
		s.opts.Now = time.Now
	}
	mem, err := ristretto.NewCache(&ristretto.Config[string, *Entry]{
		NumCounters: 10_000,
		MaxCost:     s.opts.MemoryMaxCost,
		BufferItems: 64,
	})
	if err != nil {
		return nil, fmt.Errorf("create in-process cache: %w", err)
	}
	s.mem = mem
	if s.opts.Dir != "" {
		s.disk = &diskStore{dir: s.opts.Dir}
	}
	if s.opts.Redis != nil {
		s.redis = newRedisStore(s.opts.Redis, s.log)
	}
	return s, nil
}

// Close releases the in-process tier and the Redis connections.
func (s *Store) Close() error {
	s.mem.Close()
	if s.redis != nil {
		return s.redis.close()
	}
	return nil
}

// Tiers lists the tiers this store uses, fastest first.
func (s *Store) Tiers() []Tier {
	t := []Tier{TierMemory}
	if s.disk != nil {
		t = append(t, TierDisk)
	}
	if s.redis != nil {
		t = append(t, TierRedis)
	}
	return t
}

// usable reports whether e may be served at all: younger than
// ToolTTL+MaxStale past its discovery.
func (s *Store) usable(e *Entry, now time.Time) bool {
	return e != nil && now.Before(e.ExpiresAt.Add(s.opts.MaxStale)) && !now.Before(e.StoredAt.Add(-time.Minute))
}

// Get returns the entry under key from the fastest tier that holds a usable
// one, and whether it is stale (past its TTL, to be revalidated). A hit in a
// slower tier is copied into the faster ones.
func (s *Store) Get(ctx context.Context, key string) (e *Entry, stale bool, ok bool) {
	now := s.opts.Now()
	e, tier := s.get(ctx, key, now)
	if e == nil {
		return nil, false, false
	}
	switch tier {
	case TierRedis:
		if s.disk != nil {
			if err := s.disk.put(key, e); err != nil {
				s.log.Warn().Err(err).Msg("discovery cache: persistent store unusable")
			}
		}
		fallthrough
	case TierDisk:
		s.mem.SetWithTTL(key, e, cost(e), e.ExpiresAt.Add(s.opts.MaxStale).Sub(now))
	}
	return e, !now.Before(e.ExpiresAt), true
}

func (s *Store) get(ctx context.Context, key string, now time.Time) (*Entry, Tier) {
	if e, ok := s.mem.Get(key); ok && s.usable(e, now) {
		return e, TierMemory
	}
	if s.disk != nil {
		e, err := s.disk.get(key)
		if err != nil {
			s.log.Debug().Err(err).Msg("discovery cache: unreadable entry in the persistent store; treated as a miss")
		}
		if s.usable(e, now) {
			return e, TierDisk
		}
	}
	if s.redis != nil {
		if e := s.redis.get(ctx, key); s.usable(e, now) {
			return e, TierRedis
		}
	}
	return nil, ""
}

// Put stores tools, the JSON array server listed, under key in every tier.
// It reports the first tier that failed; the others are written anyway.
func (s *Store) Put(ctx context.Context, key, configID, server string, tools json.RawMessage) error {
	now := s.opts.Now()
	e := &Entry{Server: server, ConfigID: configID, Tools: tools, StoredAt: now, ExpiresAt: now.Add(s.opts.ToolTTL)}
	s.mem.SetWithTTL(key, e, cost(e), s.opts.ToolTTL+s.opts.MaxStale)
	var errs []error
	if s.disk != nil {
		if err := s.disk.put(key, e); err != nil {
			errs = append(errs, err)
		}
	}
	if s.redis != nil {
		s.redis.put(ctx, key, e, s.opts.ToolTTL+s.opts.MaxStale)
	}
	return errors.Join(errs...)
}

// Found is one tier's copy of an entry, as Inspect reports it.
type Found struct {
	Tier  Tier
	Entry *Entry
	// Usable is false for an entry too old to be served.
	Usable bool
}

// Inspect returns every tier's copy of key, fastest first, for status
// reports. It copies nothing between tiers.
func (s *Store) Inspect(ctx context.Context, key string) []Found {
	now := s.opts.Now()
	var out []Found
	if e, ok := s.mem.Get(key); ok {
		out = append(out, Found{TierMemory, e, s.usable(e, now)})
	}
	if s.disk != nil {
		if e, _ := s.disk.get(key); e != nil {
			out = append(out, Found{TierDisk, e, s.usable(e, now)})
		}
	}
	if s.redis != nil {
		if e := s.redis.get(ctx, key); e != nil {
			out = append(out, Found{TierRedis, e, s.usable(e, now)})
		}
	}
	return out
}

// Clear removes entries from every tier: those of the server named server,
// or all of them when server is empty. It returns how many entries it
// removed from the persistent and Redis tiers.
func (s *Store) Clear(ctx context.Context, server string) (int, error) {
	// ristretto cannot enumerate its keys, so the in-process tier is dropped
	// whole; it refills from the tiers below.
	s.mem.Clear()
	var n int
	var errs []error
	if s.disk != nil {
		k, err := s.disk.clear(server)
		n += k
		if err != nil {
			errs = append(errs, err)
		}
	}
	if s.redis != nil {
		k, err := s.redis.clear(ctx, server)
		n += k
		if err != nil {
			errs = append(errs, err)
		}
	}
	return n, errors.Join(errs...)
}

// LoadTools returns the cached tool list of server s in the MCP config
// configID, and whether it is stale.
func (s *Store) LoadTools(ctx context.Context, configID string, srv *config.Server) (tools json.RawMessage, stale, ok bool) {
	e, stale, ok := s.Get(ctx, Key(configID, srv))
	if !ok {
		return nil, false, false
	}
	return e.Tools, stale, true
}

// StoreTools caches tools, the JSON array server s listed, in every tier.
// A tier that fails is logged and skipped.
func (s *Store) StoreTools(ctx context.Context, configID string, srv *config.Server, tools json.RawMessage) {
	if err := s.Put(ctx, Key(configID, srv), configID, srv.Name, tools); err != nil {
		s.log.Warn().Err(err).Str("server", srv.Name).Msg("discovery cache: could not persist the tool list")
	}
}

func cost(e *Entry) int64 { return int64(len(e.Tools)) + 128 }

// InspectTools reports server srv's entry in the MCP config configID, from
// the fastest tier that holds a usable one, without copying between tiers.
func (s *Store) InspectTools(ctx context.Context, configID string, srv *config.Server) (storedAt, expiresAt time.Time, tools int, ok bool) {
	e, _ := s.get(ctx, Key(configID, srv), s.opts.Now())
	if e == nil {
		return time.Time{}, time.Time{}, 0, false
	}
	return e.StoredAt, e.ExpiresAt, e.ToolCount(), true
}

// ClearTools removes server srv's entry in the MCP config configID from
// every tier, leaving other configs' entries alone. It reports whether an
// entry was found.
func (s *Store) ClearTools(ctx context.Context, configID string, srv *config.Server) (bool, error) {
	key := Key(configID, srv)
	found := len(s.Inspect(ctx, key)) > 0
	s.mem.Del(key)
	s.mem.Wait()
	var errs []error
	if s.disk != nil {
		if err := os.Remove(s.disk.path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove cache entry: %w", err))
		}
	}
	if s.redis != nil {
		if err := s.redis.del(ctx, key); err != nil {
			errs = append(errs, err)
		}
	}
	return found, errors.Join(errs...)
}
