package main

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/admin"
	"secure-mcp-gateway/guard"
)

// TestE2EReplicasShareRateLimit: two --http replicas on one config and one
// real redis-server (the discovery cache's settings) hold a key to its
// burst in total, not once per replica; a key disabled in the config is
// refused by both (each re-reads the file it serves on its next request).
func TestE2EReplicasShareRateLimit(t *testing.T) {
	t.Parallel()
	const password = "replica-redis-pw"
	port, _ := startRedisServer(t, password)
	f := newFixture(t, exampleServer("echo_server", "echo", nil))
	f.useRedis(t, port, password)
	// A rate so low that no token comes back during the test: exactly the
	// burst is allowed, whatever the machine's speed.
	limits := []string{"--rate-limit", "0.0001", "--rate-burst", "5"}
	a, b := startHTTP(t, f, limits...), startHTTP(t, f, limits...)

	allowed := 0
	for i := range 12 {
		p := a
		if i%2 == 1 {
			p = b
		}
		resp := rawPost(t, p.url, http.Header{"Apikey": {f.key}}, initBody)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			allowed++
		case http.StatusTooManyRequests:
		default:
			t.Fatalf("request %d: status %d", i, resp.StatusCode)
		}
	}
	if allowed != 5 {
		t.Errorf("two replicas allowed %d requests of one key, want the burst of 5 in total", allowed)
	}
	for _, out := range []string{a.stderr.String(), b.stderr.String()} {
		if strings.Contains(out, password) {
			t.Error("the Redis password reached a replica's log")
		}
		if strings.Contains(out, "Redis unavailable") {
			t.Errorf("a replica found Redis unavailable:\n%s", out)
		}
	}

	// Disabled in the config: both replicas refuse the key.
	st := admin.Open(f.path)
	if _, err := st.SetKeyDisabled(context.Background(), f.key, true); err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]*httpGatewayProc{"a": a, "b": b} {
		resp := rawPost(t, p.url, http.Header{"Apikey": {f.key}}, initBody)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("replica %s: a disabled key got %d, want 401", name, resp.StatusCode)
		}
	}
}

