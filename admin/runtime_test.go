package admin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"secure-mcp-gateway/internal/config"
)

// fakeCache is a discovery cache in memory: copies by "configID/server".
type fakeCache struct {
	mu      sync.Mutex
	copies  map[string][]CachedCopy
	cleared []string // "all:<server>" or "one:<configID>/<server>"
	closed  int
}

func (f *fakeCache) OpenCache(context.Context, *config.Config) (ToolCache, error) { return f, nil }
func (f *fakeCache) Tiers() []string                                              { return []string{MemoryTier, "disk"} }
func (f *fakeCache) Inspect(_ context.Context, id string, s *config.Server) []CachedCopy {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.copies[id+"/"+s.Name]
}
func (f *fakeCache) Clear(_ context.Context, server string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleared = append(f.cleared, "all:"+server)
	return 7, nil
}
func (f *fakeCache) ClearServer(_ context.Context, id string, s *config.Server) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleared = append(f.cleared, "one:"+id+"/"+s.Name)
	_, ok := f.copies[id+"/"+s.Name]
	return ok, nil
}
func (f *fakeCache) Close() error { f.closed++; return nil }

// runtimeFixture is fixture with rt, a gateway key in the default project,
// and its key.
func runtimeFixture(t *testing.T, rt Runtime) (*Store, string) {
	t.Helper()
	s := fixture(t)
	s = OpenWith(s.Path(), rt)
	k, err := s.GenerateKey(context.Background(), GenerateKeyRequest{User: Ref{Name: "default@example.com"}, Project: Ref{Name: "default_project"}})
	if err != nil {
		t.Fatal(err)
	}
	return s, k.APIKey
}

