package upstream_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"go.uber.org/goleak"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/rs/zerolog"

	"secure-mcp-gateway/examples"
	"secure-mcp-gateway/upstream"
)

// Environment of a re-executed test binary (see TestMain).
const (
	envExample     = "UPSTREAM_TEST_EXAMPLE"      // run this example server instead of the tests
	envStartFile   = "UPSTREAM_TEST_START_FILE"   // append the pid here on start
	envStderrLines = "UPSTREAM_TEST_STDERR_LINES" // write this many numbered lines to stderr first
	envStderrVar   = "UPSTREAM_TEST_STDERR_VAR"   // then write "token=" + the value of this variable
	envExit        = "UPSTREAM_TEST_EXIT"         // then exit with this code instead of serving
	envHang        = "UPSTREAM_TEST_HANG"         // then never answer
)

// TestMain runs an example server when re-executed by a test as an upstream
// child (the go-sdk's own trick), and the tests otherwise.
func TestMain(m *testing.M) {
	// Re-executed as the upstream supervisor (see supervisorArgv).
	if len(os.Args) > 1 && os.Args[1] == "upstream-supervisor" {
		os.Exit(upstream.Supervise(os.Args[2:]))
	}
	if name := os.Getenv(envExample); name != "" {
		os.Exit(runChild(name))
	}
	// No goroutine may outlive the tests.
	goleak.VerifyTestMain(m)
}

func runChild(name string) int {
	if f := os.Getenv(envStartFile); f != "" {
		fh, err := os.OpenFile(f, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err == nil {
			fmt.Fprintln(fh, os.Getpid())
			fh.Close()
		}
	}
	if n, _ := strconv.Atoi(os.Getenv(envStderrLines)); n > 0 {
		w := bufio.NewWriter(os.Stderr)
		for i := range n {
			fmt.Fprintf(w, "line %d\n", i)
		}
		w.Flush()
	}
	if v := os.Getenv(envStderrVar); v != "" {
		fmt.Fprintf(os.Stderr, "token=%s\n", os.Getenv(v))
	}
	if code := os.Getenv(envExit); code != "" {
		c, _ := strconv.Atoi(code)
		return c
	}
	if os.Getenv(envHang) != "" {
		time.Sleep(time.Hour)
		return 0
	}
	if err := examples.Run(context.Background(), name, &mcp.StdioTransport{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// probeSpec returns a spec that runs the probe example as a child.
func probeSpec(name string, env map[string]string, args ...string) upstream.Spec {
	// A race-enabled child would otherwise sleep a second before exiting.
	e := map[string]string{envExample: "probe", "GORACE": "atexit_sleep_ms=0"}
	for k, v := range env {
		e[k] = v
	}
	return upstream.Spec{Name: name, Command: os.Args[0], Args: args, Env: e}
}

// logBuffer is a concurrency-safe log sink.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLogger(t *testing.T) (*zerolog.Logger, *logBuffer) {
	t.Helper()
	buf := &logBuffer{}
	l := zerolog.New(buf).Level(zerolog.DebugLevel)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pool log:\n%s", buf)
		}
	})
	return &l, buf
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// readPIDs returns the pids a child appended to its start file.
func readPIDs(t *testing.T, file string) []int {
	t.Helper()
	b, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("start file: %v", err)
		}
		pids = append(pids, pid)
	}
	return pids
}
