package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/internal/config"
)

func TestE2EListAndCall(t *testing.T) {
	f := newFixture(t, exampleServer("echo_server", "echo", nil), exampleServer("probe", "probe", nil))
	g := startGateway(t, f)

	names := g.toolNames(t)
	for _, want := range []string{"echo_server__echo", "echo_server__add", "probe__env", "probe__crash"} {
		if !contains(names, want) {
			t.Errorf("tools/list lacks %q; got %v", want, names)
		}
	}
	res := g.call(t, "echo_server__echo", map[string]any{"message": "héllo, <world> & \"quotes\""})
	if res.IsError || resultText(res) != "héllo, <world> & \"quotes\"" {
		t.Errorf("echo = %+v %q", res.IsError, resultText(res))
	}
	res = g.call(t, "echo_server__add", map[string]any{"a": 2, "b": 40})
	if diff := cmp.Diff(map[string]any{"sum": 42.0}, res.StructuredContent); diff != "" {
		t.Errorf("structured content (-want +got):\n%s", diff)
	}
}

func TestE2EToolPrefixAndAllowList(t *testing.T) {
	empty := ""
	echo := exampleServer("echo_server", "echo", nil)
	echo.ToolPrefix = &empty
	echo.Tools = map[string]json.RawMessage{"echo": json.RawMessage(`"Echo a message"`), "add": json.RawMessage(`{"enabled": false}`)}
	custom := "p."
	probe := exampleServer("probe", "probe", nil)
	probe.ToolPrefix = &custom
	f := newFixture(t, echo, probe)
	g := startGateway(t, f)
	names := g.toolNames(t)
	if !contains(names, "echo") || contains(names, "add") || contains(names, "echo_server__echo") {
		t.Errorf("unprefixed allow-list: got %v, want echo without add", names)
	}
	if !contains(names, "p.env") {
		t.Errorf("custom prefix: got %v, want p.env", names)
	}
}

func TestE2ECollisionFirstServerWins(t *testing.T) {
	empty := ""
	a := exampleServer("first", "echo", nil)
	a.ToolPrefix = &empty
	b := exampleServer("second", "echo", nil)
	b.ToolPrefix = &empty
	f := newFixture(t, a, b)
	g := startGateway(t, f)
	names := g.toolNames(t)
	if got := strings.Count(strings.Join(names, ","), "echo"); got != 1 {
		t.Errorf("tools/list = %v; want exactly one echo", names)
	}
	waitFor(t, 5*time.Second, "the collision to be logged", func() bool {
		return strings.Contains(g.stderr.String(), "collision")
	})
}

