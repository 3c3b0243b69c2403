package oauthx_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"go.uber.org/goleak"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/oauthx"
)

// authServer is an httptest authorization server speaking RFC 6749 token
// responses and RFC 7009 revocation.
type authServer struct {
	*httptest.Server

	mu       sync.Mutex
	requests []tokenRequest
	revoked  []string
	n        int
	// respond, if set, writes the response to the n-th token request
	// (1-based); nil means a fresh bearer token valid for expiresIn.
	respond   func(w http.ResponseWriter, n int) bool
	expiresIn int
	scope     string
	block     chan struct{} // if set, token requests wait for it to close
}

type tokenRequest struct {
	Form    url.Values
	User    string
	Pass    string
	Basic   bool
	Headers http.Header
	Certs   int
}

func newAuthServer(t *testing.T) *authServer {
	a := &authServer{expiresIn: 3600}
	a.Server = httptest.NewUnstartedServer(http.HandlerFunc(a.serve))
	return a
}

func (a *authServer) start(t *testing.T) *authServer {
	a.Start()
	t.Cleanup(a.Close)
	return a
}

func (a *authServer) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	user, pass, basic := r.BasicAuth()
	req := tokenRequest{Form: r.PostForm, User: user, Pass: pass, Basic: basic, Headers: r.Header.Clone()}
	if r.TLS != nil {
		req.Certs = len(r.TLS.PeerCertificates)
	}
	if r.URL.Path == "/revoke" {
		a.mu.Lock()
		a.revoked = append(a.revoked, r.PostForm.Get("token"))
		a.mu.Unlock()
		w.WriteHeader(http.StatusOK)
		return
	}
	a.mu.Lock()
	a.n++
	n := a.n
	a.requests = append(a.requests, req)
	respond, expiresIn, scope, block := a.respond, a.expiresIn, a.scope, a.block
	a.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-r.Context().Done():
			return
		}
	}
	if respond != nil && respond(w, n) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	body := map[string]any{"access_token": fmt.Sprintf("tok-%d-%s", n, rand.Text()), "token_type": "Bearer"}
	if expiresIn > 0 {
		body["expires_in"] = expiresIn
	}
	if scope != "" {
		body["scope"] = scope
	}
	_ = json.NewEncoder(w).Encode(body)
}

func (a *authServer) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

func (a *authServer) last() tokenRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.requests[len(a.requests)-1]
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func noSleep(context.Context, time.Duration) error { return nil }

func baseConfig(tokenURL string) *config.OAuthConfig {
	return &config.OAuthConfig{
		Enabled:      true,
		Version:      "2.1",
		ClientID:     "client-1",
		ClientSecret: "s3cret-CANARY-value",
		TokenURL:     tokenURL,
	}
}

