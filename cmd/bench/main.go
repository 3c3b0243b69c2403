// Command bench measures what the gateway costs a client, against the limit
// (the client talking to the upstream directly) and against the Node MCP
// proxies, all in one run on one machine.
//
// Every target fronts the same upstream, the gateway's bundled Go stdio echo
// server (`secure-mcp-gateway example-server echo`), and is driven by a
// go-sdk client and, as a client-neutral cross-check, by the reference
// TypeScript client (testdata/bench-node/client.mjs). For each target it
// records the time from process start to the initialize response, tools/list
// cold and warm, per-call latency and throughput sequentially and 8-way
// concurrently, and the serving process's RSS idle and after the calls. It
// prints a Markdown table of the medians over -runs runs with ratios to
// direct.
//
// Run from the module root: go run ./cmd/bench (or just bench).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/telemetry/otlptest"
)

// Default sizes of a run; flags override them.
const (
	DefaultRuns        = 3
	DefaultSeqCalls    = 5000
	DefaultConcCalls   = 5000
	DefaultConcurrency = 8
	DefaultTSCalls     = 2000
)

// protocolVersion is what every client asks for, so that no target
// negotiates a draft version the others do not speak.
const protocolVersion = "2025-11-25"

// message is the echo argument: a typical short tool argument.
const message = "benchmark payload of a typical size, about sixty bytes long"