func TestE2EKeyRefused(t *testing.T) {
	f := newFixture(t, markerServer(t))
	var disabledKey string
	{
		// A second, disabled key for the same project and user.
		key, stored, err := authn.NewKey()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range f.cfg.APIKeys {
			f.cfg.APIKeys[stored] = &config.APIKey{ProjectID: k.ProjectID, UserID: k.UserID, Disabled: true}
			break
		}
		f.save(t)
		disabledKey = key.Reveal()
	}
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"missing", nil, "ENKRYPT_GATEWAY_KEY is not set"},
		{"empty", []string{authn.EnvKey + "="}, "ENKRYPT_GATEWAY_KEY is not set"},
		{"wrong", []string{authn.EnvKey + "=wrong-key-0123456789"}, "refused"},
		{"disabled", []string{authn.EnvKey + "=" + disabledKey}, "disabled"},
		{"project mismatch", []string{authn.EnvKey + "=" + f.key, authn.EnvProjectID + "=not-the-project"}, "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(gatewayBin, "--config", f.path)
			cmd.Env = gatewayEnv(append(tt.env, "MARKER_DIR="+f.dir)...)
			cmd.Stdin = strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}` + "\n")
			var stdout, stderr syncBuffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != exitAuth {
				t.Fatalf("exit = %v, want code %d; stderr %q", err, exitAuth, stderr.String())
			}
			if stdout.String() != "" {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
			msg := stderr.String()
			if strings.Count(strings.TrimSpace(msg), "\n") != 0 {
				t.Errorf("stderr has more than one line: %q", msg)
			}
			for _, want := range []string{tt.want, authn.EnvKey, f.path} {
				if !strings.Contains(msg, want) {
					t.Errorf("stderr %q lacks %q", msg, want)
				}
			}
			for _, secret := range []string{f.key, disabledKey, "wrong-key-0123456789"} {
				if strings.Contains(msg, secret) {
					t.Errorf("stderr echoes a key: %q", msg)
				}
			}
			if _, err := os.Stat(filepath.Join(f.dir, "spawned")); err == nil {
				t.Error("an upstream was spawned for a refused key")
			}
		})
	}
}

// markerServer is a server that leaves a file behind when it is spawned.
func markerServer(t *testing.T) *config.Server {
	return &config.Server{
		Name:   "marker",
		Config: config.ServerConfig{Command: "/bin/sh", Args: []string{"-c", `touch "$MARKER_DIR/spawned"; exec "$GW" example-server echo`}, Env: map[string]string{"GW": gatewayBin}},
	}
}

func TestE2EMalformedConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "enkrypt_mcp_config.json")
	if err := os.WriteFile(path, []byte(`{"mcp_configs": {"x": {"mcp_config": [ {"server_name": 5} ]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(gatewayBin, "--config", path)
	cmd.Env = gatewayEnv(authn.EnvKey + "=some-key-value")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitConfig {
		t.Fatalf("exit = %v, want %d; output %q", err, exitConfig, out)
	}
	if !strings.Contains(string(out), path) {
		t.Errorf("error %q does not name the file", out)
	}
}

func TestE2EUpstreamEnvironmentIsolated(t *testing.T) {
	f := newFixture(t, exampleServer("probe", "probe", map[string]string{"PROBE_DECLARED": "declared-value"}))
	g := startGateway(t, f, "GATEWAY_ONLY_VAR=should-not-leak")
	if got := resultText(g.call(t, "probe__env", map[string]any{"name": authn.EnvKey})); got != "unset" {
		t.Errorf("upstream sees %s: %q", authn.EnvKey, got)
	}
	if got := resultText(g.call(t, "probe__env", map[string]any{"name": "GATEWAY_ONLY_VAR"})); got != "unset" {
		t.Errorf("upstream sees the gateway's other env: %q", got)
	}
	if got := resultText(g.call(t, "probe__env", map[string]any{"name": "PROBE_DECLARED"})); got != "declared-value" {
		t.Errorf("declared env = %q", got)
	}
	// Shell metacharacters in arguments reach the upstream literally.
	res := g.call(t, "probe__argv", nil)
	var argv []string
	if err := json.Unmarshal([]byte(resultText(res)), &argv); err != nil || len(argv) < 3 || argv[1] != "example-server" {
		t.Errorf("argv = %q (%v)", resultText(res), err)
	}
}

func TestE2EArgsPassedLiterally(t *testing.T) {
	s := exampleServer("probe", "probe", nil)
	s.Config.Args = append(s.Config.Args, "; rm -rf / $(id) && `id`")
	f := newFixture(t, s)
	g := startGateway(t, f)
	var argv []string
	if err := json.Unmarshal([]byte(resultText(g.call(t, "probe__argv", nil))), &argv); err != nil {
		t.Fatal(err)
	}
	if argv[len(argv)-1] != "; rm -rf / $(id) && `id`" {
		t.Errorf("argv = %q", argv)
	}
}

func TestE2ECrashMidCallThenRecovers(t *testing.T) {
	f := newFixture(t, exampleServer("probe", "probe", nil), exampleServer("echo_server", "echo", nil))
	g := startGateway(t, f)
	before := pidOf(t, g)
	res := g.call(t, "probe__crash", map[string]any{"code": 3})
	if !res.IsError || !strings.Contains(resultText(res), `"probe"`) {
		t.Fatalf("crash result = %v %q; want a tool error naming the server", res.IsError, resultText(res))
	}
	// Other upstreams are unaffected.
	if got := resultText(g.call(t, "echo_server__echo", map[string]any{"message": "still here"})); got != "still here" {
		t.Errorf("echo after crash = %q", got)
	}
	// The next call respawns the upstream (after its backoff).
	var after int
	waitFor(t, 10*time.Second, "the crashed upstream to be restarted", func() bool {
		res := g.call(t, "probe__pid", nil)
		if res.IsError {
			return false
		}
		after = int(res.StructuredContent.(map[string]any)["pid"].(float64))
		return true
	})
	if after == before {
		t.Errorf("pid after restart = %d, same as before", after)
	}
}

func pidOf(t *testing.T, g *gateway) int {
	t.Helper()
	res := g.call(t, "probe__pid", nil)
	m, ok := res.StructuredContent.(map[string]any)
	if !ok {
		t.Fatalf("pid result %+v", res)
	}
	return int(m["pid"].(float64))
}

func TestE2EMissingCommandCostsOnlyItsTools(t *testing.T) {
	ghost := &config.Server{Name: "ghost", Config: config.ServerConfig{Command: "/nonexistent/mcp-server"}}
	f := newFixture(t, ghost, exampleServer("echo_server", "echo", nil))
	g := startGateway(t, f)
	names := g.toolNames(t)
	if !contains(names, "echo_server__echo") {
		t.Fatalf("tools/list = %v, want the echo tools", names)
	}
	for _, n := range names {
		if strings.HasPrefix(n, "ghost__") {
			t.Errorf("tools of a server that cannot start: %v", names)
		}
	}
	if got := resultText(g.call(t, "echo_server__echo", map[string]any{"message": "ok"})); got != "ok" {
		t.Errorf("echo = %q", got)
	}
	if !strings.Contains(g.stderr.String(), "ghost") {
		t.Errorf("the failing server is not named in the logs:\n%s", g.stderr)
	}
	// A call to one of its tools is a tool error naming the server, not an
	// unknown tool.
	res := g.call(t, "ghost__anything", nil)
	if !res.IsError || !strings.Contains(resultText(res), `"ghost"`) || !strings.Contains(resultText(res), "could not be reached") {
		t.Errorf("call to a tool of a dead server = %v %q", res.IsError, resultText(res))
	}
}

func TestE2EUnknownToolIsAnError(t *testing.T) {
	f := newFixture(t, exampleServer("echo_server", "echo", nil))
	g := startGateway(t, f)
	_, err := g.cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "nope__nothing"})
	if err == nil || !strings.Contains(err.Error(), "unknown tool") {
		t.Errorf("err = %v, want unknown tool", err)
	}
}

