package oauthx_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"secure-mcp-gateway/cache"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/internal/secret"
	"secure-mcp-gateway/oauthx"
)

// memShared is an in-memory oauthx.SharedTokens with expiry on a test
// clock and an outage switch; the real-Redis behaviour is covered by
// TestSharedTokensRealRedis.
type memShared struct {
	now func() time.Time

	mu     sync.Mutex
	down   bool
	values map[string]memValue
	locks  map[string]chan struct{}
	writes int
}

type memValue struct {
	b       []byte
	expires time.Time
}

var _ oauthx.SharedTokens = (*memShared)(nil)

var errDown = errors.New("store down")

func newMemShared(now func() time.Time) *memShared {
	return &memShared{now: now, values: map[string]memValue{}, locks: map[string]chan struct{}{}}
}

func (m *memShared) setDown(down bool) {
	m.mu.Lock()
	m.down = down
	m.mu.Unlock()
}

func (m *memShared) Get(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return nil, errDown
	}
	v, ok := m.values[key]
	if !ok || (!v.expires.IsZero() && !m.now().Before(v.expires)) {
		return nil, nil
	}
	return bytes.Clone(v.b), nil
}

func (m *memShared) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return errDown
	}
	v := memValue{b: bytes.Clone(value)}
	if ttl > 0 {
		v.expires = m.now().Add(ttl)
	}
	m.values[key] = v
	m.writes++
	return nil
}

func (m *memShared) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return errDown
	}
	delete(m.values, key)
	return nil
}