func newSource(t *testing.T, c *config.OAuthConfig, o *oauthx.Options) *oauthx.Source {
	t.Helper()
	if o == nil {
		o = &oauthx.Options{}
	}
	if o.Sleep == nil {
		o.Sleep = noSleep
	}
	s, err := oauthx.New("srv", c, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ptr[T any](v T) *T { return &v }

func TestClientAuthAndParams(t *testing.T) {
	tests := []struct {
		name      string
		mod       func(*config.OAuthConfig)
		wantBasic bool
		wantForm  map[string]string
	}{
		{
			name:      "basic by default",
			mod:       func(*config.OAuthConfig) {},
			wantBasic: true,
			wantForm:  map[string]string{"grant_type": "client_credentials"},
		},
		{
			name:     "post",
			mod:      func(c *config.OAuthConfig) { c.UseBasicAuth = ptr(false) },
			wantForm: map[string]string{"grant_type": "client_credentials", "client_id": "client-1", "client_secret": "s3cret-CANARY-value"},
		},
		{
			name: "scope audience resource extra",
			mod: func(c *config.OAuthConfig) {
				c.Scope = "read write"
				c.Audience = "https://api.example"
				c.Resource = "https://mcp.example/mcp"
				c.AdditionalParams = map[string]string{"tenant": "t1"}
			},
			wantBasic: true,
			wantForm: map[string]string{"grant_type": "client_credentials", "scope": "read write",
				"audience": "https://api.example", "resource": "https://mcp.example/mcp", "tenant": "t1"},
		},
		{
			name:      "resource under 2.0 too",
			mod:       func(c *config.OAuthConfig) { c.Version = "2.0"; c.Resource = "https://r.example" },
			wantBasic: true,
			wantForm:  map[string]string{"grant_type": "client_credentials", "resource": "https://r.example"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAuthServer(t).start(t)
			c := baseConfig(a.URL + "/token")
			c.CustomHeaders = map[string]string{"X-Tenant": "acme"}
			tt.mod(c)
			if _, err := newSource(t, c, nil).Token(); err != nil {
				t.Fatal(err)
			}
			r := a.last()
			if r.Basic != tt.wantBasic {
				t.Errorf("basic auth = %v, want %v", r.Basic, tt.wantBasic)
			}
			if tt.wantBasic && (r.User != "client-1" || r.Pass != "s3cret-CANARY-value") {
				t.Errorf("basic credentials = %q/%q", r.User, r.Pass)
			}
			got := map[string]string{}
			for k := range r.Form {
				got[k] = r.Form.Get(k)
			}
			if diff := cmp.Diff(tt.wantForm, got); diff != "" {
				t.Errorf("form (-want +got):\n%s", diff)
			}
			if r.Headers.Get("X-Tenant") != "acme" || r.Headers.Get("X-Request-ID") == "" {
				t.Errorf("headers: X-Tenant=%q X-Request-ID=%q", r.Headers.Get("X-Tenant"), r.Headers.Get("X-Request-ID"))
			}
		})
	}
}

func TestTokenErrors(t *testing.T) {
	tests := []struct {
		name      string
		respond   func(w http.ResponseWriter, n int) bool
		mod       func(*config.OAuthConfig)
		wantCalls int
		wantText  string
		wantCode  int
	}{
		{
			name: "500 retried then fails",
			respond: func(w http.ResponseWriter, n int) bool {
				http.Error(w, "boom s3cret-CANARY-value", http.StatusInternalServerError)
				return true
			},
			wantCalls: oauthx.DefaultAttempts, wantText: "500 Internal Server Error", wantCode: 500,
		},
		{
			name: "500 then success",
			respond: func(w http.ResponseWriter, n int) bool {
				if n == 1 {
					http.Error(w, "boom", http.StatusBadGateway)
					return true
				}
				return false
			},
			wantCalls: 2,
		},
		{
			name: "401 invalid_client not retried",
			respond: func(w http.ResponseWriter, n int) bool {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"bad s3cret-CANARY-value"}`))
				return true
			},
			wantCalls: 1, wantText: "invalid_client", wantCode: 401,
		},
		{
			name: "invalid JSON",
			respond: func(w http.ResponseWriter, n int) bool {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"access_token": s3cret-CANARY-value`))
				return true
			},
			wantCalls: 1, wantText: "not a valid token response",
		},
		{
			name: "missing access_token",
			respond: func(w http.ResponseWriter, n int) bool {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"token_type":"Bearer"}`))
				return true
			},
			wantCalls: 1, wantText: "no access_token",
		},
		{
			name: "scope not granted fails",
			respond: func(w http.ResponseWriter, n int) bool {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"access_token":"abcdef","token_type":"Bearer","scope":"read"}`))
				return true
			},
			mod:       func(c *config.OAuthConfig) { c.Scope = "read write" },
			wantCalls: 1, wantText: `requested scopes "write"`,
		},
		{
			name: "scope not granted only warns when validation is off",
			respond: func(w http.ResponseWriter, n int) bool {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"access_token":"abcdef","token_type":"Bearer","scope":"read"}`))
				return true
			},
			mod:       func(c *config.OAuthConfig) { c.Scope = "read write"; c.ValidateScopes = ptr(false) },
			wantCalls: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAuthServer(t)
			a.respond = tt.respond
			a.start(t)
			c := baseConfig(a.URL + "/token?k=v")
			if tt.mod != nil {
				tt.mod(c)
			}
			_, err := newSource(t, c, nil).Token()
			if got := a.count(); got != tt.wantCalls {
				t.Errorf("token requests = %d, want %d", got, tt.wantCalls)
			}
			if tt.wantText == "" {
				if err != nil {
					t.Fatalf("Token: %v", err)
				}
				return
			}
			var te *oauthx.TokenError
			if !errors.As(err, &te) {
				t.Fatalf("error %v is not a *TokenError", err)
			}
			msg := err.Error()
			for _, want := range []string{tt.wantText, `server "srv"`, a.URL + "/token"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q lacks %q", msg, want)
				}
			}
			if strings.Contains(msg, "CANARY") || strings.Contains(msg, "k=v") {
				t.Errorf("error %q leaks the secret or the query", msg)
			}
			if te.Status != tt.wantCode {
				t.Errorf("status = %d, want %d", te.Status, tt.wantCode)
			}
		})
	}
}

func TestTimeoutRetried(t *testing.T) {
	a := newAuthServer(t)
	a.block = make(chan struct{})
	a.start(t)
	defer close(a.block)
	var slept []time.Duration
	s := newSource(t, baseConfig(a.URL+"/token"), &oauthx.Options{
		Timeout: 50 * time.Millisecond,
		Sleep: func(_ context.Context, d time.Duration) error {
			slept = append(slept, d)
			return nil
		},
	})
	_, err := s.Token()
	if err == nil || !strings.Contains(err.Error(), "did not answer within 50ms") {
		t.Fatalf("Token error = %v, want a timeout", err)
	}
	// A timed-out request may reach the server's handler only after the
	// client gave up on it: wait for the server to have seen every attempt.
	deadline := time.Now().Add(10 * time.Second)
	for a.count() < oauthx.DefaultAttempts && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if a.count() != oauthx.DefaultAttempts {
		t.Errorf("token requests = %d, want %d", a.count(), oauthx.DefaultAttempts)
	}
	want := []time.Duration{oauthx.DefaultMinBackoff, 2 * oauthx.DefaultMinBackoff}
	if diff := cmp.Diff(want, slept); diff != "" {
		t.Errorf("backoff (-want +got):\n%s", diff)
	}
}

func TestHTTPSEnforced(t *testing.T) {
	tests := []struct {
		name, url string
		version   string
		enforce   *bool
		ok        bool
	}{
		{"2.1 loopback http allowed", "http://127.0.0.1:1/token", "2.1", nil, true},
		{"2.1 localhost http allowed", "http://localhost:1/token", "2.1", nil, true},
		{"2.1 remote http refused", "http://auth.example/token", "2.1", nil, false},
		{"2.0 remote http allowed", "http://auth.example/token", "2.0", nil, true},
		{"2.0 enforced refused", "http://auth.example/token", "2.0", ptr(true), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := baseConfig(tt.url)
			c.Version, c.EnforceHTTPS = tt.version, tt.enforce
			s := newSource(t, c, &oauthx.Options{Attempts: 1, Timeout: time.Second, Transport: &http.Transport{
				DialContext: func(context.Context, string, string) (net.Conn, error) {
					return nil, errors.New("no network in this test")
				},
			}})
			_, err := s.Token()
			refused := err != nil && strings.Contains(err.Error(), "must use https")
			if refused == tt.ok {
				t.Errorf("Token error = %v, want refused=%v", err, !tt.ok)
			}
		})
	}
}

func TestProactiveRefresh(t *testing.T) {
	a := newAuthServer(t)
	a.expiresIn = 3600
	a.start(t)
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c := baseConfig(a.URL + "/token")
	c.TokenExpiryBuffer = 300
	s := newSource(t, c, &oauthx.Options{Now: clk.Now})
	first, err := s.Token()
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(3600*time.Second - 301*time.Second)
	again, _ := s.Token()
	if again.AccessToken != first.AccessToken || a.count() != 1 {
		t.Fatalf("token replaced before the expiry buffer (fetches %d)", a.count())
	}
	clk.Add(2 * time.Second) // now within 300 s of expiry
	fresh, err := s.Token()
	if err != nil {
		t.Fatal(err)
	}
	if fresh.AccessToken == first.AccessToken || a.count() != 2 {
		t.Fatalf("token not refreshed within the expiry buffer (fetches %d)", a.count())
	}
}

func TestShortLivedTokenBufferCapped(t *testing.T) {
	a := newAuthServer(t)
	a.expiresIn = 60 // shorter than the default 300 s buffer
	a.start(t)
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := newSource(t, baseConfig(a.URL+"/token"), &oauthx.Options{Now: clk.Now})
	for range 3 {
		if _, err := s.Token(); err != nil {
			t.Fatal(err)
		}
	}
	if a.count() != 1 {
		t.Fatalf("fetches = %d, want 1 (the buffer is capped at half the lifetime)", a.count())
	}
	clk.Add(31 * time.Second)
	_, _ = s.Token()
	if a.count() != 2 {
		t.Fatalf("fetches = %d after half the lifetime, want 2", a.count())
	}
}

func TestSingleFlight(t *testing.T) {
	a := newAuthServer(t)
	a.block = make(chan struct{})
	a.start(t)
	s := newSource(t, baseConfig(a.URL+"/token"), nil)
	var wg sync.WaitGroup
	toks := make([]string, 100)
	errs := make([]error, 100)
	for i := range 100 {
		wg.Go(func() {
			tok, err := s.Token()
			errs[i] = err
			if tok != nil {
				toks[i] = tok.AccessToken
			}
		})
	}
	waitFor(t, func() bool { return a.count() == 1 })
	close(a.block)
	wg.Wait()
	for i := range 100 {
		if errs[i] != nil || toks[i] != toks[0] {
			t.Fatalf("caller %d: token %q err %v, want the shared token", i, toks[i], errs[i])
		}
	}
	if a.count() != 1 {
		t.Fatalf("fetches = %d, want 1", a.count())
	}
}

func TestInvalidateRefetchesOnce(t *testing.T) {
	a := newAuthServer(t).start(t)
	cache := filepath.Join(t.TempDir(), oauthx.CacheFileName)
	s := newSource(t, baseConfig(a.URL+"/token"), &oauthx.Options{CacheFile: cache})
	first, _ := s.Token()
	s.Invalidate(first.AccessToken)
	s.Invalidate(first.AccessToken) // a second refusal of the same token
	second, err := s.Token()
	if err != nil {
		t.Fatal(err)
	}
	if second.AccessToken == first.AccessToken || a.count() != 2 {
		t.Fatalf("after a refusal: same token=%v fetches=%d, want a new token from 2 fetches", second.AccessToken == first.AccessToken, a.count())
	}
	s.Invalidate(first.AccessToken) // stale: changes nothing
	third, _ := s.Token()
	if third.AccessToken != second.AccessToken || a.count() != 2 {
		t.Fatalf("a stale refusal caused a fetch")
	}
}

func TestCacheFileShared(t *testing.T) {
	a := newAuthServer(t).start(t)
	cache := filepath.Join(t.TempDir(), oauthx.CacheFileName)
	var seen []string
	s1 := newSource(t, baseConfig(a.URL+"/token"), &oauthx.Options{CacheFile: cache})
	s2 := newSource(t, baseConfig(a.URL+"/token"), &oauthx.Options{CacheFile: cache, OnToken: func(tok string) { seen = append(seen, tok) }})
	t1, err := s1.Token()
	if err != nil {
		t.Fatal(err)
	}
	t2, err := s2.Token()
	if err != nil {
		t.Fatal(err)
	}
	if t1.AccessToken != t2.AccessToken || a.count() != 1 {
		t.Fatalf("second source fetched its own token (fetches %d)", a.count())
	}
	if len(seen) != 1 || seen[0] != t1.AccessToken {
		t.Errorf("OnToken saw %d tokens, want the cached one", len(seen))
	}
	fi, err := os.Stat(cache)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("cache file mode = %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(cache)
	if strings.Contains(string(b), "CANARY") {
		t.Error("cache file holds the client secret")
	}
	// A different client gets its own token.
	c3 := baseConfig(a.URL + "/token")
	c3.ClientID = "other"
	if _, err := newSource(t, c3, &oauthx.Options{CacheFile: cache}).Token(); err != nil {
		t.Fatal(err)
	}
	if a.count() != 2 {
		t.Errorf("fetches = %d, want 2 (one per client)", a.count())
	}
	st, err := oauthx.Inspect(cache, "srv", baseConfig(a.URL+"/token"))
	if err != nil || !st.Cached || st.Fingerprint == "" || strings.Contains(st.Fingerprint, t1.AccessToken) {
		t.Errorf("Inspect = %+v, %v", st, err)
	}
}

// TestTwoProcessesOneFetch runs two copies of the test binary that each
// want a token through the same cache file.
func TestTwoProcessesOneFetch(t *testing.T) {
	a := newAuthServer(t).start(t)
	cache := filepath.Join(t.TempDir(), oauthx.CacheFileName)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	outs := make([][]byte, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			cmd := exec.Command(exe, "-test.run=^$")
			cmd.Env = append(os.Environ(), helperEnv+"=1", "OAUTHX_TOKEN_URL="+a.URL+"/token", "OAUTHX_CACHE="+cache)
			outs[i], errs[i] = cmd.Output()
		})
	}
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil {
			t.Fatalf("helper %d: %v", i, errs[i])
		}
	}
	if a.count() != 1 {
		t.Fatalf("token requests = %d, want 1 across both processes", a.count())
	}
	if string(outs[0]) != string(outs[1]) || len(outs[0]) == 0 {
		t.Fatalf("processes got different tokens")
	}
}

const helperEnv = "OAUTHX_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		s, err := oauthx.New("srv", baseConfig(os.Getenv("OAUTHX_TOKEN_URL")), &oauthx.Options{CacheFile: os.Getenv("OAUTHX_CACHE")})
		if err == nil {
			t, err2 := s.Token()
			if err2 == nil {
				fmt.Print(t.AccessToken)
				os.Exit(0)
			}
			err = err2
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// No goroutine may outlive the tests.
	goleak.VerifyTestMain(m)
}

func TestRevoke(t *testing.T) {
	a := newAuthServer(t).start(t)
	cache := filepath.Join(t.TempDir(), oauthx.CacheFileName)
	c := baseConfig(a.URL + "/token")
	c.RevocationURL = a.URL + "/revoke"
	s := newSource(t, c, &oauthx.Options{CacheFile: cache})
	tok, err := s.Token()
	if err != nil {
		t.Fatal(err)
	}
	// A second source (as in the CLI) revokes the token cached by the first.
	cli := newSource(t, c, &oauthx.Options{CacheFile: cache})
	had, err := cli.Revoke(context.Background())
	if err != nil || !had {
		t.Fatalf("Revoke = %v, %v", had, err)
	}
	a.mu.Lock()
	revoked := append([]string(nil), a.revoked...)
	a.mu.Unlock()
	if len(revoked) != 1 || revoked[0] != tok.AccessToken {
		t.Fatalf("revocation endpoint saw %d tokens, want the cached one", len(revoked))
	}
	if st, _ := oauthx.Inspect(cache, "srv", c); st.Cached {
		t.Error("token still cached after revocation")
	}
	had, err = cli.Revoke(context.Background())
	if err != nil || had {
		t.Errorf("second Revoke = %v, %v; want nothing to revoke", had, err)
	}
}

func TestMTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := newCA(t)
	certPath, keyPath := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	writeLeaf(t, ca, caKey, certPath, keyPath)
	a := newAuthServer(t)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	a.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	a.StartTLS()
	t.Cleanup(a.Close)
	caPath := filepath.Join(dir, "server-ca.pem")
	if err := os.WriteFile(caPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}

	c := baseConfig(a.URL + "/token")
	c.CABundlePath = caPath
	if _, err := newSource(t, c, &oauthx.Options{Attempts: 1}).Token(); err == nil {
		t.Fatal("token without a client certificate was granted")
	}
	c.UseMTLS, c.ClientCertPath, c.ClientKeyPath = true, certPath, keyPath
	if _, err := newSource(t, c, nil).Token(); err != nil {
		t.Fatalf("Token with a client certificate: %v", err)
	}
	if r := a.last(); r.Certs != 1 {
		t.Errorf("server saw %d client certificates, want 1", r.Certs)
	}
	c.ClientKeyPath = filepath.Join(dir, "missing.key")
	_, err := newSource(t, c, nil).Token()
	if err == nil || !strings.Contains(err.Error(), "mTLS client certificate or key does not load") {
		t.Errorf("Token with a missing key: %v", err)
	}
}

func newCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

func writeLeaf(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, certPath, keyPath string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "client-1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

func BenchmarkTokenCached(b *testing.B) {
	a := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"abcdef","token_type":"Bearer","expires_in":3600}`))
	}))
	defer a.Close()
	s, _ := oauthx.New("srv", baseConfig(a.URL+"/token"), nil)
	for b.Loop() {
		if _, err := s.Token(); err != nil {
			b.Fatal(err)
		}
	}
}
