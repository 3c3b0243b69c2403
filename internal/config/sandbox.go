package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sandbox runtimes a server's sandbox may name.
const (
	// SandboxAuto picks bubblewrap where it is installed (Linux), else
	// podman, else docker. This value is an addition of this gateway.
	SandboxAuto = "auto"
	// SandboxBwrap is bubblewrap.
	SandboxBwrap = "bwrap"
	// SandboxDocker is docker.
	SandboxDocker = "docker"
	// SandboxPodman is podman.
	SandboxPodman = "podman"
)

// Sandbox is a server's "sandbox" block, beside "config", as the Python
// gateway 2.2 writes it; the keys after UnsharePID are additions of this
// gateway. Fields left empty take the common "sandbox" defaults
// ([SandboxDefaults]), then the built-in ones named on each field.
type Sandbox struct {
	// Enabled runs the server in a sandbox. When false the resource limits
	// below still apply (an addition: the Python gateway ignored them).
	Enabled bool `json:"enabled"`
	// Runtime is "bwrap", "docker", "podman" or "auto"; empty means the
	// default runtime, else auto.
	Runtime string `json:"runtime,omitempty"`
	// Image is the container image of docker and podman; empty means the
	// default image, else node:20-bookworm-slim.
	Image string `json:"image,omitempty"`
	// MemoryLimit caps memory, docker style: "512m", "1g", "1048576";
	// empty means the default, else none.
	MemoryLimit string `json:"memory_limit,omitempty"`
	// CPULimit caps CPU time in cores: "1.0", "0.5"; empty means the
	// default, else none.
	CPULimit string `json:"cpu_limit,omitempty"`
	// PidsLimit caps the processes and threads of the server and its
	// children, enforced even when the gateway runs as root; zero means the
	// default, else none.
	PidsLimit int `json:"pids_limit,omitempty"`
	// Network is "none", "host" or "bridge"; empty means the default, else
	// "none".
	Network string `json:"network,omitempty"`
	// ReadOnly makes a container's root file system read-only; nil means
	// the default, else true. bwrap's system directories are always
	// read-only.
	ReadOnly *bool `json:"read_only,omitempty"`
	// AllowedEnv lists the server's configured env variables that reach it;
	// nil means all of them. Nothing of the gateway's own environment
	// reaches a sandboxed server.
	AllowedEnv []string `json:"allowed_env,omitempty"`
	// ExtraROBinds are host paths the server may read, mounted at the same
	// path.
	ExtraROBinds []string `json:"extra_ro_binds,omitempty"`
	// ExtraRWBinds are host paths the server may read and write.
	ExtraRWBinds []string `json:"extra_rw_binds,omitempty"`
	// UnsharePID gives the server a pid namespace of its own; nil means
	// true.
	UnsharePID *bool `json:"unshare_pid,omitempty"`
	// NetworkAllow lists "host:port" destinations the server may reach.
	// No runtime enforces such a list yet, so a non-empty list makes the
	// server fail to start rather than reach more than listed.
	NetworkAllow []string `json:"network_allow,omitempty"`
	// NoFileLimit caps open files per process; zero means the default,
	// else inherited.
	NoFileLimit int `json:"nofile_limit,omitempty"`

	kept extra
}

// SandboxDefaults is the common "sandbox" block: defaults for every
// server's sandbox.
type SandboxDefaults struct {
	// Enabled sandboxes every stdio server whose entry has no sandbox
	// block; false leaves such servers unsandboxed.
	Enabled bool `json:"enabled"`
	// DefaultRuntime is the runtime of a sandbox that names none; empty
	// means "auto".
	DefaultRuntime string `json:"default_runtime,omitempty"`
	// DefaultImage is the image of a container sandbox that names none.
	DefaultImage string `json:"default_image,omitempty"`
	// DefaultMemoryLimit is the memory_limit of a sandbox that sets none.
	DefaultMemoryLimit string `json:"default_memory_limit,omitempty"`
	// DefaultCPULimit is the cpu_limit of a sandbox that sets none.
	DefaultCPULimit string `json:"default_cpu_limit,omitempty"`
	// DefaultPidsLimit is the pids_limit of a sandbox that sets none.
	DefaultPidsLimit int `json:"default_pids_limit,omitempty"`
	// DefaultNetwork is the network of a sandbox that sets none; empty
	// means "none".
	DefaultNetwork string `json:"default_network,omitempty"`
	// DefaultReadOnly is the read_only of a sandbox that sets none; nil
	// means true.
	DefaultReadOnly *bool `json:"default_read_only,omitempty"`
	// DefaultNoFileLimit is the nofile_limit of a sandbox that sets none.
	DefaultNoFileLimit int `json:"default_nofile_limit,omitempty"`

	kept extra
}