func TestE2ECancellationReachesUpstream(t *testing.T) {
	cancelFile := filepath.Join(t.TempDir(), "cancelled")
	f := newFixture(t, exampleServer("probe", "probe", map[string]string{"PROBE_CANCEL_FILE": cancelFile}))
	g := startGateway(t, f)
	g.toolNames(t)
	ctx, cancel := contextWithCancel(t)
	done := make(chan error, 1)
	go func() {
		_, err := g.cs.CallTool(ctx, &mcp.CallToolParams{Name: "probe__sleep", Arguments: map[string]any{"ms": 60000}})
		done <- err
	}()
	waitFor(t, 10*time.Second, "the sleep call to reach the upstream", func() bool {
		b, _ := os.ReadFile(cancelFile)
		return strings.Contains(string(b), "started")
	})
	cancel()
	<-done
	waitFor(t, 10*time.Second, "the upstream to record cancellation", func() bool {
		b, _ := os.ReadFile(cancelFile)
		return strings.Contains(string(b), "cancelled")
	})
}

// TestE2EStdoutIsOnlyJSONRPC drives the gateway over raw pipes, at debug log
// level, and checks every stdout line is a JSON-RPC 2.0 message.
func TestE2EStdoutIsOnlyJSONRPC(t *testing.T) {
	f := newFixture(t, exampleServer("echo_server", "echo", nil), &config.Server{Name: "ghost", Config: config.ServerConfig{Command: "/nonexistent"}})
	cmd := exec.Command(gatewayBin, "--config", f.path, "--log-level", "debug")
	cmd.Env = gatewayEnv(authn.EnvKey + "=" + f.key)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	msgs := []string{
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`,
		`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo_server__echo","arguments":{"message":"raw"}}}`,
	}
	for _, m := range msgs {
		io.WriteString(stdin, m+"\n")
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	got := map[float64]bool{}
	for len(got) < 3 && sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil || m["jsonrpc"] != "2.0" {
			t.Fatalf("stdout line is not JSON-RPC: %q", sc.Text())
		}
		if id, ok := m["id"].(float64); ok {
			got[id] = true
		}
	}
	stdin.Close()
	// The rest of stdout, until exit, must be JSON-RPC too.
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil || m["jsonrpc"] != "2.0" {
			t.Fatalf("stdout line is not JSON-RPC: %q", sc.Text())
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("gateway exit after stdin EOF: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), `"level":"debug"`) {
		t.Errorf("expected debug logs on stderr, got:\n%s", stderr.String())
	}
}

func TestE2EStdinEOFReapsChildren(t *testing.T) {
	f := newFixture(t, exampleServer("probe", "probe", nil), exampleServer("echo_server", "echo", nil))
	g := startGateway(t, f)
	g.toolNames(t) // starts both upstreams
	child := pidOf(t, g)
	grandchild := grandchildOf(t, g)
	if err := g.cs.Close(); err != nil {
		t.Logf("close: %v", err)
	}
	waitFor(t, 10*time.Second, "the gateway to exit", func() bool { return g.cmd.ProcessState != nil })
	if code := g.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("gateway exit code %d after stdin EOF, want 0", code)
	}
	for _, pid := range []int{child, grandchild} {
		waitFor(t, 5*time.Second, "upstream processes to be reaped", func() bool { return !alive(pid) })
	}
}

