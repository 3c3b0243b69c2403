package examples

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// connect serves the named example over in-memory transports through Run and
// returns a client session to it. Cleanup closes the session and checks that
// Run returned.
func connect(t *testing.T, name string) *mcp.ClientSession {
	t.Helper()
	return connectWith(t, name, nil)
}

// connectWith is connect with client options.
func connectWith(t *testing.T, name string, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	ctx := t.Context()
	ct, st := mcp.NewInMemoryTransports()
	done := make(chan error, 1)
	go func() { done <- Run(context.WithoutCancel(ctx), name, st) }()
	c := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "v0"}, opts)
	cs, err := c.Connect(ctx, ct, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connect to %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := cs.Close(); err != nil {
			t.Errorf("close session: %v", err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run(%s) after disconnect: %v", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run(%s) did not return after the peer disconnected", name)
		}
	})
	return cs
}

func call(t *testing.T, cs *mcp.ClientSession, tool string, args any) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("call %s: %v", tool, err)
	}
	return res
}

func text(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	if len(res.Content) != 1 {
		t.Fatalf("got %d content blocks, want 1", len(res.Content))
	}
	tc, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		t.Fatalf("content is %T, want *mcp.TextContent", res.Content[0])
	}
	return tc.Text
}

func structured[T any](t *testing.T, res *mcp.CallToolResult) T {
	t.Helper()
	var v T
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("structured content %s: %v", b, err)
	}
	return v
}

func TestCatalogue(t *testing.T) {
	if diff := cmp.Diff([]string{"bad_mcp", "bad_output", "command_injection", "credential_theft", "echo", "faults", "mpma", "oversize", "path_traversal", "probe", "prompt_injection", "quiet_rugpull", "raw_hostile", "rce", "recorder", "resource_exhaustion", "rugpull", "rugpull_notify_after", "rugpull_notify_first", "rugpull_silent", "sandboxprobe", "schema_only_poisoning", "session_management", "ssrf", "tool_poisoning", "unauthenticated_access"}, Names()); diff != "" {
		t.Errorf("Names() mismatch (-want +got):\n%s", diff)
	}
	for _, name := range Names() {
		if Describe(name) == "" {
			t.Errorf("Describe(%q) is empty", name)
		}
	}
	if got := Describe("nope"); got != "" {
		t.Errorf("Describe(nope) = %q, want empty", got)
	}
	_, st := mcp.NewInMemoryTransports()
	err := Run(t.Context(), "nope", st)
	if err == nil || !strings.Contains(err.Error(), "echo, ") || !strings.Contains(err.Error(), ", probe") {
		t.Errorf("Run(nope) = %v, want an error listing the known names", err)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	ct, st := mcp.NewInMemoryTransports()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, "echo", st) }()
	c := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "v0"}, nil)
	cs, err := c.Connect(t.Context(), ct, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after its ctx ended = %v, want nil", err)
	}
}

func TestEcho(t *testing.T) {
	cs := connect(t, "echo")

	tools, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
		if tool.Description == "" {
			t.Errorf("tool %s has no description", tool.Name)
		}
	}
	slices.Sort(names)
	if diff := cmp.Diff([]string{"add", "echo"}, names); diff != "" {
		t.Errorf("tools mismatch (-want +got):\n%s", diff)
	}

	res := call(t, cs, "echo", map[string]any{"message": "hello; $(rm -rf /)"})
	if res.IsError || text(t, res) != "hello; $(rm -rf /)" {
		t.Errorf("echo = %+v (%q), want the message back", res, text(t, res))
	}

	res = call(t, cs, "echo", map[string]any{"message": ""})
	if !res.IsError {
		t.Errorf("echo of an empty message: IsError = false, want true")
	}

	res = call(t, cs, "add", map[string]any{"a": 2.5, "b": 4})
	if res.IsError || text(t, res) != "6.5" {
		t.Errorf("add text = %q, want 6.5", text(t, res))
	}
	if got := structured[addOut](t, res); got.Sum != 6.5 {
		t.Errorf("add structured sum = %v, want 6.5", got.Sum)
	}
}

