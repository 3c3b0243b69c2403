package upstream_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/internal/secret"
	"secure-mcp-gateway/upstream"
)

// newPool returns a pool that the test closes, checking afterwards that no
// goroutine of the pool outlives Close.
func newPool(t *testing.T, specs []upstream.Spec, opts *upstream.Options) *upstream.Pool {
	t.Helper()
	before := runtime.NumGoroutine()
	p := upstream.NewPool(specs, opts)
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		waitFor(t, "the pool's goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
	})
	return p
}

func session(t *testing.T, p *upstream.Pool, name string) *mcp.ClientSession {
	t.Helper()
	cs, err := p.Session(t.Context(), name)
	if err != nil {
		t.Fatalf("Session(%s): %v", name, err)
	}
	return cs
}

// call calls a tool and decodes its structured content into out (if non-nil).
func call(t *testing.T, cs *mcp.ClientSession, tool string, args map[string]any, out any) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("call %s: %v", tool, err)
	}
	if res.IsError {
		t.Fatalf("call %s: tool error %+v", tool, res.Content)
	}
	if out != nil {
		b, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("call %s: decode %s: %v", tool, b, err)
		}
	}
	return res
}

func textOf(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

type pidOut struct {
	PID  int `json:"pid"`
	PGID int `json:"pgid"`
}

func TestNamesAndUnknown(t *testing.T) {
	p := newPool(t, []upstream.Spec{{Name: "b", Command: "x"}, {Name: "a", Command: "y"}, {Name: "b", Command: "dup"}}, nil)
	if diff := cmp.Diff([]string{"b", "a"}, p.Names()); diff != "" {
		t.Errorf("Names() mismatch (-want +got):\n%s", diff)
	}
	if _, err := p.Session(t.Context(), "nope"); !errors.Is(err, upstream.ErrUnknownServer) {
		t.Errorf("Session(nope) = %v, want ErrUnknownServer", err)
	}
	if got := p.Stderr("nope"); got != "" {
		t.Errorf("Stderr(nope) = %q, want empty", got)
	}
}

func TestLazySingleFlightStart(t *testing.T) {
	startFile := filepath.Join(t.TempDir(), "starts")
	log, _ := newLogger(t)
	p := newPool(t, []upstream.Spec{probeSpec("probe", map[string]string{envStartFile: startFile})},
		&upstream.Options{Logger: log})

	if n := upstream.Starts(p, "probe"); n != 0 {
		t.Fatalf("starts before Session = %d, want 0", n)
	}
	if pids := readPIDs(t, startFile); len(pids) != 0 {
		t.Fatalf("a child started before Session: %v", pids)
	}

	const n = 20
	sessions := make([]*mcp.ClientSession, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { sessions[i], errs[i] = p.Session(t.Context(), "probe") })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Session #%d: %v", i, errs[i])
		}
		if sessions[i] != sessions[0] {
			t.Errorf("Session #%d returned a different session", i)
		}
	}
	if got := upstream.Starts(p, "probe"); got != 1 {
		t.Errorf("starts = %d, want 1", got)
	}
	pids := readPIDs(t, startFile)
	var got pidOut
	call(t, sessions[0], "pid", nil, &got)
	if diff := cmp.Diff([]int{got.PID}, pids); diff != "" {
		t.Errorf("spawned pids mismatch (-want +got):\n%s", diff)
	}
	if runtime.GOOS != "windows" && got.PGID != got.PID {
		t.Errorf("child pgid = %d, want its own group %d", got.PGID, got.PID)
	}
}

func TestChildEnvironmentAndArgv(t *testing.T) {
	t.Setenv("ENKRYPT_GATEWAY_KEY", "gk-must-not-leak-0001")
	t.Setenv("UNRELATED_GATEWAY_VAR", "nope")
	t.Setenv("LC_UPSTREAM_TEST", "C")
	args := []string{"; echo pwned", "$(id)", "`uname`", "a b", "*", "|cat", "'\"", ""}
	p := newPool(t, []upstream.Spec{probeSpec("probe", map[string]string{"PROBE_DECLARED": "declared-value"}, args...)}, nil)
	cs := session(t, p, "probe")

	for name, want := range map[string]string{
		"ENKRYPT_GATEWAY_KEY":   "unset",
		"UNRELATED_GATEWAY_VAR": "unset",
		"LC_UPSTREAM_TEST":      "set",
		"PROBE_DECLARED":        "declared-value",
	} {
		if got := textOf(call(t, cs, "env", map[string]any{"name": name}, nil)); got != want {
			t.Errorf("child env %s: got %q, want %q", name, got, want)
		}
	}

	var names struct{ Names []string }
	call(t, cs, "env_names", nil, &names)
	allowed := []string{"PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TMPDIR", "TEMP", "TMP",
		"PROBE_DECLARED", envExample, "GORACE"}
	for _, n := range names.Names {
		if !slices.Contains(allowed, n) && !strings.HasPrefix(n, "LC_") {
			t.Errorf("child has variable %s, which is neither declared nor in the base", n)
		}
	}

	var argv struct{ Argv []string }
	call(t, cs, "argv", nil, &argv)
	if len(argv.Argv) == 0 {
		t.Fatal("empty argv")
	}
	if diff := cmp.Diff(args, argv.Argv[1:]); diff != "" {
		t.Errorf("child argv mismatch (-want +got):\n%s", diff)
	}
}

