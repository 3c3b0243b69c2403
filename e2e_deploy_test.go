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
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// haproxyConfig is the shipped HAProxy config; its addresses are
// environment variables, so the tests run the file as is.
const haproxyConfig = "deploy/haproxy/haproxy.cfg"

// requireHAProxy returns the haproxy binary. Without it the test skips
// locally but fails in CI, so CI never passes by skipping.
func requireHAProxy(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("haproxy is not installed in CI (.ci/run installs Debian's haproxy)")
		}
		t.Skip("haproxy is not installed (apt-get install haproxy)")
	}
	return bin
}

// haproxyProc is HAProxy running the shipped config in front of gateways.
type haproxyProc struct {
	url    string // the /mcp endpoint through the balancer
	sock   string // the runtime API socket
	output *syncBuffer
}

// startHAProxy runs deploy/haproxy/haproxy.cfg with the gateways' addresses
// (host:port, in server order gw1, gw2) and waits until it forwards.
func startHAProxy(t *testing.T, gateways ...string) *haproxyProc {
	t.Helper()
	bin := requireHAProxy(t)
	if len(gateways) != 2 {
		t.Fatalf("the shipped config has two server lines, got %d gateways", len(gateways))
	}
	// A unix socket path must stay short: no test name in it.
	dir, err := os.MkdirTemp("", "smg-haproxy-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bind := freeLoopbackAddr(t)
	p := &haproxyProc{url: "http://" + bind + "/mcp", sock: filepath.Join(dir, "admin.sock"), output: &syncBuffer{}}
	cmd := exec.Command(bin, "-db", "-f", haproxyConfig)
	cmd.Env = append(cleanEnv(),
		"HAPROXY_BIND="+bind,
		"HAPROXY_STATS_SOCKET="+p.sock,
		"GATEWAY_1="+gateways[0],
		"GATEWAY_2="+gateways[1],
	)
	cmd.Stdout, cmd.Stderr = p.output, p.output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		<-exited
		if t.Failed() {
			t.Logf("haproxy output:\n%s", p.output)
		}
	})
	waitFor(t, 20*time.Second, "haproxy to forward /healthz", func() bool {
		select {
		case <-exited:
			t.Fatalf("haproxy exited:\n%s", p.output)
		default:
		}
		resp, err := http.Get("http://" + bind + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

// freeLoopbackAddr returns a 127.0.0.1 address with a port free right now.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// runtimeAPI sends one command to HAProxy's runtime API and returns the
// answer.
func (p *haproxyProc) runtimeAPI(t *testing.T, command string) string {
	t.Helper()
	c, err := net.Dial("unix", p.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := fmt.Fprintln(c, command); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	return b.String()
}

// serverStates returns each gateway server's status (UP, DOWN, ...) and
// last health check result (L7OK: /readyz answered 200) from "show stat".
func (p *haproxyProc) serverStates(t *testing.T) map[string][2]string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(p.runtimeAPI(t, "show stat")), "\n")
	if len(lines) == 0 {
		t.Fatal("show stat answered nothing")
	}
	cols := strings.Split(strings.TrimPrefix(lines[0], "# "), ",")
	col := func(name string) int {
		i := slices.Index(cols, name)
		if i < 0 {
			t.Fatalf("show stat has no %s column: %s", name, lines[0])
		}
		return i
	}
	px, sv, status, check := col("pxname"), col("svname"), col("status"), col("check_status")
	out := map[string][2]string{}
	for _, line := range lines[1:] {
		f := strings.Split(line, ",")
		if len(f) > check && f[px] == "gateways" && strings.HasPrefix(f[sv], "gw") {
			out[f[sv]] = [2]string{f[status], f[check]}
		}
	}
	return out
}

// stickEntry matches a line of "show table": the session id and the
// server (1 is gw1) it is pinned to.
var stickEntry = regexp.MustCompile(`key=(\S+) .*server_id=(\d+)`)

// pinned returns the session ids in the balancer's stick table and the
// server id each is pinned to.
func (p *haproxyProc) pinned(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, line := range strings.Split(p.runtimeAPI(t, "show table gateways"), "\n") {
		if m := stickEntry.FindStringSubmatch(line); m != nil {
			out[m[1]] = m[2]
		}
	}
	return out
}

// statusRecorder counts, for one client, every HTTP answer it got through
// the balancer: 404s for a session id, and anything else that is not 2xx.
type statusRecorder struct {
	base http.RoundTripper
	h    http.Header

	mu       sync.Mutex
	notFound map[string]int // session id → 404 answers
	other    []string       // non-2xx answers other than a session's 404
}

func newStatusRecorder(h http.Header) *statusRecorder {
	return &statusRecorder{base: http.DefaultTransport.(*http.Transport).Clone(), h: h, notFound: map[string]int{}}
}

func (r *statusRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	for k, v := range r.h {
		req.Header[k] = v
	}
	resp, err := r.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	sid := req.Header.Get("Mcp-Session-Id")
	switch {
	case resp.StatusCode == http.StatusNotFound && sid != "":
		r.notFound[sid]++
	case resp.StatusCode >= 300 && sid == "" && isDiscover(req):
		// The go-sdk client's stateless probe before initialize, which
		// a server of older specs refuses: not an error.
	case resp.StatusCode >= 300:
		r.other = append(r.other, fmt.Sprintf("%s %s (session %q): %s", req.Method, req.URL.Path, sid, resp.Status))
	}
	return resp, nil
}

// isDiscover reports whether req is a server/discover request (the
// 2026-07-28 probe).
func isDiscover(req *http.Request) bool {
	if req.GetBody == nil {
		return false
	}
	body, err := req.GetBody()
	if err != nil {
		return false
	}
	defer body.Close()
	var msg struct {
		Method string `json:"method"`
	}
	return json.NewDecoder(body).Decode(&msg) == nil && msg.Method == "server/discover"
}

// balancedClient is one MCP client behind the balancer: it initializes,
// lists and calls, and on the spec's 404 for its session it initializes
// again and goes on.
type balancedClient struct {
	id       int
	rec      *statusRecorder
	sessions []string // every session id it held, in order
	errs     []error  // call errors other than the session's 404
	missing  int      // calls answered "session not found"
	calls    int      // calls answered correctly
	resent   int      // calls refused as resent (in flight at the kill)
	early    bool     // stopped before its first calls
}

func (c *balancedClient) connect(ctx context.Context, url string) (*mcp.ClientSession, error) {
	client := mcp.NewClient(&mcp.Implementation{Name: "e2e-balanced-" + itoa(c.id), Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: c.rec}}, legacySession)
	if err != nil {
		return nil, err
	}
	c.sessions = append(c.sessions, cs.ID())
	return cs, nil
}

// TestE2EHAProxySessionAffinity runs the shipped HAProxy config in front of
// two gateway replicas: 16 concurrent go-sdk clients initialize, list and
// call through it, each session pinned to the replica that created it (a
// request on the wrong replica would be answered 404). One replica is then
// killed with SIGKILL while the clients call: its clients get the spec's
// 404 for their session, initialize again on the other replica and finish;
// the other replica's clients see no error at all. First, 16 concurrent
// TypeScript SDK clients go through the same balancer, each initializing,
// listing and calling twice.
func TestE2EHAProxySessionAffinity(t *testing.T) {
	requireHAProxy(t)
	f := newFixture(t, exampleServer("echo_server", "echo", nil))
	// One key for every client: the per-key caps are per replica, and
	// the survivor takes every session after the kill.
	flags := []string{"--max-sessions-per-key", "64", "--rate-limit", "10000", "--rate-burst", "10000"}
	replicas := []*httpGatewayProc{startHTTP(t, f, flags...), startHTTP(t, f, flags...)}
	lb := startHAProxy(t, strings.TrimPrefix(replicas[0].base, "http://"), strings.TrimPrefix(replicas[1].base, "http://"))
	h := http.Header{"Apikey": {f.key}}

	t.Run("typescript clients", func(t *testing.T) {
		dir := requireNodePeers(t)
		var wg sync.WaitGroup
		outs := make([]string, 16)
		for i := range outs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				msg := "ts through haproxy " + itoa(i)
				scenario, _ := json.Marshal(map[string]any{
					"url":     lb.url,
					"headers": map[string]string{"apikey": f.key},
					"steps": []map[string]any{
						{"op": "list"},
						{"op": "call", "name": "echo_server__echo", "arguments": map[string]any{"message": msg}},
						{"op": "call", "name": "echo_server__echo", "arguments": map[string]any{"message": msg}},
					},
				})
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				out, err := exec.CommandContext(ctx, "node", filepath.Join(dir, "client.mjs"), string(scenario)).CombinedOutput()
				if err != nil {
					outs[i] = fmt.Sprintf("error %v: %s", err, out)
					return
				}
				outs[i] = string(out)
			}()
		}
		wg.Wait()
		for i, out := range outs {
			var r tsResult
			if err := json.Unmarshal([]byte(out), &r); err != nil || r.Error != "" || strings.Count(out, "ts through haproxy "+itoa(i)) < 2 {
				t.Errorf("ts client %d: %s", i, out)
			}
		}
	})

	killReplicaUnderClients(t, lb, replicas, h, false)
}

