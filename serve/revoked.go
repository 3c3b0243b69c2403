package serve

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/cache"
)

// RevocationPoll is how often an HTTP replica reads the shared list of
// revoked keys: a key revoked through another copy of the config is
// refused here within this interval (plus Redis's round trip).
const RevocationPoll = time.Second

// revocations is this replica's copy of the shared list of revoked keys.
// While Redis cannot be read it keeps the last list it read, so a key once
// revoked stays refused through an outage (cache.Shared warns once per
// outage); keys disabled in this replica's own config are refused anyway.
type revocations struct {
	list atomic.Pointer[authn.Revocations]
}

// watch reads the list from shared every RevocationPoll until ctx ends;
// the first read happens before it returns, so a replica never serves a
// request before it knows the list (when Redis answers).
func (rv *revocations) watch(ctx context.Context, shared *cache.Shared, log *zerolog.Logger) (done <-chan struct{}) {
	read := func() {
		b, err := shared.Get(ctx, authn.RevocationsKey)
		if err != nil {
			return
		}
		r, err := authn.DecodeRevocations(b)
		if err != nil {
			log.Error().Err(err).Msg("the shared list of revoked keys is unreadable; keeping the last one read (fix: disable or enable a key with the admin CLI, which rewrites the list)")
			return
		}
		rv.list.Store(r)
	}
	read()
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		t := time.NewTicker(RevocationPoll)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				read()
			}
		}
	}()
	return ch
}

// revoked reports when the key was revoked through the shared list.
func (rv *revocations) revoked(key string) (string, bool) {
	l := rv.list.Load()
	if l == nil || len(l.Keys) == 0 {
		return "", false
	}
	return l.Revoked(authn.HashKey(key))
}
