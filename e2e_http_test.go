package main

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
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"secure-mcp-gateway/admin"
	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/examples"
	"secure-mcp-gateway/internal/config"
)

// httpGatewayProc is a gateway running in --http mode.
type httpGatewayProc struct {
	cmd    *exec.Cmd
	url    string // the /mcp endpoint
	base   string
	stderr *syncBuffer
}

// startHTTP starts the gateway binary in HTTP mode on a free loopback port
// (unless args hold their own --listen). Its own environment holds a valid
// key, which must never be used as a fallback for requests without one.
func startHTTP(t testing.TB, f *fixture, args ...string) *httpGatewayProc {
	t.Helper()
	argv := []string{"--config", f.path, "--http"}
	if !slices.Contains(args, "--listen") {
		argv = append(argv, "--listen", "127.0.0.1:0")
	}
	argv = append(argv, args...)
	cmd := exec.Command(gatewayBin, argv...)
	cmd.Env = gatewayEnv(authn.EnvKey + "=" + f.key)
	stderr, _ := cmd.StderrPipe()
	p := &httpGatewayProc{cmd: cmd, stderr: &syncBuffer{}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.stderr.Write([]byte(line + "\n"))
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["message"] == "listening" {
				addr <- m["addr"].(string)
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			t.Fatalf("gateway exited before listening:\n%s", p.stderr)
		}
		p.base = "http://" + a
		p.url = p.base + "/mcp"
	case <-time.After(30 * time.Second):
		t.Fatalf("gateway did not listen:\n%s", p.stderr)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Signal(syscall.SIGTERM)
			p.cmd.Wait()
		}
		if strings.Contains(p.stderr.String(), "WARNING: DATA RACE") {
			t.Errorf("the race detector reported a data race in the gateway")
		}
		if t.Failed() {
			t.Logf("gateway stderr:\n%s", p.stderr)
		}
	})
	return p
}

// headerRT adds fixed headers to every request.
type headerRT struct{ h http.Header }

func (rt headerRT) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range rt.h {
		r.Header[k] = v
	}
	return http.DefaultTransport.RoundTrip(r)
}

// connectHTTP opens a 2025-11-25 session (the go-sdk would otherwise
// negotiate the stateless 2026-07-28, which e2e_v2_http_test.go covers).
func connectHTTP(t *testing.T, url string, h http.Header) (*mcp.ClientSession, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "e2e-http", Version: "1"}, nil)
	return client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: headerRT{h}}},
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
}

// addKey adds a second project, user and key to f's config.
func addKey(t *testing.T, f *fixture, email string) string {
	t.Helper()
	key, stored, err := authn.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	var cfgID string
	for id := range f.cfg.MCPConfigs {
		cfgID = id
	}
	pid, uid := admin.NewUUID(), admin.NewUUID()
	f.cfg.Projects[pid] = &config.Project{Name: "project-" + email, MCPConfigID: cfgID, Users: []string{uid}}
	f.cfg.Users[uid] = &config.User{Email: email}
	f.cfg.APIKeys[stored] = &config.APIKey{ProjectID: pid, UserID: uid}
	f.save(t)
	return key.Reveal()
}

func rawPost(t *testing.T, url string, h http.Header, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

func TestE2EHTTPBothHeaderStyles(t *testing.T) {
	f := newFixture(t, exampleServer("echo_server", "echo", nil))
	p := startHTTP(t, f)
	for name, h := range map[string]http.Header{
		"apikey":              {"Apikey": {f.key}},
		"ENKRYPT_GATEWAY_KEY": {"ENKRYPT_GATEWAY_KEY": {f.key}},
		"bearer":              {"Authorization": {"Bearer " + f.key}},
	} {
		t.Run(name, func(t *testing.T) {
			cs, err := connectHTTP(t, p.url, h)
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "echo_server__echo", Arguments: map[string]any{"message": name}})
			if err != nil || resultText(res) != name {
				t.Fatalf("call = %v %v", res, err)
			}
		})
	}
	// The trailing-slash endpoint of the Python gateway works too.
	if resp := rawPost(t, p.url+"/", http.Header{"Apikey": {f.key}}, initBody); resp.StatusCode != http.StatusOK {
		t.Errorf("/mcp/ initialize: %s", resp.Status)
	}
}

