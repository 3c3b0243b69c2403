package upstream

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Fixes named by sandbox errors.
const (
	fixBwrap = "install bubblewrap (Debian/Ubuntu: apt install bubblewrap; Fedora: dnf install bubblewrap) and " +
		"enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1), or set the server's " +
		"sandbox runtime to docker or podman"
	fixAuto       = "install bubblewrap (Linux), podman or docker, or disable the server's sandbox"
	fixSupervisor = "run the gateway on Linux, where its upstream supervisor applies sandboxes and limits, or " +
		"remove the server's sandbox block"
	fixAllowList = `remove network_allow and use "network": "none" (or "host" to allow everything)`
)

// invocation is how a stdio child is run: program, arguments and
// environment, and for a container the engine and name to remove it by.
type invocation struct {
	path      string
	args      []string
	env       []string
	container string // the container's name, for docker and podman
	engine    string // the engine's path, for docker and podman
}

// resolveRuntime returns the runtime that sb.Runtime names, resolving
// "auto": bubblewrap where it works, else podman, else docker.
func resolveRuntime(sb *Sandbox) (string, error) {
	switch sb.Runtime {
	case RuntimeNone, RuntimeBwrap, RuntimeDocker, RuntimePodman:
		return sb.Runtime, nil
	case "auto":
		if bwrapProblem() == nil {
			return RuntimeBwrap, nil
		}
		for _, e := range []string{RuntimePodman, RuntimeDocker} {
			if _, err := exec.LookPath(e); err == nil {
				return e, nil
			}
		}
		return "", &SandboxError{Runtime: "auto", Err: fmt.Errorf("no sandbox runtime works here (bwrap: %v; podman and docker: not installed)", bwrapProblem()), Fix: fixAuto}
	}
	return "", &SandboxError{Runtime: sb.Runtime, Err: fmt.Errorf("unknown runtime %q", sb.Runtime),
		Fix: `set the sandbox runtime to "auto", "bwrap", "docker" or "podman"`}
}

// sandboxInvocation returns how to run the program of a stdio spec (path,
// resolved on the host; command, as configured) under sb, or the
// *SandboxError that keeps it from starting. base is the unsandboxed
// child's environment and declared its configured variables.
func sandboxInvocation(sb *Sandbox, name, command, path string, args []string, base []string, declared map[string]string) (invocation, error) {
	rt, err := resolveRuntime(sb)
	if err != nil {
		return invocation{}, err
	}
	if len(sb.NetworkAllow) > 0 {
		return invocation{}, &SandboxError{Runtime: or(rt, "none"), Err: ErrNetworkAllowList, Fix: fixAllowList}
	}
	switch rt {
	case RuntimeNone:
		return invocation{path: path, args: args, env: base}, nil
	case RuntimeBwrap:
		if err := bwrapProblem(); err != nil {
			return invocation{}, &SandboxError{Runtime: RuntimeBwrap, Err: err, Fix: fixBwrap}
		}
		bw, _ := exec.LookPath("bwrap")
		home, _ := os.UserHomeDir()
		inv := bwrapCommand(sb, path, args, declared, home, lookupEnv(runtime.GOOS, base, "LANG"), hostExists, hostLink)
		return invocation{path: bw, args: inv.args, env: inv.env}, nil
	default: // docker, podman
		engine, err := exec.LookPath(rt)
		if err != nil {
			return invocation{}, &SandboxError{Runtime: rt, Err: fmt.Errorf("%s not found in PATH", rt),
				Fix: "install " + rt + " or choose another sandbox runtime"}
		}
		sweepContainers(engine, processAlive)
		c := containerCommand(rt, sb, name, command, args, base, declared, os.Getpid())
		return invocation{path: engine, args: c.args, env: c.env, container: c.name, engine: engine}, nil
	}
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Mechanism is one sandbox runtime or containment mechanism and whether it
// works here.
type Mechanism struct {
	// Name is the runtime or mechanism ("bwrap", "limit pids", …).
	Name string `json:"name"`
	// OK is true when it works.
	OK bool `json:"ok"`
	// Detail says how it works, or why not.
	Detail string `json:"detail"`
}

// engineProblem says why a container engine cannot run containers here,
// or nil when its daemon answers.
func engineProblem(engine string) error {
	path, err := exec.LookPath(engine)
	if err != nil {
		return fmt.Errorf("%s is not installed", engine)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, path, "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		return fmt.Errorf("%s is installed but its engine does not answer: %s", engine, firstLine(string(out)))
	}
	return nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