// EffectiveSandbox returns the sandbox of s with the defaults of d filled
// in, or nil when the server is neither sandboxed nor limited. d may be nil.
func EffectiveSandbox(s *Server, d *SandboxDefaults) *Sandbox {
	var sb Sandbox
	switch {
	case s.Sandbox != nil:
		sb = *s.Sandbox
	case d != nil && d.Enabled:
		sb.Enabled = true
	case d == nil:
		return nil
	}
	if d != nil {
		sb.Runtime = or(sb.Runtime, d.DefaultRuntime)
		sb.Image = or(sb.Image, d.DefaultImage)
		sb.MemoryLimit = or(sb.MemoryLimit, d.DefaultMemoryLimit)
		sb.CPULimit = or(sb.CPULimit, d.DefaultCPULimit)
		sb.Network = or(sb.Network, d.DefaultNetwork)
		if sb.PidsLimit == 0 {
			sb.PidsLimit = d.DefaultPidsLimit
		}
		if sb.NoFileLimit == 0 {
			sb.NoFileLimit = d.DefaultNoFileLimit
		}
		if sb.ReadOnly == nil {
			sb.ReadOnly = d.DefaultReadOnly
		}
	}
	if !sb.Enabled && sb.MemoryLimit == "" && sb.CPULimit == "" && sb.PidsLimit == 0 && sb.NoFileLimit == 0 {
		return nil
	}
	sb.Runtime = or(sb.Runtime, SandboxAuto)
	sb.Network = or(sb.Network, "none")
	return &sb
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Problems returns every problem of the sandbox block, each a FieldError
// under path (for example "mcp_configs.X.servers[0].sandbox").
func (sb *Sandbox) Problems(path string) []error {
	var errs []error
	add := func(field, problem, fix string) {
		errs = append(errs, FieldError{Path: path + "." + field, Problem: problem, Fix: fix})
	}
	switch sb.Runtime {
	case "", SandboxAuto, SandboxBwrap, SandboxDocker, SandboxPodman:
	default:
		add("runtime", fmt.Sprintf("unknown runtime %q", sb.Runtime), `use "auto", "bwrap", "docker" or "podman"`)
	}
	switch sb.Network {
	case "", "none", "host", "bridge":
	default:
		add("network", fmt.Sprintf("unknown network %q", sb.Network), `use "none", "host" or "bridge"`)
	}
	if _, err := ParseMemoryLimit(sb.MemoryLimit); err != nil {
		add("memory_limit", err.Error(), `write bytes with an optional k, m or g suffix, e.g. "512m"`)
	}
	if _, err := ParseCPULimit(sb.CPULimit); err != nil {
		add("cpu_limit", err.Error(), `write a positive number of cores, e.g. "1.0"`)
	}
	if sb.PidsLimit < 0 {
		add("pids_limit", "negative", "use a positive number, or 0 for none")
	}
	if sb.NoFileLimit < 0 {
		add("nofile_limit", "negative", "use a positive number, or 0 for none")
	}
	for i, b := range append(append([]string{}, sb.ExtraROBinds...), sb.ExtraRWBinds...) {
		field := fmt.Sprintf("extra_ro_binds[%d]", i)
		if i >= len(sb.ExtraROBinds) {
			field = fmt.Sprintf("extra_rw_binds[%d]", i-len(sb.ExtraROBinds))
		}
		if !strings.HasPrefix(b, "/") {
			add(field, fmt.Sprintf("%q is not an absolute path", b), "write the full path, e.g. /home/me/project")
		}
	}
	return errs
}

// ParseMemoryLimit parses a docker-style memory size: a number of bytes with
// an optional b, k, m or g suffix (case-insensitive, powers of 1024). Empty
// means 0, no limit.
func ParseMemoryLimit(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	num := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	switch {
	case strings.HasSuffix(num, "g"):
		mult, num = 1<<30, strings.TrimSuffix(num, "g")
	case strings.HasSuffix(num, "m"):
		mult, num = 1<<20, strings.TrimSuffix(num, "m")
	case strings.HasSuffix(num, "k"):
		mult, num = 1<<10, strings.TrimSuffix(num, "k")
	case strings.HasSuffix(num, "b"):
		num = strings.TrimSuffix(num, "b")
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n <= 0 || n*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("memory limit %q is not a positive size", s)
	}
	return int64(n * float64(mult)), nil
}

// ParseCPULimit parses a number of cores. Empty means 0, no limit.
func ParseCPULimit(s string) (float64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || n <= 0 || n > 4096 {
		return 0, errors.New("cpu limit " + strconv.Quote(s) + " is not a positive number of cores")
	}
	return n, nil
}

// UnmarshalJSON implements json.Unmarshaler, keeping unknown keys.
func (sb *Sandbox) UnmarshalJSON(b []byte) error {
	type shadow Sandbox
	var v shadow
	ex, err := decodeObject(b, &v)
	if err != nil {
		return err
	}
	*sb = Sandbox(v)
	sb.kept = ex
	return nil
}

// MarshalJSON implements json.Marshaler, writing unknown keys back.
func (sb Sandbox) MarshalJSON() ([]byte, error) {
	type shadow Sandbox
	return encodeObject(shadow(sb), sb.kept)
}

// UnmarshalJSON implements json.Unmarshaler, keeping unknown keys.
func (d *SandboxDefaults) UnmarshalJSON(b []byte) error {
	type shadow SandboxDefaults
	var v shadow
	ex, err := decodeObject(b, &v)
	if err != nil {
		return err
	}
	*d = SandboxDefaults(v)
	d.kept = ex
	return nil
}

// MarshalJSON implements json.Marshaler, writing unknown keys back.
func (d SandboxDefaults) MarshalJSON() ([]byte, error) {
	type shadow SandboxDefaults
	return encodeObject(shadow(d), d.kept)
}