func TestE2EHTTPRefusals(t *testing.T) {
	f := newFixture(t, exampleServer("echo_server", "echo", nil))
	p := startHTTP(t, f, "--max-body-bytes", "2048")
	sid := initSession(t, p, f.key)
	tests := []struct {
		name   string
		url    string
		h      http.Header
		body   string
		status int
	}{
		{"no key, though the gateway's env has one", p.url, nil, initBody, 401},
		{"wrong key", p.url, http.Header{"Apikey": {"not-a-key"}}, initBody, 401},
		{"wrong project header", p.url, http.Header{"Apikey": {f.key}, "Project_id": {"other"}}, initBody, 401},
		{"key in the query string", p.url + "?apikey=" + f.key, nil, initBody, 400},
		{"foreign origin", p.url, http.Header{"Apikey": {f.key}, "Origin": {"http://evil.example.com"}}, initBody, 403},
		{"body over the cap", p.url, http.Header{"Apikey": {f.key}}, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"x":"` + strings.Repeat("a", 4096) + `"}}`, 413},
		{"unknown session", p.url, http.Header{"Apikey": {f.key}, "Mcp-Session-Id": {"nope"}}, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, 404},
		{"unsupported protocol version on a session request", p.url, http.Header{"Apikey": {f.key}, "Mcp-Session-Id": {sid}, "Mcp-Protocol-Version": {"1999-01-01"}}, `{"jsonrpc":"2.0","id":3,"method":"tools/list"}`, 400},
		{"the same session request with a supported version", p.url, http.Header{"Apikey": {f.key}, "Mcp-Session-Id": {sid}, "Mcp-Protocol-Version": {"2025-11-25"}}, `{"jsonrpc":"2.0","id":4,"method":"tools/list"}`, 200},
		{"unsupported protocol version on an initialize", p.url, http.Header{"Apikey": {f.key}, "Mcp-Protocol-Version": {"1999-01-01"}}, initBody, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := rawPost(t, tt.url, tt.h, tt.body)
			if resp.StatusCode != tt.status {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status = %s (%s), want %d", resp.Status, b, tt.status)
			}
			if tt.status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without a WWW-Authenticate challenge")
			}
		})
	}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200} {
		resp, err := http.Get(p.base + path)
		if err != nil || resp.StatusCode != want {
			t.Errorf("GET %s = %v %v", path, resp, err)
		}
		if resp != nil {
			resp.Body.Close()
		}
	}
	if strings.Contains(p.stderr.String(), f.key) {
		t.Error("the key appears in the logs")
	}
}

// TestE2EHTTPMetrics reads /metrics after one tool call on an open session:
// the call, the session and the runtime series are there, the reference
// parser reads the body, and the key is not in it.
func TestE2EHTTPMetrics(t *testing.T) {
	f := newFixture(t, exampleServer("echo_server", "echo", nil))
	p := startHTTP(t, f)
	cs, err := connectHTTP(t, p.url, http.Header{"Apikey": {f.key}})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "echo_server__echo", Arguments: map[string]any{"message": "hi"}})
	if err != nil || resultText(res) != "hi" {
		t.Fatalf("call = %v %v", res, err)
	}
	resp, err := http.Get(p.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("GET /metrics: %s, Content-Type %q", resp.Status, ct)
	}
	text := string(body)
	for _, want := range []string{
		`smg_tool_calls_total{outcome="ok",server="echo_server",tool="echo_server__echo"} 1` + "\n",
		"smg_sessions_open 1\n",
		`smg_tool_call_duration_seconds_count{server="echo_server"} 1` + "\n",
		`smg_http_requests_total{code="200",method="POST"} `,
		`smg_http_request_duration_seconds_bucket{method="POST",le="+Inf"} `,
		"# TYPE go_goroutines gauge\n",
		"# TYPE process_resident_memory_bytes gauge\n",
		"# TYPE process_cpu_seconds_total counter\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, text)
		}
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	if _, err := parser.TextToMetricFamilies(strings.NewReader(text)); err != nil {
		t.Errorf("the Prometheus text parser refuses /metrics: %v", err)
	}
	if strings.Contains(text, f.key) {
		t.Error("the key appears in /metrics")
	}
}

func TestE2EHTTPSessionBoundToKey(t *testing.T) {
	f := newFixture(t, exampleServer("echo_server", "echo", nil))
	other := addKey(t, f, "mallory@example.com")
	p := startHTTP(t, f)
	resp := rawPost(t, p.url, http.Header{"Apikey": {f.key}}, initBody)
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || sid == "" {
		t.Fatalf("initialize: %s, session %q", resp.Status, sid)
	}
	hijack := rawPost(t, p.url, http.Header{"Apikey": {other}, "Mcp-Session-Id": {sid}, "Mcp-Protocol-Version": {"2025-11-25"}},
		`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	b, _ := io.ReadAll(hijack.Body)
	if hijack.StatusCode != http.StatusNotFound || strings.Contains(string(b), "echo") {
		t.Fatalf("another key on the session: %s %s", hijack.Status, b)
	}
}