// TestE2EReplicasShareKeyRevocation: two --http replicas, each with its
// own copy of the config, share one real redis-server. A key disabled with
// the admin CLI on A's copy is refused by B within 5 s although B's copy
// still lists it as enabled; enabled again, both accept it; deleted, B
// refuses it too.
func TestE2EReplicasShareKeyRevocation(t *testing.T) {
	t.Parallel()
	const password = "revoke-redis-pw"
	port, _ := startRedisServer(t, password)
	f := newFixture(t, exampleServer("echo_server", "echo", nil))
	f.useRedis(t, port, password)
	fb := copyConfig(t, f)
	a, b := startHTTP(t, f), startHTTP(t, fb)
	status := func(p *httpGatewayProc) int {
		resp := rawPost(t, p.url, http.Header{"Apikey": {f.key}}, initBody)
		resp.Body.Close()
		return resp.StatusCode
	}
	admin := func(args ...string) {
		t.Helper()
		out, err := exec.Command(gatewayBin, append([]string{"--config", f.path}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	for name, p := range map[string]*httpGatewayProc{"a": a, "b": b} {
		if got := status(p); got != http.StatusOK {
			t.Fatalf("replica %s before: %d", name, got)
		}
	}
	admin("user", "disable-api-key", "--api-key", f.key)
	waitFor(t, 5e9, "B to refuse the key disabled on A's copy", func() bool { return status(b) == http.StatusUnauthorized })
	if got := status(a); got != http.StatusUnauthorized {
		t.Errorf("replica a: %d after disable", got)
	}
	if strings.Contains(b.stderr.String(), f.key) {
		t.Error("the key reached B's log")
	}
	admin("user", "enable-api-key", "--api-key", f.key)
	waitFor(t, 5e9, "B to accept the key enabled again", func() bool { return status(b) == http.StatusOK })

	// Deleting the key revokes it too.
	admin("user", "delete-api-key", "--api-key", f.key)
	waitFor(t, 5e9, "B to refuse the deleted key", func() bool { return status(b) == http.StatusUnauthorized })
}

// TestE2EReplicasSeeAddedServer: two --http replicas serving one config
// file (a shared volume, or one host) both expose a server added to it by
// the admin CLI within 5 s, with no restart: each re-reads the file on the
// next request after it changes. (On Kubernetes the chart mounts the config
// from a Secret, and a change rolls the pods instead; see docs/DEPLOY.md.)
func TestE2EReplicasSeeAddedServer(t *testing.T) {
	t.Parallel()
	f := newFixture(t, exampleServer("echo_server", "echo", nil))
	a, b := startHTTP(t, f), startHTTP(t, f)
	hdr := http.Header{"Apikey": {f.key}}
	lists := func(p *httpGatewayProc, tool string) bool {
		cs, err := connectHTTP(t, p.url, hdr)
		if err != nil {
			return false
		}
		defer cs.Close()
		res, err := cs.ListTools(context.Background(), nil)
		return err == nil && slices.ContainsFunc(res.Tools, func(x *mcp.Tool) bool { return x.Name == tool })
	}
	for name, p := range map[string]*httpGatewayProc{"a": a, "b": b} {
		if !lists(p, "echo_server__echo") || lists(p, "added__echo") {
			t.Fatalf("replica %s before the change lists the wrong tools", name)
		}
	}
	var configName string
	for _, mc := range f.cfg.MCPConfigs {
		configName = mc.Name
	}
	out, err := exec.Command(gatewayBin, "--config", f.path, "config", "add-server",
		"--config-name", configName, "--server-name", "added",
		"--server-command", gatewayBin, "--arg", "example-server", "--arg", "echo").CombinedOutput()
	if err != nil {
		t.Fatalf("config add-server: %v\n%s", err, out)
	}
	for name, p := range map[string]*httpGatewayProc{"a": a, "b": b} {
		waitFor(t, 5e9, "replica "+name+" to list the added server's tool", func() bool { return lists(p, "added__echo") })
	}
}

// TestE2EDrainDelay: on SIGTERM with --drain-delay, /readyz turns 503 at
// once while the replica still serves its sessions, so a balancer drains
// it before the listener closes; then it exits 0.
func TestE2EDrainDelay(t *testing.T) {
	t.Parallel()
	f := newFixture(t, exampleServer("echo_server", "echo", nil))
	p := startHTTP(t, f, "--drain-delay", "30s", "--shutdown-grace", "1s")
	ready := func() int {
		resp, err := http.Get(p.base + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := ready(); code != http.StatusOK {
		t.Fatalf("/readyz before SIGTERM: %d", code)
	}
	cs, err := connectHTTP(t, p.url, http.Header{"Apikey": {f.key}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10e9, "/readyz to answer 503", func() bool { return ready() == http.StatusServiceUnavailable })
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo_server__echo", Arguments: map[string]any{"message": "still here"}})
	if err != nil || res.IsError || resultText(res) != "still here" {
		t.Fatalf("call during the drain delay: %v %+v", err, res)
	}
	cs.Close()
	// The process is still up (the delay is 30 s): stop it for good.
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

// TestE2EReplicasSharePins: two --http replicas, each with its own copy of
// the config (as pods each mount theirs) and so its own pin file, share one
// real redis-server. A tool whose definition changes after replica A pinned
// it is withheld by replica B too, although B never saw the original (on
// its own, B would pin the changed definition as new); approved through A's
// admin CLI, both list it again; with Redis gone, B carries on from its
// local mirror of the shared pins and warns once.
func TestE2EReplicasSharePins(t *testing.T) {
	t.Parallel()
	const password = "pins-redis-pw"
	port, redisCmd := startRedisServer(t, password)
	state := filepath.Join(t.TempDir(), "rugpull.state")
	f := newFixture(t, exampleServer("wx", "rugpull", map[string]string{"EXAMPLE_RUGPULL_STATE": state}))
	f.useRedis(t, port, password)
	fb := copyConfig(t, f)
	a, b := startHTTP(t, f), startHTTP(t, fb)
	hdr := http.Header{"Apikey": {f.key}}
	listed := func(p *httpGatewayProc) bool {
		t.Helper()
		cs, err := connectHTTP(t, p.url, hdr)
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		res, err := cs.ListTools(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, tool := range res.Tools {
			if tool.Name == "wx__get_weather" {
				return true
			}
		}
		return false
	}

	// A pins the original and calls it; the upstream then changes it.
	cs, err := connectHTTP(t, a.url, hdr)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if r, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "wx__get_weather", Arguments: map[string]any{}}); err != nil || r.IsError {
		t.Fatalf("first call on A: %v %+v", err, r)
	}
	waitFor(t, 20e9, "the changed tool to be withheld on A", func() bool {
		res, err := cs.ListTools(context.Background(), nil)
		return err == nil && !slices.ContainsFunc(res.Tools, func(x *mcp.Tool) bool { return x.Name == "wx__get_weather" })
	})
	if listed(b) {
		t.Fatal("replica B exposed the changed definition: it did not see A's pin")
	}

	out, err := exec.Command(gatewayBin, "--config", f.path, "tools", "approve", "--server", "wx", "--tool", "get_weather").CombinedOutput()
	if err != nil {
		t.Fatalf("tools approve on A's config: %v\n%s", err, out)
	}
	if !listed(b) || !listed(a) {
		t.Fatal("the approved definition is not listed on both replicas")
	}
	mirror, err := os.ReadFile(filepath.Join(fb.dir, guard.PinFileName))
	if err != nil || !strings.Contains(string(mirror), "get_weather") {
		t.Fatalf("B's local mirror of the shared pins: %v\n%s", err, mirror)
	}

	// Redis gone: B falls back to its mirror, warns once, never exits.
	redisCmd.Process.Kill()
	redisCmd.Wait()
	for range 2 {
		if !listed(b) {
			t.Fatal("with Redis down, B withheld the approved tool")
		}
	}
	if n := strings.Count(b.stderr.String(), "Redis unavailable;"); n != 1 {
		t.Errorf("B warned %d times about the Redis outage, want once:\n%s", n, b.stderr.String())
	}
	for _, out := range []string{a.stderr.String(), b.stderr.String()} {
		if strings.Contains(out, password) {
			t.Error("the Redis password reached a replica's log")
		}
	}
}
