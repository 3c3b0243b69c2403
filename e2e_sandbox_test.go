//go:build linux

package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/upstream"
)

// pgrpOf returns the process group of pid from /proc, or -1.
func pgrpOf(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 3 {
		return -1
	}
	n, _ := strconv.Atoi(f[2])
	return n
}

// TestE2ESetsidDescendantsDieWithGateway: processes an upstream started that
// left its process group and session with setsid() (one still its child,
// one orphaned at once) die with the gateway, whether it is SIGKILLed or
// exits cleanly on stdin EOF. A process-group kill alone misses both.
func TestE2ESetsidDescendantsDieWithGateway(t *testing.T) {
	for _, end := range []string{"SIGKILL", "stdin EOF"} {
		t.Run(end, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, exampleServer("sp", "sandboxprobe", nil))
			g := startGateway(t, f)
			res := g.call(t, "sp__escape", nil)
			m, ok := res.StructuredContent.(map[string]any)
			if !ok || res.IsError {
				t.Fatalf("escape: %q", resultText(res))
			}
			escaped := []int{int(m["setsid"].(float64)), int(m["orphan"].(float64))}
			upstreamPgrp := int(m["pgid"].(float64))
			t.Cleanup(func() {
				for _, pid := range escaped {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			})
			for _, pid := range escaped {
				if !alive(pid) {
					t.Fatalf("escaped process %d is not running", pid)
				}
				// The test is only worth something if they did leave the
				// group a group kill reaches.
				if got := pgrpOf(pid); got < 0 || got == upstreamPgrp {
					t.Fatalf("process %d is in group %d, want one other than the upstream's %d", pid, got, upstreamPgrp)
				}
			}
			switch end {
			case "SIGKILL":
				if err := g.cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			default:
				if err := g.cs.Close(); err != nil {
					t.Logf("close: %v", err)
				}
				waitFor(t, 30*time.Second, "the gateway to exit", func() bool { return g.cmd.ProcessState != nil })
			}
			for _, pid := range escaped {
				waitGone(t, pid)
			}
		})
	}
}

// requireBwrap skips without bubblewrap locally; CI installs it, and fails
// rather than skip there.
func requireBwrap(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("bwrap"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("bwrap is not installed in CI; `.ci/run` installs bubblewrap")
		}
		t.Skip("bwrap is not installed (apt install bubblewrap)")
	}
}

// canaryHome is a fake home holding canary secrets where a hostile server
// looks for real ones.
type canaryHome struct {
	dir, ssh, aws string
	secrets       []string
}

func newCanaryHome(t *testing.T) *canaryHome {
	t.Helper()
	h := &canaryHome{dir: filepath.Join(t.TempDir(), "home")}
	h.ssh = filepath.Join(h.dir, ".ssh", "id_rsa")
	h.aws = filepath.Join(h.dir, ".aws", "credentials")
	h.secrets = []string{"CANARY-SSH-" + itoa(os.Getpid()) + "-" + t.Name(), "CANARY-AWS-" + itoa(os.Getpid()) + "-" + t.Name()}
	for i, p := range []string{h.ssh, h.aws} {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(h.secrets[i]), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// probeReport is what the sandboxprobe's probe tool returns.
type probeReport struct {
	Read    map[string]string `json:"read"`
	Write   map[string]string `json:"write"`
	Connect string            `json:"connect"`
	Forked  int               `json:"forked"`
	ForkErr string            `json:"fork_error"`
	Home    string            `json:"home"`
	Procs   int               `json:"procs"`
}

// listenCount accepts TCP connections on 127.0.0.1 and counts them.
func listenCount(t *testing.T) (addr string, count func() int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var mu sync.Mutex
	n := 0
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			n++
			mu.Unlock()
			c.Close()
		}
	}()
	return l.Addr().String(), func() int { mu.Lock(); defer mu.Unlock(); return n }
}