func TestCrashFailsInFlightCallsAndNextCallRestarts(t *testing.T) {
	inFlight := make(chan struct{}, 1)
	log, logs := newLogger(t)
	var evMu sync.Mutex
	events := map[string]int{}
	p := newPool(t, []upstream.Spec{probeSpec("probe", nil)}, &upstream.Options{
		Logger: log,
		OnEvent: func(ev upstream.Event) {
			evMu.Lock()
			defer evMu.Unlock()
			events[ev.Server+" "+ev.Kind]++
		},
		MinBackoff: time.Hour, // a crash loop would make the restart below wait
		MaxBackoff: time.Hour,
		ClientOptions: func(string) *mcp.ClientOptions {
			return &mcp.ClientOptions{ProgressNotificationHandler: func(context.Context, *mcp.ProgressNotificationClientRequest) {
				select {
				case inFlight <- struct{}{}:
				default:
				}
			}}
		},
	})

	cs := session(t, p, "probe")
	var first pidOut
	call(t, cs, "pid", nil, &first)

	sleepErr := make(chan error, 1)
	go func() {
		params := &mcp.CallToolParams{Name: "sleep", Arguments: map[string]any{"ms": 600_000}}
		params.SetProgressToken("sleep")
		_, err := cs.CallTool(t.Context(), params)
		sleepErr <- err
	}()
	<-inFlight // the sleep is running in the child

	if _, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "crash", Arguments: map[string]any{"code": 3}}); err == nil {
		t.Fatal("crash call succeeded")
	}
	err := <-sleepErr // would hang for 10 minutes if in-flight calls were not failed
	if !errors.Is(err, io.EOF) && !errors.Is(err, mcp.ErrConnectionClosed) {
		t.Errorf("in-flight call on the crashed child: %v, want EOF or ErrConnectionClosed", err)
	}
	if _, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "pid"}); !errors.Is(err, mcp.ErrConnectionClosed) {
		t.Errorf("new call on the dead session: %v, want ErrConnectionClosed", err)
	}

	// The next Session call restarts the server at once: no backoff after a
	// single crash, and never the dead session.
	cs2 := session(t, p, "probe")
	if cs2 == cs {
		t.Fatal("Session after the crash returned the dead session")
	}
	var second pidOut
	call(t, cs2, "pid", nil, &second)
	if second.PID == first.PID {
		t.Errorf("restarted child has the old pid %d", first.PID)
	}
	if n := upstream.Starts(p, "probe"); n != 2 {
		t.Errorf("starts after one crash = %d, want 2", n)
	}
	if l := logs.String(); !strings.Contains(l, "upstream session ended unexpectedly") || !strings.Contains(l, "exit status 3") {
		t.Errorf("crash not logged with its exit status:\n%s", l)
	}
	// OnEvent saw both starts and the exit (which is told after the child
	// is reaped, so it may come after the restart).
	want := map[string]int{"probe " + upstream.EventStarted: 2, "probe " + upstream.EventExited: 1}
	waitFor(t, "start and exit events", func() bool {
		evMu.Lock()
		defer evMu.Unlock()
		return maps.Equal(events, want)
	})
}

// crashLoop makes the probe server exit three times (each restart is
// immediate) and returns the pool, now in a crash loop.
func crashLoop(t *testing.T, opts *upstream.Options) *upstream.Pool {
	t.Helper()
	p := newPool(t, []upstream.Spec{probeSpec("probe", map[string]string{envStderrVar: "SECRET_TOKEN", "SECRET_TOKEN": "hunter2-secret"})}, opts)
	for range 3 {
		cs := session(t, p, "probe")
		call(t, cs, "pid", nil, nil)
		if _, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "crash", Arguments: map[string]any{"code": 3}}); err == nil {
			t.Fatal("crash call succeeded")
		}
	}
	return p
}

