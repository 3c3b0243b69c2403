package upstream

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// machine describes a host to bwrapCommand: a merged /usr (the /bin, /lib…
// symlinks) and the listed paths.
func machine(paths ...string) (func(string) bool, func(string) (string, bool)) {
	links := map[string]string{"/bin": "usr/bin", "/lib": "usr/lib", "/lib64": "usr/lib64", "/sbin": "usr/sbin"}
	exists := func(p string) bool {
		_, link := links[p]
		return link || p == "/usr" || slices.Contains(paths, p)
	}
	isLink := func(p string) (string, bool) { t, ok := links[p]; return t, ok }
	return exists, isLink
}

// pairs returns the operands of every occurrence of flag in args.
func pairs(args []string, flag string) []string {
	var out []string
	for i, a := range args {
		if a == "--" {
			break
		}
		if a == flag && i+1 < len(args) {
			out = append(out, args[i+1])
		}
	}
	return out
}

func TestBwrapCommand(t *testing.T) {
	exists, isLink := machine("/etc/ssl", "/etc/passwd", "/etc/resolv.conf", "/home/u/.npm", "/home/u/.ssh")
	declared := map[string]string{"API_TOKEN": "t0k", "OTHER": "o"}
	tests := []struct {
		name       string
		sb         Sandbox
		wantFlags  []string // present before "--"
		noFlags    []string // absent
		wantRO     []string // --ro-bind sources
		wantRW     []string
		wantEnv    []string
		notEnvName []string
	}{
		{
			name:      "defaults: every namespace, no network, home hidden",
			sb:        Sandbox{Runtime: RuntimeBwrap},
			wantFlags: []string{"--die-with-parent", "--new-session", "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net"},
			wantRO:    []string{"/usr", "/etc/ssl", "/etc/passwd", "/home/u/.npm", "/opt/srv"},
			wantEnv:   []string{"API_TOKEN=t0k", "HOME=/tmp/home", "OTHER=o", "PATH=" + sandboxPath, "TMPDIR=/tmp", "npm_config_cache=/home/u/.npm"},
		},
		{
			name:       "host network, shared pid, allowed env, binds",
			sb:         Sandbox{Runtime: RuntimeBwrap, Network: NetworkHost, SharePID: true, AllowedEnv: []string{"API_TOKEN"}, ROBinds: []string{"/data/ro"}, RWBinds: []string{"/data/rw"}},
			noFlags:    []string{"--unshare-net", "--unshare-pid"},
			wantRO:     []string{"/usr", "/etc/resolv.conf", "/data/ro"},
			wantRW:     []string{"/data/rw"},
			notEnvName: []string{"OTHER"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := bwrapCommand(&tt.sb, "/opt/srv/bin/server", []string{"--stdio"}, declared, "/home/u", "", exists, isLink)
			i := slices.Index(inv.args, "--")
			if i < 0 || !slices.Equal(inv.args[i+1:], []string{"/opt/srv/bin/server", "--stdio"}) {
				t.Fatalf("command after -- = %v", inv.args)
			}
			for _, f := range tt.wantFlags {
				if !slices.Contains(inv.args[:i], f) {
					t.Errorf("missing %s in %v", f, inv.args)
				}
			}
			for _, f := range tt.noFlags {
				if slices.Contains(inv.args[:i], f) {
					t.Errorf("unexpected %s in %v", f, inv.args)
				}
			}
			ro, rw := pairs(inv.args, "--ro-bind"), pairs(inv.args, "--bind")
			for _, p := range tt.wantRO {
				if !slices.Contains(ro, p) {
					t.Errorf("%s not bound read-only: %v", p, ro)
				}
			}
			if !slices.Equal(rw, tt.wantRW) {
				t.Errorf("read-write binds = %v, want %v", rw, tt.wantRW)
			}
			// The user's home, its secrets and /etc's are never bound.
			for _, p := range append(ro, rw...) {
				if p == "/home/u" || p == "/home/u/.ssh" || p == "/" || p == "/etc" || p == "/etc/shadow" {
					t.Errorf("%s is visible in the sandbox", p)
				}
			}
			if !slices.Contains(pairs(inv.args, "--symlink"), "usr/bin") {
				t.Errorf("merged /bin not recreated as a symlink: %v", inv.args)
			}
			if tt.wantEnv != nil {
				if diff := cmp.Diff(tt.wantEnv, inv.env); diff != "" {
					t.Errorf("env mismatch (-want +got):\n%s", diff)
				}
			}
			for _, n := range tt.notEnvName {
				for _, kv := range inv.env {
					if strings.HasPrefix(kv, n+"=") {
						t.Errorf("%s reached the sandbox despite allowed_env", n)
					}
				}
			}
		})
	}
}

// TestBwrapInstallGrant: the program's install is granted, but never in a
// way that exposes the home or a shared directory such as /tmp.
func TestBwrapInstallGrant(t *testing.T) {
	exists, isLink := machine()
	tests := []struct{ program, want string }{
		{"/opt/node/bin/node", "/opt/node"},
		{"/home/u/.nvm/versions/node/v20/bin/node", "/home/u/.nvm/versions/node/v20"},
		{"/home/u/bin/server", "/home/u/bin"}, // not /home/u
		{"/home/u/server", "/home/u/server"},  // not the home
		{"/tmp/server", "/tmp/server"},        // not /tmp
		{"/tmp/build-1/server", "/tmp/build-1"},
		{"/server", "/server"},        // not /
		{"/usr/local/bin/server", ""}, // under /usr, already visible
	}
	for _, tt := range tests {
		inv := bwrapCommand(&Sandbox{Runtime: RuntimeBwrap}, tt.program, nil, nil, "/home/u", "", exists, isLink)
		ro := pairs(inv.args, "--ro-bind")
		var got []string
		for _, p := range ro {
			if p != "/usr" {
				got = append(got, p)
			}
		}
		want := []string{tt.want}
		if tt.want == "" {
			want = nil
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: granted %v, want %v", tt.program, got, want)
		}
	}
}

