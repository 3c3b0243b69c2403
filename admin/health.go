package admin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"secure-mcp-gateway/audit"
	"secure-mcp-gateway/internal/config"
)

// Bounds of the upstream probes of Health.
const (
	// DefaultProbeTimeout bounds the probe of one server.
	DefaultProbeTimeout = 5 * time.Second
	// MaxProbeTimeout is the largest per-server bound a request may ask.
	MaxProbeTimeout = 30 * time.Second
	// probeParallel is how many servers are probed at once.
	probeParallel = 8
)

// HealthRequest asks for a health report.
type HealthRequest struct {
	// Probe also checks that every upstream server can be reached.
	Probe bool
	// ProbeTimeout bounds each server's probe; zero means
	// DefaultProbeTimeout, and it is capped at MaxProbeTimeout.
	ProbeTimeout time.Duration
}

// Health is the state of the config file and of what it describes.
type Health struct {
	// Healthy: the config is valid, the audit log (when on) has no fault
	// and, when probed, every upstream answered.
	Healthy     bool           `json:"healthy" doc:"the config is valid, the audit log has no fault and, when probed, every upstream answered"`
	ConfigValid bool           `json:"config_valid"`
	ConfigPath  string         `json:"config_path"`
	Problems    []string       `json:"problems" doc:"why the config does not load or validate"`
	Stats       map[string]int `json:"stats"`
	// Cache is absent when this process cannot open the cache.
	Cache *CacheHealth `json:"cache,omitempty"`
	Audit *AuditHealth `json:"audit,omitempty"`
	// Upstreams are present only when probed.
	Upstreams []Reachability `json:"upstreams,omitempty" doc:"present with probe=true: one entry per server"`
}

// AuditHealth is the audit log part of Health.
type AuditHealth struct {
	Enabled bool   `json:"enabled"`
	Dir     string `json:"dir,omitempty"`
	// Files and LastWrite describe the log's files in Dir.
	Files     int        `json:"files"`
	LastWrite *time.Time `json:"last_write,omitempty" doc:"modification time of the newest file"`
	// Written and Dropped are this process's own records, when it writes
	// an audit log.
	Written *uint64 `json:"written,omitempty" doc:"records this process wrote"`
	Dropped *uint64 `json:"dropped,omitempty" doc:"records this process lost to a full queue"`
	Problem string  `json:"problem,omitempty"`
}

// Reachability is the result of probing one upstream server.
type Reachability struct {
	ConfigName string `json:"mcp_config_name"`
	Server     string `json:"server_name"`
	Transport  string `json:"transport" enum:"stdio,http"`
	// Status is ProbeReachable, ProbeUnreachable or ProbeSkipped.
	Status    string `json:"status" enum:"reachable,unreachable,skipped"`
	Reachable bool   `json:"reachable"`
	// Detail says what answered, why nothing did, or why the server was
	// not probed.
	Detail    string `json:"detail"`
	ElapsedMS int64  `json:"elapsed_ms"`
}

// Probe outcomes.
const (
	ProbeReachable   = "reachable"
	ProbeUnreachable = "unreachable"
	// ProbeSkipped: the server cannot be checked without starting it (a
	// stdio server in a container sandbox); it does not count against
	// Healthy.
	ProbeSkipped = "skipped"
)

// SkipError is returned by a Prober for a server it cannot check without
// starting it; Reason says why.
type SkipError struct {
	Reason string
}

func (e *SkipError) Error() string { return e.Reason }