func TestE2ESIGKILLLeavesNoOrphans(t *testing.T) {
	f := newFixture(t, exampleServer("probe", "probe", nil))
	g := startGateway(t, f)
	child := pidOf(t, g)
	grandchild := grandchildOf(t, g)
	if err := g.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "the upstream to die with the gateway", func() bool { return !alive(child) })
	waitFor(t, 2*time.Second, "the upstream's own child to die with the gateway", func() bool { return !alive(grandchild) })
}

func grandchildOf(t *testing.T, g *gateway) int {
	t.Helper()
	res := g.call(t, "probe__spawn_grandchild", nil)
	m, ok := res.StructuredContent.(map[string]any)
	if !ok || res.IsError {
		t.Fatalf("spawn_grandchild: %+v %q", res, resultText(res))
	}
	return int(m["pid"].(float64))
}

// alive reports whether pid names a live (not zombie) process.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	b, err := os.ReadFile(filepath.Join("/proc", itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// TestCase32ArgumentsValidatedAgainstSchema: arguments that break the tool's
// input schema (a wrong type, a property the schema forbids) are refused
// by the gateway with -32602 before the guardrails or the upstream see them.
func TestCase32ArgumentsValidatedAgainstSchema(t *testing.T) {
	f := newFixture(t, exampleServer("echo_server", "echo", nil))
	g := startGateway(t, f)
	g.toolNames(t)
	for name, args := range map[string]any{
		"wrong type":         map[string]any{"message": 5},
		"forbidden property": map[string]any{"message": "x", "extra": true},
		"missing required":   map[string]any{},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := g.cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "echo_server__echo", Arguments: args})
			var rpcErr *jsonrpc.Error
			if !errors.As(err, &rpcErr) || rpcErr.Code != jsonrpc.CodeInvalidParams || !strings.Contains(rpcErr.Message, "invalid arguments for tool") {
				t.Errorf("err = %v, want the gateway's -32602", err)
			}
		})
	}
	if got := resultText(g.call(t, "echo_server__echo", map[string]any{"message": "valid"})); got != "valid" {
		t.Errorf("a valid call = %q", got)
	}
}

// TestE2ESignalReapsChildren (case 22): SIGTERM or SIGINT to a stdio
// gateway with upstreams running ends it with exit code 0, and every
// upstream process, the upstream's own child included, is reaped.
func TestE2ESignalReapsChildren(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			f := newFixture(t, exampleServer("probe", "probe", nil), exampleServer("echo_server", "echo", nil))
			g := startGateway(t, f)
			g.toolNames(t) // starts both upstreams
			child := pidOf(t, g)
			grandchild := grandchildOf(t, g)
			if err := g.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			// The gateway exits on the signal, before its stdin closes.
			waitFor(t, 10*time.Second, "the gateway to exit", func() bool { return !alive(g.cmd.Process.Pid) })
			g.cs.Close() // collects the exit status
			if code := g.cmd.ProcessState.ExitCode(); code != 0 {
				t.Errorf("gateway exit code %d after %s (%s), want 0", code, sig, g.cmd.ProcessState)
			}
			for _, pid := range []int{child, grandchild} {
				waitFor(t, 5*time.Second, "upstream processes to be reaped", func() bool { return !alive(pid) })
			}
		})
	}
}
