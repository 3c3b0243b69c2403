package cache

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"secure-mcp-gateway/internal/secret"
)

// startRedis runs a real redis-server on a free loopback port, with
// password, for the life of the test. Without redis-server the test fails
// in CI (CI set) and is skipped elsewhere.
func startRedis(t testing.TB, password string) (addr string, cmd *exec.Cmd) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server is not installed; .ci/run installs Debian's redis-server")
		}
		t.Skip("redis-server is not installed (apt-get install redis-server); skipping the real-Redis test")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	addr = "127.0.0.1:" + strconv.Itoa(port)
	cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", t.TempDir(), "--requirepass", password)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	c := redis.NewClient(&redis.Options{Addr: addr, Password: password, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not answer", addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return addr, cmd
}

func TestRealRedis(t *testing.T) {
	ctx := context.Background()
	addr, cmd := startRedis(t, "integration-pw")
	ro := &RedisOptions{Addr: addr, Password: secret.String("integration-pw"), Retry: time.Nanosecond}
	one, err := New(&Options{Dir: t.TempDir(), Redis: ro})
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	one.StoreTools(ctx, "cfg", server(), json.RawMessage(toolsJSON))

	two, err := New(&Options{Dir: t.TempDir(), Redis: ro})
	if err != nil {
		t.Fatal(err)
	}
	defer two.Close()
	if tools, _, ok := two.LoadTools(ctx, "cfg", server()); !ok || string(tools) != toolsJSON {
		t.Fatalf("warm through real Redis: ok=%v tools=%s", ok, tools)
	}

	wrong, err := New(&Options{Dir: t.TempDir(), Redis: &RedisOptions{Addr: addr, Password: "nope"}})
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	if _, _, ok := wrong.LoadTools(ctx, "cfg", server()); ok {
		t.Error("a wrong password read the shared entry")
	}

	if n, err := two.Clear(ctx, ""); err != nil || n < 2 {
		t.Errorf("clear: n=%d err=%v, want the local file and the Redis key", n, err)
	}
	if _, _, ok := one.LoadTools(ctx, "cfg", server()); !ok {
		t.Error("the first store's own disk copy should survive a clear run elsewhere")
	}

	// Redis dies: the local tiers carry on.
	cmd.Process.Kill()
	cmd.Wait()
	one.StoreTools(ctx, "cfg", server(), json.RawMessage(toolsJSON))
	if _, _, ok := one.LoadTools(ctx, "cfg", server()); !ok {
		t.Error("local tiers did not answer after Redis died")
	}
	if _, err := one.Clear(ctx, ""); err == nil {
		t.Error("clear reported success with Redis down")
	}
}