// Health reports whether the config file loads and validates, counts what
// it holds, and summarizes the discovery cache and the audit log. With
// req.Probe it also probes every upstream server, several at a time, each
// within req.ProbeTimeout. Without it, it runs no network request beyond
// the cache's own tiers.
func (s *Store) Health(ctx context.Context, req HealthRequest) (Health, error) {
	h := Health{ConfigPath: s.path, Problems: []string{}, Stats: map[string]int{}}
	if req.Probe && s.rt.Probe == nil {
		return h, &UnavailableError{What: "probing upstream servers"}
	}
	c, err := s.Load(ctx)
	var ve *config.ValidationError
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return h, err
	case errors.As(err, &ve):
		for _, p := range ve.Problems {
			h.Problems = append(h.Problems, p.Error())
		}
		return h, nil
	case err != nil:
		h.Problems = append(h.Problems, err.Error())
		return h, nil
	}
	h.ConfigValid = true
	servers := 0
	for _, m := range c.MCPConfigs {
		if m != nil {
			servers += len(m.Servers)
		}
	}
	h.Stats = map[string]int{"mcp_configs": len(c.MCPConfigs), "servers": servers, "projects": len(c.Projects),
		"users": len(c.Users), "api_keys": len(c.APIKeys)}
	h.Cache = s.cacheHealth(ctx)
	h.Audit = s.auditHealth(c)
	h.Healthy = h.Audit.Problem == ""
	if req.Probe {
		h.Upstreams = s.probeAll(ctx, c, req.ProbeTimeout)
		for _, r := range h.Upstreams {
			h.Healthy = h.Healthy && r.Status != ProbeUnreachable
		}
	}
	return h, ctx.Err()
}

func (s *Store) auditHealth(c *config.Config) *AuditHealth {
	a := &AuditHealth{Enabled: c.Audit != nil && c.Audit.Enabled}
	if al := s.rt.AuditLog; al != nil {
		written, dropped := al.Written(), al.Dropped()
		a.Written, a.Dropped = &written, &dropped
		if err := al.Err(); err != nil {
			a.Problem = "this process's audit log failed: " + err.Error()
		} else if dropped > 0 {
			a.Problem = fmt.Sprintf("this process dropped %d audit record(s): the queue was full (raise audit.queue_size)", dropped)
		}
	}
	if !a.Enabled {
		return a
	}
	dir, err := c.Audit.Dir()
	if err != nil {
		a.Problem = err.Error()
		return a
	}
	a.Dir = dir
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return a // nothing has written a record yet
	case err != nil:
		a.Problem = err.Error()
		return a
	case !st.IsDir():
		a.Problem = dir + " is not a directory"
		return a
	}
	files, err := audit.ListFiles([]string{dir})
	if err != nil {
		a.Problem = err.Error()
		return a
	}
	a.Files = len(files)
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil && (a.LastWrite == nil || fi.ModTime().After(*a.LastWrite)) {
			mt := fi.ModTime()
			a.LastWrite = &mt
		}
	}
	return a
}

// probeAll probes every server of c, probeParallel at a time, each within
// timeout.
func (s *Store) probeAll(ctx context.Context, c *config.Config, timeout time.Duration) []Reachability {
	if timeout <= 0 {
		timeout = DefaultProbeTimeout
	}
	timeout = min(timeout, MaxProbeTimeout)
	var list []scoped
	for _, id := range SortedIDs(c.MCPConfigs, func(id string) string { return ConfigName(c, id) }) {
		if mc := c.MCPConfigs[id]; mc != nil {
			for _, sv := range mc.Servers {
				if sv != nil {
					list = append(list, scoped{id, mc, sv})
				}
			}
		}
	}
	out := make([]Reachability, len(list))
	sem := make(chan struct{}, probeParallel)
	var wg sync.WaitGroup
	for i, sv := range list {
		r := &out[i]
		r.ConfigName, r.Server, r.Transport, r.Status = sv.mc.Name, sv.server.Name, "stdio", ProbeUnreachable
		if sv.server.Config.URL != "" {
			r.Transport = "http"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				r.Detail = "not probed: " + ctx.Err().Error()
				return
			}
			pctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			start := time.Now()
			detail, err := s.rt.Probe.Probe(pctx, c, sv.server)
			r.ElapsedMS = time.Since(start).Milliseconds()
			var skip *SkipError
			switch {
			case errors.As(err, &skip):
				r.Status, r.Detail = ProbeSkipped, skip.Reason
			case err != nil && pctx.Err() != nil:
				r.Detail = fmt.Sprintf("no answer within %v", timeout)
			case err != nil:
				r.Detail = err.Error()
			default:
				r.Status, r.Reachable, r.Detail = ProbeReachable, true, detail
			}
		}()
	}
	wg.Wait()
	return out
}
