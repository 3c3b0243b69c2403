package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/internal/wire"
)

// stderrDrainTimeout bounds the wait for a killed process tree's stderr to
// reach EOF; a process outside the group may hold the pipe open forever.
const stderrDrainTimeout = 500 * time.Millisecond

// baseEnv lists the variables copied from the gateway's environment into
// every child, besides LC_*; baseEnvWindows adds those that Windows programs
// need. Nothing else of the gateway's environment is passed on.
var (
	baseEnv        = []string{"PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TMPDIR", "TEMP", "TMP"}
	baseEnvWindows = []string{
		"SystemRoot", "SystemDrive", "windir", "ComSpec", "PATHEXT", "APPDATA", "LOCALAPPDATA",
		"USERPROFILE", "USERNAME", "USERDOMAIN", "HOMEDRIVE", "HOMEPATH", "ProgramData",
		"ProgramFiles", "ProgramFiles(x86)", "ProgramW6432", "CommonProgramFiles",
		"CommonProgramFiles(x86)", "CommonProgramW6432", "NUMBER_OF_PROCESSORS",
		"PROCESSOR_ARCHITECTURE", "OS",
	}
)

// childEnv returns the environment of a child on goos: the base variables
// found in environ, then declared, which overrides them. Windows compares
// names without regard to case.
func childEnv(goos string, environ []string, declared map[string]string) []string {
	windows := goos == "windows"
	same := func(a, b string) bool {
		if windows {
			return strings.EqualFold(a, b)
		}
		return a == b
	}
	allowed := func(name string) bool {
		if strings.HasPrefix(name, "LC_") {
			return true
		}
		match := func(b string) bool { return same(name, b) }
		return slices.ContainsFunc(baseEnv, match) || windows && slices.ContainsFunc(baseEnvWindows, match)
	}
	isDeclared := func(name string) bool {
		for k := range declared {
			if same(name, k) {
				return true
			}
		}
		return false
	}
	env := make([]string, 0, len(baseEnv)+len(declared))
	for _, kv := range environ {
		name, _, ok := strings.Cut(kv, "=")
		if ok && name != "" && allowed(name) && !isDeclared(name) {
			env = append(env, kv)
		}
	}
	keys := make([]string, 0, len(declared))
	for k := range declared {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		env = append(env, k+"="+declared[k])
	}
	return env
}

