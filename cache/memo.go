package cache

import (
	"fmt"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// DefaultMemoEntries bounds a Memo's size when its Options leave it zero.
const DefaultMemoEntries = 10_000

// Memo is an in-process cache of computed values with a time to live, such
// as the principals HTTP mode resolves from gateway keys on every request.
// It may drop any entry at any time (ristretto's admission policy), so a
// caller must always be able to compute the value again; it never decides
// anything by itself.
type Memo[V any] struct {
	c   *ristretto.Cache[string, V]
	ttl time.Duration
}

// NewMemo returns a Memo whose entries live ttl and which holds at most
// entries values (zero means DefaultMemoEntries).
func NewMemo[V any](ttl time.Duration, entries int64) (*Memo[V], error) {
	if entries <= 0 {
		entries = DefaultMemoEntries
	}
	c, err := ristretto.NewCache(&ristretto.Config[string, V]{
		NumCounters: 10 * entries,
		MaxCost:     entries,
		BufferItems: 64,
	})
	if err != nil {
		return nil, fmt.Errorf("create memo cache: %w", err)
	}
	return &Memo[V]{c: c, ttl: ttl}, nil
}

// Get returns the value cached under key, if any.
func (m *Memo[V]) Get(key string) (V, bool) { return m.c.Get(key) }

// Set caches v under key for the Memo's time to live. Like every ristretto
// write it is asynchronous and may be dropped.
func (m *Memo[V]) Set(key string, v V) { m.c.SetWithTTL(key, v, 1, m.ttl) }

// Clear drops every entry, for example when the config they came from
// changed.
func (m *Memo[V]) Clear() { m.c.Clear() }

// Close releases the cache's goroutines.
func (m *Memo[V]) Close() { m.c.Close() }
