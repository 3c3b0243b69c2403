package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/redis/go-redis/v9"

	"secure-mcp-gateway/admin"
	"secure-mcp-gateway/cache"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/internal/secret"
)

// replicaProvider is an OAuth authorization server (RFC 6749 client
// credentials with client_secret_basic on /token, RFC 7009 on /revoke)
// that counts its grants; tokens it revoked or forgot are refused by the
// upstream.
type replicaProvider struct {
	*httptest.Server
	mu     sync.Mutex
	grants int
	valid  map[string]bool
	issued []string
}

func newReplicaProvider(t *testing.T, clientID, secret string) *replicaProvider {
	p := &replicaProvider{valid: map[string]bool{}}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, pw, ok := r.BasicAuth(); !ok || id != clientID || pw != secret {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		switch r.URL.Path {
		case "/revoke":
			p.forget(r.PostFormValue("token"))
			w.WriteHeader(http.StatusOK)
		case "/token":
			if r.PostFormValue("grant_type") != "client_credentials" {
				http.Error(w, `{"error":"unsupported_grant_type"}`, http.StatusBadRequest)
				return
			}
			tok := "rep-" + rand.Text()
			p.mu.Lock()
			p.grants++
			p.valid[tok] = true
			p.issued = append(p.issued, tok)
			p.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600, "scope": "mcp"})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *replicaProvider) forget(tok string) {
	p.mu.Lock()
	delete(p.valid, tok)
	p.mu.Unlock()
}

func (p *replicaProvider) isValid(tok string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.valid[tok]
}

func (p *replicaProvider) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.grants
}

// current returns the one token the provider still honours.
func (p *replicaProvider) current(t *testing.T) string {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for tok := range p.valid {
		out = append(out, tok)
	}
	if len(out) != 1 {
		t.Fatalf("%d valid tokens, want 1", len(out))
	}
	return out[0]
}

func (p *replicaProvider) tokens() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.issued...)
}

// remoteServer starts a remote MCP server whose tool "whoami" needs a
// token p honours, and returns the server entry "remote" that reaches it
// with a client-credentials grant at p (scope "mcp", revocable).
func (p *replicaProvider) remoteServer(t *testing.T, clientID, clientSecret string) *config.Server {
	t.Helper()
	remote := mcp.NewServer(&mcp.Implementation{Name: "remote", Version: "1"}, nil)
	mcp.AddTool(remote, &mcp.Tool{Name: "whoami", Description: "Says whether the caller was authenticated."},
		func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			ok := req.Extra != nil && req.Extra.TokenInfo != nil
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "authenticated=" + strconv.FormatBool(ok)}}}, nil, nil
		})
	verify := func(_ context.Context, tok string, _ *http.Request) (*auth.TokenInfo, error) {
		if !p.isValid(tok) {
			return nil, auth.ErrInvalidToken
		}
		return &auth.TokenInfo{Scopes: []string{"mcp"}, Expiration: time.Now().Add(time.Hour)}, nil
	}
	rs := httptest.NewServer(auth.RequireBearerToken(verify, nil)(
		mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return remote }, nil)))
	t.Cleanup(rs.Close)
	return &config.Server{Name: "remote", Config: config.ServerConfig{URL: rs.URL}, Tools: map[string]json.RawMessage{},
		OAuth: &config.OAuthConfig{Enabled: true, Version: "2.1", GrantType: "client_credentials", ClientID: clientID,
			ClientSecret: clientSecret, TokenURL: p.URL + "/token", RevocationURL: p.URL + "/revoke", Scope: "mcp"}}
}