// TestE2EHAProxySessionsOutliveReplica is the kill of
// TestE2EHAProxySessionAffinity with the replicas sharing a real
// redis-server: the killed replica's clients go on in their own sessions,
// which the survivor re-creates, with no 404 and no error; a call in flight
// at the kill that the balancer resends is refused as possibly run, never
// run twice.
func TestE2EHAProxySessionsOutliveReplica(t *testing.T) {
	requireHAProxy(t)
	t.Parallel()
	const password = "haproxy-resume-pw"
	port, _ := startRedisServer(t, password)
	f := newFixture(t, exampleServer("echo_server", "echo", nil))
	f.useRedis(t, port, password)
	flags := []string{"--max-sessions-per-key", "64", "--rate-limit", "10000", "--rate-burst", "10000"}
	replicas := []*httpGatewayProc{startHTTP(t, f, flags...), startHTTP(t, f, flags...)}
	lb := startHAProxy(t, strings.TrimPrefix(replicas[0].base, "http://"), strings.TrimPrefix(replicas[1].base, "http://"))
	killReplicaUnderClients(t, lb, replicas, http.Header{"Apikey": {f.key}}, true)
	m := metricsOf(t, replicas[1])
	if strings.Contains(m, "smg_sessions_resumed_total 0\n") || !strings.Contains(m, "smg_sessions_resumed_total") {
		t.Errorf("the survivor re-created no session:\n%s", grepLines(m, "resumed"))
	}
}

