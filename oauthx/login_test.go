package oauthx_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/oauthx"
	"secure-mcp-gateway/oauthx/oauthxtest"
)

// loginEnv is an authorization server, a protected upstream and a cache
// file.
type loginEnv struct {
	as    *oauthxtest.AuthServer
	up    *oauthxtest.Upstream
	cache string
}

func newLoginEnv(t *testing.T, knobs oauthxtest.Knobs, uo *oauthxtest.UpstreamOptions) *loginEnv {
	t.Helper()
	as := oauthxtest.NewAuthServer()
	as.Knobs = knobs
	t.Cleanup(as.Close)
	up := oauthxtest.NewUpstream(as, uo)
	t.Cleanup(up.Close)
	return &loginEnv{as: as, up: up, cache: filepath.Join(t.TempDir(), oauthx.CacheFileName)}
}

func (e *loginEnv) target(lc *config.OAuthLogin) *oauthx.Target {
	return &oauthx.Target{Server: "crm", ConfigName: "work", URL: e.up.URL, Login: lc}
}

func (e *loginEnv) opts() oauthx.Options {
	return oauthx.Options{CacheFile: e.cache, Transport: &http.Transport{DisableKeepAlives: true}}
}

// login runs oauthx.Login, playing the browser: it follows the URL printed
// alone on a line of the prompt. It returns the result, the prompt text
// and the error.
func (e *loginEnv) login(t *testing.T, tg *oauthx.Target) (*oauthx.LoginResult, string, error) {
	t.Helper()
	pr, pw := io.Pipe()
	var prompt strings.Builder
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			prompt.WriteString(line + "\n")
			if strings.HasPrefix(line, "http") {
				wg.Go(func() { _, _, _ = oauthxtest.FollowLogin(context.Background(), line) })
			}
		}
	}()
	res, err := oauthx.Login(t.Context(), tg, &oauthx.LoginOptions{Options: e.opts(), Prompt: pw})
	pw.Close()
	wg.Wait()
	return res, prompt.String(), err
}

func TestLoginDynamicRegistration(t *testing.T) {
	e := newLoginEnv(t, oauthxtest.Knobs{}, nil)
	res, prompt, err := e.login(t, e.target(nil))
	if err != nil {
		t.Fatalf("login: %v\nprompt:\n%s", err, prompt)
	}
	if p := e.as.Problems(); len(p) != 0 {
		t.Errorf("the authorization server saw protocol problems: %v", p)
	}
	if !res.Registered || !res.Refreshable || res.Resource != e.up.URL || res.Issuer != e.as.URL {
		t.Errorf("result = %+v", res)
	}
	if !strings.Contains(strings.Join(res.Scopes, " "), "mcp") || !strings.Contains(strings.Join(res.Scopes, " "), "offline_access") {
		t.Errorf("scopes = %v, want mcp (from the challenge) and offline_access", res.Scopes)
	}
	// The URL is alone on its line.
	var urlLines int
	for _, l := range strings.Split(prompt, "\n") {
		if strings.Contains(l, "/authorize?") {
			urlLines++
			if !strings.HasPrefix(l, e.as.URL+"/authorize?") || strings.ContainsAny(l, " \t") {
				t.Errorf("the URL line holds more than the URL: %q", l)
			}
		}
	}
	if urlLines != 1 {
		t.Errorf("prompt has %d URL lines:\n%s", urlLines, prompt)
	}
	fi, err := os.Stat(e.cache)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token cache: %v, %v", fi, err)
	}
	// A second login reuses the registered client.
	res2, _, err := e.login(t, e.target(nil))
	if err != nil {
		t.Fatal(err)
	}
	if res2.Registered || e.as.Calls("/register") != 1 {
		t.Errorf("second login registered again (register calls %d)", e.as.Calls("/register"))
	}
	// NewClient registers again. Nobody follows the URL: the wait ends
	// with a redirect error.
	_, err = oauthx.Login(t.Context(), e.target(nil), &oauthx.LoginOptions{Options: e.opts(), Prompt: io.Discard, NewClient: true, Wait: time.Nanosecond})
	var le *oauthx.LoginError
	if !errors.As(err, &le) || le.Step != "redirect" || !strings.Contains(err.Error(), "did not come back") {
		t.Errorf("login without the browser = %v, want a redirect timeout", err)
	}
	if n := e.as.Calls("/register"); n != 2 {
		t.Errorf("NewClient: register calls %d, want 2", n)
	}
	st, err := oauthx.InspectLogin(e.cache, "crm", e.up.URL)
	if err != nil || !st.Cached || !st.Refreshable || st.Fingerprint != res2.Fingerprint {
		t.Errorf("InspectLogin = %+v, %v", st, err)
	}
	b, _ := os.ReadFile(e.cache)
	if strings.Contains(prompt, "at-") || strings.Contains(res2.Fingerprint, "at-") {
		t.Error("a token leaked into the prompt or the fingerprint")
	}
	if !strings.Contains(string(b), `"refresh_token"`) {
		t.Error("the refresh token is not stored")
	}
}