func TestE2EHTTPConcurrentSessions(t *testing.T) {
	f := newFixture(t, exampleServer("echo_server", "echo", nil))
	p := startHTTP(t, f, "--max-sessions-per-key", "32", "--rate-limit", "1000", "--rate-burst", "1000")
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			cs, err := connectHTTP(t, p.url, http.Header{"Apikey": {f.key}})
			if err != nil {
				errs <- err
				return
			}
			defer cs.Close()
			for j := range 5 {
				msg := fmt.Sprintf("session %d call %d", i, j)
				res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo_server__echo", Arguments: map[string]any{"message": msg}})
				if err != nil {
					errs <- err
					return
				}
				if got := resultText(res); got != msg {
					errs <- fmt.Errorf("session %d got %q, want %q", i, got, msg)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestE2EHTTPSIGTERMDrainsAndReaps(t *testing.T) {
	marks := filepath.Join(t.TempDir(), "marks")
	f := newFixture(t, exampleServer("probe", "probe", map[string]string{"PROBE_CANCEL_FILE": marks}))
	p := startHTTP(t, f)
	cs, err := connectHTTP(t, p.url, http.Header{"Apikey": {f.key}})
	if err != nil {
		t.Fatal(err)
	}
	pid := resultStructPID(t, cs)
	done := make(chan *mcp.CallToolResult, 1)
	go func() {
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "probe__sleep", Arguments: map[string]any{"ms": 700}})
		if err != nil {
			res = &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: err.Error()}}}
		}
		done <- res
	}()
	waitFor(t, 10*time.Second, "the call to reach the upstream", func() bool {
		b, _ := os.ReadFile(marks)
		return strings.Contains(string(b), "started")
	})
	p.cmd.Process.Signal(syscall.SIGTERM)
	res := <-done
	if res.IsError || resultText(res) != "slept" {
		t.Errorf("in-flight call during shutdown = %q", resultText(res))
	}
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
	waitFor(t, 5*time.Second, "the upstream to be reaped", func() bool { return !alive(pid) })
}

func resultStructPID(t *testing.T, cs *mcp.ClientSession) int {
	t.Helper()
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "probe__pid"})
	if err != nil {
		t.Fatal(err)
	}
	return int(res.StructuredContent.(map[string]any)["pid"].(float64))
}

func TestE2EHTTPTypeScriptClient(t *testing.T) {
	f := newFixture(t, exampleServer("echo_server", "echo", nil))
	p := startHTTP(t, f)
	dir := requireNodePeers(t)
	scenario, _ := json.Marshal(map[string]any{
		"url":     p.url,
		"headers": map[string]string{"apikey": f.key},
		"steps": []map[string]any{
			{"op": "list"},
			{"op": "call", "name": "echo_server__echo", "arguments": map[string]any{"message": "ts over http"}},
		},
	})
	out, err := exec.Command("node", dir+"/client.mjs", string(scenario)).Output()
	if err != nil {
		t.Fatalf("ts client: %v %s", err, out)
	}
	if !strings.Contains(string(out), "ts over http") || strings.Contains(string(out), `"error"`) {
		t.Errorf("ts client over http: %s", out)
	}
}

