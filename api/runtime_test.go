package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"secure-mcp-gateway/admin"
	"secure-mcp-gateway/internal/config"
)

// memCache is a discovery cache in memory holding one fresh copy of
// echo_server's tools.
type memCache struct {
	mu      sync.Mutex
	cleared []string
}

func (m *memCache) OpenCache(context.Context, *config.Config) (admin.ToolCache, error) { return m, nil }
func (m *memCache) Tiers() []string                                                    { return []string{admin.MemoryTier, "disk"} }
func (m *memCache) Inspect(_ context.Context, _ string, s *config.Server) []admin.CachedCopy {
	if s.Name != "echo_server" {
		return nil
	}
	now := time.Now()
	return []admin.CachedCopy{{Tier: "disk", StoredAt: now, ExpiresAt: now.Add(time.Hour), Tools: 2, Usable: true}}
}
func (m *memCache) Clear(_ context.Context, server string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cleared = append(m.cleared, "*/"+server)
	return 1, nil
}
func (m *memCache) ClearServer(_ context.Context, id string, s *config.Server) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cleared = append(m.cleared, id+"/"+s.Name)
	return s.Name == "echo_server", nil
}
func (m *memCache) Close() error { return nil }

// TestCacheRoutes: status and clear of the discovery cache, scoped by
// server, config or gateway key.
func TestCacheRoutes(t *testing.T) {
	mc := &memCache{}
	srv, st := serverWith(t, Options{}, admin.Runtime{Cache: mc})
	k, err := st.GenerateKey(context.Background(), admin.GenerateKeyRequest{User: admin.Ref{Name: "default@example.com"}, Project: admin.Ref{Name: "default_project"}})
	if err != nil {
		t.Fatal(err)
	}
	r := call(t, srv, "GET", "/api/v1/cache/status", adminKey, nil)
	var status admin.CacheStatus
	r.data(t, &status)
	if r.code != 200 || len(status.Servers) != 2 || !status.Servers[0].Cached || status.Servers[0].Tools != 2 || status.Servers[1].Cached {
		t.Fatalf("status: %d %s", r.code, r.raw)
	}
	for _, c := range []struct {
		name, query string
		want        int
		servers     int
	}{
		{"by server", "?server_name=remote", 200, 1},
		{"by config", "?config=default_config&server_name=echo_server", 200, 1},
		{"by key fingerprint", "?api_key=" + k.Fingerprint, 200, 2},
		{"unknown server", "?server_name=echo_srver", 404, 0},
		{"unknown key", "?api_key=fp:00000000", 404, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := call(t, srv, "GET", "/api/v1/cache/status"+c.query, adminKey, nil)
			if r.code != c.want {
				t.Fatalf("%d, want %d: %s", r.code, c.want, r.raw)
			}
			if c.want == 200 {
				var st admin.CacheStatus
				r.data(t, &st)
				if len(st.Servers) != c.servers {
					t.Fatalf("%d servers, want %d: %s", len(st.Servers), c.servers, r.raw)
				}
			}
			if c.want == 404 && c.name == "unknown server" && !strings.Contains(r.Body.Message, `did you mean "echo_server"`) {
				t.Fatalf("404 message %q", r.Body.Message)
			}
		})
	}

	for _, c := range []struct {
		name        string
		body        any
		want        int
		wantCleared string
		wantMsg     string
	}{
		{"everything", map[string]any{}, 200, "*/", "Cleared 1 cached tool list(s) of all servers in [disk]"},
		{"a key's config, with the key itself", map[string]any{"api_key": k.APIKey}, 200, "/remote", `of MCP config "default_config"`},
		{"gateway_config", map[string]any{"cache_type": "gateway_config"}, 200, "", "gateway_config: nothing persisted"},
		{"unknown cache type", map[string]any{"cache_type": "tools"}, 422, "", "body.cache_type"},
		{"key and config", map[string]any{"api_key": k.Fingerprint, "config_name": "default_config"}, 422, "", "give only one of api_key and config_name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			mc.cleared = nil
			r := call(t, srv, "POST", "/api/v1/cache/clear", adminKey, c.body)
			if r.code != c.want || !strings.Contains(r.Body.Message, c.wantMsg) {
				t.Fatalf("%d %q, want %d and %q\n%s", r.code, r.Body.Message, c.want, c.wantMsg, r.raw)
			}
			if got := strings.Join(mc.cleared, ","); c.wantCleared != "" && !strings.HasSuffix(got, c.wantCleared) || c.wantCleared == "" && got != "" {
				t.Fatalf("cleared %q, want ...%q", got, c.wantCleared)
			}
			if strings.Contains(r.raw, k.APIKey) {
				t.Fatal("the response echoes the gateway key")
			}
		})
	}
}

