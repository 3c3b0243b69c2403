package admin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"secure-mcp-gateway/internal/config"
)

// Cache types of ClearCacheRequest, as the Python gateway named them.
const (
	CacheTypeAll     = "all"
	CacheTypeGateway = "gateway_config"
	CacheTypeServer  = "server_config"
)

// CacheScope selects the servers a cache operation covers: every server of
// every MCP config when empty.
type CacheScope struct {
	// Config limits the scope to one MCP config (a name or an ID).
	Config Ref `json:"-"`
	// ServerName limits it to the servers of that name.
	ServerName string `json:"server_name,omitempty"`
	// APIKey limits it to the MCP config of a gateway key's project: the
	// key, its fingerprint (fp:xxxxxxxx) or its stored sha256: form.
	APIKey string `json:"api_key,omitempty"`
}

// scoped is one server a cache operation covers.
type scoped struct {
	configID string
	mc       *config.MCPConfig
	server   *config.Server
}

// all reports whether the scope is every MCP config.
func (sc CacheScope) all() bool { return sc.Config == (Ref{}) && sc.APIKey == "" }

// servers resolves the scope. A server name that no server in the scope
// has is a NotFoundError.
func (sc CacheScope) servers(c *config.Config) ([]scoped, error) {
	var only string
	switch {
	case sc.APIKey != "" && sc.Config != (Ref{}):
		return nil, &RequestError{Fields: []string{"api_key", "config_name"}, Problem: ProblemExclusive}
	case sc.APIKey != "":
		_, rec, err := resolveKey(c, sc.APIKey)
		if err != nil {
			return nil, err
		}
		p := c.Projects[rec.ProjectID]
		if p == nil || p.MCPConfigID == "" {
			return nil, &RefusedError{Detail: fmt.Sprintf("gateway key %s belongs to a project with no MCP config", ShownKeyRef(sc.APIKey))}
		}
		only = p.MCPConfigID
	case sc.Config != (Ref{}):
		id, _, err := resolveConfig(c, sc.Config)
		if err != nil {
			return nil, err
		}
		only = id
	}
	var out []scoped
	var names []string
	for _, id := range SortedIDs(c.MCPConfigs, func(id string) string { return ConfigName(c, id) }) {
		mc := c.MCPConfigs[id]
		if mc == nil || only != "" && id != only {
			continue
		}
		for _, s := range mc.Servers {
			if s == nil {
				continue
			}
			names = append(names, s.Name)
			if sc.ServerName == "" || s.Name == sc.ServerName {
				out = append(out, scoped{id, mc, s})
			}
		}
	}
	if sc.ServerName != "" && len(out) == 0 {
		in := "any MCP config"
		if only != "" {
			in = fmt.Sprintf("MCP config %q", ConfigName(c, only))
		}
		return nil, &NotFoundError{Kind: "server", Name: sc.ServerName, In: in, DidYouMean: config.Suggest(sc.ServerName, names)}
	}
	return out, nil
}

// CacheStatus is the state of the discovery cache.
type CacheStatus struct {
	// Tiers are the tiers the config sets up, fastest first.
	Tiers   []string       `json:"tiers"`
	Servers []CachedServer `json:"servers"`
}

// CachedServer is one server's cached tool list.
type CachedServer struct {
	ConfigID   string     `json:"mcp_config_id"`
	ConfigName string     `json:"mcp_config_name"`
	Server     string     `json:"server_name"`
	Cached     bool       `json:"cached"`
	Stale      bool       `json:"stale,omitempty" doc:"past its expiry: served while the gateway lists the server again"`
	Tools      int        `json:"tool_count,omitempty"`
	StoredAt   *time.Time `json:"stored_at,omitempty"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	Tiers      []string   `json:"tiers,omitempty" doc:"the tiers holding a usable copy"`
}

func (s *Store) openCache(ctx context.Context) (*config.Config, ToolCache, error) {
	if s.rt.Cache == nil {
		return nil, nil, &UnavailableError{What: "the discovery cache"}
	}
	c, err := s.Load(ctx)
	if err != nil {
		return nil, nil, err
	}
	tc, err := s.rt.Cache.OpenCache(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	return c, tc, nil
}

// CacheStatus reports, for every server in scope, whether its tool list
// is cached, how many tools, when it was stored and expires, and in which
// tiers.
func (s *Store) CacheStatus(ctx context.Context, scope CacheScope) (CacheStatus, error) {
	c, tc, err := s.openCache(ctx)
	if err != nil {
		return CacheStatus{}, err
	}
	defer tc.Close()
	list, err := scope.servers(c)
	if err != nil {
		return CacheStatus{}, err
	}
	now := time.Now()
	st := CacheStatus{Tiers: tc.Tiers(), Servers: []CachedServer{}}
	for _, sv := range list {
		row := CachedServer{ConfigID: sv.configID, ConfigName: sv.mc.Name, Server: sv.server.Name}
		for _, cp := range tc.Inspect(ctx, sv.configID, sv.server) {
			if !cp.Usable {
				continue
			}
			if !row.Cached {
				stored, expires := cp.StoredAt, cp.ExpiresAt
				row.Cached, row.Tools, row.StoredAt, row.ExpiresAt = true, cp.Tools, &stored, &expires
				row.Stale = !now.Before(expires)
			}
			row.Tiers = append(row.Tiers, cp.Tier)
		}
		st.Servers = append(st.Servers, row)
	}
	return st, nil
}

// ClearCacheRequest clears cached tool lists, so that the next session
// lists its upstreams live.
type ClearCacheRequest struct {
	// CacheType is all (the default), gateway_config or server_config.
	CacheType string `json:"cache_type,omitempty"`
	CacheScope
}

// CacheCleared is what ClearCache did.
type CacheCleared struct {
	CacheType string `json:"cache_type"`
	// Scope names what was cleared: "all servers", `server "x"`, `server
	// "x" of MCP config "y"`, `MCP config "y"`.
	Scope string `json:"scope"`
	// Entries is how many entries were removed from the shared tiers.
	Entries int `json:"entries_cleared"`
	// Tiers are the tiers cleared (the persistent store and Redis).
	Tiers []string `json:"tiers"`
	// GatewayConfig says what became of the gateway_config cache.
	GatewayConfig string `json:"gateway_config,omitempty"`
}

