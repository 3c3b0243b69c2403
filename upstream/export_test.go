package upstream

import "time"

// SetNow replaces the pool's clock (for backoff); call it before first use.
func SetNow(p *Pool, now func() time.Time) { p.now = now }

// Starts reports how many starts of the named server were attempted.
func Starts(p *Pool, name string) int {
	s := p.servers[name]
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.starts
}

// RefusedVersion exposes refusedVersion.
var RefusedVersion = refusedVersion