func TestProbeEnv(t *testing.T) {
	t.Setenv("PROBE_VISIBLE", "shown-value")
	t.Setenv("HIDDEN_SECRET", "hidden-value")
	cs := connect(t, "probe")

	tests := []struct {
		name string
		want envOut
		text string
	}{
		{"PROBE_VISIBLE", envOut{Name: "PROBE_VISIBLE", Set: true, Value: "shown-value"}, "shown-value"},
		{"HIDDEN_SECRET", envOut{Name: "HIDDEN_SECRET", Set: true}, "set"},
		{"PROBE_NOT_THERE_AT_ALL", envOut{Name: "PROBE_NOT_THERE_AT_ALL"}, "unset"},
	}
	for _, tt := range tests {
		res := call(t, cs, "env", map[string]any{"name": tt.name})
		if got := text(t, res); got != tt.text {
			t.Errorf("env(%s) text = %q, want %q", tt.name, got, tt.text)
		}
		if diff := cmp.Diff(tt.want, structured[envOut](t, res)); diff != "" {
			t.Errorf("env(%s) mismatch (-want +got):\n%s", tt.name, diff)
		}
	}

	names := structured[envNamesOut](t, call(t, cs, "env_names", nil)).Names
	if !slices.IsSorted(names) || !slices.Contains(names, "HIDDEN_SECRET") {
		t.Errorf("env_names = %v, want a sorted list containing HIDDEN_SECRET", names)
	}
	if strings.Contains(text(t, call(t, cs, "env_names", nil)), "hidden-value") {
		t.Error("env_names leaked a value")
	}
}

func TestProbeProcess(t *testing.T) {
	cs := connect(t, "probe")

	argv := structured[argvOut](t, call(t, cs, "argv", nil)).Argv
	if diff := cmp.Diff(os.Args, argv); diff != "" {
		t.Errorf("argv mismatch (-want +got):\n%s", diff)
	}
	pid := structured[pidOut](t, call(t, cs, "pid", nil))
	if pid.PID != os.Getpid() || pid.PGID != processGroup() {
		t.Errorf("pid = %+v, want pid %d pgid %d", pid, os.Getpid(), processGroup())
	}
}

func TestProbeCrash(t *testing.T) {
	var code = -1
	osExit = func(c int) { code = c }
	t.Cleanup(func() { osExit = os.Exit })
	cs := connect(t, "probe")

	call(t, cs, "crash", map[string]any{"code": 7})
	if code != 7 {
		t.Errorf("crash exited with %d, want 7", code)
	}
	if res := call(t, cs, "crash", map[string]any{"code": 300}); !res.IsError {
		t.Error("crash(300): IsError = false, want true")
	}
}

func TestProbeSleep(t *testing.T) {
	cancelFile := filepath.Join(t.TempDir(), "cancelled")
	t.Setenv(ProbeCancelFileEnv, cancelFile)
	started := make(chan struct{}, 1)
	cs := connectWith(t, "probe", &mcp.ClientOptions{
		ProgressNotificationHandler: func(context.Context, *mcp.ProgressNotificationClientRequest) {
			started <- struct{}{}
		},
	})

	if got := text(t, call(t, cs, "sleep", map[string]any{"ms": 1})); got != "slept" {
		t.Errorf("sleep = %q, want slept", got)
	}

	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		params := &mcp.CallToolParams{Name: "sleep", Arguments: map[string]any{"ms": 600_000}}
		params.SetProgressToken("t1")
		_, err := cs.CallTool(ctx, params)
		errc <- err
	}()
	<-started // the sleep is under way
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled sleep returned %v, want context.Canceled", err)
	}
	waitFor(t, func() bool {
		b, _ := os.ReadFile(cancelFile)
		return string(b) == "started\nstarted\ncancelled\n"
	}, "the probe to record the cancellation")
}

func TestProbeSpawnGrandchild(t *testing.T) {
	if processGroup() < 0 {
		t.Skip("no process groups on this platform")
	}
	cs := connect(t, "probe")
	out := structured[pidOut](t, call(t, cs, "spawn_grandchild", nil))
	if out.PID <= 0 {
		t.Fatalf("spawn_grandchild pid = %d", out.PID)
	}
	p, err := os.FindProcess(out.PID)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Errorf("kill grandchild %d: %v", out.PID, err)
	}
}

// waitFor polls cond until it holds or the test's deadline nears.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	if d, ok := t.Deadline(); ok && d.Before(deadline) {
		deadline = d.Add(-time.Second)
	}
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