// killReplicaUnderClients runs 16 go-sdk clients through lb, kills the
// first replica with SIGKILL once every client is mid-run, and checks what
// each client saw. With resume (the replicas share Redis) the killed
// replica's clients keep their sessions; without, they get the spec's 404
// and initialize again. The other replica's clients never see an error.
func killReplicaUnderClients(t *testing.T, lb *haproxyProc, replicas []*httpGatewayProc, h http.Header, resume bool) {
	t.Helper()
	const clients, before, after = 16, 2, 3
	killed := make(chan struct{})
	var warmedUp atomic.Int32
	cl := make([]*balancedClient, clients)
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	for i := range cl {
		c := &balancedClient{id: i, rec: newStatusRecorder(h)}
		cl[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if c.calls < before {
					c.early = true
					warmedUp.Add(1) // gone before warming up: hold no one
				}
			}()
			cs, err := c.connect(ctx, lb.url)
			if err != nil {
				c.errs = append(c.errs, fmt.Errorf("initialize: %w", err))
				return
			}
			defer func() {
				if cs != nil {
					cs.Close()
				}
			}()
			tools, err := cs.ListTools(ctx, nil)
			if err != nil || !slices.ContainsFunc(tools.Tools, func(t *mcp.Tool) bool { return t.Name == "echo_server__echo" }) {
				c.errs = append(c.errs, fmt.Errorf("tools/list = %v, %v", tools, err))
				return
			}
			// Call until `after` calls sent after the kill succeeded,
			// `before` of them at least before it.
			for n, afterKill := 0, 0; afterKill < after; n++ {
				wasKilled := isClosed(killed)
				msg := fmt.Sprintf("client %d call %d", c.id, n)
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo_server__echo", Arguments: map[string]any{"message": msg}})
				switch {
				case errors.Is(err, mcp.ErrSessionMissing):
					// The spec's 404: start a new session and go on.
					c.missing++
					cs.Close()
					if cs, err = c.connect(ctx, lb.url); err != nil {
						c.errs = append(c.errs, fmt.Errorf("initialize again: %w", err))
						return
					}
				case err != nil:
					// Any other error fails the test: a few show why.
					c.errs = append(c.errs, fmt.Errorf("call %d: %w", n, err))
					if ctx.Err() != nil || len(c.errs) == 3 {
						return
					}
				case res.IsError && strings.Contains(resultText(res), "may already have run"):
					// In flight at the kill and resent by the
					// balancer: refused, not run twice.
					c.resent++
				case resultText(res) != msg:
					c.errs = append(c.errs, fmt.Errorf("call %d answered %q", n, resultText(res)))
				default:
					c.calls++
					if wasKilled {
						afterKill++
					}
					if c.calls == before {
						warmedUp.Add(1)
					}
				}
				// A client ahead waits until every client has a session
				// and calls behind it, so that the kill finds each of
				// them mid-run.
				if c.calls >= before && !wasKilled {
					waitClosedOr(ctx, killed, func() bool { return warmedUp.Load() == clients })
				}
			}
		}()
	}

	// Both replicas pass the balancer's /readyz check.
	waitFor(t, 20*time.Second, "both replicas to pass the /readyz check", func() bool {
		st := lb.serverStates(t)
		return st["gw1"] == [2]string{"UP", "L7OK"} && st["gw2"] == [2]string{"UP", "L7OK"}
	})
	// Every client has a session pinned in the balancer, on both replicas.
	waitFor(t, 60*time.Second, "every client to be mid-run", func() bool { return warmedUp.Load() == clients })
	for _, c := range cl {
		if c.early {
			close(killed)
			wg.Wait()
			t.Fatalf("client %d stopped before the kill: %v", c.id, c.errs)
		}
	}
	pins := lb.pinned(t)
	onReplica := map[string][]*balancedClient{}
	for _, c := range cl {
		server, ok := pins[c.sessions[0]]
		if !ok {
			t.Fatalf("client %d: session %s is not in the stick table:\n%s", c.id, c.sessions[0], lb.runtimeAPI(t, "show table gateways"))
		}
		onReplica[server] = append(onReplica[server], c)
	}
	if len(onReplica["1"]) == 0 || len(onReplica["2"]) == 0 {
		t.Fatalf("sessions per replica: gw1 %d, gw2 %d; the balancer should spread them", len(onReplica["1"]), len(onReplica["2"]))
	}

	victim := replicas[0]
	if err := victim.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	victim.cmd.Wait()
	close(killed)
	wg.Wait()
	// The health check takes the dead replica out.
	waitFor(t, 20*time.Second, "the balancer to mark the killed replica down", func() bool {
		st := lb.serverStates(t)
		return st["gw1"][0] == "DOWN" && st["gw2"][0] == "UP"
	})

	for _, c := range onReplica["1"] {
		if resume {
			if len(c.errs) > 0 || c.missing > 0 || len(c.sessions) != 1 || len(c.rec.notFound) > 0 || len(c.rec.other) > 0 {
				t.Errorf("client %d (killed replica, sessions in Redis): errs %v, session-missing %d, sessions %v, 404s %v, other %v; want its session to go on",
					c.id, c.errs, c.missing, c.sessions, c.rec.notFound, c.rec.other)
			}
			continue
		}
		if len(c.errs) > 0 {
			t.Errorf("client %d (killed replica): errors other than the session's 404: %v", c.id, c.errs)
		}
		if c.missing == 0 || len(c.sessions) < 2 {
			t.Errorf("client %d (killed replica): %d session-missing answers, sessions %v; want a 404 and a new session", c.id, c.missing, c.sessions)
		}
		if c.rec.notFound[c.sessions[0]] == 0 {
			t.Errorf("client %d (killed replica): no HTTP 404 for its session %s", c.id, c.sessions[0])
		}
		if len(c.rec.other) > 0 {
			t.Errorf("client %d (killed replica): answers other than 2xx and the 404: %v", c.id, c.rec.other)
		}
	}
	for _, c := range onReplica["2"] {
		if len(c.errs) > 0 || c.missing > 0 || c.resent > 0 || len(c.sessions) != 1 || len(c.rec.notFound) > 0 || len(c.rec.other) > 0 {
			t.Errorf("client %d (surviving replica) saw an error: errs %v, session-missing %d, sessions %v, 404s %v, other %v",
				c.id, c.errs, c.missing, c.sessions, c.rec.notFound, c.rec.other)
		}
	}
	resent := 0
	for _, c := range cl {
		resent += c.resent
	}
	t.Logf("clients on the killed replica: %d; calls refused as resent: %d", len(onReplica["1"]), resent)
	// Without Redis the new sessions are pinned to the survivor.
	pins = lb.pinned(t)
	for _, c := range onReplica["1"] {
		if last := c.sessions[len(c.sessions)-1]; !resume && pins[last] != "2" {
			t.Errorf("client %d: new session %s pinned to server %q, want 2", c.id, last, pins[last])
		}
	}
	if t.Failed() {
		t.Logf("survivor stderr:\n%s", replicas[1].stderr)
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// waitClosedOr polls until ch is closed, cond holds or ctx ends.
func waitClosedOr(ctx context.Context, ch <-chan struct{}, cond func() bool) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ch:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// TestDockerfile reads the top-level Dockerfile: a build stage that makes
// a static binary, and a final stage that runs it as a numeric non-root
// user with an exec-form entrypoint.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var stages [][]string // instructions per stage, continuation lines joined
	var cur strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if s, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		inst := cur.String()
		cur.Reset()
		if strings.HasPrefix(inst, "FROM ") {
			stages = append(stages, nil)
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], inst)
		}
	}
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a build stage and a runtime stage", len(stages))
	}
	build, final := strings.Join(stages[0], "\n"), stages[len(stages)-1]
	if !regexp.MustCompile(`CGO_ENABLED=0 go build\b`).MatchString(build) {
		t.Error("the build stage does not build with CGO_ENABLED=0 (a static binary)")
	}
	var user, entrypoint string
	for _, inst := range final {
		if u, ok := strings.CutPrefix(inst, "USER "); ok {
			user = u
		}
		if e, ok := strings.CutPrefix(inst, "ENTRYPOINT "); ok {
			entrypoint = e
		}
	}
	if !regexp.MustCompile(`^[1-9][0-9]*(:[1-9][0-9]*)?$`).MatchString(user) {
		t.Errorf("final USER %q: want a numeric non-root user (runAsNonRoot checks need a number)", user)
	}
	var argv []string
	if json.Unmarshal([]byte(entrypoint), &argv) != nil || len(argv) == 0 {
		t.Errorf("ENTRYPOINT %q is not in exec form: SIGTERM would reach a shell, not the gateway", entrypoint)
	}
}

