package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The gateway survives hostile and careless upstreams and clients: crashes,
// oversized replies, definitions changed mid-session and HTTP sessions that
// are never closed. See docs/SECURITY.md, "Faults and what the gateway
// guarantees".

// TestE2ESurviveCrashNextCallSucceeds: an upstream that exits during its
// k-th call; call k+1 restarts it and succeeds, with no wait and no retry by
// the client.
func TestE2ESurviveCrashNextCallSucceeds(t *testing.T) {
	t.Parallel()
	f := newFixture(t, exampleServer("probe", "probe", nil))
	g := startGateway(t, f)
	before := pidOf(t, g)
	pidOf(t, g)
	res := g.call(t, "probe__crash", map[string]any{"code": 3})
	if !res.IsError || !strings.Contains(resultText(res), `"probe"`) {
		t.Fatalf("crash result = %v %q; want a tool error naming the server", res.IsError, resultText(res))
	}
	for i := range 2 { // a second crash is still not a crash loop
		began := time.Now()
		res := g.call(t, "probe__pid", nil)
		t.Logf("restart-to-first-success after crash %d: %v (race detector: %v)", i+1, time.Since(began), raceEnabled)
		if res.IsError {
			t.Fatalf("call after crash %d: %q; want the restarted server's answer", i+1, resultText(res))
		}
		after := int(res.StructuredContent.(map[string]any)["pid"].(float64))
		if after == before {
			t.Errorf("pid after restart = %d, same as before", after)
		}
		before = after
		if i == 0 {
			g.call(t, "probe__crash", map[string]any{"code": 4})
		}
	}
}