// TestE2ESandboxContainsHostileServer runs the hostile sandboxprobe with a
// fake home of canary secrets, unsandboxed and under bwrap. Unsandboxed it
// reads the canaries, writes into the home, connects out and starts every
// process it asks for: the test can tell. Under bwrap it reads nothing,
// writes only into its granted directory, cannot connect, its fork bomb
// stops at pids_limit (the gateway runs as root here, whom RLIMIT_NPROC
// does not bind), its /proc shows only its own processes and HOME is an
// empty private directory.
func TestE2ESandboxContainsHostileServer(t *testing.T) {
	requireBwrap(t)
	const forks, pidsLimit = 100, 40
	for _, sandboxed := range []bool{false, true} {
		name := map[bool]string{false: "unsandboxed", true: "bwrap"}[sandboxed]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			home := newCanaryHome(t)
			granted := t.TempDir()
			addr, conns := listenCount(t)
			srv := exampleServer("sp", "sandboxprobe", nil)
			if sandboxed {
				srv.Sandbox = &config.Sandbox{Enabled: true, Runtime: "bwrap", PidsLimit: pidsLimit, ExtraRWBinds: []string{granted}}
			}
			f := newFixture(t, srv)
			g := startGateway(t, f, "HOME="+home.dir)
			outside := filepath.Join(home.dir, "pwned")
			inside := filepath.Join(granted, "ok")
			res := g.call(t, "sp__probe", map[string]any{
				"read": []string{home.ssh, home.aws}, "write": []string{outside, inside},
				"connect": addr, "fork": forks,
			})
			if res.IsError {
				t.Fatalf("probe: %s", resultText(res))
			}
			var r probeReport
			if err := json.Unmarshal([]byte(resultText(res)), &r); err != nil {
				t.Fatalf("probe report %q: %v", resultText(res), err)
			}
			t.Logf("%s: forked %d (%s), %d processes visible, connect: %s, HOME %s", name, r.Forked, r.ForkErr, r.Procs, r.Connect, r.Home)
			text := resultText(res)
			_, wroteOutside := os.Stat(outside)
			if !sandboxed {
				for _, s := range home.secrets {
					if !strings.Contains(text, s) {
						t.Errorf("unsandboxed probe did not read canary %q: the test cannot tell a sandbox from none", s)
					}
				}
				if wroteOutside != nil || r.Connect != "ok" || conns() == 0 || r.Forked != forks {
					t.Errorf("unsandboxed probe: wrote outside %v, connect %q (%d accepted), forked %d of %d; want all done",
						wroteOutside, r.Connect, conns(), r.Forked, forks)
				}
				return
			}
			for _, s := range home.secrets {
				if strings.Contains(text, s) {
					t.Errorf("sandboxed probe read canary %q", s)
				}
			}
			if wroteOutside == nil {
				t.Errorf("sandboxed probe wrote %s outside its grants", outside)
			}
			if r.Write[inside] != "ok" {
				t.Errorf("sandboxed probe could not write its granted directory: %q", r.Write[inside])
			}
			if r.Connect == "ok" || conns() != 0 {
				t.Errorf("sandboxed probe connected out: %q, %d accepted", r.Connect, conns())
			}
			if r.Forked >= pidsLimit {
				t.Errorf("sandboxed probe started %d processes with pids_limit %d", r.Forked, pidsLimit)
			}
			if r.Procs > 5 {
				t.Errorf("sandboxed probe sees %d processes in /proc, want only its own few", r.Procs)
			}
			if r.Home == home.dir {
				t.Errorf("sandboxed probe's HOME is the user's home %s", r.Home)
			}
		})
	}
}