// TestE2EReplicasShareOAuthToken: two --http replicas, each with its own
// copy of the config and so its own token cache file, share one real
// redis-server. Calling a remote upstream that needs a client-credentials
// token on both makes one grant; the token in Redis is sealed; `oauth
// revoke` on A's copy deletes it and both replicas move to one new token;
// a token the upstream refuses (401) is replaced for both with one grant;
// with Redis killed both replicas still get tokens and serve calls.
func TestE2EReplicasShareOAuthToken(t *testing.T) {
	t.Parallel()
	const password = "oauth-redis-pw"
	const clientID, clientSecret = "replica-client", "CANARY-replica-secret-5c4b"
	port, redisCmd := startRedisServer(t, password)
	prov := newReplicaProvider(t, clientID, clientSecret)
	f := newFixture(t, prov.remoteServer(t, clientID, clientSecret))
	f.useRedis(t, port, password)
	fb := copyConfig(t, f)
	a, b := startHTTP(t, f), startHTTP(t, fb)

	hdr := http.Header{"Apikey": {f.key}}
	sessions := map[*httpGatewayProc]*mcp.ClientSession{}
	for _, p := range []*httpGatewayProc{a, b} {
		cs, err := connectHTTP(t, p.url, hdr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cs.Close() })
		sessions[p] = cs
	}
	var results []string
	var resultsMu sync.Mutex
	call := func(p *httpGatewayProc, what string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		res, err := sessions[p].CallTool(ctx, &mcp.CallToolParams{Name: "remote__whoami", Arguments: map[string]any{}})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		resultsMu.Lock()
		results = append(results, resultText(res))
		resultsMu.Unlock()
		if res.IsError || resultText(res) != "authenticated=true" {
			t.Fatalf("%s: %q (isError %v)", what, resultText(res), res.IsError)
		}
	}
	both := func(what string) {
		t.Helper()
		var wg sync.WaitGroup
		for name, p := range map[string]*httpGatewayProc{"A": a, "B": b} {
			wg.Go(func() { call(p, what+" on "+name) })
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
	}
	grants := func(want int, when string) {
		t.Helper()
		if n := prov.count(); n != want {
			t.Fatalf("%s: the provider granted %d tokens, want %d", when, n, want)
		}
	}

	rc := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), Password: password})
	defer rc.Close()
	ctx := context.Background()
	sharedValue := func() (key, value string) {
		t.Helper()
		keys, err := rc.Keys(ctx, cache.DefaultSharedPrefix+"oauth:token:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) > 1 {
			t.Fatalf("%d shared oauth tokens for one upstream: %q", len(keys), keys)
		}
		if len(keys) == 0 {
			return "", ""
		}
		v, err := rc.Get(ctx, keys[0]).Result()
		if err != nil && err != redis.Nil {
			t.Fatal(err)
		}
		return keys[0], v
	}

	// Both replicas call at once: one grant between them.
	both("first call")
	grants(1, "after both replicas called")
	key, v1 := sharedValue()
	if key == "" {
		t.Fatal("no token in Redis after the first calls")
	}
	for _, s := range []string{prov.current(t), clientSecret, clientID, "CANARY", "Bearer"} {
		if strings.Contains(key, s) || strings.Contains(v1, s) {
			t.Fatalf("the Redis key or value holds a credential or the token in clear (%d chars)", len(s))
		}
	}
	if ttl := rc.TTL(ctx, key).Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("shared token TTL %v, want the token's lifetime (≤ 1 h)", ttl)
	}

	// Revoked through A's admin CLI: the shared entry is deleted, the
	// token revoked at the provider, and both replicas move to one new one.
	old := prov.current(t)
	if out, err := runOAuthCLI(t, f, "oauth", "revoke", "--server", "remote"); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("oauth revoke: %v\n%s", err, out)
	}
	if k, _ := sharedValue(); k != "" {
		t.Fatal("the shared token survived oauth revoke")
	}
	if prov.isValid(old) {
		t.Fatal("oauth revoke did not revoke the token at the provider")
	}
	call(b, "call on B after revoke")
	call(a, "call on A after revoke")
	grants(2, "after revoke")

	// The upstream refuses the token (401): the replica that meets it
	// replaces the shared entry, the other takes the replacement.
	_, v2 := sharedValue()
	prov.forget(prov.current(t))
	call(a, "call on A after the upstream refused the token")
	grants(3, "after a 401")
	if _, v3 := sharedValue(); v3 == "" || v3 == v2 {
		t.Fatal("the refused token was not replaced in Redis")
	}
	call(b, "call on B after A replaced the refused token")
	grants(3, "after B took the replacement")

	// Redis killed: calls go on, from memory and then from local grants.
	_ = redisCmd.Process.Kill()
	_ = redisCmd.Wait()
	both("call with Redis down")
	prov.forget(prov.current(t))
	both("call with Redis down and the token refused")
	if n := prov.count(); n < 4 {
		t.Errorf("with Redis down and the token refused, the provider granted %d tokens in all, want local grants", n)
	}

	canaries := append([]string{clientSecret, password}, prov.tokens()...)
	all := a.stderr.String() + b.stderr.String() + strings.Join(results, "\n")
	for _, c := range canaries {
		if strings.Contains(all, c) {
			t.Errorf("a replica's log or a result holds a secret (%d chars)", len(c))
		}
	}
	for name, p := range map[string]*httpGatewayProc{"A": a, "B": b} {
		if n := strings.Count(p.stderr.String(), "Redis unavailable;"); n > 1 {
			t.Errorf("replica %s warned %d times about one Redis outage, want once", name, n)
		}
	}
}

