package upstream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Labels on every container the gateway starts. The gateway's pid lets a
// later gateway tell a leftover (its gateway gone, by SIGKILL) from a
// container in use.
const (
	containerLabel    = "secure-mcp-gateway"
	containerPIDLabel = "secure-mcp-gateway.gateway-pid"
)

// containerInvocation is the argv (without the engine) and environment of
// the engine's client that run a server in a container.
type containerInvocation struct {
	args []string
	env  []string
	name string
}

// containerCommand builds `ENGINE run` for the server's command (as
// configured: it is looked up inside the image) under sb: removed on exit,
// stdin attached, no network unless allowed, no capabilities, no privilege
// gain, a read-only root with a private /tmp unless ReadOnly is false, the
// limits, the granted binds, and the declared environment filtered by
// AllowedEnv, passed by name (-e NAME) so that no value shows in the
// process list. base is the environment of the engine's client itself.
func containerCommand(engine string, sb *Sandbox, server, command string, args []string, base []string,
	declared map[string]string, gatewayPID int) containerInvocation {
	name := containerName(server)
	a := []string{"run", "--rm", "-i", "--init", "--name", name,
		"--label", containerLabel + "=1", "--label", containerPIDLabel + "=" + strconv.Itoa(gatewayPID),
		"--network", or(sb.Network, NetworkNone),
		"--cap-drop", "ALL", "--security-opt", "no-new-privileges",
	}
	if sb.ReadOnly {
		a = append(a, "--read-only", "--tmpfs", "/tmp")
	}
	if sb.MemoryBytes > 0 {
		a = append(a, "--memory", strconv.FormatInt(sb.MemoryBytes, 10), "--memory-swap", strconv.FormatInt(sb.MemoryBytes, 10))
	}
	if sb.CPUs > 0 {
		a = append(a, "--cpus", strconv.FormatFloat(sb.CPUs, 'f', -1, 64))
	}
	if sb.Pids > 0 {
		a = append(a, "--pids-limit", strconv.Itoa(sb.Pids))
	}
	if sb.NoFile > 0 {
		n := strconv.FormatUint(sb.NoFile, 10)
		a = append(a, "--ulimit", "nofile="+n+":"+n)
	}
	if engine == RuntimePodman {
		a = append(a, "--userns", "keep-id")
	}
	env := slices.Clone(base)
	keys := make([]string, 0, len(declared))
	for k := range declared {
		if sb.AllowedEnv == nil || slices.Contains(sb.AllowedEnv, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		a = append(a, "-e", k)
		env = append(env, k+"="+declared[k])
	}
	for _, p := range sb.ROBinds {
		a = append(a, "-v", p+":"+p+":ro")
	}
	for _, p := range sb.RWBinds {
		a = append(a, "-v", p+":"+p)
	}
	a = append(a, "--workdir", "/tmp", or(sb.Image, DefaultImage), command)
	a = append(a, args...)
	return containerInvocation{args: a, env: env, name: name}
}

// containerName is a unique container name for server.
func containerName(server string) string {
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, server)
	if len(clean) > 40 {
		clean = clean[:40]
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "smcp-" + clean + "-" + hex.EncodeToString(b[:])
}

// removeContainer removes the named container, if it is still there.
func removeContainer(engine, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_ = exec.CommandContext(ctx, engine, "rm", "-f", name).Run()
}

// sweptEngines remembers the engines whose leftovers this process removed.
var sweptEngines sync.Map

// sweepContainers removes, once per engine and process, the containers
// that a gateway which is no longer running left behind (it was SIGKILLed
// before it could remove them). alive reports whether a gateway pid runs.
func sweepContainers(engine string, alive func(pid int) bool) {
	if _, done := sweptEngines.LoadOrStore(engine, true); done {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, engine, "ps", "-a", "--filter", "label="+containerLabel,
		"--format", `{{.Names}} {{.Label "`+containerPIDLabel+`"}}`).Output()
	if err != nil {
		return
	}
	for _, name := range leftoverContainers(string(out), alive) {
		removeContainer(engine, name)
	}
}

// leftoverContainers returns the names in `ps` output lines "NAME PID"
// whose gateway pid is not alive.
func leftoverContainers(ps string, alive func(pid int) bool) []string {
	var out []string
	for line := range strings.Lines(ps) {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		pid, err := strconv.Atoi(f[1])
		if err != nil || !alive(pid) {
			out = append(out, f[0])
		}
	}
	return out
}