func TestCrashLoopWaitsForTheRestartWithinTheBudget(t *testing.T) {
	p := crashLoop(t, &upstream.Options{MinBackoff: 200 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	// The backoff is shorter than the budget: the call waits and gets a
	// restarted server rather than an error.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cs, err := p.Session(ctx, "probe")
	if err != nil {
		t.Fatalf("Session during a short backoff: %v", err)
	}
	call(t, cs, "pid", nil, nil)
	if n := upstream.Starts(p, "probe"); n != 4 {
		t.Errorf("starts = %d, want 4", n)
	}
}

func TestCrashLoopBeyondTheBudgetFailsAtOnceWithTheExits(t *testing.T) {
	p := crashLoop(t, &upstream.Options{MinBackoff: time.Hour, MaxBackoff: time.Hour})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	_, err := p.Session(ctx, "probe")
	var ue *upstream.UnavailableError
	if !errors.As(err, &ue) {
		t.Fatalf("Session in a crash loop = %v, want *UnavailableError", err)
	}
	if ue.Server != "probe" || ue.Exits != 3 || ue.Status != "exit status 3" {
		t.Errorf("error = %+v, want server probe, 3 exits, exit status 3", ue)
	}
	msg := err.Error()
	for _, want := range []string{`"probe"`, "exited 3 times", "exit status 3", "token=" + secret.Masked} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "hunter2") {
		t.Errorf("error leaks the secret: %q", msg)
	}
	if ctx.Err() != nil {
		t.Error("Session waited out the budget instead of failing at once")
	}
	if n := upstream.Starts(p, "probe"); n != 3 {
		t.Errorf("starts = %d, want 3", n)
	}
}

func TestStartFailures(t *testing.T) {
	log, logs := newLogger(t)
	p := newPool(t, []upstream.Spec{
		{Name: "missing", Command: "definitely-not-a-command-4f2a"},
		probeSpec("exits", map[string]string{envExit: "5", envStderrLines: "3"}),
		{Name: "neither"},
		probeSpec("probe", nil),
	}, &upstream.Options{Logger: log, MinBackoff: time.Hour, MaxBackoff: time.Hour})

	_, err := p.Session(t.Context(), "missing")
	var ue *upstream.UnavailableError
	if !errors.As(err, &ue) || ue.Server != "missing" || !errors.Is(err, exec.ErrNotFound) {
		t.Fatalf("Session(missing) = %v, want *UnavailableError wrapping exec.ErrNotFound", err)
	}
	want := `upstream "missing" unavailable: exec: "definitely-not-a-command-4f2a": executable file not found in $PATH`
	if err.Error() != want {
		t.Errorf("error text:\n got %s\nwant %s", err, want)
	}
	if _, err := p.Session(t.Context(), "missing"); !errors.As(err, &ue) {
		t.Errorf("second Session(missing) = %v, want *UnavailableError", err)
	}
	if n := upstream.Starts(p, "missing"); n != 1 {
		t.Errorf("starts of missing = %d, want 1 (backoff)", n)
	}

	// A child that exits on start is retried until it makes a crash loop;
	// the error names the exits, the status and the stderr tail.
	_, err = p.Session(t.Context(), "exits")
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "initialize") {
		t.Errorf("Session(exits) = %v, want *UnavailableError about initialize", err)
	} else if ue.Exits != 3 || ue.Status != "exit status 5" || !strings.Contains(ue.Stderr, "line 2") {
		t.Errorf("Session(exits) = %+v, want 3 exits, exit status 5 and the stderr tail", ue)
	}
	if n := upstream.Starts(p, "exits"); n != 3 {
		t.Errorf("starts of exits = %d, want 3 (then backoff)", n)
	}
	if l := logs.String(); !strings.Contains(l, "upstream failed to start") || !strings.Contains(l, `line 2`) {
		t.Errorf("start failure not logged with the stderr tail:\n%s", l)
	}

	if _, err := p.Session(t.Context(), "neither"); !errors.As(err, &ue) {
		t.Errorf("Session(neither) = %v, want *UnavailableError", err)
	}

	cs := session(t, p, "probe") // one failing server does not affect another
	call(t, cs, "pid", nil, nil)
}