func TestLoginConfiguredClient(t *testing.T) {
	e := newLoginEnv(t, oauthxtest.Knobs{NoRegistration: true}, nil)
	tg := e.target(&config.OAuthLogin{ClientID: "preset", ClientSecret: "CANARY-preset-secret", RedirectPort: freePort(t), Scopes: []string{"mcp"}})
	e.as.AddClient("preset", "CANARY-preset-secret", fmt.Sprintf("http://127.0.0.1:%d/callback", tg.Login.RedirectPort))
	if _, prompt, err := e.login(t, tg); err != nil {
		t.Fatalf("login: %v\n%s", err, prompt)
	}
	if e.as.Calls("/register") != 0 || len(e.as.Problems()) != 0 {
		t.Errorf("register calls %d, problems %v", e.as.Calls("/register"), e.as.Problems())
	}
	if b, _ := os.ReadFile(e.cache); strings.Contains(string(b), "CANARY") {
		t.Error("the configured client secret was copied into the token cache")
	}
	// Refresh authenticates with the configured secret.
	opts := e.opts()
	src := oauthx.NewLoginSource(tg, &opts)
	tok, err := src.TokenContext(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	src.Invalidate(tok.AccessToken)
	if _, err := src.TokenContext(t.Context()); err != nil || e.as.Grants("refresh_token") != 1 {
		t.Errorf("refresh with the configured client: %v (refreshes %d)", err, e.as.Grants("refresh_token"))
	}
	// Without a client_id and without registration: a clear error.
	_, _, err = e.login(t, e.target(nil))
	var le *oauthx.LoginError
	if !errors.As(err, &le) || le.Step != "registration" || !strings.Contains(err.Error(), "client_id") {
		t.Errorf("err = %v, want a registration error naming client_id", err)
	}
}

// TestLoginSecurity: each attack or misconfiguration is refused before a
// token is obtained, by the step that must catch it.
func TestLoginSecurity(t *testing.T) {
	tests := []struct {
		name  string
		knobs oauthxtest.Knobs
		up    *oauthxtest.UpstreamOptions
		step  string
		want  string
	}{
		{"issuer differs from metadata URL", oauthxtest.Knobs{Issuer: "https://evil.example"}, nil, "metadata", "issuer"},
		{"no S256", oauthxtest.Knobs{ChallengeMethods: []string{"plain"}}, nil, "metadata", "S256"},
		{"http authorization server off loopback", oauthxtest.Knobs{}, &oauthxtest.UpstreamOptions{AuthServer: "http://auth.example.com"}, "discovery", "HTTPS"},
		{"resource is another server", oauthxtest.Knobs{}, &oauthxtest.UpstreamOptions{Resource: "https://other.example/mcp"}, "discovery", "resource"},
		{"registration redirects elsewhere", oauthxtest.Knobs{RegisteredRedirect: "https://evil.example/cb"}, nil, "registration", "redirect"},
		{"forged state", oauthxtest.Knobs{WrongState: true}, nil, "authorization", "state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newLoginEnv(t, tt.knobs, tt.up)
			_, prompt, err := e.login(t, e.target(nil))
			var le *oauthx.LoginError
			if !errors.As(err, &le) || le.Step != tt.step || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v (prompt %q), want a %s error mentioning %q", err, prompt, tt.step, tt.want)
			}
			if e.as.Grants("authorization_code") != 0 {
				t.Error("a token was issued anyway")
			}
			if st, _ := oauthx.InspectLogin(e.cache, "crm", e.up.URL); st.Cached {
				t.Error("a token was stored")
			}
		})
	}
}

