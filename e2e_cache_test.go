package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/internal/config"
)

// slowServer is a server entry whose upstream takes 1.5 s to start, appends
// a line to marker every time it is spawned, and runs the bundled example
// named in the file which (so a test can change its tool list).
func slowServer(name, marker, which string) *config.Server {
	env := map[string]string{"GW": gatewayBin, "MARK": marker, "WHICH": which, "NAME": name}
	if raceEnabled {
		env["GORACE"] = "atexit_sleep_ms=0"
	}
	return &config.Server{
		Name: name,
		Config: config.ServerConfig{
			Command: "/bin/sh",
			Args:    []string{"-c", `echo "$NAME" >> "$MARK"; sleep 1.5; exec "$GW" example-server "$(cat "$WHICH")"`},
			Env:     env,
		},
	}
}

// spawns counts the upstream starts recorded in marker.
func spawns(t *testing.T, marker string) int {
	t.Helper()
	b, err := os.ReadFile(marker)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("\n"))
}

// startRedisServer runs a real redis-server on a free loopback port. It
// fails in CI when redis-server is absent and skips elsewhere.
func startRedisServer(t *testing.T, password string) (port int, cmd *exec.Cmd) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server is not installed; .ci/run installs Debian's redis-server")
		}
		t.Skip("redis-server is not installed (apt-get install redis-server); skipping")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", t.TempDir(), "--requirepass", password)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	waitFor(t, 10*time.Second, "redis-server to listen", func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return port, cmd
}

// copyConfig writes f's config file, byte for byte, into a fresh directory
// (another HOME) and returns a fixture for it.
// useRedis points f's config at the redis-server on 127.0.0.1:port (the
// discovery cache's settings, which every shared state uses) and saves it.
func (f *fixture) useRedis(t testing.TB, port int, password string) {
	t.Helper()
	pw := password
	f.cfg.Common.UseExternalCache = true
	f.cfg.Common.CacheHost = "127.0.0.1"
	f.cfg.Common.CachePort = port
	f.cfg.Common.CachePassword = &pw
	f.save(t)
}