// keeper is a token cache in memory: remote holds a login token.
type keeper struct {
	mu      sync.Mutex
	cached  bool
	failing bool
}

func (k *keeper) Token(_ context.Context, kind admin.TokenKind, _ string, s *config.Server) (admin.TokenState, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if kind != admin.TokenLogin || !k.cached {
		return admin.TokenState{LoginCommand: "secure-mcp-gateway oauth login " + s.Name}, nil
	}
	return admin.TokenState{Cached: true, Fingerprint: "fp:abcd1234", Issuer: "https://as.example", Expiry: time.Now().Add(time.Hour)}, nil
}

func (k *keeper) Revoke(context.Context, *config.Config, admin.TokenKind, string, *config.Server) (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	had := k.cached
	k.cached = false
	if k.failing {
		return had, errors.New("the revocation endpoint answered 503")
	}
	return had, nil
}

// TestOAuthRoutes lists and revokes OAuth tokens.
func TestOAuthRoutes(t *testing.T) {
	kp := &keeper{cached: true}
	srv, st := serverWith(t, Options{}, admin.Runtime{Tokens: kp})
	if err := config.Update(st.Path(), func(c *config.Config) error {
		for _, m := range c.MCPConfigs {
			for _, s := range m.Servers {
				if s.Name == "remote" {
					s.OAuthLogin = &config.OAuthLogin{ClientID: "cid", ClientSecret: canary}
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r := call(t, srv, "GET", "/api/v1/oauth/tokens", adminKey, nil)
	var ts []admin.OAuthToken
	r.data(t, &ts)
	if r.code != 200 || len(ts) != 1 || !ts[0].Cached || ts[0].Fingerprint != "fp:abcd1234" || ts[0].Kind != admin.TokenLogin || ts[0].ExpiresAt == nil {
		t.Fatalf("tokens: %d %s", r.code, r.raw)
	}
	if strings.Contains(r.raw, canary) {
		t.Fatal("the client secret is in the listing")
	}
	r = call(t, srv, "DELETE", "/api/v1/oauth/tokens/remote", adminKey, nil)
	var res []admin.TokenRevocation
	r.data(t, &res)
	if r.code != 200 || len(res) != 1 || res[0].Outcome != admin.RevokeRevoked {
		t.Fatalf("revoke: %d %s", r.code, r.raw)
	}
	r = call(t, srv, "DELETE", "/api/v1/oauth/tokens/remote?config=default_config", adminKey, nil)
	if r.data(t, &res); r.code != 200 || res[0].Outcome != admin.RevokeNoToken {
		t.Fatalf("second revoke: %d %s", r.code, r.raw)
	}
	if r := call(t, srv, "DELETE", "/api/v1/oauth/tokens/echo_server", adminKey, nil); r.code != 404 {
		t.Fatalf("a server without OAuth: %d %s", r.code, r.raw)
	}
	kp.failing, kp.cached = true, true
	if r := call(t, srv, "DELETE", "/api/v1/oauth/tokens/remote", adminKey, nil); r.code != http.StatusBadGateway || !strings.Contains(r.Body.Message, "503") {
		t.Fatalf("a failing issuer: %d %s", r.code, r.raw)
	}
}

// up is a prober: remote is down, everything else answers.
type up struct{}

func (up) Probe(_ context.Context, _ *config.Config, s *config.Server) (string, error) {
	if s.Config.URL != "" {
		return "", errors.New("connection refused")
	}
	return "command found", nil
}

// TestHealthRoute: health is cheap without probe; probe=true reports each
// upstream; an API without the runtime says it cannot probe.
func TestHealthRoute(t *testing.T) {
	srv, _ := serverWith(t, Options{}, admin.Runtime{Probe: up{}, Cache: &memCache{}})
	r := call(t, srv, "GET", "/api/v1/system/health", adminKey, nil)
	var h admin.Health
	r.data(t, &h)
	if r.code != 200 || !h.Healthy || !h.ConfigValid || h.Upstreams != nil || h.Cache == nil || h.Cache.Cached != 1 || h.Audit == nil {
		t.Fatalf("health: %d %s", r.code, r.raw)
	}
	r = call(t, srv, "GET", "/api/v1/system/health?probe=true&timeout_seconds=2", adminKey, nil)
	h = admin.Health{}
	r.data(t, &h)
	if r.code != 200 || h.Healthy || len(h.Upstreams) != 2 || r.Body.Message != "1 of 2 upstream server(s) unreachable" {
		t.Fatalf("probe: %d %s", r.code, r.raw)
	}
	if strings.Contains(r.raw, canary) {
		t.Fatal("a secret of the config is in the health report")
	}
	if r := call(t, srv, "GET", "/api/v1/system/health?timeout_seconds=31", adminKey, nil); r.code != 422 {
		t.Fatalf("timeout over the cap: %d %s", r.code, r.raw)
	}
	bare, _ := server(t, Options{})
	if r := call(t, bare, "GET", "/api/v1/system/health?probe=true", adminKey, nil); r.code != http.StatusNotImplemented {
		t.Fatalf("probe without a prober: %d %s", r.code, r.raw)
	}
	for _, path := range []string{"/api/v1/cache/status", "/api/v1/oauth/tokens"} {
		if r := call(t, bare, "GET", path, adminKey, nil); r.code != http.StatusNotImplemented {
			t.Fatalf("%s without the runtime: %d %s", path, r.code, r.raw)
		}
	}
}

// TestCORS: no CORS answer without an allowed origin; with one, CORS for
// exactly that origin, preflight included; cross-origin browser writes
// from any other origin are refused.
func TestCORS(t *testing.T) {
	const allowed, other = "https://admin.example.com", "https://evil.example"
	type req struct {
		method, origin, site string
		preflight            bool
	}
	send := func(t *testing.T, base string, q req) *http.Response {
		t.Helper()
		hr, err := http.NewRequest(q.method, base+"/api/v1/configs", strings.NewReader(`{"config_name":"from-browser"}`))
		if err != nil {
			t.Fatal(err)
		}
		if q.origin != "" {
			hr.Header.Set("Origin", q.origin)
		}
		if q.site != "" {
			hr.Header.Set("Sec-Fetch-Site", q.site)
		}
		if q.preflight {
			hr.Header.Set("Access-Control-Request-Method", "POST")
			hr.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		} else {
			hr.Header.Set("Authorization", "Bearer "+adminKey)
			hr.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if !q.preflight {
			exercised.add(q.method, "/api/v1/configs")
		}
		return resp
	}
	closed, _ := server(t, Options{})
	open, _ := server(t, Options{AllowedOrigins: []string{allowed}})
	for _, c := range []struct {
		name       string
		base       string
		q          req
		wantStatus int
		wantACAO   string
	}{
		{"no origin allowed: preflight refused", closed.URL, req{http.MethodOptions, allowed, "cross-site", true}, 403, ""},
		{"no origin allowed: no CORS header", closed.URL, req{http.MethodGet, allowed, "cross-site", false}, 200, ""},
		{"no origin allowed: cross-origin write refused", closed.URL, req{http.MethodPost, allowed, "cross-site", false}, 403, ""},
		{"no origin allowed: non-browser write", closed.URL, req{http.MethodPost, "", "", false}, 200, ""},
		{"allowed: preflight", open.URL, req{http.MethodOptions, allowed, "cross-site", true}, 204, allowed},
		{"allowed: read", open.URL, req{http.MethodGet, allowed, "cross-site", false}, 200, allowed},
		{"allowed: write", open.URL, req{http.MethodPost, allowed, "cross-site", false}, 200, allowed},
		{"other: preflight refused", open.URL, req{http.MethodOptions, other, "cross-site", true}, 403, ""},
		{"other: read without CORS", open.URL, req{http.MethodGet, other, "cross-site", false}, 200, ""},
		{"other: write refused", open.URL, req{http.MethodPost, other, "cross-site", false}, 403, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp := send(t, c.base, c.q)
			if resp.StatusCode != c.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.wantStatus)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != c.wantACAO {
				t.Fatalf("Access-Control-Allow-Origin %q, want %q", got, c.wantACAO)
			}
			if c.wantACAO == "" && resp.Header.Get("Access-Control-Allow-Methods") != "" {
				t.Fatal("a CORS header for an origin not allowed")
			}
			if c.q.preflight && c.wantStatus == 204 {
				if m := resp.Header.Get("Access-Control-Allow-Methods"); !strings.Contains(m, "DELETE") ||
					!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
					t.Fatalf("preflight answer %v", resp.Header)
				}
			}
		})
	}
	for _, bad := range []string{"https://admin.example.com/path", "admin.example.com", "*"} {
		var oe *OriginError
		if _, err := New(Options{AllowedOrigins: []string{bad}}); !errors.As(err, &oe) || oe.Origin != bad {
			t.Errorf("allowed origin %q: %v, want an OriginError", bad, err)
		}
	}
}