func (m *memShared) Lock(ctx context.Context, key string, _ time.Duration) (func(), error) {
	for {
		m.mu.Lock()
		if m.down {
			m.mu.Unlock()
			return nil, errDown
		}
		held, ok := m.locks[key]
		if !ok {
			ch := make(chan struct{})
			m.locks[key] = ch
			m.mu.Unlock()
			var once sync.Once
			return func() {
				once.Do(func() {
					m.mu.Lock()
					delete(m.locks, key)
					m.mu.Unlock()
					close(ch)
				})
			}, nil
		}
		m.mu.Unlock()
		select {
		case <-held:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// snapshot returns the stored keys and values.
func (m *memShared) snapshot() map[string][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string][]byte{}
	for k, v := range m.values {
		out[k] = v.b
	}
	return out
}

// sharedEnv is one scenario's world: a token endpoint, a shared store and
// a clock; replica builds the source of one gateway replica (its own cache
// file, as pods each have theirs).
type sharedEnv struct {
	auth  *authServer
	store *memShared
	clock *clock
	dir   string
	n     int
}

func (e *sharedEnv) replica(t *testing.T, mod func(*config.OAuthConfig)) *oauthx.Source {
	t.Helper()
	e.n++
	c := baseConfig(e.auth.URL + "/token")
	c.RevocationURL = e.auth.URL + "/revoke"
	if mod != nil {
		mod(c)
	}
	return newSource(t, c, &oauthx.Options{Now: e.clock.Now, Shared: e.store,
		CacheFile: filepath.Join(e.dir, "replica"+strconv.Itoa(e.n), oauthx.CacheFileName)})
}

func token(t *testing.T, s *oauthx.Source) string {
	t.Helper()
	tok, err := s.Token()
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

func TestSharedTokens(t *testing.T) {
	tests := []struct {
		name      string
		run       func(t *testing.T, e *sharedEnv)
		wantGrant int
	}{
		{
			name: "replicas share one grant",
			run: func(t *testing.T, e *sharedEnv) {
				a, b, c := e.replica(t, nil), e.replica(t, nil), e.replica(t, nil)
				ta := token(t, a)
				if tb, tc := token(t, b), token(t, c); tb != ta || tc != ta {
					t.Errorf("replicas hold different tokens")
				}
			},
			wantGrant: 1,
		},
		{
			name: "concurrent replicas share one grant",
			run: func(t *testing.T, e *sharedEnv) {
				var srcs []*oauthx.Source
				for range 8 {
					srcs = append(srcs, e.replica(t, nil))
				}
				var wg sync.WaitGroup
				for _, s := range srcs {
					wg.Go(func() {
						if _, err := s.Token(); err != nil {
							t.Error(err)
						}
					})
				}
				wg.Wait()
			},
			wantGrant: 1,
		},
		{
			name: "stored sealed, named without secrets",
			run: func(t *testing.T, e *sharedEnv) {
				tok := token(t, e.replica(t, func(c *config.OAuthConfig) { c.Scope = "read" }))
				snap := e.store.snapshot()
				if len(snap) != 1 {
					t.Fatalf("store holds %d values, want 1", len(snap))
				}
				for k, v := range snap {
					for _, s := range []string{"client-1", "s3cret-CANARY-value", tok} {
						if strings.Contains(k, s) {
							t.Errorf("key %q holds a credential or the token", k)
						}
					}
					if bytes.Contains(v, []byte(tok)) || bytes.Contains(v, []byte("CANARY")) || bytes.Contains(v, []byte("access_token")) {
						t.Error("the stored value is not sealed")
					}
				}
			},
			wantGrant: 1,
		},
		{
			name: "another server is another token",
			run: func(t *testing.T, e *sharedEnv) {
				a := token(t, e.replica(t, nil))
				b := token(t, e.replica(t, func(c *config.OAuthConfig) { c.Scope = "write" }))
				if a == b {
					t.Error("two scopes share a token")
				}
			},
			wantGrant: 2,
		},
		{
			name: "secret rotated: the unreadable entry is replaced",
			run: func(t *testing.T, e *sharedEnv) {
				old := token(t, e.replica(t, nil))
				rotated := func(c *config.OAuthConfig) { c.ClientSecret = "rotated-CANARY" }
				nw := token(t, e.replica(t, rotated))
				if nw == old {
					t.Fatal("a replica with the new secret used the token sealed under the old one")
				}
				if got := token(t, e.replica(t, rotated)); got != nw {
					t.Error("the replaced entry is not read by a replica with the new secret")
				}
			},
			wantGrant: 2,
		},
		{
			name: "refused token replaced for all",
			run: func(t *testing.T, e *sharedEnv) {
				a, b := e.replica(t, nil), e.replica(t, nil)
				t1 := token(t, a)
				token(t, b)
				a.Invalidate(t1)
				t2 := token(t, a)
				if t2 == t1 {
					t.Fatal("the refused token was used again")
				}
				e.clock.Add(oauthx.DefaultSharedRecheck)
				if got := token(t, b); got != t2 {
					t.Error("the other replica kept the refused token after its recheck")
				}
				b.Invalidate(t1) // a stale refusal changes nothing
				if got := token(t, b); got != t2 {
					t.Error("a stale refusal replaced the shared token")
				}
			},
			wantGrant: 2,
		},
		{
			name: "revoke deletes the shared token",
			run: func(t *testing.T, e *sharedEnv) {
				a, b := e.replica(t, nil), e.replica(t, nil)
				t1 := token(t, a)
				token(t, b)
				had, err := e.replica(t, nil).Revoke(context.Background())
				if err != nil || !had {
					t.Fatalf("revoke = %v, %v", had, err)
				}
				if e.auth.revokedTokens()[0] != t1 {
					t.Error("the shared token was not revoked at the endpoint")
				}
				if len(e.store.snapshot()) != 0 {
					t.Error("the shared entry survived the revocation")
				}
				e.clock.Add(oauthx.DefaultSharedRecheck)
				t2 := token(t, b)
				if t2 == t1 || token(t, a) != t2 {
					t.Error("the replicas did not move to one new token")
				}
			},
			wantGrant: 2,
		},
		{
			name: "expiry refreshed once for all",
			run: func(t *testing.T, e *sharedEnv) {
				e.auth.mu.Lock()
				e.auth.expiresIn = 600
				e.auth.mu.Unlock()
				a, b := e.replica(t, nil), e.replica(t, nil)
				t1 := token(t, a)
				token(t, b)
				e.clock.Add(590 * time.Second) // within the expiry buffer
				t2 := token(t, b)
				if t2 == t1 || token(t, a) != t2 {
					t.Error("the replicas did not move to one refreshed token")
				}
			},
			wantGrant: 2,
		},
		{
			name: "store down: local grants, then one shared",
			run: func(t *testing.T, e *sharedEnv) {
				e.store.setDown(true)
				a, b := e.replica(t, nil), e.replica(t, nil)
				ta, tb := token(t, a), token(t, b)
				if ta == tb {
					t.Fatal("replicas with their own cache files shared a token while the store was down")
				}
				e.store.setDown(false)
				e.clock.Add(oauthx.DefaultSharedRecheck)
				if got := token(t, a); got != ta {
					t.Error("a replica dropped its token when the store came back")
				}
				e.clock.Add(oauthx.DefaultSharedRecheck)
				if got := token(t, b); got != ta {
					t.Error("the token offered to the store after the outage was not taken up")
				}
				if got := token(t, e.replica(t, nil)); got != ta {
					t.Error("a new replica did not read the shared token")
				}
			},
			wantGrant: 2,
		},
		{
			name: "without a client secret nothing is shared",
			run: func(t *testing.T, e *sharedEnv) {
				none := func(c *config.OAuthConfig) { c.ClientSecret = "" }
				token(t, e.replica(t, none))
				token(t, e.replica(t, none))
				if len(e.store.snapshot()) != 0 {
					t.Error("a token sealed under no secret was stored")
				}
			},
			wantGrant: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &sharedEnv{auth: newAuthServer(t).start(t), clock: &clock{t: time.Unix(1_700_000_000, 0)}, dir: t.TempDir()}
			e.store = newMemShared(e.clock.Now)
			tt.run(t, e)
			if n := e.auth.count(); n != tt.wantGrant {
				t.Errorf("token endpoint granted %d tokens, want %d", n, tt.wantGrant)
			}
		})
	}
}

func (a *authServer) revokedTokens() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.revoked...)
}