func TestContainerCommand(t *testing.T) {
	sb := &Sandbox{Runtime: RuntimeDocker, ReadOnly: true, Limits: Limits{MemoryBytes: 512 << 20, CPUs: 1.5, Pids: 64, NoFile: 1024},
		AllowedEnv: []string{"API_TOKEN"}, ROBinds: []string{"/data"}, RWBinds: []string{"/out"}}
	inv := containerCommand(RuntimeDocker, sb, "my server", "npx", []string{"-y", "pkg"}, []string{"PATH=/usr/bin"},
		map[string]string{"API_TOKEN": "s3cret", "OTHER": "x"}, 4242)
	want := []string{"run", "--rm", "-i", "--init", "--name", inv.name,
		"--label", "secure-mcp-gateway=1", "--label", "secure-mcp-gateway.gateway-pid=4242",
		"--network", "none", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
		"--read-only", "--tmpfs", "/tmp", "--memory", "536870912", "--memory-swap", "536870912", "--cpus", "1.5",
		"--pids-limit", "64", "--ulimit", "nofile=1024:1024", "-e", "API_TOKEN",
		"-v", "/data:/data:ro", "-v", "/out:/out", "--workdir", "/tmp", DefaultImage, "npx", "-y", "pkg"}
	if diff := cmp.Diff(want, inv.args); diff != "" {
		t.Errorf("docker argv mismatch (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(inv.name, "smcp-my-server-") {
		t.Errorf("container name %q", inv.name)
	}
	if strings.Contains(strings.Join(inv.args, " "), "s3cret") {
		t.Error("an env value is on the engine's command line (visible in ps)")
	}
	if diff := cmp.Diff([]string{"PATH=/usr/bin", "API_TOKEN=s3cret"}, inv.env); diff != "" {
		t.Errorf("engine client env mismatch (-want +got):\n%s", diff)
	}
	pod := containerCommand(RuntimePodman, &Sandbox{Network: NetworkBridge, Image: "python:3.12"}, "s", "uvx", nil, nil, nil, 1)
	for _, w := range [][]string{{"--network", "bridge"}, {"--userns", "keep-id"}} {
		if i := slices.Index(pod.args, w[0]); i < 0 || pod.args[i+1] != w[1] {
			t.Errorf("podman argv lacks %v: %v", w, pod.args)
		}
	}
	if slices.Contains(pod.args, "--read-only") || pod.args[len(pod.args)-2] != "python:3.12" {
		t.Errorf("podman argv = %v", pod.args)
	}
}

func TestLeftoverContainers(t *testing.T) {
	ps := "smcp-a-1 100\nsmcp-b-2 200\nsmcp-c-3 notapid\n\n"
	got := leftoverContainers(ps, func(pid int) bool { return pid == 100 })
	if diff := cmp.Diff([]string{"smcp-b-2", "smcp-c-3"}, got); diff != "" {
		t.Errorf("leftovers mismatch (-want +got):\n%s", diff)
	}
}

func TestSupervisorArgsRoundTrip(t *testing.T) {
	in := supervisorArgs{Limits: Limits{MemoryBytes: 1 << 30, CPUs: 0.5, Pids: 64, NoFile: 256},
		exec: true, join: []string{"/sys/fs/cgroup/pids/x/cgroup.procs"}, engine: "/usr/bin/docker", container: "smcp-x"}
	argv := append(in.args(), "/bin/server", "--flag")
	got, cmd, err := parseSupervisorArgs(argv)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, *got, cmp.AllowUnexported(supervisorArgs{})); diff != "" {
		t.Errorf("round trip mismatch (-want +got):\n%s", diff)
	}
	if !slices.Equal(cmd, []string{"/bin/server", "--flag"}) {
		t.Errorf("command = %v", cmd)
	}
	// An argv without options is all command, as before limits existed.
	if _, cmd, err := parseSupervisorArgs([]string{"/bin/server", "--x"}); err != nil || len(cmd) != 2 {
		t.Errorf("plain argv: %v %v", cmd, err)
	}
	for _, bad := range [][]string{nil, {"--pids=x", "--", "/bin/s"}, {"--bogus", "--", "/bin/s"}, {"--pids=1"}, {"--pids=1", "--"}} {
		if _, _, err := parseSupervisorArgs(bad); err == nil {
			t.Errorf("parseSupervisorArgs(%q) accepted", bad)
		}
	}
}

func TestSandboxErrorNamesRuntimeAndFix(t *testing.T) {
	_, err := sandboxInvocation(&Sandbox{Runtime: RuntimeBwrap, NetworkAllow: []string{"api.example.com:443"}},
		"s", "srv", "/bin/srv", nil, nil, nil)
	var se *SandboxError
	if !errors.As(err, &se) || se.Runtime != RuntimeBwrap || !errors.Is(err, ErrNetworkAllowList) || se.Fix == "" {
		t.Fatalf("err = %v, want a *SandboxError for bwrap wrapping ErrNetworkAllowList with a fix", err)
	}
	_, err = sandboxInvocation(&Sandbox{Runtime: "chroot"}, "s", "srv", "/bin/srv", nil, nil, nil)
	if !errors.As(err, &se) || se.Runtime != "chroot" {
		t.Errorf("unknown runtime: err = %v", err)
	}
}