func main() {
	var o options
	flag.IntVar(&o.runs, "runs", DefaultRuns, "runs per target; the table shows medians")
	flag.IntVar(&o.seq, "seq", DefaultSeqCalls, "sequential calls per run")
	flag.IntVar(&o.conc, "conc", DefaultConcCalls, "concurrent calls per run")
	flag.IntVar(&o.workers, "workers", DefaultConcurrency, "concurrent callers")
	flag.StringVar(&o.bin, "bin", "", "gateway binary (default: build one without -race into a temp dir)")
	flag.StringVar(&o.only, "only", "", "comma-separated target names to run (default: all)")
	flag.IntVar(&o.tsCalls, "ts-calls", DefaultTSCalls, "sequential and concurrent calls per run of the TypeScript client")
	flag.BoolVar(&o.ts, "ts", true, "also drive every target with the reference TypeScript client")
	flag.StringVar(&o.nodeDir, "node", "testdata/bench-node", "directory with the installed Node peers")
	flag.StringVar(&o.jsonOut, "json", "", "also write every run's raw figures to this file")
	flag.StringVar(&o.profileDir, "profile", "", "write CPU and heap profiles of gateway processes into this directory")
	flag.StringVar(&o.otlpProtocol, "otlp-protocol", "grpc", "how the +otlp targets export: grpc or http/protobuf")
	flag.Func("gateway-env", "KEY=VALUE added to the environment of gateway processes only (repeatable)", func(kv string) error {
		o.gatewayEnv = append(o.gatewayEnv, kv)
		return nil
	})
	flag.Parse()
	if err := run(context.Background(), &o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type options struct {
	runs, seq, conc, workers int
	tsCalls                  int
	bin, only, nodeDir       string
	jsonOut, profileDir      string
	gatewayEnv               []string
	otlpEnv                  []string // set when a target traces
	otlpProtocol             string
	ts                       bool
}

// result is one run of one client against one target.
type result struct {
	Target     string  `json:"target"`
	Client     string  `json:"client"`
	InitMs     float64 `json:"init_ms"`
	ListColdMs float64 `json:"list_cold_ms"`
	ListWarmMs float64 `json:"list_warm_ms"`
	SeqP50us   float64 `json:"seq_p50_us"`
	SeqP99us   float64 `json:"seq_p99_us"`
	SeqRate    float64 `json:"seq_calls_per_s"`
	ConcP50us  float64 `json:"conc_p50_us"`
	ConcP99us  float64 `json:"conc_p99_us"`
	ConcRate   float64 `json:"conc_calls_per_s"`
	RSSIdleMB  float64 `json:"rss_idle_mb"`
	RSSAfterMB float64 `json:"rss_after_mb"`
	// CPUPerCall is the serving process's user+system CPU time per call
	// over all the calls, in µs: less sensitive to a busy machine than
	// wall-clock figures.
	CPUPerCall float64 `json:"cpu_us_per_call"`
}

func run(ctx context.Context, o *options, out io.Writer) error {
	if o.bin == "" {
		dir, err := os.MkdirTemp("", "smg-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.bin = filepath.Join(dir, "secure-mcp-gateway")
		// Built as the README says: a static binary, without cgo.
		build := exec.Command("go", "build", "-o", o.bin, "secure-mcp-gateway")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("build gateway: %w\n%s", err, b)
		}
	}
	var err error
	if o.bin, err = filepath.Abs(o.bin); err != nil {
		return err
	}
	if o.nodeDir, err = filepath.Abs(o.nodeDir); err != nil {
		return err
	}
	targets := allTargets(o)
	if o.only != "" {
		keep := strings.Split(o.only, ",")
		targets = slices.DeleteFunc(targets, func(t *target) bool { return !slices.Contains(keep, t.name) })
	}
	if slices.ContainsFunc(targets, func(t *target) bool { return t.otlp }) {
		// A receiver that decodes every export and counts its spans, as a
		// collector's OTLP receiver does, in this process.
		col, err := otlptest.StartCounting()
		if err != nil {
			return fmt.Errorf("otlp receiver: %w", err)
		}
		defer func() {
			fmt.Fprintf(os.Stderr, "otlp receiver: %d spans\n", col.Counted())
			col.Close()
		}()
		o.otlpEnv = []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + col.GRPCAddr, "OTEL_EXPORTER_OTLP_INSECURE=true"}
		if o.otlpProtocol == "http/protobuf" {
			o.otlpEnv = []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + strings.TrimSuffix(col.HTTPURL, "/v1/traces"), "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf"}
		}
	}
	var all []result
	for i := range o.runs {
		for _, t := range targets {
			if t.node && !o.haveNode(t) {
				fmt.Fprintf(os.Stderr, "skip %s: not installed (npm ci in %s)\n", t.name, o.nodeDir)
				continue
			}
			r, err := measureGo(ctx, o, t, i)
			if err != nil {
				return fmt.Errorf("%s (go client): %w", t.name, err)
			}
			fmt.Fprintf(os.Stderr, "run %d %-14s go: %s\n", i+1, t.name, r.short())
			all = append(all, *r)
			if o.ts {
				r, err := measureTS(ctx, o, t, i)
				if err != nil {
					return fmt.Errorf("%s (ts client): %w", t.name, err)
				}
				fmt.Fprintf(os.Stderr, "run %d %-14s ts: %s\n", i+1, t.name, r.short())
				all = append(all, *r)
			}
		}
	}
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(all, "", "  ")
		if err := os.WriteFile(o.jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	writeTable(out, o, targets, all)
	return nil
}

func (r *result) short() string {
	return fmt.Sprintf("init %.1fms seq %.0f/s p50 %.0fµs p99 %.0fµs | %d-way %.0f/s | rss %.1f→%.1f MB | cpu %.0fµs/call",
		r.InitMs, r.SeqRate, r.SeqP50us, r.SeqP99us, DefaultConcurrency, r.ConcRate, r.RSSIdleMB, r.RSSAfterMB, r.CPUPerCall)
}

func (o *options) haveNode(t *target) bool {
	_, err := os.Stat(filepath.Join(o.nodeDir, "node_modules", "@modelcontextprotocol", "sdk"))
	if err != nil {
		return false
	}
	if len(t.argv) > 0 && strings.Contains(t.argv[0], "node_modules") {
		_, err = os.Stat(t.argv[0])
	}
	return err == nil
}

// target is one way of reaching the echo tool.
type target struct {
	name  string
	tool  string // the echo tool's name as this target exports it
	http  bool   // served over streamable HTTP; else the client spawns argv over stdio
	node  bool   // needs the Node peers
	guard bool   // gateway with guardrails on
	gw    bool   // the gateway itself (config and key needed)
	otlp  bool   // gateway tracing every call to the bench's own OTLP receiver
	argv  []string
}

func allTargets(o *options) []*target {
	echo := []string{o.bin, "example-server", "echo"}
	bin := filepath.Join(o.nodeDir, "node_modules", ".bin")
	return []*target{
		{name: "direct", tool: "echo", argv: echo},
		{name: "stdio", tool: "echo_server__echo", gw: true, argv: []string{o.bin}},
		{name: "stdio+guard", tool: "echo_server__echo", gw: true, guard: true, argv: []string{o.bin}},
		{name: "stdio+guard+otlp", tool: "echo_server__echo", gw: true, guard: true, otlp: true, argv: []string{o.bin}},
		{name: "http+guard", tool: "echo_server__echo", gw: true, guard: true, http: true, argv: []string{o.bin, "--http", "--listen", "127.0.0.1:0", "--rate-limit", "1000000", "--rate-burst", "1000000"}},
		{name: "mcp-proxy", tool: "echo", http: true, node: true,
			argv: append([]string{filepath.Join(bin, "mcp-proxy"), "--port", "PORT", "--host", "127.0.0.1", "--server", "stream", "--"}, echo...)},
		{name: "supergateway", tool: "echo", http: true, node: true,
			argv: []string{filepath.Join(bin, "supergateway"), "--stdio", strings.Join(echo, " "), "--outputTransport", "streamableHttp", "--port", "PORT", "--stateful", "--logLevel", "none"}},
	}
}

// instance is a prepared target: the command to start and, for the
// gateway, its config and key.
type instance struct {
	t        *target
	cmd      *exec.Cmd
	key      string
	url      string
	dir      string
	start    time.Time
	listenCh chan string // HTTP gateway: its endpoint, read from its log
}

// prepare writes a fresh config (so that the discovery cache is cold) and
// builds the command line.
func prepare(o *options, t *target, run int, client string) (*instance, error) {
	in := &instance{t: t}
	dir, err := os.MkdirTemp("", "smg-bench-run-")
	if err != nil {
		return nil, err
	}
	in.dir = dir
	argv := slices.Clone(t.argv)
	env := cleanEnv()
	if t.gw {
		path := filepath.Join(dir, "config.json")
		key, err := writeConfig(o.bin, path, t.guard)
		if err != nil {
			return nil, err
		}
		in.key = key
		env = append(env, o.gatewayEnv...)
		if t.otlp {
			env = append(env, o.otlpEnv...)
		}
		argv = append(argv[:1], append([]string{"--config", path, "--log-level", "info"}, argv[1:]...)...)
		if !t.http {
			env = append(env, "ENKRYPT_GATEWAY_KEY="+key)
		}
		if o.profileDir != "" {
			base := filepath.Join(o.profileDir, fmt.Sprintf("%s-%s-%d", t.name, client, run+1))
			env = append(env, "SECURE_MCP_GATEWAY_CPUPROFILE="+base+".cpu.pprof", "SECURE_MCP_GATEWAY_MEMPROFILE="+base+".heap.pprof")
		}
	}
	if t.http && !t.gw {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		for i, a := range argv {
			if a == "PORT" {
				argv[i] = strconv.Itoa(port)
			}
		}
		in.url = fmt.Sprintf("http://127.0.0.1:%d/mcp", port)
	}
	in.cmd = exec.Command(argv[0], argv[1:]...)
	in.cmd.Env = env
	in.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return in, nil
}

// launch starts an HTTP target and waits for its address.
func (in *instance) launch() error {
	in.start = time.Now()
	if in.t.gw {
		stderr, err := in.cmd.StderrPipe()
		if err != nil {
			return err
		}
		in.listenCh = make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				var line struct{ Message, Endpoint string }
				if json.Unmarshal(sc.Bytes(), &line) == nil && line.Message == "listening" {
					in.listenCh <- line.Endpoint
				}
			}
		}()
	}
	if err := in.cmd.Start(); err != nil {
		return err
	}
	if in.t.gw {
		select {
		case in.url = <-in.listenCh:
		case <-time.After(30 * time.Second):
			return errors.New("no listening line from the gateway")
		}
	}
	return nil
}

