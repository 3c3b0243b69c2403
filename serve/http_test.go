package serve

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/internal/secret"
)

const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

// testKeys returns a config with one project whose MCP config has no
// servers (no session spawns anything) and two gateway keys of its user.
func testKeys(t *testing.T) (cfg *config.Config, keyA, keyB string) {
	t.Helper()
	a, storedA, err := authn.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	b, storedB, err := authn.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg = &config.Config{
		MCPConfigs: map[string]*config.MCPConfig{"c1": {Name: "empty"}},
		Projects:   map[string]*config.Project{"p1": {Name: "p", MCPConfigID: "c1", Users: []string{"u1"}}},
		Users:      map[string]*config.User{"u1": {Email: "u@example.com"}},
		APIKeys: map[string]*config.APIKey{
			storedA: {ProjectID: "p1", UserID: "u1"},
			storedB: {ProjectID: "p1", UserID: "u1"},
		},
	}
	return cfg, a.Reveal(), b.Reveal()
}

// newTestHandler serves NewHTTPHandler(opts) on a test server whose config
// is cfg.
func newTestHandler(t *testing.T, cfg *config.Config, opts HTTPOptions) *httptest.Server {
	t.Helper()
	opts.Config = cfg
	opts.ConfigPath = filepath.Join(t.TempDir(), "config.json")
	h, closeHandler, err := NewHTTPHandler(&opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		closeHandler()
	})
	return srv
}

func do(t *testing.T, method, url, key, session, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if key != "" {
		req.Header.Set("apikey", key)
	}
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestHTTPHandlerRefusals checks what the handler refuses before any
// session exists: requests without a usable key, keys in the query
// string, bodies that fail the strict parse, and session-less requests
// other than initialize.
func TestHTTPHandlerRefusals(t *testing.T) {
	cfg, key, _ := testKeys(t)
	srv := newTestHandler(t, cfg, HTTPOptions{})
	tests := []struct {
		name, method, path, key, body string
		want                          int
	}{
		{"health", http.MethodGet, "/healthz", "", "", 200},
		{"ready", http.MethodGet, "/readyz", "", "", 200},
		{"metrics", http.MethodGet, "/metrics", "", "", 200},
		{"no key", http.MethodPost, "/mcp", "", initBody, 401},
		{"unknown key", http.MethodPost, "/mcp", "not-a-key", initBody, 401},
		{"key in the query string", http.MethodPost, "/mcp?apikey=" + key, "", initBody, 400},
		{"batch", http.MethodPost, "/mcp", key, "[" + initBody + "]", 400},
		{"duplicate keys", http.MethodPost, "/mcp", key, `{"jsonrpc":"2.0","id":1,"id":2,"method":"initialize"}`, 400},
		{"no session, not initialize", http.MethodPost, "/mcp", key, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, 400},
		{"GET without a session", http.MethodGet, "/mcp", key, "", 400},
		{"unknown session", http.MethodPost, "/mcp", key, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			session := ""
			if tt.name == "unknown session" {
				session = "no-such-session"
			}
			resp := do(t, tt.method, srv.URL+tt.path, tt.key, session, tt.body)
			if resp.StatusCode != tt.want {
				t.Fatalf("%s %s: %s, want %d", tt.method, tt.path, resp.Status, tt.want)
			}
			if tt.want == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
				t.Errorf("401 without a Bearer challenge: %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

// TestHTTPHandlerSessionBoundToKey checks that a session answers only the
// key that created it: another valid key presenting its id gets 404, as if
// it did not exist, even one whose short fingerprint (the one logs show)
// is the same.
func TestHTTPHandlerSessionBoundToKey(t *testing.T) {
	cfg, keyA, keyB := testKeys(t)
	twinA, twinB := fingerprintTwins(t)
	for _, k := range []string{twinA, twinB} {
		cfg.APIKeys[authn.HashKey(k)] = &config.APIKey{ProjectID: "p1", UserID: "u1"}
	}
	srv := newTestHandler(t, cfg, HTTPOptions{})
	const initialized = `{"jsonrpc":"2.0","method":"notifications/initialized"}`
	for _, tt := range []struct{ name, owner, other string }{
		{"another key", keyA, keyB},
		{"another key with the same fingerprint", twinA, twinB},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(t, http.MethodPost, srv.URL+"/mcp", tt.owner, "", initBody)
			sid := resp.Header.Get("Mcp-Session-Id")
			if resp.StatusCode != 200 || sid == "" {
				t.Fatalf("initialize: %s, session %q", resp.Status, sid)
			}
			if resp := do(t, http.MethodPost, srv.URL+"/mcp", tt.other, sid, initialized); resp.StatusCode != 404 {
				t.Errorf("another key on the session: %s, want 404", resp.Status)
			}
			if resp := do(t, http.MethodPost, srv.URL+"/mcp", tt.owner, sid, initialized); resp.StatusCode != 202 {
				t.Errorf("its own key on the session: %s, want 202", resp.Status)
			}
		})
	}
}

// fingerprintTwins returns two gateway keys with the same 32-bit
// fingerprint, found by the birthday bound (about 2^16 keys).
func fingerprintTwins(t *testing.T) (string, string) {
	t.Helper()
	seen := map[string]string{}
	for range 1 << 20 {
		k, _, err := authn.NewKey()
		if err != nil {
			t.Fatal(err)
		}
		fp := secret.Fingerprint(k.Reveal())
		if other, ok := seen[fp]; ok {
			return other, k.Reveal()
		}
		seen[fp] = k.Reveal()
	}
	t.Fatal("no two keys with one fingerprint in 2^20")
	return "", ""
}

// TestHTTPHandlerRateLimit checks the per-key token bucket: past the burst
// a key is answered 429 with Retry-After, and another key is not.
func TestHTTPHandlerRateLimit(t *testing.T) {
	cfg, keyA, keyB := testKeys(t)
	srv := newTestHandler(t, cfg, HTTPOptions{RateLimit: 0.001, RateBurst: 1})
	if resp := do(t, http.MethodGet, srv.URL+"/mcp", keyA, "", ""); resp.StatusCode != 400 {
		t.Fatalf("first request: %s, want 400 (allowed, no session)", resp.Status)
	}
	resp := do(t, http.MethodGet, srv.URL+"/mcp", keyA, "", "")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("second request: %s, Retry-After %q; want 429 with Retry-After", resp.Status, resp.Header.Get("Retry-After"))
	}
	if resp := do(t, http.MethodGet, srv.URL+"/mcp", keyB, "", ""); resp.StatusCode != 400 {
		t.Errorf("another key: %s, want 400 (its own bucket)", resp.Status)
	}
}
