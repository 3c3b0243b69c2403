package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"secure-mcp-gateway/internal/config"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Starting a target and driving it with a client.

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
	stopGroup(in.cmd)
	os.RemoveAll(in.dir)
}

// stopGroup ends the process group cmd leads, if it started: SIGTERM
// first (so that a profiling gateway writes its profile), SIGKILL after 5 s.
func stopGroup(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
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

	var cpu0 time.Duration
	err = exercise(ctx, o, cs, t.tool, r, func() {
		r.RSSIdleMB = rssMB(pid)
		cpu0 = cpuTime(pid)
	}, func() {
		r.RSSAfterMB = rssMB(pid)
		r.CPUPerCall = us(cpuTime(pid)-cpu0) / float64(o.seq+o.conc)
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// exercise lists the tools twice (cold and warm), makes a first call (the
// gateway starts its upstream there), then o.seq sequential and o.conc
// concurrent calls of tool, and fills r's list and call figures. before
// runs after the first call, after once the last call is answered.
func exercise(ctx context.Context, o *options, cs *mcp.ClientSession, tool string, r *result, before, after func()) error {
	for i, dst := range []*float64{&r.ListColdMs, &r.ListWarmMs} {
		t0 := time.Now()
		res, err := cs.ListTools(ctx, nil)
		if err != nil {
			return fmt.Errorf("tools/list %d: %w", i, err)
		}
		*dst = ms(time.Since(t0))
		if !slices.ContainsFunc(res.Tools, func(x *mcp.Tool) bool { return x.Name == tool }) {
			return fmt.Errorf("tools/list lacks %s", tool)
		}
	}
	call := func() error { return callEcho(ctx, cs, tool) }
	if err := call(); err != nil {
		return fmt.Errorf("first call: %w", err)
	}
	before()
	seq, elapsed, err := drive(o.seq, 1, call)
	if err != nil {
		return err
	}
	r.SeqP50us, r.SeqP99us, r.SeqRate = us(pct(seq, 50)), us(pct(seq, 99)), float64(len(seq))/elapsed.Seconds()
	conc, elapsed, err := drive(o.conc, o.workers, call)
	if err != nil {
		return err
	}
	r.ConcP50us, r.ConcP99us, r.ConcRate = us(pct(conc, 50)), us(pct(conc, 99)), float64(len(conc))/elapsed.Seconds()
	after()
	return nil
}

// callEcho calls the echo tool once and checks that it echoed.
func callEcho(ctx context.Context, cs *mcp.ClientSession, tool string) error {
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: map[string]any{"message": message}})
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

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[max(0, min(i-1, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