// TestDockerImage builds the image and runs it with a read-only root
// filesystem where a Docker daemon answers (not on CI).
func TestDockerImage(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker is not installed")
	}
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		t.Skipf("no Docker daemon answers (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	tag := fmt.Sprintf("secure-mcp-gateway-test:%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "build", "-t", tag, ".").CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "image", "rm", "-f", tag).Run() })
	out, err := exec.Command("docker", "image", "inspect", "--format", "{{.Config.User}}", tag).Output()
	if err != nil || strings.TrimSpace(string(out)) != "65532:65532" {
		t.Errorf("image user = %q (%v), want 65532:65532", out, err)
	}
	// Read-only root, the state directory on a tmpfs: generate-config
	// writes its config there and nowhere else.
	run := func(args ...string) string {
		t.Helper()
		argv := append([]string{"run", "--rm", "--read-only", "--tmpfs", "/tmp",
			"--tmpfs", "/var/lib/secure-mcp-gateway:uid=65532,gid=65532,mode=0700", tag}, args...)
		out, err := exec.CommandContext(ctx, "docker", argv...).CombinedOutput()
		if err != nil {
			t.Fatalf("docker %v: %v\n%s", argv, err, out)
		}
		return string(out)
	}
	if out := run("--version"); !strings.Contains(out, "secure-mcp-gateway") {
		t.Errorf("--version printed %q", out)
	}
	run("generate-config")
}
