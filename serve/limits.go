package serve

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"time"

	"secure-mcp-gateway/authn"
)

// release gives back one of the session slots of the key whose
// authn.HashKey is keyHash, and its procs upstream process slots; h.mu
// must be held.
func (h *httpHandler) release(keyHash string, procs int) {
	h.perKey[keyHash]--
	if h.perKey[keyHash] <= 0 {
		delete(h.perKey, keyHash)
	}
	h.total--
	h.procs -= procs
	h.metrics.SetProcessSlots(h.procs)
}

// stdioServers is how many upstream processes a session of p may run.
func stdioServers(p *authn.Principal) int {
	n := 0
	if p != nil && p.MCPConfig != nil {
		for _, s := range p.MCPConfig.Servers {
			if s.Config.Command != "" {
				n++
			}
		}
	}
	return n
}

// eviction is an idle session closed to make room, and the cap that made
// it go.
type eviction struct {
	s      *session
	reason string // per_key, sessions or upstream_processes
}

// reserve takes a session slot of the key whose authn.HashKey is keyHash
// and procs upstream process slots. At a cap (per key, sessions, upstream processes), the least recently used
// sessions with no request in flight (of that key, for the per-key cap) are
// taken out of the books to make room, and returned for evict; when they
// cannot make room, nothing changes and refusal says why. h.mu is held.
func (h *httpHandler) reserve(keyHash string, procs int) (victims []eviction, refusal string) {
	if h.maxProcs > 0 && procs > h.maxProcs {
		return nil, fmt.Sprintf("a session of this key runs %d upstream processes, more than the gateway's --max-upstream-processes %d", procs, h.maxProcs)
	}
	var idle []*session
	for _, s := range h.sessions {
		if s.busy == 0 {
			idle = append(idle, s)
		}
	}
	slices.SortFunc(idle, func(a, b *session) int { return a.used.Compare(b.used) })
	chosen := map[*session]bool{}
	pick := func(ok func(*session) bool, reason string) bool {
		for _, s := range idle {
			if !chosen[s] && ok(s) {
				chosen[s] = true
				victims = append(victims, eviction{s, reason})
				return true
			}
		}
		return false
	}
	keyN, total, used := h.perKey[keyHash], h.total, h.procs
	if h.maxPer > 0 && keyN >= h.maxPer {
		if !pick(func(s *session) bool { return s.keyHash == keyHash }, "per_key") {
			return nil, fmt.Sprintf("this key already has %d open sessions, each with a request in flight", keyN)
		}
		total, used = total-1, used-victims[len(victims)-1].s.procs
	}
	for h.maxTotal > 0 && total >= h.maxTotal {
		if !pick(func(*session) bool { return true }, "sessions") {
			return nil, fmt.Sprintf("the gateway already has %d open sessions, each with a request in flight", total)
		}
		total, used = total-1, used-victims[len(victims)-1].s.procs
	}
	for h.maxProcs > 0 && used+procs > h.maxProcs {
		if !pick(func(s *session) bool { return s.procs > 0 }, "upstream_processes") {
			return nil, fmt.Sprintf("the open sessions may already run %d upstream processes of the gateway's %d, and every other session has a request in flight", used, h.maxProcs)
		}
		used -= victims[len(victims)-1].s.procs
	}
	for _, v := range victims {
		h.forget(v.s)
		if !v.s.stateless {
			h.states.remember(v.s.id)
		}
		h.release(v.s.keyHash, v.s.procs)
		h.metrics.SessionClosed()
	}
	h.perKey[keyHash]++
	h.total++
	h.procs += procs
	h.metrics.SetProcessSlots(h.procs)
	return victims, ""
}

// evict closes sessions reserve took out of the books: their client
// sessions end (so their next request gets 404 and they initialize again)
// and their upstreams are reaped in the background.
func (h *httpHandler) evict(victims []eviction) {
	for _, v := range victims {
		h.metrics.Evicted(v.reason)
		h.log.Info().Str("key", v.s.keyFP).Str("reason", v.reason).Dur("idle", time.Since(v.s.used)).
			Msg("idle session evicted to make room for a new one")
		if v.s.stateless {
			// Idle: no request of it is in flight, and its gateway was
			// made before it could become idle.
			go v.s.stop()
			continue
		}
		h.states.forget(v.s.id)
		for ss := range v.s.server.Sessions() {
			_ = ss.Close()
		}
		go v.s.stop()
	}
}

// sweep ends sessions whose client never completed initialization (the
// SDK closes them on idle timeout without the gateway hearing of it).
func (h *httpHandler) sweep(idle time.Duration) {
	h.mu.Lock()
	var stale []string
	for id, s := range h.sessions {
		if s.stateless {
			// A principal's stateless gateway idles out like a session.
			if idle > 0 && s.busy == 0 && time.Since(s.used) > idle {
				stale = append(stale, id)
			}
			continue
		}
		live := false
		for range s.server.Sessions() {
			live = true
		}
		if !live && time.Since(s.created) > idle {
			stale = append(stale, id)
		}
	}
	h.mu.Unlock()
	for _, id := range stale {
		h.endSession(id)
	}
}

// forget takes s out of the books' maps (not its slots: see release);
// h.mu is held.
func (h *httpHandler) forget(s *session) {
	delete(h.sessions, s.id)
	if s.stateless && h.byPrincipal[s.principal] == s.id {
		delete(h.byPrincipal, s.principal)
	}
}

// limitKey is the rate-limit bucket of a gateway key: the SHA-256 of the
// whole key, the same on every replica (the short fingerprint of logs may
// be shared by two keys).
func limitKey(cred authn.Credentials) string {
	sum := sha256.Sum256([]byte(cred.Key.Reveal()))
	return hex.EncodeToString(sum[:])
}

// closeAll reaps every session's upstreams; new sessions are refused.
func (h *httpHandler) closeAll() {
	h.mu.Lock()
	h.closed = true
	ids := make([]string, 0, len(h.sessions))
	for id := range h.sessions {
		ids = append(ids, id)
	}
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() { h.endSession(id) })
	}
	wg.Wait()
}