// lookupEnv returns the last value of name in env (the one a child sees).
func lookupEnv(goos string, env []string, name string) string {
	for _, kv := range slices.Backward(env) {
		k, v, _ := strings.Cut(kv, "=")
		if k == name || goos == "windows" && strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// lookPath resolves file as exec.LookPath would, but against pathList (the
// child's PATH) rather than the gateway's. A name with a path separator is
// returned unchanged. Relative PATH entries are ignored, as a child's
// program must not depend on the gateway's working directory by accident.
func lookPath(goos, file, pathList, pathExt string) (string, error) {
	seps := "/"
	if goos == "windows" {
		seps = `/\`
	}
	if strings.ContainsAny(file, seps) {
		return file, nil
	}
	exts := []string{""}
	if goos == "windows" {
		if pathExt == "" {
			pathExt = ".com;.exe;.bat;.cmd"
		}
		exts = nil
		for e := range strings.SplitSeq(strings.ToLower(pathExt), ";") {
			if e != "" && strings.HasSuffix(strings.ToLower(file), e) {
				exts = []string{""} // already has an executable extension
				break
			}
			if e != "" {
				exts = append(exts, e)
			}
		}
	}
	for dir := range strings.SplitSeq(pathList, string(listSeparator(goos))) {
		if dir == "" || !isAbs(goos, dir) {
			continue
		}
		for _, ext := range exts {
			candidate := filepath.Join(dir, file+ext)
			if isExecutable(goos, candidate) {
				return candidate, nil
			}
		}
	}
	return "", &exec.Error{Name: file, Err: exec.ErrNotFound}
}

func listSeparator(goos string) rune {
	if goos == "windows" {
		return ';'
	}
	return ':'
}

func isAbs(goos, dir string) bool {
	if goos == runtime.GOOS {
		return filepath.IsAbs(dir)
	}
	if goos == "windows" { // for tests on other platforms
		return len(dir) >= 3 && dir[1] == ':' && (dir[2] == '\\' || dir[2] == '/')
	}
	return strings.HasPrefix(dir, "/")
}

func isExecutable(goos, name string) bool {
	fi, err := os.Stat(name)
	if err != nil || !fi.Mode().IsRegular() {
		return false
	}
	return goos == "windows" || fi.Mode()&0o111 != 0
}

// env returns the declared environment of a stdio child: Spec.Env plus the
// variables of Spec.EnvFunc that Spec.Env does not declare.
func (s *server) env(ctx context.Context) (map[string]string, error) {
	if s.spec.EnvFunc == nil {
		return s.spec.Env, nil
	}
	extra, err := s.spec.EnvFunc(ctx)
	if err != nil {
		return nil, err
	}
	env := make(map[string]string, len(s.spec.Env)+len(extra))
	for k, v := range extra {
		env[k] = v
	}
	for k, v := range s.spec.Env {
		env[k] = v
	}
	return env, nil
}

// command builds the child of a stdio spec with the declared environment
// declared and the transport that starts it. A sandbox or limits that cannot
// be applied fail here with a *SandboxError: the server never runs without
// them.
func (s *server) command(declared map[string]string) (*cmdTransport, *proc, error) {
	env := childEnv(runtime.GOOS, os.Environ(), declared)
	sb := s.spec.Sandbox
	if sb != nil {
		if sb.Invalid != nil {
			return nil, nil, &SandboxError{Runtime: or(sb.Runtime, "config"), Err: sb.Invalid,
				Fix: "correct the server's sandbox block (config update-server-sandbox)"}
		}
		rt, err := resolveRuntime(sb)
		if err != nil {
			return nil, nil, err
		}
		resolved := *sb
		resolved.Runtime = rt
		sb = &resolved
	}
	container := sb != nil && (sb.Runtime == RuntimeDocker || sb.Runtime == RuntimePodman)
	path := s.spec.Command // a container's command is looked up in its image
	if !container {
		var err error
		path, err = lookPath(runtime.GOOS, s.spec.Command, lookupEnv(runtime.GOOS, env, "PATH"),
			lookupEnv(runtime.GOOS, env, "PATHEXT"))
		if err != nil {
			return nil, nil, err
		}
	}
	supervised := runtime.GOOS == "linux" && len(s.pool.opts.Supervisor) > 0
	inv := invocation{path: path, args: s.spec.Args, env: env}
	var sargs supervisorArgs
	if sb != nil {
		// Container engines enforce the limits themselves, and run anywhere;
		// bwrap and the limits need the Linux supervisor.
		if !container {
			if !supervised && (sb.Runtime != RuntimeNone || sb.Limits != Limits{}) {
				return nil, nil, &SandboxError{Runtime: or(sb.Runtime, "limits"),
					Err: errors.New("sandboxes and limits need the gateway's upstream supervisor"), Fix: fixSupervisor}
			}
			if err := checkLimits(sb.Limits); err != nil {
				return nil, nil, err
			}
		}
		var err error
		inv, err = sandboxInvocation(sb, s.spec.Name, s.spec.Command, path, s.spec.Args, env, declared)
		if err != nil {
			return nil, nil, err
		}
		if !container {
			sargs.Limits = sb.Limits
		}
		sargs.engine, sargs.container = inv.engine, inv.container
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("stderr pipe: %w", err)
	}
	var cmd *exec.Cmd
	if supervised {
		sv := s.pool.opts.Supervisor
		argv := append(append(append(slices.Clone(sv[1:]), sargs.args()...), inv.path), inv.args...)
		cmd = exec.Command(sv[0], argv...)
	} else {
		cmd = exec.Command(inv.path, inv.args...) // path has a separator: no second lookup
	}
	env = inv.env
	cmd.Env = env
	cmd.SysProcAttr = sysProcAttr(supervised)
	// The child writes to a pipe of ours rather than through a copying
	// goroutine of exec's, so that cmd.Wait (which the SDK calls) never waits
	// for a grandchild that inherited stderr.
	cmd.Stderr = w
	pr := &proc{
		supervised: supervised,
		engine:     inv.engine,
		container:  inv.container,
		stderr:     r,
		stderrDone: make(chan struct{}),
	}
	sw := &stderrWriter{
		log:    &s.log,
		redact: s.pool.redact,
		ring:   s.ring,
	}
	go pr.readStderr(sw)
	t := &cmdTransport{
		peer:      wire.PeerOptions{Name: s.spec.Name, MaxMessageBytes: s.spec.MaxMessageBytes},
		Command:   cmd,
		terminate: s.pool.opts.TerminateTimeout,
		proc:      pr,
		stderrW:   w,
	}
	return t, pr, nil
}

// cmdTransport starts a stdio child and connects to it over its stdin and
// stdout; it tells its proc about the process as soon as it has started.
// The connection reads the child's messages with wire.NewPeerConn and ends
// the child the way the MCP stdio transport asks: close its stdin, wait,
// SIGTERM, wait, SIGKILL.
type cmdTransport struct {
	Command   *exec.Cmd
	terminate time.Duration // how long each step of ending the child waits
	proc      *proc
	stderrW   *os.File // the child's end of the stderr pipe, closed here once started
	peer      wire.PeerOptions
}

var _ mcp.Transport = (*cmdTransport)(nil)

// Connect implements mcp.Transport.
func (t *cmdTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	defer t.stderrW.Close()
	stdout, err := t.Command.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("stdout pipe: %w", err)
	}
	stdin, err := t.Command.StdinPipe()
	if err != nil {
		_ = stdout.Close()
		return nil, fmt.Errorf("stdin pipe: %w", err)
	}
	if err := t.Command.Start(); err != nil {
		// Start closes the pipes it made; its error is returned as is,
		// because the caller tells a missing command from other failures
		// by it.
		return nil, err
	}
	t.proc.setProcess(t.Command.Process)
	peer := t.peer
	peer.Close = func() error { return t.end(stdin) }
	return wire.NewPeerConn(stdout, stdin, &peer), nil
}

// end closes the child's stdin and reaps it, signalling it if it does not
// exit within t.terminate after each step.
func (t *cmdTransport) end(stdin io.Closer) error {
	// A failed close (the child already gone) still goes on to reap it.
	var closeErr error
	if err := stdin.Close(); err != nil {
		closeErr = fmt.Errorf("close stdin: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- t.Command.Wait() }()
	timer := time.NewTimer(t.terminate)
	defer timer.Stop()
	wait := func() (error, bool) {
		select {
		case err := <-done:
			return err, true
		case <-timer.C:
			timer.Reset(t.terminate)
			return nil, false
		}
	}
	if err, ok := wait(); ok {
		return errors.Join(closeErr, err)
	}
	if t.Command.Process.Signal(syscall.SIGTERM) == nil {
		if err, ok := wait(); ok {
			return errors.Join(closeErr, err)
		}
	}
	if err := t.Command.Process.Kill(); err != nil {
		return errors.Join(closeErr, fmt.Errorf("kill: %w", err))
	}
	if err, ok := wait(); ok {
		return errors.Join(closeErr, err)
	}
	return errors.Join(closeErr, errors.New("the process did not exit after SIGKILL"))
}

// proc is a started (or starting) child: its process group and the reader
// of its stderr. The zero pid means not started. A nil *proc is an HTTP
// upstream's and does nothing.
type proc struct {
	mu         sync.Mutex
	p          *os.Process
	killed     bool
	supervised bool // p is the upstream supervisor, which kills its own subtree
	// engine and container name the container of a docker or podman
	// sandbox, removed at teardown unless a supervisor does it.
	engine, container string

	stderr       *os.File // read end
	stderrDone   chan struct{}
	teardownOnce sync.Once
}

func (pr *proc) setProcess(p *os.Process) {
	pr.mu.Lock()
	pr.p = p
	killed := pr.killed
	pr.mu.Unlock()
	if killed {
		killTree(p, pr.supervised)
	}
}

func (pr *proc) started() bool {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.p != nil
}

func (pr *proc) pid() int {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.p == nil {
		return 0
	}
	return pr.p.Pid
}

// kill ends the process tree, now or as soon as it starts: it asks a
// supervisor to kill every descendant and exit, and SIGKILLs the process
// group of an unsupervised child (or of a supervisor already gone).
func (pr *proc) kill() {
	pr.mu.Lock()
	pr.killed = true
	p := pr.p
	pr.mu.Unlock()
	if p != nil {
		killTree(p, pr.supervised)
	}
}

// teardown kills what is left of the process tree and waits for the stderr
// reader to finish, so that the stderr tail is complete. Call it after the
// session is closed (which reaps the direct child).
func (pr *proc) teardown() {
	if pr == nil {
		return
	}
	pr.teardownOnce.Do(func() {
		pr.kill()
		if pr.container != "" && !pr.supervised {
			removeContainer(pr.engine, pr.container)
		}
		t := time.NewTimer(stderrDrainTimeout)
		defer t.Stop()
		select {
		case <-pr.stderrDone:
		case <-t.C: // someone outside the group holds the pipe
		}
		_ = pr.stderr.Close() // interrupts the reader if it is still blocked
		t.Reset(stderrDrainTimeout)
		select {
		case <-pr.stderrDone:
		case <-t.C: // a platform whose Close does not interrupt Read; let it go
		}
	})
}

// readStderr copies the child's stderr into w until EOF.
func (pr *proc) readStderr(w *stderrWriter) {
	defer close(pr.stderrDone)
	buf := make([]byte, 32<<10)
	for {
		n, err := pr.stderr.Read(buf)
		w.Write(buf[:n])
		if err != nil {
			break // EOF, or closed by teardown
		}
	}
	w.Flush()
}