func TestLoginCallbackOneUse(t *testing.T) {
	e := newLoginEnv(t, oauthxtest.Knobs{}, nil)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := oauthx.Login(t.Context(), e.target(nil), &oauthx.LoginOptions{Options: e.opts(), Prompt: pw})
		pw.Close()
		done <- err
	}()
	sc := bufio.NewScanner(pr)
	var authURL string
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "http") {
			authURL = l
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	// Fetch /authorize without following the redirect, then replay the
	// redirect twice: the second use is refused.
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cb := resp.Header.Get("Location")
	if !strings.HasPrefix(cb, "http://127.0.0.1:") {
		t.Fatalf("redirect to %q, want the loopback listener", cb)
	}
	first, err := hc.Get(cb)
	if err != nil {
		t.Fatal(err)
	}
	first.Body.Close()
	if err := <-done; err != nil {
		t.Fatalf("login: %v", err)
	}
	if second, err := hc.Get(cb); err == nil {
		second.Body.Close()
		if second.StatusCode == http.StatusOK {
			t.Error("the redirect was accepted twice")
		}
	}
}

func TestLoginSourceRefresh(t *testing.T) {
	e := newLoginEnv(t, oauthxtest.Knobs{}, nil)
	if _, _, err := e.login(t, e.target(nil)); err != nil {
		t.Fatal(err)
	}
	opts := e.opts()
	// Two sources on one cache file: two gateway processes.
	a, b := oauthx.NewLoginSource(e.target(nil), &opts), oauthx.NewLoginSource(e.target(nil), &opts)
	t1, err := a.TokenContext(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.TokenContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	before := rawRefresh(t, e.cache)
	e.as.ExpireAccessTokens()
	// Both processes see the upstream refuse the token.
	a.Invalidate(t1.AccessToken)
	b.Invalidate(t1.AccessToken)
	var wg sync.WaitGroup
	toks := make([]string, 2)
	for i, s := range []*oauthx.LoginSource{a, b} {
		wg.Go(func() {
			tok, err := s.TokenContext(t.Context())
			if err != nil {
				t.Error(err)
				return
			}
			toks[i] = tok.AccessToken
		})
	}
	wg.Wait()
	if n := e.as.Grants("refresh_token"); n != 1 {
		t.Errorf("refreshed %d times, want once across both processes", n)
	}
	if toks[0] != toks[1] || toks[0] == t1.AccessToken {
		t.Error("the processes do not share the refreshed token")
	}
	if _, ok := e.as.Verify(toks[0], e.up.URL); !ok {
		t.Error("the refreshed token is not bound to the server")
	}
	if after := rawRefresh(t, e.cache); after == before || after == "" {
		t.Error("the rotated refresh token was not saved")
	}
	if p := e.as.Problems(); len(p) != 0 {
		t.Errorf("problems: %v", p)
	}
}

func rawRefresh(t *testing.T, cache string) string {
	t.Helper()
	var f struct {
		Tokens map[string]struct {
			RefreshToken string `json:"refresh_token"`
		} `json:"tokens"`
	}
	b, err := os.ReadFile(cache)
	if err != nil || json.Unmarshal(b, &f) != nil {
		t.Fatalf("read cache: %v", err)
	}
	for _, e := range f.Tokens {
		if e.RefreshToken != "" {
			return e.RefreshToken
		}
	}
	return ""
}

func TestLoginSourceNeedsLogin(t *testing.T) {
	e := newLoginEnv(t, oauthxtest.Knobs{}, nil)
	opts := e.opts()
	tg := e.target(nil)
	tg.Command = oauthx.LoginCommand("crm", "work", "/etc/gw config.json")
	src := oauthx.NewLoginSource(tg, &opts)
	_, err := src.TokenContext(t.Context())
	var lr *oauthx.LoginRequiredError
	if !errors.As(err, &lr) || !strings.Contains(err.Error(), `secure-mcp-gateway --config '/etc/gw config.json' oauth login crm --config-name work`) {
		t.Fatalf("err = %v, want a LoginRequiredError naming the command", err)
	}
	if _, _, err := e.login(t, tg); err != nil {
		t.Fatal(err)
	}
	tok, err := src.TokenContext(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// The refresh token is revoked: the next refresh asks for a login and
	// forgets the dead grant.
	e.as.RevokeAll()
	src.Invalidate(tok.AccessToken)
	_, err = src.TokenContext(t.Context())
	if !errors.As(err, &lr) || !strings.Contains(lr.Reason, "invalid_grant") {
		t.Fatalf("err = %v, want a LoginRequiredError for invalid_grant", err)
	}
	if st, _ := oauthx.InspectLogin(e.cache, "crm", e.up.URL); st.Cached {
		t.Error("the dead grant is still cached")
	}
	// A token for this server is never used for another URL.
	other := oauthx.NewLoginSource(&oauthx.Target{Server: "other", URL: e.up.Server.URL + "/other"}, &opts)
	if _, err := other.TokenContext(t.Context()); !errors.As(err, &lr) {
		t.Errorf("another URL got a token: %v", err)
	}
}

func TestLoginStepUp(t *testing.T) {
	e := newLoginEnv(t, oauthxtest.Knobs{}, nil)
	if _, _, err := e.login(t, e.target(nil)); err != nil {
		t.Fatal(err)
	}
	opts := e.opts()
	src := oauthx.NewLoginSource(e.target(nil), &opts)
	err := src.StepUp([]string{"admin"})
	var lr *oauthx.LoginRequiredError
	if !errors.As(err, &lr) || !strings.Contains(err.Error(), "admin") || !strings.Contains(err.Error(), "oauth login crm") {
		t.Fatalf("StepUp = %v", err)
	}
	if st, _ := oauthx.InspectLogin(e.cache, "crm", e.up.URL); len(st.StepUp) != 1 {
		t.Errorf("step-up scopes not recorded: %+v", st)
	}
	res, _, err := e.login(t, e.target(nil))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(res.Scopes, " ")
	if !strings.Contains(got, "mcp") || !strings.Contains(got, "admin") {
		t.Errorf("the new login requested %q, want the earlier scopes and admin", got)
	}
}

func TestLoginRevoke(t *testing.T) {
	for _, advertised := range []bool{true, false} {
		e := newLoginEnv(t, oauthxtest.Knobs{NoRevocation: !advertised}, nil)
		if _, _, err := e.login(t, e.target(nil)); err != nil {
			t.Fatal(err)
		}
		rt := rawRefresh(t, e.cache)
		opts := e.opts()
		had, err := oauthx.NewLoginSource(e.target(nil), &opts).Revoke(t.Context())
		if !had {
			t.Fatal("no token to revoke")
		}
		if advertised {
			if err != nil || !e.as.Revoked(rt) {
				t.Errorf("revoke: %v, revoked at the server: %v", err, e.as.Revoked(rt))
			}
		} else if !errors.Is(err, oauthx.ErrRevocationNotAdvertised) {
			t.Errorf("revoke without endpoint: %v", err)
		}
		if st, _ := oauthx.InspectLogin(e.cache, "crm", e.up.URL); st.Cached {
			t.Error("the token is still cached")
		}
	}
}

// freePort returns a port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestLoginSourceRefreshesBeforeExpiry: a token within a minute of its
// expiry is refreshed before use, without waiting for a 401.
func TestLoginSourceRefreshesBeforeExpiry(t *testing.T) {
	e := newLoginEnv(t, oauthxtest.Knobs{ExpiresIn: 3600}, nil)
	if _, _, err := e.login(t, e.target(nil)); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		ahead    time.Duration
		refreshs int
	}{{58 * time.Minute, 0}, {59*time.Minute + 30*time.Second, 1}} {
		opts := e.opts()
		opts.Now = func() time.Time { return time.Now().Add(tt.ahead) }
		before := e.as.Grants("refresh_token")
		if _, err := oauthx.NewLoginSource(e.target(nil), &opts).TokenContext(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := e.as.Grants("refresh_token") - before; got != tt.refreshs {
			t.Errorf("%v after login: %d refreshes, want %d", tt.ahead, got, tt.refreshs)
		}
	}
}
