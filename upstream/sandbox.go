package upstream

import (
	"errors"
	"fmt"
)

// Runtimes a [Sandbox] may name.
const (
	// RuntimeNone runs the server directly, with only its resource limits.
	RuntimeNone = ""
	// RuntimeBwrap runs the server under bubblewrap (Linux): new user, pid,
	// ipc, uts and (unless allowed) network namespaces, system directories
	// read-only, the home invisible except granted paths.
	RuntimeBwrap = "bwrap"
	// RuntimeDocker runs the server's command in a docker container.
	RuntimeDocker = "docker"
	// RuntimePodman runs the server's command in a podman container.
	RuntimePodman = "podman"
)

// Network modes of a [Sandbox].
const (
	// NetworkNone gives the server no network at all (a private loopback).
	NetworkNone = "none"
	// NetworkHost shares the gateway's network.
	NetworkHost = "host"
	// NetworkBridge gives a container the engine's default bridge; bwrap
	// treats it as host.
	NetworkBridge = "bridge"
)

// Limits are resource limits on a stdio server and everything it starts. On
// Linux they are applied by the upstream supervisor (see Options.Supervisor)
// through cgroups, and RLIMIT_NOFILE; a limit that cannot be enforced fails
// the start with a *SandboxError. Elsewhere a limit fails the start.
type Limits struct {
	// MemoryBytes caps the memory of the server's cgroup. Zero means none.
	MemoryBytes int64
	// CPUs caps CPU time, in cores (1.5 = one and a half). Zero means none.
	CPUs float64
	// Pids caps the number of tasks (processes and threads) of the server's
	// cgroup: a fork bomb stops there, even when the gateway runs as root.
	// Zero means none.
	Pids int
	// NoFile caps open files per process (RLIMIT_NOFILE). Zero means
	// inherited.
	NoFile uint64
}

// Sandbox isolates a stdio server. The zero value runs the server directly,
// unlimited.
type Sandbox struct {
	// Runtime is RuntimeNone, RuntimeBwrap, RuntimeDocker or RuntimePodman
	// (the config's "auto" is resolved before it gets here).
	Runtime string
	// Limits apply with every runtime, RuntimeNone included.
	Limits
	// Image is the container image of docker and podman; empty means
	// DefaultImage.
	Image string
	// Network is NetworkNone, NetworkHost or NetworkBridge; empty means
	// NetworkNone.
	Network string
	// NetworkAllow lists "host:port" destinations the server may reach.
	// No runtime here can enforce a list yet: a non-empty list fails the
	// start rather than open the network wider than asked.
	NetworkAllow []string
	// ReadOnly makes a container's root file system read-only; bwrap's
	// system directories are read-only whatever it says.
	ReadOnly bool
	// AllowedEnv lists the declared environment variables the server sees;
	// nil means all of Spec.Env. The gateway's own base environment (PATH,
	// LANG…) is replaced by a sandbox's own.
	AllowedEnv []string
	// ROBinds are host paths the server may read, at the same path inside.
	ROBinds []string
	// RWBinds are host paths the server may read and write.
	RWBinds []string
	// SharePID keeps the host's pid namespace (the Python config's
	// "unshare_pid": false). False means a private pid namespace, whose
	// /proc shows only the server's own processes.
	SharePID bool
	// Invalid, if set, is a problem of the configuration this sandbox was
	// built from: the server fails to start with it, rather than run with
	// less isolation than asked.
	Invalid error
}

// DefaultImage is the container image docker and podman run when the
// sandbox names none.
const DefaultImage = "node:20-bookworm-slim"

// SandboxError reports that a server's sandbox or limits could not be set
// up: the server is not started, never run unsandboxed instead.
type SandboxError struct {
	// Runtime is the runtime or mechanism that failed ("bwrap", "cgroup
	// pids", …).
	Runtime string
	// Err is the cause.
	Err error
	// Fix says what the user can do about it.
	Fix string
}

// Error implements error.
func (e *SandboxError) Error() string {
	msg := fmt.Sprintf("sandbox %s: %v", e.Runtime, e.Err)
	if e.Fix != "" {
		msg += " (fix: " + e.Fix + ")"
	}
	return msg
}

// Unwrap returns the cause.
func (e *SandboxError) Unwrap() error { return e.Err }

// ErrNetworkAllowList is the cause of a *SandboxError for a sandbox whose
// NetworkAllow is not empty.
var ErrNetworkAllowList = errors.New("a network allow-list cannot be enforced by this runtime")
