package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/oauthx"
)

// e2eAuthServer issues client-credentials tokens on /token (checking the
// client's Basic credentials) and fails with 500 on /broken/token.
type e2eAuthServer struct {
	*httptest.Server
	mu     sync.Mutex
	issued map[string]bool
	calls  map[string]int
}

func newE2EAuthServer(t *testing.T, clientID, secret string) *e2eAuthServer {
	a := &e2eAuthServer{issued: map[string]bool{}, calls: map[string]int{}}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.calls[r.URL.Path]++
		a.mu.Unlock()
		if r.URL.Path != "/token" {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		if id, pw, ok := r.BasicAuth(); !ok || id != clientID || pw != secret {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		tok := "at-" + strings.ReplaceAll(time.Now().Format("150405.000000000"), ".", "") + "-CANARYTOKEN"
		a.mu.Lock()
		a.issued[tok] = true
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600, "scope": "mcp"})
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *e2eAuthServer) valid(tok string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.issued[tok]
}

func (a *e2eAuthServer) tokens() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for t := range a.issued {
		out = append(out, t)
	}
	return out
}

func (a *e2eAuthServer) count(path string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[path]
}

// TestE2EOAuth drives the real binary with a remote upstream behind bearer
// auth, a local upstream that receives its token in its environment, a
// server whose token endpoint is broken, and a server without OAuth; then
// greps everything the gateway wrote for the client secret and the tokens.
func TestE2EOAuth(t *testing.T) {
	const clientID, clientSecret = "gw-client", "CANARY-client-secret-9f8e7d"
	a := newE2EAuthServer(t, clientID, clientSecret)

	remote := mcp.NewServer(&mcp.Implementation{Name: "remote", Version: "1"}, nil)
	mcp.AddTool(remote, &mcp.Tool{Name: "whoami", Description: "Says who called."}, func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		ok := req.Extra != nil && req.Extra.TokenInfo != nil
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("authenticated=%v", ok)}}}, nil, nil
	})
	verify := func(_ context.Context, tok string, _ *http.Request) (*auth.TokenInfo, error) {
		if !a.valid(tok) {
			return nil, auth.ErrInvalidToken
		}
		return &auth.TokenInfo{Scopes: []string{"mcp"}, Expiration: time.Now().Add(time.Hour)}, nil
	}
	rs := httptest.NewServer(auth.RequireBearerToken(verify, nil)(
		mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return remote }, nil)))
	t.Cleanup(rs.Close)

	oc := func(tokenURL string) *config.OAuthConfig {
		return &config.OAuthConfig{Enabled: true, Version: "2.1", GrantType: "client_credentials",
			ClientID: clientID, ClientSecret: clientSecret, TokenURL: tokenURL, Scope: "mcp"}
	}
	remoteSrv := &config.Server{Name: "remote", Config: config.ServerConfig{URL: rs.URL}, Tools: map[string]json.RawMessage{}, OAuth: oc(a.URL + "/token")}
	local := exampleServer("local", "probe", nil)
	local.OAuth = oc(a.URL + "/token")
	broken := exampleServer("broken", "echo", nil)
	broken.OAuth = oc(a.URL + "/broken/token")
	plain := exampleServer("plain", "echo", nil)
	f := newFixture(t, remoteSrv, local, broken, plain)

	g := startGateway(t, f)
	names := g.toolNames(t)
	for _, want := range []string{"remote__whoami", "local__env", "plain__echo"} {
		if !contains(names, want) {
			t.Errorf("tools/list lacks %s: %v", want, names)
		}
	}
	if contains(names, "broken__echo") {
		t.Error("the server whose token endpoint fails listed its tools")
	}
	var results []string
	res := g.call(t, "remote__whoami", map[string]any{})
	results = append(results, resultText(res))
	if res.IsError || resultText(res) != "authenticated=true" {
		t.Errorf("remote__whoami = %q (isError %v)", resultText(res), res.IsError)
	}
	for _, v := range []string{"ENKRYPT_ACCESS_TOKEN", "OAUTH_ACCESS_TOKEN", "AUTHORIZATION", "AUTH_HEADER"} {
		res := g.call(t, "local__env", map[string]any{"name": v})
		results = append(results, resultText(res))
		var out struct {
			Set bool `json:"set"`
		}
		if b, _ := json.Marshal(res.StructuredContent); json.Unmarshal(b, &out) != nil || !out.Set {
			t.Errorf("local upstream does not see %s: %s", v, resultText(res))
		}
	}
	res = g.call(t, "plain__echo", map[string]any{"message": "hello"})
	results = append(results, resultText(res))
	if res.IsError || resultText(res) != "hello" {
		t.Errorf("plain__echo = %q: a broken token endpoint affected another server", resultText(res))
	}
	// The remote and the local server share one token (same client, same
	// scope): one fetch. The broken endpoint was tried with bounded retries.
	if n := a.count("/token"); n != 1 {
		t.Errorf("token endpoint called %d times, want 1", n)
	}
	if n := a.count("/broken/token"); n < 1 || n > oauthx.DefaultAttempts {
		t.Errorf("broken token endpoint called %d times, want 1..%d", n, oauthx.DefaultAttempts)
	}
	stderr := g.stderr.String()
	if !strings.Contains(stderr, `oauth token for server \"broken\"`) || !strings.Contains(stderr, "500 Internal Server Error") {
		t.Errorf("the log does not name the broken server and its token endpoint's status")
	}

	cache := oauthx.CachePath(f.path)
	fi, err := os.Stat(cache)
	if err != nil {
		t.Fatalf("token cache: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token cache mode %v, want 0600", fi.Mode().Perm())
	}

	// oauth status shows a fingerprint, never the token.
	out, err := runOAuthCLI(t, f, "oauth", "status")
	if err != nil {
		t.Fatalf("oauth status: %v\n%s", err, out)
	}
	if !strings.Contains(out, "remote") || !strings.Contains(out, "cached ") {
		t.Errorf("oauth status output:\n%s", out)
	}
	results = append(results, out)

	// Canary: neither the client secret nor any issued token appears in the
	// gateway's stderr, the tool results or the CLI output.
	canaries := append([]string{clientSecret}, a.tokens()...)
	if len(canaries) < 2 {
		t.Fatal("no token was issued; the canary check proves nothing")
	}
	all := stderr + strings.Join(results, "\n")
	for _, c := range canaries {
		if strings.Contains(all, c) {
			t.Errorf("output leaks a secret (%d chars)", len(c))
		}
	}
	if strings.Contains(all, "CANARY") {
		t.Error("output holds a CANARY value")
	}
}

// runOAuthCLI runs the gateway binary with args against f's config.
func runOAuthCLI(t *testing.T, f *fixture, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, gatewayBin, append([]string{"--config", f.path}, args...)...)
	cmd.Env = gatewayEnv()
	b, err := cmd.CombinedOutput()
	return string(b), err
}
