package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// switchRT sends every request to the replica target names, with the
// gateway key, as a balancer that moves a client would.
type switchRT struct {
	target atomic.Pointer[url.URL]
	key    string
}

func (s *switchRT) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	u := s.target.Load()
	r.URL.Host, r.Host = u.Host, u.Host
	r.Header.Set("Apikey", s.key)
	return http.DefaultTransport.RoundTrip(r)
}

// TestE2ESessionOutlivesReplica: two --http replicas (each with its own
// copy of the config) share a real redis-server. A 2025-11-25 session
// opened on replica A goes on, under the same id and with no error, on
// replica B after A is killed with SIGKILL: B re-creates it from the state
// A stored in Redis. Another key presenting that id gets 404, as do an
// unknown id and the id once its client has deleted the session.
func TestE2ESessionOutlivesReplica(t *testing.T) {
	t.Parallel()
	const password = "resume-redis-pw"
	port, _ := startRedisServer(t, password)
	f := newFixture(t, exampleServer("echo_server", "echo", nil))
	other := addKey(t, f, "other@example.com")
	f.useRedis(t, port, password)
	fb := copyConfig(t, f)
	a, b := startHTTP(t, f), startHTTP(t, fb)

	rt := &switchRT{key: f.key}
	ua, _ := url.Parse(a.url)
	rt.target.Store(ua)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "e2e-resume", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: a.url, HTTPClient: &http.Client{Transport: rt}},
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	echo := func(msg string) (string, error) {
		r, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo_server__echo", Arguments: map[string]any{"message": msg}})
		if err != nil {
			return "", err
		}
		return resultText(r), nil
	}
	if got, err := echo("on A"); err != nil || got != "on A" {
		t.Fatalf("call on A: %q %v", got, err)
	}
	id := cs.ID()
	if len(id) > 64 {
		t.Errorf("session id %q is too long for a balancer's affinity table", id)
	}
	// A call A answered, sent by hand with request id 4242: a balancer
	// resending it to B after A's death must not have it run twice.
	sess := http.Header{"Apikey": {f.key}, "Mcp-Session-Id": {id}, "Mcp-Protocol-Version": {"2025-11-25"}}
	callBody := func(rpcID int, msg string) string {
		return `{"jsonrpc":"2.0","id":` + itoa(rpcID) + `,"method":"tools/call","params":{"name":"echo_server__echo","arguments":{"message":"` + msg + `"}}}`
	}
	answer := func(p *httpGatewayProc, rpcID int, msg string) string {
		resp := rawPost(t, p.url, sess, callBody(rpcID, msg))
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(b)
	}
	if got := answer(a, 4242, "by hand on A"); !strings.Contains(got, "by hand on A") {
		t.Fatalf("call 4242 on A: %s", got)
	}

	// A second session on A, which its client will end on B.
	ended := initSession(t, a, f.key)
	if got := sessionStatus(t, a, f.key, ended); got != http.StatusAccepted {
		t.Fatalf("second session on A: %d", got)
	}

	a.cmd.Process.Kill()
	a.cmd.Wait()
	ub, _ := url.Parse(b.url)
	rt.target.Store(ub)
	if got, err := echo("on B"); err != nil || got != "on B" {
		t.Fatalf("call on B after A died: %q %v\nB's log:\n%s", got, err, b.stderr.String())
	}
	if _, err := cs.ListTools(ctx, nil); err != nil {
		t.Fatalf("list on B: %v", err)
	}
	if got := answer(b, 4242, "by hand on A"); !strings.Contains(got, `"isError":true`) || !strings.Contains(got, "may already have run") {
		t.Errorf("call 4242 resent to B: %s; want a tool error saying it may have run", got)
	}
	if got := answer(b, 4243, "new on B"); !strings.Contains(got, "new on B") || strings.Contains(got, "isError") {
		t.Errorf("a new call on B: %s", got)
	}
	if cs.ID() != id {
		t.Errorf("the session id changed: %q → %q", id, cs.ID())
	}
	resp, err := http.Get(b.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), "smg_sessions_resumed_total 1\n") {
		t.Errorf("B's metrics do not count one resumed session:\n%s", grepLines(string(metrics), "resumed"))
	}
	if !strings.Contains(string(metrics), "smg_tool_calls_resent_total 1\n") {
		t.Errorf("B's metrics do not count one resent call:\n%s", grepLines(string(metrics), "resent"))
	}

	// Not for another key, nor for an id no replica opened.
	for name, h := range map[string]http.Header{
		"another key": {"Apikey": {other}, "Mcp-Session-Id": {id}},
		"unknown id":  {"Apikey": {f.key}, "Mcp-Session-Id": {"0123456789ABCDEF0123456789ABCDEF"}},
	} {
		h.Set("Mcp-Protocol-Version", "2025-11-25")
		resp := rawPost(t, b.url, h, `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", name, resp.StatusCode)
		}
	}
	// Ended by its client on a replica that never held it: its state goes.
	del, _ := http.NewRequest(http.MethodDelete, b.url, nil)
	del.Header = http.Header{"Apikey": {f.key}, "Mcp-Session-Id": {ended}, "Mcp-Protocol-Version": {"2025-11-25"}}
	if resp, err := http.DefaultClient.Do(del); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Errorf("DELETE on B of a session A opened: %v %v, want 204", resp, err)
	} else {
		resp.Body.Close()
	}
	if got := sessionStatus(t, b, f.key, ended); got != http.StatusNotFound {
		t.Errorf("a session deleted on B is re-created: %d, want 404", got)
	}
	// Ended by its client (DELETE), it is not re-created.
	cs.Close()
	h := http.Header{"Apikey": {f.key}, "Mcp-Session-Id": {id}, "Mcp-Protocol-Version": {"2025-11-25"}}
	resp = rawPost(t, b.url, h, `{"jsonrpc":"2.0","id":8,"method":"tools/list"}`)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("a session its client deleted: status %d, want 404", resp.StatusCode)
	}
	if strings.Contains(b.stderr.String(), f.key) || strings.Contains(b.stderr.String(), password) {
		t.Error("a secret reached B's log")
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