func (in *instance) stop() {
	if in.cmd != nil && in.cmd.Process != nil {
		// SIGTERM first so that a profiling gateway writes its profile.
		_ = syscall.Kill(-in.cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = in.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-in.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	os.RemoveAll(in.dir)
}

// writeConfig runs generate-config and, for guard, adds input and output
// policies blocking on every offline detector a client sees on every call.
func writeConfig(bin, path string, guard bool) (string, error) {
	out, err := exec.Command(bin, "--config", path, "generate-config").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("generate-config: %w\n%s", err, out)
	}
	lines := strings.Split(string(out), "\n")
	key := ""
	for i, l := range lines {
		if strings.HasPrefix(l, "Gateway key") && i+1 < len(lines) {
			key = strings.TrimSpace(lines[i+1])
		}
	}
	if key == "" {
		return "", fmt.Errorf("no key in generate-config output")
	}
	if !guard {
		return key, nil
	}
	cfg, err := config.Load(path)
	if err != nil {
		return "", err
	}
	block := []string{"pii", "secrets", "injection_attack", "hidden_text"}
	for _, mc := range cfg.MCPConfigs {
		for _, s := range mc.Servers {
			s.InputGuardrailsPolicy = &config.Policy{Enabled: true, Block: block}
			s.OutputGuardrailsPolicy = &config.Policy{Enabled: true, Block: block}
		}
	}
	return key, config.Save(path, cfg)
}

// measureGo drives one fresh instance of t with a go-sdk client.
func measureGo(ctx context.Context, o *options, t *target, run int) (*result, error) {
	in, err := prepare(o, t, run, "go")
	if err != nil {
		return nil, err
	}
	defer in.stop()
	r := &result{Target: t.name, Client: "go"}
	client := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil)
	copts := &mcp.ClientSessionOptions{ProtocolVersion: protocolVersion}
	var cs *mcp.ClientSession
	if t.http {
		if err := in.launch(); err != nil {
			return nil, err
		}
		hc := &http.Client{Transport: &headerTransport{key: in.key, rt: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}}
		deadline := in.start.Add(30 * time.Second)
		for {
			cs, err = client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: in.url, HTTPClient: hc, MaxRetries: -1}, copts)
			if err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(2 * time.Millisecond) // the server is still starting: poll
		}
	} else {
		in.start = time.Now()
		cs, err = client.Connect(ctx, &mcp.CommandTransport{Command: in.cmd, TerminateDuration: 5 * time.Second}, copts)
	}
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	r.InitMs = ms(time.Since(in.start))
	defer cs.Close()
	pid := in.cmd.Process.Pid

	for i, dst := range []*float64{&r.ListColdMs, &r.ListWarmMs} {
		t0 := time.Now()
		res, err := cs.ListTools(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("tools/list %d: %w", i, err)
		}
		*dst = ms(time.Since(t0))
		if !slices.ContainsFunc(res.Tools, func(x *mcp.Tool) bool { return x.Name == t.tool }) {
			return nil, fmt.Errorf("tools/list lacks %s", t.tool)
		}
	}
	call := func() error {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: t.tool, Arguments: map[string]any{"message": message}})
		if err != nil {
			return err
		}
		if res.IsError || len(res.Content) != 1 {
			return fmt.Errorf("tool error: %+v", res)
		}
		if tc, ok := res.Content[0].(*mcp.TextContent); !ok || tc.Text != message {
			return fmt.Errorf("unexpected result %+v", res.Content[0])
		}
		return nil
	}
	if err := call(); err != nil { // the gateway starts its upstream here
		return nil, fmt.Errorf("first call: %w", err)
	}
	r.RSSIdleMB = rssMB(pid)
	cpu0 := cpuTime(pid)
	seq, elapsed, err := drive(o.seq, 1, call)
	if err != nil {
		return nil, err
	}
	r.SeqP50us, r.SeqP99us, r.SeqRate = us(pct(seq, 50)), us(pct(seq, 99)), float64(len(seq))/elapsed.Seconds()
	conc, elapsed, err := drive(o.conc, o.workers, call)
	if err != nil {
		return nil, err
	}
	r.ConcP50us, r.ConcP99us, r.ConcRate = us(pct(conc, 50)), us(pct(conc, 99)), float64(len(conc))/elapsed.Seconds()
	r.RSSAfterMB = rssMB(pid)
	r.CPUPerCall = us(cpuTime(pid)-cpu0) / float64(o.seq+o.conc)
	return r, nil
}

