package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/internal/config"
)

// gatewayBin is the real gateway binary, built once by TestMain; the
// end-to-end tests start it exactly as an MCP client would.
var gatewayBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "secure-mcp-gateway-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	gatewayBin = filepath.Join(dir, "secure-mcp-gateway")
	args := []string{"build", "-o", gatewayBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build gateway: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// fixture is a config on disk with one valid gateway key.
type fixture struct {
	dir, path string
	key       string
	cfg       *config.Config
}

// exampleServer is a server entry that runs a bundled example through the
// gateway binary.
func exampleServer(name, example string, env map[string]string) *config.Server {
	if raceEnabled {
		// Race-built binaries sleep 1 s at exit unless told otherwise.
		if env == nil {
			env = map[string]string{}
		}
		env["GORACE"] = "atexit_sleep_ms=0"
	}
	return &config.Server{
		Name:   name,
		Config: config.ServerConfig{Command: gatewayBin, Args: []string{"example-server", example}, Env: env},
		Tools:  map[string]json.RawMessage{},
	}
}

// newFixture writes a config whose single MCP config holds servers.
func newFixture(t testing.TB, servers ...*config.Server) *fixture {
	t.Helper()
	cfg, key, err := newDefaultConfig(gatewayBin, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, mc := range cfg.MCPConfigs {
		mc.Servers = servers
	}
	dir := t.TempDir()
	f := &fixture{dir: dir, path: filepath.Join(dir, "enkrypt_mcp_config.json"), key: key.Reveal(), cfg: cfg}
	f.save(t)
	return f
}

func (f *fixture) save(t testing.TB) {
	t.Helper()
	if err := config.Save(f.path, f.cfg); err != nil {
		t.Fatal(err)
	}
}

// env is a clean environment for the gateway: the test process's own minus
// any gateway credentials, plus extra.
func gatewayEnv(extra ...string) []string {
	env := cleanEnv()
	if raceEnabled {
		env = append(env, "GORACE=atexit_sleep_ms=0")
	}
	return append(env, extra...)
}

// gateway is a running gateway process with a go-sdk client session.
type gateway struct {
	cmd    *exec.Cmd
	cs     *mcp.ClientSession
	stderr *syncBuffer
}

// legacySession pins a go-sdk client to the session lifecycle of
// 2025-11-25: the go-sdk's default is 2026-07-28, whose clients cache lists
// for their ttlMs and learn of changes asynchronously over
// subscriptions/listen. Most e2e tests check the gateway's behaviour for a
// session client; the 2026-07-28 ones (e2e_v2_*_test.go) connect without it.
var legacySession = &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"}

// startGateway starts the gateway binary for f with its key and connects a
// go-sdk client over stdio, on the 2025-11-25 session lifecycle.
func startGateway(t *testing.T, f *fixture, extraEnv ...string) *gateway {
	t.Helper()
	cmd := exec.Command(gatewayBin, "--config", f.path, "--log-level", "debug")
	cmd.Env = gatewayEnv(append([]string{authn.EnvKey + "=" + f.key}, extraEnv...)...)
	g := &gateway{cmd: cmd, stderr: &syncBuffer{}}
	cmd.Stderr = g.stderr
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 5 * time.Second}, legacySession)
	if err != nil {
		t.Fatalf("connect: %v\nstderr:\n%s", err, g.stderr)
	}
	g.cs = cs
	t.Cleanup(func() {
		g.cs.Close()
		if t.Failed() {
			t.Logf("gateway stderr:\n%s", g.stderr)
		}
	})
	return g
}

func (g *gateway) call(t *testing.T, name string, args any) *mcp.CallToolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := g.cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("call %s: %v\nstderr:\n%s", name, err, g.stderr)
	}
	return res
}

func (g *gateway) toolNames(t *testing.T) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := g.cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("tools/list: %v\nstderr:\n%s", err, g.stderr)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	return names
}

func resultText(r *mcp.CallToolResult) string { return contentText(r.Content) }

// waitFor polls cond until it holds or the deadline passes; tests wait on
// conditions, never on sleeps.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for a process writer and a reading test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func itoa(i int) string { return strconv.Itoa(i) }

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	return context.WithCancel(t.Context())
}

// newBenchFixture is a config with the bundled echo server, for benchmarks.
func newBenchFixture(b *testing.B) *fixture {
	return newFixture(b, exampleServer("echo_server", "echo", nil))
}