func TestCacheStatusScopes(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	fc := &fakeCache{copies: map[string][]CachedCopy{
		defaultID + "/echo_server": {
			{Tier: "disk", StoredAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour), Tools: 3, Usable: true},
			{Tier: "redis", StoredAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour), Tools: 3, Usable: true},
		},
		defaultID + "/remote": {{Tier: "disk", StoredAt: now.Add(-9 * time.Hour), ExpiresAt: now.Add(-5 * time.Hour), Tools: 1, Usable: false}},
	}}
	s, key := runtimeFixture(t, Runtime{Cache: fc})
	tests := []struct {
		name    string
		scope   CacheScope
		servers []string
		check   func(t *testing.T, err error)
	}{
		{"all", CacheScope{}, []string{"echo_server", "remote"}, nil},
		{"server", CacheScope{ServerName: "remote"}, []string{"remote"}, nil},
		{"config by name", CacheScope{Config: Ref{Name: "default_config"}}, []string{"echo_server", "remote"}, nil},
		{"empty config", CacheScope{Config: RefOf("spare_config")}, []string{}, nil},
		{"key", CacheScope{APIKey: key}, []string{"echo_server", "remote"}, nil},
		{"key fingerprint", CacheScope{APIKey: ShownKeyRef(key), ServerName: "echo_server"}, []string{"echo_server"}, nil},
		{"unknown server", CacheScope{ServerName: "echo_srver"}, nil, func(t *testing.T, err error) {
			var nf *NotFoundError
			if !errors.As(err, &nf) || nf.DidYouMean != "echo_server" {
				t.Fatalf("err = %v, want NotFoundError suggesting echo_server", err)
			}
		}},
		{"unknown key", CacheScope{APIKey: "fp:00000000"}, nil, func(t *testing.T, err error) {
			var kn *KeyNotFoundError
			if !errors.As(err, &kn) {
				t.Fatalf("err = %v, want KeyNotFoundError", err)
			}
		}},
		{"key and config", CacheScope{APIKey: key, Config: RefOf("default_config")}, nil, func(t *testing.T, err error) {
			var re *RequestError
			if !errors.As(err, &re) || re.Problem != ProblemExclusive {
				t.Fatalf("err = %v, want an exclusive RequestError", err)
			}
			if strings.Contains(err.Error(), key) {
				t.Fatal("the error echoes the key")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := s.CacheStatus(ctx, tc.scope)
			if tc.check != nil {
				tc.check(t, err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range st.Servers {
				got = append(got, r.Server)
			}
			if !slices.Equal(got, tc.servers) && !(len(got) == 0 && len(tc.servers) == 0) {
				t.Fatalf("servers %v, want %v", got, tc.servers)
			}
			for _, r := range st.Servers {
				switch r.Server {
				case "echo_server":
					if !r.Cached || r.Stale || r.Tools != 3 || !slices.Equal(r.Tiers, []string{"disk", "redis"}) {
						t.Errorf("echo_server row %+v", r)
					}
				case "remote":
					if r.Cached { // its only copy is too old to be served
						t.Errorf("remote row %+v, want not cached", r)
					}
				}
			}
		})
	}
	if fc.closed == 0 {
		t.Error("the cache was never closed")
	}
}

func TestClearCache(t *testing.T) {
	ctx := context.Background()
	fc := &fakeCache{copies: map[string][]CachedCopy{defaultID + "/echo_server": {{Tier: "disk", Usable: true}}}}
	s, key := runtimeFixture(t, Runtime{Cache: fc})
	tests := []struct {
		name        string
		req         ClearCacheRequest
		wantCleared []string
		wantEntries int
		wantScope   string
	}{
		{"everything", ClearCacheRequest{}, []string{"all:"}, 7, "all servers"},
		{"a server name everywhere, even one the config lost", ClearCacheRequest{CacheType: CacheTypeServer, CacheScope: CacheScope{ServerName: "gone"}}, []string{"all:gone"}, 7, `server "gone"`},
		{"gateway_config only", ClearCacheRequest{CacheType: CacheTypeGateway}, nil, 0, "all servers"},
		{"a key's config", ClearCacheRequest{CacheScope: CacheScope{APIKey: key}},
			[]string{"one:" + defaultID + "/echo_server", "one:" + defaultID + "/remote"}, 1, `MCP config "default_config"`},
		{"one server of a config", ClearCacheRequest{CacheScope: CacheScope{Config: RefOf(defaultID), ServerName: "remote"}},
			[]string{"one:" + defaultID + "/remote"}, 0, `server "remote" of MCP config "default_config"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fc.cleared = nil
			res, err := s.ClearCache(ctx, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(fc.cleared, tc.wantCleared) || res.Entries != tc.wantEntries || res.Scope != tc.wantScope {
				t.Fatalf("cleared %v (%d entries, scope %q), want %v (%d, %q)", fc.cleared, res.Entries, res.Scope, tc.wantCleared, tc.wantEntries, tc.wantScope)
			}
			if !slices.Equal(res.Tiers, []string{"disk"}) {
				t.Errorf("tiers %v: the memory tier is this process's, not cleared anywhere", res.Tiers)
			}
			if (res.GatewayConfig != "") != (res.CacheType != CacheTypeServer) {
				t.Errorf("gateway_config note %q for cache type %s", res.GatewayConfig, res.CacheType)
			}
		})
	}
	var ie *InvalidError
	if _, err := s.ClearCache(ctx, ClearCacheRequest{CacheType: "tools"}); !errors.As(err, &ie) || ie.Field != "cache_type" {
		t.Fatalf("bad cache type: %v, want InvalidError on cache_type", err)
	}
	var nf *NotFoundError
	if _, err := s.ClearCache(ctx, ClearCacheRequest{CacheScope: CacheScope{Config: RefOf("spare_config"), ServerName: "remote"}}); !errors.As(err, &nf) {
		t.Fatalf("server outside the config: %v, want NotFoundError", err)
	}
}

// TestRuntimeUnavailable: a Store opened without a runtime part refuses
// the operations that need it with *UnavailableError.
func TestRuntimeUnavailable(t *testing.T) {
	ctx := context.Background()
	s := fixture(t)
	for name, op := range map[string]func() error{
		"cache status": func() error { _, err := s.CacheStatus(ctx, CacheScope{}); return err },
		"cache clear":  func() error { _, err := s.ClearCache(ctx, ClearCacheRequest{}); return err },
		"oauth tokens": func() error { _, err := s.OAuthTokens(ctx); return err },
		"oauth revoke": func() error { _, err := s.RevokeOAuthToken(ctx, RevokeTokenRequest{ServerName: "x"}); return err },
		"probe":        func() error { _, err := s.Health(ctx, HealthRequest{Probe: true}); return err },
	} {
		var ue *UnavailableError
		if err := op(); !errors.As(err, &ue) {
			t.Errorf("%s: %v, want UnavailableError", name, err)
		}
	}
	h, err := s.Health(ctx, HealthRequest{})
	if err != nil || !h.Healthy || h.Cache != nil || h.Upstreams != nil {
		t.Fatalf("health without runtime = %+v, %v; want healthy, no cache part, no probes", h, err)
	}
}

// fakeTokens holds the fingerprints of cached tokens by "kind/server"; a
// revocation of a server in notRevocable forgets only, one in failing fails.
type fakeTokens struct {
	mu           sync.Mutex
	cached       map[string]string
	notRevocable map[string]bool
	failing      map[string]bool
	revoked      []string
}

func (f *fakeTokens) Token(_ context.Context, kind TokenKind, configName string, s *config.Server) (TokenState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fp, ok := f.cached[string(kind)+"/"+s.Name]
	if !ok {
		return TokenState{LoginCommand: "secure-mcp-gateway oauth login " + s.Name + " --config-name " + configName}, nil
	}
	return TokenState{Cached: true, Fingerprint: fp, Issuer: "https://user:pw@as.example/?secret=1", Refreshable: true,
		Obtained: time.Now().Add(-time.Hour), Expiry: time.Now().Add(-time.Minute)}, nil
}

func (f *fakeTokens) Revoke(_ context.Context, _ *config.Config, kind TokenKind, configName string, s *config.Server) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := string(kind) + "/" + s.Name
	f.revoked = append(f.revoked, configName+":"+k)
	_, had := f.cached[k]
	delete(f.cached, k)
	switch {
	case f.failing[s.Name]:
		return had, errors.New("the revocation endpoint answered 500")
	case had && f.notRevocable[s.Name]:
		return true, fmt.Errorf("%w: no URL", ErrNotRevocable)
	}
	return had, nil
}

// withOAuth gives remote a login entry and echo_server a client
// credentials entry, in default_config.
func withOAuth(t *testing.T, s *Store) {
	t.Helper()
	err := s.update(context.Background(), func(c *config.Config) error {
		for _, sv := range c.MCPConfigs[defaultID].Servers {
			switch sv.Name {
			case "remote":
				sv.OAuthLogin = &config.OAuthLogin{}
			case "echo_server":
				sv.OAuth = &config.OAuthConfig{Enabled: true, ClientID: "id", ClientSecret: canary, TokenURL: "https://as.example/token?k=" + canary}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOAuthTokens(t *testing.T) {
	ctx := context.Background()
	ft := &fakeTokens{cached: map[string]string{"login/remote": "fp:1234abcd"}}
	s, _ := runtimeFixture(t, Runtime{Tokens: ft})
	if ts, err := s.OAuthTokens(ctx); err != nil || len(ts) != 0 {
		t.Fatalf("before any oauth entry: %v, %v", ts, err)
	}
	withOAuth(t, s)
	ts, err := s.OAuthTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 {
		t.Fatalf("tokens = %+v, want 2", ts)
	}
	cc, login := ts[0], ts[1]
	if cc.Kind != TokenClientCredentials || cc.Server != "echo_server" || cc.Cached || cc.Endpoint != "https://as.example/token" {
		t.Errorf("client credentials row %+v", cc)
	}
	if login.Kind != TokenLogin || !login.Cached || login.Fingerprint != "fp:1234abcd" || !login.Expired || !login.Refreshable ||
		login.Endpoint != "https://as.example/" || login.LoginCommand != "" {
		t.Errorf("login row %+v", login)
	}
	if got := fmt.Sprintf("%+v", ts); strings.Contains(got, canary) || strings.Contains(got, "pw@") {
		t.Errorf("a secret in the listing: %s", got)
	}
}

// sharedTokens answers every SharedToken call with st, ok and err, and
// counts the calls.
type sharedTokens struct {
	st    SharedTokenState
	ok    bool
	err   error
	calls atomic.Int32
}

func (f *sharedTokens) SharedToken(context.Context, *config.Config, *config.Server) (SharedTokenState, bool, error) {
	f.calls.Add(1)
	return f.st, f.ok, f.err
}

// TestOAuthTokensShared: a client-credentials row carries the token
// replicas share when the config names a store; an unreachable store or an
// unreadable entry is the row's problem, never the listing's; login rows
// and configs without a store are as before.
func TestOAuthTokensShared(t *testing.T) {
	expiry := time.Now().Add(41 * time.Minute).Round(time.Second)
	const store = "127.0.0.1:6379"
	tests := []struct {
		name   string
		reader *sharedTokens
		want   *SharedOAuthToken
	}{
		{name: "no store", reader: &sharedTokens{}},
		{name: "none shared", reader: &sharedTokens{ok: true, st: SharedTokenState{Store: store}},
			want: &SharedOAuthToken{Store: store}},
		{name: "shared", reader: &sharedTokens{ok: true, st: SharedTokenState{Store: store, Found: true, Fingerprint: "fp:5151", Scope: "mcp", Expiry: expiry}},
			want: &SharedOAuthToken{Store: store, Cached: true, Fingerprint: "fp:5151", Scope: "mcp", ExpiresAt: &expiry}},
		{name: "expired", reader: &sharedTokens{ok: true, st: SharedTokenState{Store: store, Found: true, Fingerprint: "fp:5151", Expiry: expiry.Add(-time.Hour)}},
			want: &SharedOAuthToken{Store: store, Cached: true, Fingerprint: "fp:5151", ExpiresAt: new(expiry.Add(-time.Hour)), Expired: true}},
		{name: "unreachable", reader: &sharedTokens{ok: true, st: SharedTokenState{Store: store}, err: fmt.Errorf("read: %w: connection refused", ErrSharedUnreachable)},
			want: &SharedOAuthToken{Store: store, Problem: SharedUnreachable}},
		{name: "unreadable", reader: &sharedTokens{ok: true, st: SharedTokenState{Store: store, Found: true, Unreadable: true}},
			want: &SharedOAuthToken{Store: store, Problem: SharedUnreadable}},
		{name: "not shared", reader: &sharedTokens{ok: true, st: SharedTokenState{Store: store, NotShared: true}},
			want: &SharedOAuthToken{Store: store, NotShared: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft := &fakeTokens{cached: map[string]string{"client_credentials/echo_server": "fp:local"}}
			s, _ := runtimeFixture(t, Runtime{Tokens: ft, SharedTokens: tt.reader})
			withOAuth(t, s)
			ts, err := s.OAuthTokens(context.Background())
			if err != nil || len(ts) != 2 {
				t.Fatalf("tokens = %+v, %v", ts, err)
			}
			cc, login := ts[0], ts[1]
			if !cc.Cached || cc.Fingerprint != "fp:local" || cc.Problem != "" {
				t.Errorf("the local token changed: %+v", cc)
			}
			if login.Shared != nil {
				t.Errorf("a login row has a shared token: %+v", login.Shared)
			}
			if n := tt.reader.calls.Load(); n != 1 {
				t.Errorf("shared store read %d times, want once (client credentials only)", n)
			}
			if d := cmp.Diff(tt.want, cc.Shared); d != "" {
				t.Errorf("shared (-want +got):\n%s", d)
			}
		})
	}
}

func TestRevokeOAuthToken(t *testing.T) {
	ctx := context.Background()
	ft := &fakeTokens{cached: map[string]string{"login/remote": "fp:1", "client_credentials/echo_server": "fp:2"},
		notRevocable: map[string]bool{"echo_server": true}, failing: map[string]bool{}}
	s, _ := runtimeFixture(t, Runtime{Tokens: ft})
	withOAuth(t, s)
	for _, tc := range []struct {
		server  string
		outcome string
	}{
		{"remote", RevokeRevoked},
		{"remote", RevokeNoToken},
		{"echo_server", RevokeForgotten},
	} {
		res, err := s.RevokeOAuthToken(ctx, RevokeTokenRequest{ServerName: tc.server, Config: RefOf("default_config")})
		if err != nil || len(res) != 1 || res[0].Outcome != tc.outcome {
			t.Fatalf("revoke %s = %+v, %v; want %s", tc.server, res, err, tc.outcome)
		}
	}
	ft.failing["remote"] = true
	res, err := s.RevokeOAuthToken(ctx, RevokeTokenRequest{ServerName: "remote"})
	var re *RevokeError
	if !errors.As(err, &re) || len(res) != 1 || res[0].Outcome != RevokeFailed || !strings.Contains(err.Error(), "500") {
		t.Fatalf("failing revocation = %+v, %v; want a RevokeError", res, err)
	}
	var nf *NotFoundError
	if _, err := s.RevokeOAuthToken(ctx, RevokeTokenRequest{ServerName: "remot"}); !errors.As(err, &nf) || nf.DidYouMean != "remote" {
		t.Fatalf("unknown server: %v, want NotFoundError suggesting remote", err)
	}
	if _, err := s.RevokeOAuthToken(ctx, RevokeTokenRequest{ServerName: "remote", Config: RefOf("spare_config")}); !errors.As(err, &nf) {
		t.Fatalf("server outside the config: %v, want NotFoundError", err)
	}
	var rq *RequestError
	if _, err := s.RevokeOAuthToken(ctx, RevokeTokenRequest{}); !errors.As(err, &rq) {
		t.Fatalf("no server: %v, want RequestError", err)
	}
}

// fakeProber answers by server name: "slow" blocks until its deadline,
// "down" fails, "boxed" is skipped; it counts the probes running at once.
type fakeProber struct {
	running, peak atomic.Int32
}

func (p *fakeProber) Probe(ctx context.Context, _ *config.Config, s *config.Server) (string, error) {
	n := p.running.Add(1)
	defer p.running.Add(-1)
	for {
		old := p.peak.Load()
		if n <= old || p.peak.CompareAndSwap(old, n) {
			break
		}
	}
	switch {
	case strings.HasPrefix(s.Name, "slow"):
		<-ctx.Done()
		return "", ctx.Err()
	case strings.HasPrefix(s.Name, "down"):
		return "", errors.New("connection refused")
	case strings.HasPrefix(s.Name, "boxed"):
		return "", &SkipError{Reason: "in a container"}
	}
	return "answered", nil
}

func TestHealthProbe(t *testing.T) {
	ctx := context.Background()
	pr := &fakeProber{}
	fc := &fakeCache{copies: map[string][]CachedCopy{defaultID + "/echo_server": {{Tier: "disk", Usable: true, ExpiresAt: time.Now().Add(time.Hour)}}}}
	s, _ := runtimeFixture(t, Runtime{Probe: pr, Cache: fc})

	h, err := s.Health(ctx, HealthRequest{})
	if err != nil || !h.Healthy || !h.ConfigValid || h.Upstreams != nil || pr.peak.Load() != 0 {
		t.Fatalf("health without probe = %+v, %v (probes run: %d)", h, err, pr.peak.Load())
	}
	if h.Cache == nil || h.Cache.Servers != 2 || h.Cache.Cached != 1 || h.Stats["servers"] != 2 || h.Stats["api_keys"] != 1 {
		t.Fatalf("cache %+v, stats %v", h.Cache, h.Stats)
	}
	if h.Audit == nil || h.Audit.Enabled {
		t.Fatalf("audit %+v, want present and off", h.Audit)
	}

	err = s.update(ctx, func(c *config.Config) error {
		mc := c.MCPConfigs[spareID]
		for i := range 20 {
			mc.Servers = append(mc.Servers, &config.Server{Name: fmt.Sprintf("slow%d", i), Config: config.ServerConfig{Command: "/bin/true"}})
		}
		mc.Servers = append(mc.Servers, &config.Server{Name: "down", Config: config.ServerConfig{Command: "/bin/true"}},
			&config.Server{Name: "boxed", Config: config.ServerConfig{Command: "/bin/true"}})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	const bound = 50 * time.Millisecond
	h, err = s.Health(ctx, HealthRequest{Probe: true, ProbeTimeout: bound})
	if err != nil {
		t.Fatal(err)
	}
	if h.Healthy || len(h.Upstreams) != 24 {
		t.Fatalf("healthy %v with %d upstreams, want unhealthy with 24", h.Healthy, len(h.Upstreams))
	}
	count := map[string]int{}
	for _, u := range h.Upstreams {
		count[u.Status]++
		switch {
		case strings.HasPrefix(u.Server, "slow") && (u.Status != ProbeUnreachable || !strings.Contains(u.Detail, "no answer within 50ms")):
			t.Errorf("slow server %+v", u)
		case u.Server == "boxed" && (u.Status != ProbeSkipped || u.Detail != "in a container"):
			t.Errorf("boxed server %+v", u)
		case u.Server == "echo_server" && (!u.Reachable || u.Detail != "answered" || u.Transport != "stdio"):
			t.Errorf("echo_server %+v", u)
		case u.Server == "remote" && u.Transport != "http":
			t.Errorf("remote %+v", u)
		}
	}
	if count[ProbeReachable] != 2 || count[ProbeUnreachable] != 21 || count[ProbeSkipped] != 1 {
		t.Errorf("outcomes %v", count)
	}
	if p := pr.peak.Load(); p < 2 || p > probeParallel {
		t.Errorf("%d probes ran at once, want several and at most %d", p, probeParallel)
	}
}

// TestHealthAudit: the audit part reports the log's files and this
// process's counters, and a fault makes the report unhealthy.
func TestHealthAudit(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "audit-1.jsonl"), []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	al := &fakeAudit{written: 4}
	s, _ := runtimeFixture(t, Runtime{AuditLog: al})
	if err := s.update(ctx, func(c *config.Config) error {
		c.Audit = &config.Audit{Enabled: true, Path: dir}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	h, err := s.Health(ctx, HealthRequest{})
	if err != nil || !h.Healthy || h.Audit == nil || !h.Audit.Enabled || h.Audit.Dir != dir || h.Audit.Files != 1 ||
		h.Audit.LastWrite == nil || h.Audit.Written == nil || *h.Audit.Written != 4 {
		t.Fatalf("health = %+v (audit %+v), %v", h, h.Audit, err)
	}
	al.dropped = 2
	if h, _ := s.Health(ctx, HealthRequest{}); h.Healthy || !strings.Contains(h.Audit.Problem, "dropped 2") {
		t.Fatalf("dropped records: healthy %v, audit %+v", h.Healthy, h.Audit)
	}
}

type fakeAudit struct{ written, dropped uint64 }

func (f *fakeAudit) Written() uint64 { return f.written }
func (f *fakeAudit) Dropped() uint64 { return f.dropped }
func (f *fakeAudit) Err() error      { return nil }