// TestE2ESurviveChildExitingOnStart: a server whose process exits as soon
// as it starts gets a clear error within the call's budget: the server, the
// exit count, the exit status and its stderr tail.
func TestE2ESurviveChildExitingOnStart(t *testing.T) {
	t.Parallel()
	s := exampleServer("dies", "no-such-example", nil)
	f := newFixture(t, s, exampleServer("echo_server", "echo", nil))
	g := startGateway(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := g.cs.CallTool(ctx, &mcp.CallToolParams{Name: "dies__anything"})
	if err != nil {
		t.Fatalf("call of a server that exits on start: %v", err)
	}
	text := resultText(res)
	t.Logf("error result: %s", text)
	if !res.IsError {
		t.Fatalf("call of a server that exits on start succeeded: %q", text)
	}
	for _, want := range []string{`"dies"`, "exited 3 times", "exit status 1", "unknown example server"} {
		if !strings.Contains(text, want) {
			t.Errorf("error result lacks %q", want)
		}
	}
	if ctx.Err() != nil {
		t.Error("the call ran out its budget")
	}
	if got := resultText(g.call(t, "echo_server__echo", map[string]any{"message": "ok"})); got != "ok" {
		t.Errorf("echo beside the dying server = %q", got)
	}
}

// memStatus returns a field of /proc/<pid>/status in bytes (VmRSS, VmHWM),
// or -1 where there is no /proc.
func memStatus(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return -1
}

// TestE2ESurviveOversizedReply: a reply over the cap becomes a tool error
// naming the server, the size and the cap; the same server process answers
// the next call; the cap is per server; the gateway's memory does not grow
// by the reply; a reply whose line never ends costs its call's timeout.
func TestE2ESurviveOversizedReply(t *testing.T) {
	t.Parallel()
	big := exampleServer("big", "oversize", nil)
	small := exampleServer("small", "oversize", nil)
	small.MaxMessageBytes = 1 << 20
	f := newFixture(t, big, small)
	f.cfg.Common.Timeouts.ToolExecution = 170 // a race-built child takes its time to marshal 40 MiB
	f.save(t)
	g := startGateway(t, f)

	pid := func(server string) int {
		res := g.call(t, server+"__pid", nil)
		if res.IsError {
			t.Fatalf("%s pid: %s", server, resultText(res))
		}
		return int(res.StructuredContent.(map[string]any)["pid"].(float64))
	}
	bigPID := pid("big")
	gw := g.cmd.Process.Pid
	hwm0, rss0 := memStatus(gw, "VmHWM"), memStatus(gw, "VmRSS")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := g.cs.CallTool(ctx, &mcp.CallToolParams{Name: "big__huge_reply", Arguments: map[string]any{"mb": 40}})
	if err != nil {
		t.Fatalf("huge_reply: %v", err)
	}
	hwm1 := memStatus(gw, "VmHWM")
	text := resultText(res)
	if !res.IsError {
		t.Fatalf("a 40 MiB reply reached the client (%d bytes)", len(text))
	}
	for _, want := range []string{`"big"`, "41943", "16777216-byte", "max_message_bytes"} {
		if !strings.Contains(text, want) {
			t.Errorf("oversized reply result %q lacks %q", text, want)
		}
	}
	if hwm0 > 0 {
		t.Logf("gateway RSS %d MiB before the 40 MiB reply, peak %d MiB before and %d MiB after (growth %d MiB; cap 16 MiB; race detector: %v)",
			rss0>>20, hwm0>>20, hwm1>>20, (hwm1-hwm0)>>20, raceEnabled)
		// Twice the cap, three times that under the race detector, whose
		// shadow memory grows with the heap.
		if limit := int64(2*16<<20) * map[bool]int64{false: 1, true: 3}[raceEnabled]; hwm1-hwm0 > limit {
			t.Errorf("peak RSS grew by %d MiB while a 40 MiB reply passed; want at most %d MiB", (hwm1-hwm0)>>20, limit>>20)
		}
	}
	if got := pid("big"); got != bigPID {
		t.Errorf("server pid after the oversized reply = %d, want the same process %d", got, bigPID)
	}

	// The per-server cap.
	res = g.call(t, "small__huge_reply", map[string]any{"mb": 2})
	if text := resultText(res); !res.IsError || !strings.Contains(text, `"small"`) || !strings.Contains(text, "1048576-byte") {
		t.Errorf("2 MiB reply under a 1 MiB cap: %v %q", res.IsError, text)
	}
	if got := resultText(g.call(t, "small__huge_reply", map[string]any{"mb": 0})); got != "" {
		t.Errorf("small reply after the oversized one = %q", got)
	}

}

// TestE2ESurviveUnterminatedReply: a reply over the cap whose line never
// ends costs its call the call's timeout, not a hang.
func TestE2ESurviveUnterminatedReply(t *testing.T) {
	t.Parallel()
	s := exampleServer("endless", "oversize", nil)
	s.MaxMessageBytes = 1 << 20
	f := newFixture(t, s)
	f.cfg.Common.Timeouts.ToolExecution = 3
	f.save(t)
	g := startGateway(t, f)
	res := g.call(t, "endless__unterminated", map[string]any{"mb": 4})
	if text := resultText(res); !res.IsError || !strings.Contains(text, "timed out") || !strings.Contains(text, `"endless"`) {
		t.Errorf("unterminated reply: %v %q; want a timeout naming the server", res.IsError, text)
	}
}

// TestE2ESurviveDefinitionChangeMidSession: three upstreams change a tool's
// definition inside one client session, hiding it each a different way;
// the gateway never forwards a call to the changed definition, refuses it
// naming the tool and `tools approve`, and withholds it from tools/list.
func TestE2ESurviveDefinitionChangeMidSession(t *testing.T) {
	t.Parallel()
	refused := func(t *testing.T, g *gateway, tool string) {
		t.Helper()
		res := g.call(t, tool, map[string]any{})
		text := resultText(res)
		if strings.Contains(text, "v2") {
			t.Fatalf("call of %s reached the changed definition: %q", tool, text)
		}
		if !res.IsError || !strings.Contains(text, "tools approve") || !strings.Contains(text, "get_weather") {
			t.Errorf("call of %s after the change: %v %q; want a refusal naming the tool and `tools approve`", tool, res.IsError, text)
		}
		if contains(g.toolNames(t), tool) {
			t.Errorf("%s is still listed after the change", tool)
		}
	}
	t.Run("notify before replying", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, exampleServer("nf", "rugpull_notify_first", nil))
		g := startGateway(t, f)
		// The list_changed came before the answer of the first listing,
		// whose answer is therefore stale: the gateway listed again.
		if names := g.toolNames(t); contains(names, "nf__get_weather") {
			t.Errorf("the changed tool is listed: %v", names)
		}
		refused(t, g, "nf__get_weather")
	})
	t.Run("notify after", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, exampleServer("na", "rugpull_notify_after", nil))
		g := startGateway(t, f)
		if !contains(g.toolNames(t), "na__get_weather") {
			t.Fatal("tool not listed at first")
		}
		if res := g.call(t, "na__get_weather", map[string]any{}); res.IsError || resultText(res) != "sunny (v1)" {
			t.Fatalf("first call: %v %q", res.IsError, resultText(res))
		}
		refused(t, g, "na__get_weather") // at once: no waiting for a background re-list
	})
	t.Run("silent", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, exampleServer("si", "rugpull_silent", nil))
		g := startGateway(t, f, "ENKRYPT_TOOL_RELIST_INTERVAL=1ns") // every call re-lists first
		if !contains(g.toolNames(t), "si__get_weather") {
			t.Fatal("tool not listed at first")
		}
		if res := g.call(t, "si__get_weather", map[string]any{}); res.IsError || resultText(res) != "sunny (v1)" {
			t.Fatalf("first call: %v %q", res.IsError, resultText(res))
		}
		refused(t, g, "si__get_weather")
	})
}