// drive makes n calls from workers goroutines and returns each call's
// latency, sorted, and the wall time.
func drive(n, workers int, call func() error) ([]time.Duration, time.Duration, error) {
	lat := make([]time.Duration, n)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for i := range next {
				t0 := time.Now()
				if err := call(); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("call %d: %w", i, err)
					}
					mu.Unlock()
					return
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	return lat, elapsed, firstErr
}

// measureTS drives one fresh instance of t with the reference TypeScript
// client (testdata/bench-node/client.mjs).
func measureTS(ctx context.Context, o *options, t *target, run int) (*result, error) {
	in, err := prepare(o, t, run, "ts")
	if err != nil {
		return nil, err
	}
	defer in.stop()
	spec := map[string]any{"tool": t.tool, "message": message, "seq": o.tsCalls, "conc": o.tsCalls, "workers": o.workers, "protocolVersion": protocolVersion}
	if t.http {
		if err := in.launch(); err != nil {
			return nil, err
		}
		spec["url"] = in.url
		spec["headers"] = map[string]string{"apikey": in.key}
		spec["startedAt"] = float64(in.start.UnixNano()) / 1e6
	} else {
		spec["command"] = in.cmd.Path
		spec["args"] = in.cmd.Args[1:]
		spec["env"] = envMap(in.cmd.Env)
	}
	b, _ := json.Marshal(spec)
	node := exec.CommandContext(ctx, "node", "--no-warnings", filepath.Join(o.nodeDir, "client.mjs"), string(b))
	node.Stderr = os.Stderr
	out, err := node.Output()
	if err != nil {
		return nil, fmt.Errorf("client.mjs: %w", err)
	}
	r := &result{}
	if err := json.Unmarshal(out, r); err != nil {
		return nil, fmt.Errorf("client.mjs output %q: %w", out, err)
	}
	r.Target, r.Client = t.name, "ts"
	return r, nil
}

// headerTransport adds the gateway key to every request.
type headerTransport struct {
	key string
	rt  http.RoundTripper
}

func (h *headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if h.key != "" {
		req = req.Clone(req.Context())
		req.Header.Set("apikey", h.key)
	}
	return h.rt.RoundTrip(req)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// cleanEnv is this process's environment minus gateway settings.
func cleanEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "ENKRYPT_") || strings.HasPrefix(kv, "SECURE_MCP_GATEWAY_")
	})
}

func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// rssMB reads VmRSS of pid from /proc (Linux); 0 elsewhere.
func rssMB(pid int) float64 {
	if runtime.GOOS != "linux" {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// cpuTime reads the user+system CPU time of pid from /proc (Linux); 0
// elsewhere.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clockTicks
}

// clockTicks is USER_HZ, 100 on every Linux platform Go supports.
const clockTicks = 100

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[max(0, min(i-1, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