// GatewayConfigNote is CacheCleared.GatewayConfig: resolved keys and
// configs are cached only in each running gateway's memory.
const GatewayConfigNote = "nothing persisted (kept only in each running gateway's memory, which re-reads a changed config file)"

// ClearCache removes cached tool lists from the persistent store and
// Redis. With the whole scope (no config, no key) a server name clears
// that name's entries in every MCP config, including entries of servers
// the config no longer lists; a narrower scope clears exactly its
// servers' entries. Running gateways keep their in-memory copies until
// they revalidate them.
func (s *Store) ClearCache(ctx context.Context, req ClearCacheRequest) (CacheCleared, error) {
	kind := req.CacheType
	switch kind {
	case "":
		kind = CacheTypeAll
	case CacheTypeAll, CacheTypeGateway, CacheTypeServer:
	default:
		return CacheCleared{}, &InvalidError{Field: "cache_type", Err: fmt.Errorf("%q: want all, gateway_config or server_config", kind)}
	}
	c, tc, err := s.openCache(ctx)
	if err != nil {
		return CacheCleared{}, err
	}
	defer tc.Close()
	out := CacheCleared{CacheType: kind, Scope: "all servers", Tiers: []string{}}
	for _, t := range tc.Tiers() {
		if t != MemoryTier {
			out.Tiers = append(out.Tiers, t)
		}
	}
	if kind == CacheTypeAll || kind == CacheTypeGateway {
		out.GatewayConfig = GatewayConfigNote
	}
	if kind == CacheTypeGateway {
		return out, nil
	}
	if req.all() {
		if req.ServerName != "" {
			out.Scope = fmt.Sprintf("server %q", req.ServerName)
		}
		out.Entries, err = tc.Clear(ctx, req.ServerName)
		if err != nil {
			return out, fmt.Errorf("clear discovery cache: %w", err)
		}
		return out, nil
	}
	list, err := req.servers(c)
	if err != nil {
		return CacheCleared{}, err
	}
	var errs []error
	for _, sv := range list {
		found, err := tc.ClearServer(ctx, sv.configID, sv.server)
		if found {
			out.Entries++
		}
		errs = append(errs, err)
	}
	if len(list) > 0 {
		out.Scope = fmt.Sprintf("MCP config %q", list[0].mc.Name)
		if req.ServerName != "" {
			out.Scope = fmt.Sprintf("server %q of MCP config %q", req.ServerName, list[0].mc.Name)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return out, fmt.Errorf("clear discovery cache: %w", err)
	}
	return out, nil
}

// cacheHealth summarizes the cache for Health.
func (s *Store) cacheHealth(ctx context.Context) *CacheHealth {
	h := &CacheHealth{Tiers: []string{}}
	st, err := s.CacheStatus(ctx, CacheScope{})
	var ue *UnavailableError
	switch {
	case errors.As(err, &ue):
		return nil
	case err != nil:
		h.Problem = err.Error()
		return h
	}
	h.Tiers = st.Tiers
	h.Servers = len(st.Servers)
	for _, r := range st.Servers {
		if r.Cached {
			h.Cached++
		}
		if r.Stale {
			h.Stale++
		}
	}
	return h
}

// CacheHealth is the discovery cache part of Health.
type CacheHealth struct {
	Tiers   []string `json:"tiers"`
	Servers int      `json:"servers" doc:"servers in the config"`
	Cached  int      `json:"cached" doc:"servers whose tool list is cached"`
	Stale   int      `json:"stale" doc:"cached lists past their expiry"`
	Problem string   `json:"problem,omitempty"`
}