func TestE2EHTTPRateLimitAndSessionCap(t *testing.T) {
	f := newFixture(t, exampleServer("echo_server", "echo", nil))
	p := startHTTP(t, f, "--rate-limit", "0.5", "--rate-burst", "3", "--max-sessions-per-key", "2")
	h := http.Header{"Apikey": {f.key}}
	var codes []int
	for range 4 {
		resp := rawPost(t, p.url, h, initBody)
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	// Two sessions fit the cap, the third evicts the first (idle), the
	// fourth is refused by the token bucket.
	if codes[0] != 200 || codes[1] != 200 || codes[2] != 200 || codes[3] != 429 {
		t.Errorf("status codes = %v, want [200 200 200 429]", codes)
	}
}

// TestE2EHTTPLoad is the bounded load test of HTTP mode: 50 sessions × 20
// calls on loopback, every answer checked against its own request. It logs
// its figures (calls/s, p50, p99); it asserts correctness, never timing.
func TestE2EHTTPLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	f := newFixture(t, exampleServer("echo_server", "echo", nil))
	p := startHTTP(t, f, "--max-sessions-per-key", "64", "--rate-limit", "100000", "--rate-burst", "100000")
	const sessions, calls = 50, 20
	var (
		mu       sync.Mutex
		lat      []time.Duration
		wg       sync.WaitGroup
		errsN    int
		firstErr string
	)
	start := time.Now()
	for i := range sessions {
		wg.Go(func() {
			cs, err := connectHTTP(t, p.url, http.Header{"Apikey": {f.key}})
			if err != nil {
				t.Errorf("session %d: %v", i, err)
				return
			}
			defer cs.Close()
			for j := range calls {
				msg := fmt.Sprintf("s%d-c%d", i, j)
				t0 := time.Now()
				res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo_server__echo", Arguments: map[string]any{"message": msg}})
				d := time.Since(t0)
				mu.Lock()
				lat = append(lat, d)
				if err != nil || resultText(res) != msg {
					errsN++
					if firstErr == "" {
						firstErr = fmt.Sprintf("call %s after %s: err %v, answer %q", msg, d.Round(time.Millisecond), err, resultText(res))
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	total := time.Since(start)
	if errsN != 0 {
		t.Fatalf("%d of %d calls failed or got another call's answer; the first: %s\ngateway stderr (tail):\n%s",
			errsN, sessions*calls, firstErr, lastLines(p.stderr.String(), 40))
	}
	slices.Sort(lat)
	t.Logf("HTTP load: %d sessions × %d calls in %s (sessions started by the test, each with its own upstream): %.0f calls/s, p50 %s, p99 %s",
		sessions, calls, total.Round(time.Millisecond), float64(len(lat))/total.Seconds(), lat[len(lat)/2], lat[len(lat)*99/100])
}

// TestE2EHTTPDisabledKeyRefusedAtOnce: principals are cached, but a change
// to the config file drops the cache, so a key disabled while the gateway
// runs is refused at its next request.
func TestE2EHTTPDisabledKeyRefusedAtOnce(t *testing.T) {
	f := newFixture(t, exampleServer("echo_server", "echo", nil))
	p := startHTTP(t, f)
	h := http.Header{"Apikey": {f.key}}
	if resp := rawPost(t, p.url, h, initBody); resp.StatusCode != http.StatusOK {
		t.Fatalf("before: %s", resp.Status)
	}
	if err := config.Update(f.path, func(c *config.Config) error {
		for _, k := range c.APIKeys {
			k.Disabled = true
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if resp := rawPost(t, p.url, h, initBody); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after disabling the key: %s, want 401", resp.Status)
	}
}

// TestE2EHTTPNonLoopbackListen (case 43a): plain HTTP on a non-loopback
// address is a usage error naming --insecure-listen; with the flag the
// gateway listens on every interface, and still asks every request for a
// key.
func TestE2EHTTPNonLoopbackListen(t *testing.T) {
	f := newFixture(t, exampleServer("echo_server", "echo", nil))
	t.Run("refused without --insecure-listen", func(t *testing.T) {
		cmd := exec.Command(gatewayBin, "--config", f.path, "--http", "--listen", "0.0.0.0:0")
		cmd.Env = gatewayEnv(authn.EnvKey + "=" + f.key)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitUsage || !strings.Contains(string(out), "--insecure-listen") {
			t.Fatalf("err %v, output %q; want exit %d naming --insecure-listen", err, out, exitUsage)
		}
	})
	t.Run("listens with --insecure-listen", func(t *testing.T) {
		p := startHTTP(t, f, "--listen", "0.0.0.0:0", "--insecure-listen")
		host, port, err := net.SplitHostPort(strings.TrimPrefix(p.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
			t.Fatalf("listening on %s, want the unspecified address", p.base)
		}
		url := "http://127.0.0.1:" + port + "/mcp"
		if resp := rawPost(t, url, nil, initBody); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("initialize without a key: %s, want 401", resp.Status)
		}
		cs, err := connectHTTP(t, url, http.Header{"Apikey": {f.key}})
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "echo_server__echo", Arguments: map[string]any{"message": "hi"}})
		if err != nil || resultText(res) != "hi" {
			t.Fatalf("call = %v %v", res, err)
		}
	})
}

// TestE2EHTTPDisconnectCancelsUpstream (case 43g): a client that goes away
// in the middle of a call on its SSE stream has the call cancelled at the
// upstream, and its session still serves the next call.
func TestE2EHTTPDisconnectCancelsUpstream(t *testing.T) {
	marks := filepath.Join(t.TempDir(), "marks")
	f := newFixture(t, exampleServer("probe", "probe", map[string]string{examples.ProbeCancelFileEnv: marks}))
	p := startHTTP(t, f)
	sid := initSession(t, p, f.key)
	if got := sessionStatus(t, p, f.key, sid); got != http.StatusAccepted {
		t.Fatalf("notifications/initialized: %d", got)
	}
	post := func(ctx context.Context, body string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Apikey", f.key)
		req.Header.Set("Mcp-Session-Id", sid)
		req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
		return http.DefaultClient.Do(req)
	}
	hangUpMidCall(t, marks, func(ctx context.Context) (*http.Response, error) {
		return post(ctx, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"probe__sleep","arguments":{"ms":600000}}}`)
	})
	resp, err := post(t.Context(), `{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"probe__sleep","arguments":{"ms":1}}}`)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "slept") {
		t.Errorf("the next call on the session: %s %s", resp.Status, b)
	}
}

// TestE2EStatelessDisconnectCancelsUpstream: a MCP 2026-07-28 client that
// hangs up in the middle of a call has the call cancelled at the upstream
// (the POST is the whole request), and the key's next call is served.
func TestE2EStatelessDisconnectCancelsUpstream(t *testing.T) {
	marks := filepath.Join(t.TempDir(), "marks")
	f := newFixture(t, exampleServer("probe", "probe", map[string]string{examples.ProbeCancelFileEnv: marks}))
	p := startHTTP(t, f)
	call := func(ctx context.Context, id, ms int) (*http.Response, error) {
		body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"probe__sleep","arguments":{"ms":%d},`+
			`"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"raw","version":"1"},`+
			`"io.modelcontextprotocol/clientCapabilities":{}}}}`, id, ms)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header = modernHeaders(f.key, "tools/call", "probe__sleep")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		return http.DefaultClient.Do(req)
	}
	hangUpMidCall(t, marks, func(ctx context.Context) (*http.Response, error) { return call(ctx, 1, 600000) })
	resp, err := call(t.Context(), 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "slept") {
		t.Errorf("the next call: %s %s", resp.Status, b)
	}
}

// hangUpMidCall starts a long probe call with start, hangs up once the
// probe (writing its marks to marks) has started it, and waits for the
// probe to record its cancellation.
func hangUpMidCall(t *testing.T, marks string, start func(context.Context) (*http.Response, error)) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		resp, err := start(ctx)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body) // until the stream breaks
			resp.Body.Close()
		}
		done <- err
	}()
	mark := func(m string) func() bool {
		return func() bool {
			b, _ := os.ReadFile(marks)
			return strings.Contains(string(b), m)
		}
	}
	waitFor(t, 20*time.Second, "the call to reach the upstream", mark("started"))
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the call ended on its own before the client went away")
	}
	waitFor(t, 10*time.Second, "the upstream to record the cancellation", mark("cancelled"))
}