// TestE2EOAuthStatusSharedToken: a --http gateway shares a client-
// credentials token through a real redis-server; `oauth status` run on a
// fresh copy of the config (no local token file) shows the shared token's
// fingerprint and expiry, as the admin API's GET /oauth/tokens does; after
// `oauth revoke` it shows none; with Redis stopped the row says the shared
// store is unreachable and the command exits 0.
func TestE2EOAuthStatusSharedToken(t *testing.T) {
	t.Parallel()
	const password = "status-redis-pw"
	const clientID, clientSecret = "status-client", "CANARY-status-secret-7d1e"
	port, redisCmd := startRedisServer(t, password)
	prov := newReplicaProvider(t, clientID, clientSecret)
	f := newFixture(t, prov.remoteServer(t, clientID, clientSecret))
	f.useRedis(t, port, password)
	fresh := copyConfig(t, f) // before any token: its directory never holds one

	g := startHTTP(t, f)
	cs, err := connectHTTP(t, g.url, http.Header{"Apikey": {f.key}})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "remote__whoami", Arguments: map[string]any{}})
	if err != nil || res.IsError || resultText(res) != "authenticated=true" {
		t.Fatalf("call: %v %+v", err, res)
	}
	tok := prov.current(t)
	fetched := time.Now()

	var outputs []string
	cli := func(args ...string) (stdout string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, gatewayBin, append([]string{"--config", fresh.path}, args...)...)
		cmd.Env = gatewayEnv()
		var so, se bytes.Buffer
		cmd.Stdout, cmd.Stderr = &so, &se
		if err := cmd.Run(); err != nil {
			t.Fatalf("%v: %v\n%s%s", args, err, so.String(), se.String())
		}
		outputs = append(outputs, so.String(), se.String())
		return so.String()
	}
	status := func(when string) (admin.OAuthToken, string) {
		t.Helper()
		var rows []admin.OAuthToken
		out := cli("oauth", "status", "--json")
		if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 1 {
			t.Fatalf("%s: oauth status --json: %v\n%s", when, err, out)
		}
		if rows[0].Cached || rows[0].Shared == nil || rows[0].Shared.Store != "127.0.0.1:"+strconv.Itoa(port) {
			t.Fatalf("%s: want no local token and the shared store's state: %s", when, out)
		}
		return rows[0], cli("oauth", "status")
	}

	// 1. The token the gateway shares, seen from a config copy without one.
	row, table := status("shared")
	sh := row.Shared
	if !sh.Cached || sh.Fingerprint != secret.Fingerprint(tok) || sh.Scope != "mcp" || sh.Expired || sh.Problem != "" {
		t.Fatalf("shared token %+v, want fingerprint %s", sh, secret.Fingerprint(tok))
	}
	if sh.ExpiresAt == nil || sh.ExpiresAt.Before(fetched.Add(59*time.Minute)) || sh.ExpiresAt.After(time.Now().Add(time.Hour)) {
		t.Fatalf("shared token expires at %v, want within the hour it was granted for", sh.ExpiresAt)
	}
	if !strings.Contains(table, "SHARED") || !strings.Contains(table, sh.Fingerprint+", expires in ") {
		t.Fatalf("oauth status table:\n%s", table)
	}

	// The admin API lists the same.
	api := startAPI(t, fresh)
	r := api.must(t, "GET", "/api/v1/oauth/tokens", nil)
	outputs = append(outputs, r.raw, api.stderr.String())
	var apiRows []admin.OAuthToken
	if err := json.Unmarshal(r.Body.Data, &apiRows); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]admin.OAuthToken{row}, apiRows); d != "" {
		t.Fatalf("the API and the CLI disagree (-CLI +API):\n%s", d)
	}
	api.stop(t)

	// 2. Revoked: the shared entry is gone.
	if out := cli("oauth", "revoke", "--server", "remote"); !strings.Contains(out, "token revoked") {
		t.Fatalf("oauth revoke:\n%s", out)
	}
	if prov.isValid(tok) {
		t.Fatal("the shared token was not revoked at the provider")
	}
	row, table = status("revoked")
	if row.Shared.Cached || row.Shared.Fingerprint != "" || row.Shared.Problem != "" {
		t.Fatalf("after revoke: %+v", row.Shared)
	}
	if !strings.Contains(table, "none") {
		t.Fatalf("oauth status table after revoke:\n%s", table)
	}

	// 3. Redis stopped: the row says so; the listing still succeeds.
	_ = redisCmd.Process.Kill()
	_ = redisCmd.Wait()
	row, table = status("Redis stopped")
	if row.Shared.Problem != admin.SharedUnreachable || row.Shared.Cached {
		t.Fatalf("with Redis stopped: %+v", row.Shared)
	}
	if !strings.Contains(table, admin.SharedUnreachable) {
		t.Fatalf("oauth status table with Redis stopped:\n%s", table)
	}

	for _, c := range append([]string{clientSecret, password}, prov.tokens()...) {
		for _, o := range outputs {
			if strings.Contains(o, c) {
				t.Fatalf("an output holds a secret (%d chars)", len(c))
			}
		}
	}
}