// startRedis runs a real redis-server with password on a free loopback
// port for the life of the test; without redis-server the test fails in
// CI and is skipped elsewhere.
func startRedis(t *testing.T, password string) (addr string, cmd *exec.Cmd) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server is not installed")
		}
		t.Skip("redis-server is not installed; skipping")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	addr = "127.0.0.1:" + strconv.Itoa(port)
	cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", t.TempDir(), "--requirepass", password)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	c := redis.NewClient(&redis.Options{Addr: addr, Password: password, MaxRetries: -1})
	defer c.Close()
	waitFor(t, func() bool { return c.Ping(context.Background()).Err() == nil })
	return addr, cmd
}

// TestSharedTokensRealRedis runs the sharing over the gateway's real
// store (cache.Shared on a real redis-server): concurrent replicas make one
// grant, the value in Redis is sealed and expires with the token, and when
// Redis dies the replicas carry on from memory and from local grants.
func TestSharedTokensRealRedis(t *testing.T) {
	const password = "oauthx-redis-pw"
	addr, cmd := startRedis(t, password)
	a := newAuthServer(t).start(t)
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	pw := password
	ro := cache.RedisFromConfig(&config.Common{UseExternalCache: true, CacheHost: host, CachePort: p, CachePassword: &pw})
	dir := t.TempDir()
	var srcs []*oauthx.Source
	for i := range 6 {
		sh := cache.NewShared(ro, zerolog.Nop()) // one per replica, as each process builds its own
		t.Cleanup(func() { _ = sh.Close() })
		srcs = append(srcs, newSource(t, baseConfig(a.URL+"/token"), &oauthx.Options{Shared: sh,
			CacheFile: filepath.Join(dir, strconv.Itoa(i), oauthx.CacheFileName)}))
	}
	var wg sync.WaitGroup
	toks := make([]string, len(srcs))
	for i, s := range srcs {
		wg.Go(func() { toks[i] = token(t, s) })
	}
	wg.Wait()
	if n := a.count(); n != 1 {
		t.Fatalf("%d replicas made %d grants, want 1", len(srcs), n)
	}
	for _, tok := range toks[1:] {
		if tok != toks[0] {
			t.Fatal("replicas hold different tokens")
		}
	}

	rc := redis.NewClient(&redis.Options{Addr: addr, Password: password})
	defer rc.Close()
	ctx := context.Background()
	keys, err := rc.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var stored string
	for _, k := range keys {
		if strings.Contains(k, "lock:") {
			t.Errorf("lock %q left behind", k)
			continue
		}
		if !strings.HasPrefix(k, cache.DefaultSharedPrefix+"oauth:token:") || strings.Contains(k, "client-1") {
			t.Errorf("unexpected key %q", k)
		}
		v, err := rc.Get(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		stored = v
		if strings.Contains(v, toks[0]) || strings.Contains(v, "CANARY") || strings.Contains(v, "Bearer") {
			t.Error("the value in Redis is not sealed")
		}
		if ttl := rc.TTL(ctx, k).Val(); ttl <= 0 || ttl > time.Hour {
			t.Errorf("TTL %v, want the token's expiry (1 h)", ttl)
		}
	}
	if stored == "" {
		t.Fatalf("no token in Redis: keys %q", keys)
	}

	// Redis dies: sources with a token carry on; a new one grants locally.
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	for _, s := range srcs {
		if tok := token(t, s); tok != toks[0] {
			t.Error("a replica dropped its token when Redis died")
		}
	}
	sh := cache.NewShared(ro, zerolog.Nop())
	defer sh.Close()
	fresh := newSource(t, baseConfig(a.URL+"/token"), &oauthx.Options{Shared: sh, CacheFile: filepath.Join(dir, "new", oauthx.CacheFileName)})
	if tok := token(t, fresh); tok == "" || a.count() != 2 {
		t.Errorf("with Redis down a new replica got no local grant (grants %d)", a.count())
	}
}

// TestInspectShared reads the shared entry as `oauth status` does: the
// fingerprint and expiry of the token a replica stored, nothing for an
// empty store or after a revocation, typed errors for a rotated secret, a
// client without a secret and a store that is down; it never fetches,
// locks or writes.
func TestInspectShared(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(t *testing.T, e *sharedEnv) (want string) // the token expected in the entry
		mod       func(*config.OAuthConfig)                      // the config InspectShared is given
		wantFound bool
		wantErr   error
	}{
		{name: "no entry"},
		{
			name:      "a replica's token",
			setup:     func(t *testing.T, e *sharedEnv) string { return token(t, e.replica(t, nil)) },
			wantFound: true,
		},
		{
			name: "revoked",
			setup: func(t *testing.T, e *sharedEnv) string {
				token(t, e.replica(t, nil))
				if _, err := e.replica(t, nil).Revoke(context.Background()); err != nil {
					t.Fatal(err)
				}
				return ""
			},
		},
		{
			name:      "rotated secret",
			setup:     func(t *testing.T, e *sharedEnv) string { token(t, e.replica(t, nil)); return "" },
			mod:       func(c *config.OAuthConfig) { c.ClientSecret = "rotated-CANARY" },
			wantFound: true,
			wantErr:   oauthx.ErrSharedUnreadable,
		},
		{
			name:    "another scope is another entry",
			setup:   func(t *testing.T, e *sharedEnv) string { token(t, e.replica(t, nil)); return "" },
			mod:     func(c *config.OAuthConfig) { c.Scope = "write" },
			wantErr: nil,
		},
		{
			name:    "no client secret",
			mod:     func(c *config.OAuthConfig) { c.ClientSecret = "" },
			wantErr: oauthx.ErrNotShared,
		},
		{
			name:    "store down",
			setup:   func(t *testing.T, e *sharedEnv) string { token(t, e.replica(t, nil)); e.store.setDown(true); return "" },
			wantErr: errDown,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &sharedEnv{auth: newAuthServer(t).start(t), clock: &clock{t: time.Unix(1_700_000_000, 0)}, dir: t.TempDir()}
			e.store = newMemShared(e.clock.Now)
			want := ""
			if tt.setup != nil {
				want = tt.setup(t, e)
			}
			grants, writes := e.auth.count(), e.store.writes
			c := baseConfig(e.auth.URL + "/token")
			c.RevocationURL = e.auth.URL + "/revoke"
			if tt.mod != nil {
				tt.mod(c)
			}
			st, err := oauthx.InspectShared(context.Background(), e.store, "srv", c)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if st.Found != tt.wantFound {
				t.Errorf("found = %v, want %v", st.Found, tt.wantFound)
			}
			if want != "" {
				wantExpiry := e.clock.Now().Add(time.Hour)
				if st.Fingerprint != secret.Fingerprint(want) || !st.Expiry.Equal(wantExpiry) || st.Obtained.IsZero() {
					t.Errorf("state %+v, want fingerprint %s and expiry %v", st, secret.Fingerprint(want), wantExpiry)
				}
			} else if st.Fingerprint != "" || !st.Expiry.IsZero() {
				t.Errorf("state %+v describes a token that is not there", st)
			}
			if strings.Contains(fmt.Sprintf("%+v %v", st, err), "tok-") { // the endpoint's tokens are tok-N-…
				t.Error("the state or error holds the token")
			}
			if e.auth.count() != grants || e.store.writes != writes {
				t.Error("InspectShared fetched or wrote a token")
			}
		})
	}
}
