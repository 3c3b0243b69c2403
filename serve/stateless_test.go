package serve

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// modernBody is a 2026-07-28 request of method whose params carry the
// per-request _meta triple; extra is spliced into params.
func modernBody(method, extra string) string {
	return `{"jsonrpc":"2.0","id":7,"method":"` + method + `","params":{` + extra +
		`"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",` +
		`"io.modelcontextprotocol/clientInfo":{"name":"raw","version":"1"},` +
		`"io.modelcontextprotocol/clientCapabilities":{}}}}`
}

// doModern posts body with the stateless protocol's headers (the version,
// and Mcp-Method / Mcp-Name when non-empty) and returns the status and
// answer.
func doModern(t *testing.T, url, key, version, method, name, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if key != "" {
		req.Header.Set("apikey", key)
	}
	for h, v := range map[string]string{"Mcp-Protocol-Version": version, "Mcp-Method": method, "Mcp-Name": name} {
		if v != "" {
			req.Header.Set(h, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// newStatelessTest serves newHTTPHandler(opts) on a test server and
// returns the handler too, to look at its books.
func newStatelessTest(t *testing.T, opts HTTPOptions) (*httpHandler, *httptest.Server, string, string) {
	t.Helper()
	cfg, keyA, keyB := testKeys(t)
	opts.Config = cfg
	opts.ConfigPath = filepath.Join(t.TempDir(), "config.json")
	h, routes, closeHandler, err := newHTTPHandler(&opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(routes)
	t.Cleanup(func() {
		srv.Close()
		closeHandler()
	})
	return h, srv, keyA, keyB
}

// statelessGateways counts the handler's per-principal stateless gateways.
func statelessGateways(h *httpHandler) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, s := range h.sessions {
		if s.stateless {
			n++
		}
	}
	if n != len(h.byPrincipal) {
		return -1
	}
	return n
}

// TestStatelessRequests checks the stateless protocol's path: every
// request is authenticated on its own, needs no session, and is held to
// its headers by the SDK; a body that claims the stateless protocol
// without the version header is refused.
func TestStatelessRequests(t *testing.T) {
	_, srv, key, _ := newStatelessTest(t, HTTPOptions{MaxBodyBytes: 4096})
	url := srv.URL + "/mcp"
	tests := []struct {
		name, key, version, method, mname, body string
		want                                    int
		answer                                  string // a fragment the answer must hold
	}{
		{"discover", key, "2026-07-28", "server/discover", "", modernBody("server/discover", ""), 200, `"supportedVersions":["2026-07-28"`},
		{"tools/list", key, "2026-07-28", "tools/list", "", modernBody("tools/list", ""), 200, `"tools":[`},
		{"no key", "", "2026-07-28", "tools/list", "", modernBody("tools/list", ""), 401, "Unauthorized"},
		{"wrong key", "sk-not-a-key", "2026-07-28", "tools/list", "", modernBody("tools/list", ""), 401, "Unauthorized"},
		{"method header disagrees with the body", key, "2026-07-28", "tools/list", "", modernBody("prompts/list", ""), 400, "-32020"},
		{"missing method header", key, "2026-07-28", "", "", modernBody("tools/list", ""), 400, "Mcp-Method"},
		{"name header disagrees with the body", key, "2026-07-28", "tools/call", "a__b",
			modernBody("tools/call", `"name":"x__y","arguments":{},`), 400, "-32020"},
		{"_meta version without the header", key, "", "", "", modernBody("tools/list", ""), 400, "-32020"},
		{"oversized _meta", key, "2026-07-28", "tools/list", "",
			modernBody("tools/list", `"_pad":"`+strings.Repeat("x", 5000)+`",`), 413, "Too Large"},
		{"unknown later version", key, "2099-01-01", "tools/list", "", modernBody("tools/list", ""), 400, ""},
		{"not a version", key, "zzz", "tools/list", "", modernBody("tools/list", ""), 400, ""},
		{"batch", key, "2026-07-28", "tools/list", "", "[" + modernBody("tools/list", "") + "]", 400, "batch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, answer := doModern(t, url, tt.key, tt.version, tt.method, tt.mname, tt.body)
			if code != tt.want || !strings.Contains(answer, tt.answer) {
				t.Fatalf("%d %q; want %d with %q", code, answer, tt.want, tt.answer)
			}
		})
	}
}

// TestStatelessGatewayPerPrincipal checks that stateless requests of one
// key share one gateway (no gateway, and so no upstream pool, per
// request), that another key gets its own, and that the gateways count
// against the session caps, the least recently used idle one making room.
func TestStatelessGatewayPerPrincipal(t *testing.T) {
	h, srv, keyA, keyB := newStatelessTest(t, HTTPOptions{MaxSessions: 1})
	url := srv.URL + "/mcp"
	list := modernBody("tools/list", "")
	for range 3 {
		if code, answer := doModern(t, url, keyA, "2026-07-28", "tools/list", "", list); code != 200 {
			t.Fatalf("key A: %d %s", code, answer)
		}
	}
	if n := statelessGateways(h); n != 1 {
		t.Fatalf("after three requests of one key: %d stateless gateways, want 1", n)
	}
	h.mu.Lock()
	var first string
	for k := range h.byPrincipal {
		first = k
	}
	h.mu.Unlock()
	if code, answer := doModern(t, url, keyB, "2026-07-28", "tools/list", "", list); code != 200 {
		t.Fatalf("key B: %d %s", code, answer)
	}
	h.mu.Lock()
	_, stillA := h.byPrincipal[first]
	n := len(h.byPrincipal)
	h.mu.Unlock()
	if stillA || n != 1 {
		t.Errorf("at MaxSessions 1, key B's gateway should have evicted key A's idle one: A kept %v, %d gateways", stillA, n)
	}
	if n := statelessGateways(h); n != 1 {
		t.Errorf("books disagree: %d", n)
	}
}

// TestStatelessLeavesSessionsAlone checks that a 2025-11-25 client still
// gets a session (the stateful handler) beside stateless traffic, and
// that a stateless gateway's internal id is no session a client can use.
func TestStatelessLeavesSessionsAlone(t *testing.T) {
	h, srv, key, _ := newStatelessTest(t, HTTPOptions{})
	url := srv.URL + "/mcp"
	if code, answer := doModern(t, url, key, "2026-07-28", "tools/list", "", modernBody("tools/list", "")); code != 200 {
		t.Fatalf("stateless: %d %s", code, answer)
	}
	resp := do(t, http.MethodPost, url, key, "", initBody)
	if resp.StatusCode != 200 || resp.Header.Get("Mcp-Session-Id") == "" {
		t.Fatalf("initialize: %s, session %q", resp.Status, resp.Header.Get("Mcp-Session-Id"))
	}
	h.mu.Lock()
	var internal string
	for _, id := range h.byPrincipal {
		internal = id
	}
	h.mu.Unlock()
	if resp := do(t, http.MethodPost, url, key, internal, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`); resp.StatusCode != 404 {
		t.Errorf("the stateless gateway's id as a session: %s, want 404", resp.Status)
	}
}

// TestStatelessGatewayMadeOnce checks that concurrent first requests of
// one key make one gateway between them, and that it idles out like a
// session once no request of it has come for SessionIdleTimeout.
func TestStatelessGatewayMadeOnce(t *testing.T) {
	h, srv, key, _ := newStatelessTest(t, HTTPOptions{SessionIdleTimeout: time.Second})
	url := srv.URL + "/mcp"
	var wg sync.WaitGroup
	codes := make(chan int, 8)
	for range 8 {
		wg.Go(func() {
			code, _ := doModern(t, url, key, "2026-07-28", "tools/list", "", modernBody("tools/list", ""))
			codes <- code
		})
	}
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != 200 {
			t.Fatalf("a concurrent request: %d", code)
		}
	}
	if n := statelessGateways(h); n != 1 {
		t.Fatalf("8 concurrent first requests of one key made %d gateways, want 1", n)
	}
	deadline := time.Now().Add(30 * time.Second)
	for statelessGateways(h) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the idle stateless gateway was never reaped")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, answer := doModern(t, url, key, "2026-07-28", "tools/list", "", modernBody("tools/list", "")); code != 200 {
		t.Fatalf("a request after the idle-out: %d %s", code, answer)
	}
}