// TestE2ESandboxedServersStillWork: the echo example and the npm
// server-everything (node) answer under bwrap, the latter from a read-only
// grant of its install; the npm server-filesystem, given one read-write
// grant, writes and reads back a file there.
func TestE2ESandboxedServersStillWork(t *testing.T) {
	requireBwrap(t)
	echo := exampleServer("echo_server", "echo", nil)
	echo.Sandbox = &config.Sandbox{Enabled: true, Runtime: "bwrap", PidsLimit: 64, MemoryLimit: "512m"}
	ev := everythingServer(t)
	dir := requireNodePeers(t)
	real, err := filepath.EvalSymlinks(filepath.Join(dir, "node_modules"))
	if err != nil {
		t.Fatal(err)
	}
	ev.Sandbox = &config.Sandbox{Enabled: true, Runtime: "bwrap", ExtraROBinds: []string{dir, real}}
	f := newFixture(t, echo, ev)
	g := startGateway(t, f)
	if got := resultText(g.call(t, "echo_server__echo", map[string]any{"message": "inside"})); got != "inside" {
		t.Errorf("sandboxed echo = %q", got)
	}
	res := g.call(t, "everything__echo", map[string]any{"message": "node inside"})
	if res.IsError || !strings.Contains(resultText(res), "node inside") {
		t.Errorf("sandboxed server-everything echo = %q", resultText(res))
	}
}

// filesystemServer is the npm server-filesystem, allowed by its own
// arguments to serve dirs.
func filesystemServer(t *testing.T, name string, dirs ...string) *config.Server {
	t.Helper()
	dir := requireNodePeers(t)
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal(err)
	}
	return &config.Server{
		Name: name,
		Config: config.ServerConfig{
			Command: node,
			Args:    append([]string{filepath.Join(dir, "node_modules", "@modelcontextprotocol", "server-filesystem", "dist", "index.js")}, dirs...),
		},
	}
}

// TestE2ESandboxedFilesystemServer runs the npm server-filesystem with two
// directories in its own arguments, a work directory and a fake home of
// canary secrets, unsandboxed and under bwrap with only the work directory
// granted (read-write). Both write a file in the work directory and read it
// back. Unsandboxed the server reads the canary, so the test can tell; under
// bwrap the home is not there: the server drops it from its allowed
// directories, a read of the canary is refused and a write into the home
// leaves nothing on the host.
func TestE2ESandboxedFilesystemServer(t *testing.T) {
	requireBwrap(t)
	for _, sandboxed := range []bool{false, true} {
		name := map[bool]string{false: "unsandboxed", true: "bwrap"}[sandboxed]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			home := newCanaryHome(t)
			granted := t.TempDir()
			srv := filesystemServer(t, "fs", granted, home.dir)
			if sandboxed {
				dir := requireNodePeers(t)
				real, err := filepath.EvalSymlinks(filepath.Join(dir, "node_modules"))
				if err != nil {
					t.Fatal(err)
				}
				srv.Sandbox = &config.Sandbox{Enabled: true, Runtime: "bwrap", PidsLimit: 64, MemoryLimit: "512m",
					ExtraROBinds: []string{dir, real}, ExtraRWBinds: []string{granted}}
			}
			f := newFixture(t, srv)
			g := startGateway(t, f, "HOME="+home.dir)

			note := filepath.Join(granted, "note.txt")
			content := "written by server-filesystem " + name
			if res := g.call(t, "fs__write_file", map[string]any{"path": note, "content": content}); res.IsError {
				t.Fatalf("write_file in the granted directory: %s", resultText(res))
			}
			if b, err := os.ReadFile(note); err != nil || string(b) != content {
				t.Errorf("host sees %s = %q (%v), want %q", note, b, err, content)
			}
			if res := g.call(t, "fs__read_text_file", map[string]any{"path": note}); res.IsError || resultText(res) != content {
				t.Errorf("read_text_file of the granted file = %q (error %v), want %q", resultText(res), res.IsError, content)
			}

			allowed := resultText(g.call(t, "fs__list_allowed_directories", map[string]any{}))
			read := g.call(t, "fs__read_text_file", map[string]any{"path": home.ssh})
			outside := filepath.Join(home.dir, "pwned")
			write := g.call(t, "fs__write_file", map[string]any{"path": outside, "content": "pwned"})
			_, wroteOutside := os.Stat(outside)
			t.Logf("%s: allowed %q; read canary: error %v %q; write outside: error %v %q",
				name, allowed, read.IsError, resultText(read), write.IsError, resultText(write))
			if !sandboxed {
				if read.IsError || resultText(read) != home.secrets[0] || !strings.Contains(allowed, home.dir) {
					t.Errorf("unsandboxed server-filesystem did not read canary %q (allowed %q): the test cannot tell a sandbox from none", home.secrets[0], allowed)
				}
				if write.IsError || wroteOutside != nil {
					t.Errorf("unsandboxed server-filesystem could not write its allowed home: %s", resultText(write))
				}
				return
			}
			if !strings.Contains(allowed, granted) || strings.Contains(allowed, home.dir) {
				t.Errorf("sandboxed server-filesystem allowed directories %q, want %s and not %s", allowed, granted, home.dir)
			}
			if !read.IsError || strings.Contains(resultText(read), home.secrets[0]) {
				t.Errorf("sandboxed server-filesystem read the canary: %q", resultText(read))
			}
			if !write.IsError || wroteOutside == nil {
				t.Errorf("sandboxed server-filesystem wrote %s outside its grant: %q", outside, resultText(write))
			}
		})
	}
}