func TestInitializeTimeoutKillsChild(t *testing.T) {
	startFile := filepath.Join(t.TempDir(), "starts")
	p := newPool(t, []upstream.Spec{probeSpec("hang", map[string]string{envHang: "1", envStartFile: startFile})},
		&upstream.Options{ConnectTimeout: 2 * time.Second, MinBackoff: time.Hour, MaxBackoff: time.Hour})

	gone, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := p.Session(gone, "hang")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Session with a cancelled ctx = %v, want context.Canceled", err)
	}

	_, err = p.Session(t.Context(), "hang") // joins the start the first caller began
	var ue *upstream.UnavailableError
	if !errors.As(err, &ue) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Session(hang) = %v, want *UnavailableError wrapping DeadlineExceeded", err)
	}
	if n := upstream.Starts(p, "hang"); n != 1 {
		t.Errorf("starts = %d, want 1", n)
	}
	pids := readPIDs(t, startFile)
	if len(pids) != 1 {
		t.Fatalf("pids = %v, want one", pids)
	}
	waitFor(t, "the hung child to be killed", func() bool { return !alive(pids[0]) })
}

func TestStderrTailIsBoundedAndRedacted(t *testing.T) {
	const secretValue = "tok-3f9a8c7e-very-secret"
	log, logs := newLogger(t)
	p := newPool(t, []upstream.Spec{probeSpec("probe", map[string]string{
		"API_TOKEN":    secretValue,
		envStderrLines: "200",
		envStderrVar:   "API_TOKEN",
	})}, &upstream.Options{Logger: log, StderrBytes: 256})
	session(t, p, "probe")

	waitFor(t, "the token line on stderr", func() bool { return strings.Contains(p.Stderr("probe"), "token=") })
	got := p.Stderr("probe")
	if strings.Contains(got, secretValue) {
		t.Errorf("stderr tail holds the secret: %q", got)
	}
	if !strings.Contains(got, "token="+secret.Masked) || !strings.Contains(got, "line 199\n") {
		t.Errorf("stderr tail lacks the last lines: %q", got)
	}
	if len(got) > 256 || strings.Contains(got, "line 0\n") || !strings.HasPrefix(got, "line ") {
		t.Errorf("stderr tail not bounded to whole lines within 256 bytes: %d bytes %q", len(got), got)
	}
	if strings.Contains(logs.String(), secretValue) {
		t.Error("the log holds the secret")
	}
}

func TestHTTPUpstream(t *testing.T) {
	const key = "hdr-secret-value-77"
	srv := mcp.NewServer(&mcp.Implementation{Name: "remote", Version: "v1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "hello"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "hi"}}}, nil, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != key {
			http.Error(w, "no key", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)

	p := upstream.NewPool([]upstream.Spec{
		{Name: "remote", URL: ts.URL, Headers: map[string]string{"X-Api-Key": key}},
		{Name: "nokey", URL: ts.URL},
	}, nil)
	t.Cleanup(func() { _ = p.Close() })
	if got := textOf(call(t, session(t, p, "remote"), "hello", nil, nil)); got != "hi" {
		t.Errorf("hello = %q, want hi", got)
	}
	var ue *upstream.UnavailableError
	if _, err := p.Session(t.Context(), "nokey"); !errors.As(err, &ue) {
		t.Errorf("Session(nokey) = %v, want *UnavailableError", err)
	}
}

func TestCloseIsIdempotentAndFinal(t *testing.T) {
	p := upstream.NewPool([]upstream.Spec{probeSpec("probe", nil)}, nil)
	session(t, p, "probe")
	if err := p.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := p.Session(t.Context(), "probe"); !errors.Is(err, upstream.ErrClosed) {
		t.Errorf("Session after Close = %v, want ErrClosed", err)
	}
}

// BenchmarkRestartAfterCrash measures restart-to-first-success: from the
// moment a crash is seen by the caller (its call failed) to the answer of
// the next call, which restarts the server. Each iteration crashes the
// child once; the crash-loop window is shrunk so that the restarts never
// back off.
func BenchmarkRestartAfterCrash(b *testing.B) {
	p := upstream.NewPool([]upstream.Spec{probeSpec("probe", nil)}, &upstream.Options{CrashLoopExits: 1 << 30})
	defer p.Close()
	ctx := context.Background()
	cs, err := p.Session(ctx, "probe")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		b.StopTimer()
		if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "crash", Arguments: map[string]any{"code": 3}}); err == nil {
			b.Fatal("crash call succeeded")
		}
		b.StartTimer()
		cs, err = p.Session(ctx, "probe")
		if err != nil {
			b.Fatal(err)
		}
		if res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "pid"}); err != nil || res.IsError {
			b.Fatalf("first call after the crash: %v", err)
		}
	}
}