func copyConfig(t *testing.T, f *fixture) *fixture {
	t.Helper()
	b, err := os.ReadFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	g := *f
	g.dir, g.path = dir, filepath.Join(dir, filepath.Base(f.path))
	if err := os.WriteFile(g.path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return &g
}

func runCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(gatewayBin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	return string(out)
}

func TestE2EDiscoveryCache(t *testing.T) {
	const password = "e2e-redis-pw"
	port, redisCmd := startRedisServer(t, password)
	marker := filepath.Join(t.TempDir(), "spawns")
	which := filepath.Join(t.TempDir(), "which")
	if err := os.WriteFile(which, []byte("echo"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, slowServer("a", marker, which), slowServer("b", marker, which), slowServer("c", marker, which))
	f.useRedis(t, port, password)
	want := []string{"a__add", "a__echo", "b__add", "b__echo", "c__add", "c__echo"}
	sorted := func(s []string) []string { slices.Sort(s); return s }

	// 1. Cold: the first session's tools/list waits for all three upstreams.
	g1 := startGateway(t, f)
	if got := sorted(g1.toolNames(t)); !slices.Equal(got, want) {
		t.Fatalf("cold tools = %v, want %v", got, want)
	}
	if n := spawns(t, marker); n != 3 {
		t.Fatalf("cold discovery spawned %d upstreams, want 3", n)
	}
	g1.cs.Close()

	status := runCLI(t, "--config", f.path, "cache", "status", "--json")
	if !strings.Contains(status, `"cached": true`) || strings.Contains(status, `"cached": false`) || strings.Contains(status, password) {
		t.Errorf("cache status after a cold session:\n%s", status)
	}

	// 2. A new gateway process answers from the persistent store and
	// spawns nothing until a call needs an upstream.
	g2 := startGateway(t, f)
	if got := sorted(g2.toolNames(t)); !slices.Equal(got, want) {
		t.Fatalf("warm tools = %v, want %v", got, want)
	}
	if n := spawns(t, marker); n != 3 {
		t.Fatalf("warm tools/list spawned %d upstreams, want none", n-3)
	}
	if res := g2.call(t, "b__echo", map[string]any{"message": "hi"}); res.IsError || resultText(res) != "hi" {
		t.Fatalf("call on a cached tool: %+v %q", res.IsError, resultText(res))
	}
	if n := spawns(t, marker); n != 4 {
		t.Fatalf("the call spawned %d upstreams, want exactly its own", n-3)
	}
	g2.cs.Close()

	// 3. Another HOME with the same config is warm through Redis.
	other := copyConfig(t, f)
	g3 := startGateway(t, other)
	if got := sorted(g3.toolNames(t)); !slices.Equal(got, want) {
		t.Fatalf("tools through Redis = %v, want %v", got, want)
	}
	if n := spawns(t, marker); n != 4 {
		t.Fatalf("a fresh HOME spawned %d upstreams, want none (Redis warm)", n-4)
	}
	g3.cs.Close()

	// 4. cache clear makes the next session cold.
	out := runCLI(t, "--config", f.path, "cache", "clear")
	if !strings.Contains(out, "cleared") {
		t.Errorf("cache clear said: %s", out)
	}
	g4 := startGateway(t, f)
	if got := sorted(g4.toolNames(t)); !slices.Equal(got, want) {
		t.Fatalf("tools after clear = %v", got)
	}
	if n := spawns(t, marker); n != 7 {
		t.Fatalf("after cache clear, tools/list spawned %d upstreams, want 3", n-4)
	}
	g4.cs.Close()

	// 5. Redis killed mid-run: a gateway with Redis configured still
	// answers, warm from its disk, and cold ones list live.
	g5 := startGateway(t, f)
	redisCmd.Process.Kill()
	redisCmd.Wait()
	if got := sorted(g5.toolNames(t)); !slices.Equal(got, want) {
		t.Fatalf("tools with Redis dead = %v", got)
	}
	if res := g5.call(t, "a__echo", map[string]any{"message": "still here"}); res.IsError || resultText(res) != "still here" {
		t.Fatalf("call with Redis dead: %+v %q", res.IsError, resultText(res))
	}
	third := copyConfig(t, f)
	g6 := startGateway(t, third)
	if got := sorted(g6.toolNames(t)); !slices.Equal(got, want) {
		t.Fatalf("cold tools with Redis dead = %v", got)
	}
	if n := strings.Count(g6.stderr.String(), "Redis unavailable"); n != 1 {
		t.Errorf("warned %d times about Redis, want once:\n%s", n, g6.stderr)
	}
	if strings.Contains(g6.stderr.String(), password) {
		t.Error("the Redis password reached the log")
	}
}

// TestE2ECachedToolsRevalidated checks that when an upstream's real tool
// list differs from the cached one, the gateway updates what the client
// sees and sends notifications/tools/list_changed.
func TestE2ECachedToolsRevalidated(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "spawns")
	which := filepath.Join(t.TempDir(), "which")
	if err := os.WriteFile(which, []byte("echo"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, slowServer("s", marker, which))
	g1 := startGateway(t, f)
	if got := g1.toolNames(t); !contains(got, "s__echo") {
		t.Fatalf("cold tools = %v", got)
	}
	g1.cs.Close()

	// Same config entry, different upstream behaviour.
	if err := os.WriteFile(which, []byte("probe"), 0o600); err != nil {
		t.Fatal(err)
	}
	changed := make(chan struct{}, 4)
	cmd := exec.Command(gatewayBin, "--config", f.path, "--log-level", "debug")
	cmd.Env = gatewayEnv(authn.EnvKey + "=" + f.key)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	client := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 5 * time.Second}, nil)
	if err != nil {
		t.Fatalf("connect: %v\n%s", err, &stderr)
	}
	defer cs.Close()
	g := &gateway{cmd: cmd, cs: cs, stderr: &stderr}
	if got := g.toolNames(t); !contains(got, "s__echo") || contains(got, "s__pid") {
		t.Fatalf("cached tools = %v, want the echo tools from the cache", got)
	}
	if n := spawns(t, marker); n != 1 {
		t.Fatalf("spawned %d, want only the first session's", n)
	}
	// The call starts the upstream, which now serves other tools: the
	// gateway revalidates its list before forwarding and refuses the call.
	if res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "s__echo", Arguments: map[string]any{"message": "x"}}); err == nil && !res.IsError {
		t.Error("a call to a tool the upstream no longer has succeeded")
	}
	select {
	case <-changed:
	case <-ctx.Done():
		t.Fatalf("no notifications/tools/list_changed\n%s", &stderr)
	}
	if got := g.toolNames(t); !contains(got, "s__pid") || contains(got, "s__echo") {
		t.Fatalf("tools after revalidation = %v, want the probe tools", got)
	}
	// The cache now holds the new list.
	g.cs.Close()
	g7 := startGateway(t, f)
	if got := g7.toolNames(t); !contains(got, "s__pid") {
		t.Errorf("next session tools = %v, want the revalidated list", got)
	}
}

// BenchmarkWarmToolsList measures what an MCP client waits for when it
// starts a new gateway process whose discovery cache is warm: spawn, MCP
// initialize and tools/list answered for 5 configured upstreams that take
// 1.5 s each to start (none is started). Run without -race:
// go test -run '^$' -bench BenchmarkWarmToolsList -count 6 .
func BenchmarkWarmToolsList(b *testing.B) {
	marker := filepath.Join(b.TempDir(), "spawns")
	which := filepath.Join(b.TempDir(), "which")
	if err := os.WriteFile(which, []byte("echo"), 0o600); err != nil {
		b.Fatal(err)
	}
	var servers []*config.Server
	for i := range 5 {
		servers = append(servers, slowServer("s"+itoa(i), marker, which))
	}
	f := newFixture(b, servers...)
	list := func() int {
		cmd := exec.Command(gatewayBin, "--config", f.path)
		cmd.Env = gatewayEnv(authn.EnvKey + "=" + f.key)
		client := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil)
		ctx := context.Background()
		cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
		if err != nil {
			b.Fatal(err)
		}
		res, err := cs.ListTools(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cs.Close()
		b.StartTimer()
		return len(res.Tools)
	}
	if n := list(); n != 10 { // cold: fills the cache
		b.Fatalf("cold list has %d tools, want 10", n)
	}
	before, err := os.ReadFile(marker)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if n := list(); n != 10 {
			b.Fatalf("warm list has %d tools, want 10", n)
		}
	}
	if after, _ := os.ReadFile(marker); !bytes.Equal(before, after) {
		b.Fatal("a warm tools/list started an upstream")
	}
}