// TestE2ESandboxFailsClosed: a sandbox that cannot start (here, a network
// allow-list no runtime enforces) keeps the server from running at all,
// with an error that names the runtime and the fix.
func TestE2ESandboxFailsClosed(t *testing.T) {
	srv := exampleServer("sp", "sandboxprobe", nil)
	srv.Sandbox = &config.Sandbox{Enabled: true, Runtime: "bwrap", NetworkAllow: []string{"example.com:443"}}
	f := newFixture(t, srv)
	g := startGateway(t, f)
	if names := g.toolNames(t); len(names) != 0 {
		t.Errorf("tools of a server whose sandbox cannot start: %v", names)
	}
	res, err := g.cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "sp__probe", Arguments: map[string]any{}})
	if err == nil && !res.IsError {
		t.Fatalf("a server whose sandbox cannot start answered: %q", resultText(res))
	}
	waitFor(t, 10*time.Second, "the start failure, naming runtime and fix, in the log", func() bool {
		log := g.stderr.String()
		return strings.Contains(log, "sandbox bwrap: a network allow-list cannot be enforced") && strings.Contains(log, "fix:")
	})
}

// TestE2ELimitsWithoutSandbox: resource limits hold for a server that is
// not sandboxed: its fork bomb stops at pids_limit though the gateway runs
// as root, while it still sees the host (it is not isolated).
func TestE2ELimitsWithoutSandbox(t *testing.T) {
	t.Parallel()
	const forks, pidsLimit = 100, 40
	srv := exampleServer("sp", "sandboxprobe", nil)
	srv.Sandbox = &config.Sandbox{PidsLimit: pidsLimit, NoFileLimit: 256}
	f := newFixture(t, srv)
	g := startGateway(t, f)
	res := g.call(t, "sp__probe", map[string]any{"fork": forks})
	var r probeReport
	if err := json.Unmarshal([]byte(resultText(res)), &r); err != nil || res.IsError {
		t.Fatalf("probe report %q: %v", resultText(res), err)
	}
	if r.Forked >= pidsLimit || r.ForkErr == "" {
		t.Errorf("unsandboxed server with pids_limit %d started %d of %d processes (%s)", pidsLimit, r.Forked, forks, r.ForkErr)
	}
	if r.Procs <= 5 {
		t.Errorf("an unsandboxed server sees only %d processes: it was isolated", r.Procs)
	}
}

// TestE2EContainerSandbox runs the echo example in a docker or podman
// container (the gateway binary bound read-only) and checks that the
// container is gone once the gateway is SIGKILLed. It needs a running
// engine; where none answers it is skipped with the reason.
func TestE2EContainerSandbox(t *testing.T) {
	for _, engine := range []string{"docker", "podman"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			path, err := exec.LookPath(engine)
			if err != nil {
				t.Skipf("%s is not installed", engine)
			}
			if out, err := exec.Command(path, "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
				t.Skipf("no %s engine answers here (only the client is installed): %s", engine, strings.TrimSpace(string(out)))
			}
			srv := exampleServer("echo_server", "echo", nil)
			srv.Sandbox = &config.Sandbox{Enabled: true, Runtime: engine, PidsLimit: 64, MemoryLimit: "256m",
				ExtraROBinds: []string{filepath.Dir(gatewayBin)}}
			f := newFixture(t, srv)
			g := startGateway(t, f)
			if got := resultText(g.call(t, "echo_server__echo", map[string]any{"message": "contained"})); got != "contained" {
				t.Fatalf("echo in a container = %q", got)
			}
			label := "label=secure-mcp-gateway.gateway-pid=" + itoa(g.cmd.Process.Pid)
			containers := func() string {
				out, _ := exec.Command(path, "ps", "-aq", "--filter", label).Output()
				return strings.TrimSpace(string(out))
			}
			if containers() == "" {
				t.Fatal("no labelled container runs the server")
			}
			if err := g.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 30*time.Second, "the container to be removed", func() bool { return containers() == "" })
		})
	}
}