// metricsOf returns the gateway's /metrics text.
func metricsOf(t *testing.T, p *httpGatewayProc) string {
	t.Helper()
	resp, err := http.Get(p.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// initSession opens a session with a raw initialize and returns its id.
func initSession(t *testing.T, p *httpGatewayProc, key string) string {
	t.Helper()
	resp := rawPost(t, p.url, http.Header{"Apikey": {key}}, initBody)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("initialize: %s %s", resp.Status, b)
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Header.Get("Mcp-Session-Id")
}

// sessionStatus sends notifications/initialized on session id and returns
// the status code: 202 for a live session, 404 for an evicted one.
func sessionStatus(t *testing.T, p *httpGatewayProc, key, id string) int {
	t.Helper()
	resp := rawPost(t, p.url, http.Header{"Apikey": {key}, "Mcp-Session-Id": {id}, "Mcp-Protocol-Version": {"2025-11-25"}},
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// TestE2ESurviveAbandonedHTTPSessions: clients that never DELETE do not
// lock a key out. At the per-key cap a new session evicts the key's least
// recently used idle session (which then gets 404); 429 only when every
// session of the key has a request in flight; the global caps on sessions
// and upstream processes evict the same way across keys; evictions are
// counted on /metrics.
func TestE2ESurviveAbandonedHTTPSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, exampleServer("probe", "probe", nil))
	keyB := addKey(t, f, "b@example.com")
	keyC := addKey(t, f, "c@example.com")
	f.cfg.Common.Timeouts.ToolExecution = 10 // bounds the sleeps below, which outlive their client
	f.save(t)
	p := startHTTP(t, f, "--max-sessions-per-key", "2", "--max-sessions", "4", "--max-upstream-processes", "3")
	a := f.key

	// Per key: the third session of key A evicts A's least recently used.
	a1 := initSession(t, p, a)
	a2 := initSession(t, p, a)
	if got := sessionStatus(t, p, a, a1); got != http.StatusAccepted { // a1 is now the more recent
		t.Fatalf("live session a1: %d", got)
	}
	a3 := initSession(t, p, a)
	if got := sessionStatus(t, p, a, a2); got != http.StatusNotFound {
		t.Errorf("evicted session a2: %d, want 404", got)
	}
	for _, id := range []string{a1, a3} {
		if got := sessionStatus(t, p, a, id); got != http.StatusAccepted {
			t.Errorf("session %s after the eviction: %d, want 202", id, got)
		}
	}

	// Upstream processes (one probe per session, at most 3): key B's
	// first session fits, its second evicts the least recently used idle
	// session of any key (a1).
	b1 := initSession(t, p, keyB)
	b2 := initSession(t, p, keyB)
	if got := sessionStatus(t, p, a, a1); got != http.StatusNotFound {
		t.Errorf("session a1 after the process cap: %d, want 404", got)
	}

	// Busy sessions are never evicted: with a call in flight on each of
	// key B's sessions, B's third initialize is refused.
	started := make(chan struct{}, 2)
	var sessions []*mcp.ClientSession
	for range 2 {
		cs, err := connectHTTPWith(t, p.url, http.Header{"Apikey": {keyC}}, &mcp.ClientOptions{
			ProgressNotificationHandler: func(context.Context, *mcp.ProgressNotificationClientRequest) {
				select {
				case started <- struct{}{}:
				default:
				}
			}})
		if err != nil {
			t.Fatalf("key C session: %v", err)
		}
		sessions = append(sessions, cs)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, cs := range sessions {
		go func() {
			params := &mcp.CallToolParams{Name: "probe__sleep", Arguments: map[string]any{"ms": 600_000}}
			params.SetProgressToken("sleep")
			_, _ = cs.CallTool(ctx, params)
		}()
		<-started
	}
	resp := rawPost(t, p.url, http.Header{"Apikey": {keyC}}, initBody)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), "request in flight") {
		t.Errorf("initialize with every session of the key busy: %s %s, want 429", resp.Status, body)
	}
	cancel()
	for _, cs := range sessions {
		cs.Close()
	}
	if got := sessionStatus(t, p, keyB, b2); got != http.StatusAccepted {
		t.Errorf("session b2: %d, want 202", got)
	}
	if got := sessionStatus(t, p, keyB, b1); got != http.StatusNotFound {
		t.Errorf("session b1, the least recently used when key C needed a process slot: %d, want 404", got)
	}

	m := metricsOf(t, p)
	for _, want := range []string{`smg_sessions_evicted_total{reason="per_key"} 1`, `smg_sessions_evicted_total{reason="upstream_processes"} 3`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if !strings.Contains(p.stderr.String(), "idle session evicted to make room for a new one") {
		t.Error("evictions are not logged")
	}
}

func connectHTTPWith(t *testing.T, url string, h http.Header, opts *mcp.ClientOptions) (*mcp.ClientSession, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "e2e-survive", Version: "1"}, opts)
	return client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: headerRT{h}}}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
}