// treeRSS returns the summed resident set, in bytes, of every descendant
// of pid.
func treeRSS(pid int) int64 {
	entries, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 2 {
			parent[p], _ = strconv.Atoi(f[1])
		}
	}
	var total int64
	for p := range parent {
		for q := parent[p]; q > 1; q = parent[q] {
			if q != pid {
				continue
			}
			b, _ := os.ReadFile("/proc/" + itoa(p) + "/status")
			for line := range strings.Lines(string(b)) {
				if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
					kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
					total += kb << 10
				}
			}
			break
		}
	}
	return total
}

// BenchmarkSandboxStart measures starting the echo example and completing
// its initialize handshake, then closing it, per runtime: direct (under the
// supervisor), with cgroup limits, and under bwrap with limits. It reports
// the resident memory of the whole upstream tree (supervisor, bwrap, server)
// once it runs.
func BenchmarkSandboxStart(b *testing.B) {
	limits := upstream.Limits{Pids: 64, MemoryBytes: 512 << 20, NoFile: 1024}
	cases := []struct {
		name string
		sb   *upstream.Sandbox
	}{
		{"none", nil},
		{"limits", &upstream.Sandbox{Limits: limits}},
		{"bwrap", &upstream.Sandbox{Runtime: upstream.RuntimeBwrap}},
		{"bwrap+limits", &upstream.Sandbox{Runtime: upstream.RuntimeBwrap, Limits: limits}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if c.sb != nil && c.sb.Runtime == upstream.RuntimeBwrap {
				if _, err := exec.LookPath("bwrap"); err != nil {
					b.Skip("bwrap is not installed")
				}
			}
			spec := upstream.Spec{Name: "echo", Command: gatewayBin, Args: []string{"example-server", "echo"},
				Env: map[string]string{"GORACE": "atexit_sleep_ms=0"}, Sandbox: c.sb}
			var rss int64
			for b.Loop() {
				p := upstream.NewPool([]upstream.Spec{spec}, &upstream.Options{Supervisor: []string{gatewayBin, "upstream-supervisor"}})
				if _, err := p.Session(context.Background(), "echo"); err != nil {
					b.Fatal(err)
				}
				rss = max(rss, treeRSS(os.Getpid()))
				if err := p.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rss)/(1<<20), "MiB-RSS")
		})
	}
}

// TestTryShowsSandbox: the last step of `try` shows the hostile probe
// reading the fake home's canaries unsandboxed and not under bwrap.
func TestTryShowsSandbox(t *testing.T) {
	requireBwrap(t)
	t.Parallel()
	cmd := exec.Command(gatewayBin, "try")
	cmd.Env = gatewayEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("try: %v\n%s", err, out)
	}
	// "read ~/.ssh/id_rsa  READ  no such file or directory": the
	// unsandboxed column, then the bwrap one.
	rows := map[string][2]string{}
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) >= 4 && f[0] == "read" {
			rows[f[1]] = [2]string{f[2], strings.Join(f[3:], " ")}
		}
	}
	for _, file := range []string{"~/.ssh/id_rsa", "~/.aws/credentials"} {
		if got := rows[file]; got[0] != "READ" || got[1] == "READ" || got[1] == "" {
			t.Errorf("read %s: unsandboxed %q, bwrap %q; want READ, then a refusal\n%s", file, got[0], got[1], out)
		}
	}
}
