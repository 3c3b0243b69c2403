package upstream

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// sandboxHome is the HOME of a sandboxed server: an empty directory in its
// private /tmp.
const sandboxHome = "/tmp/home"

// sandboxPath is the PATH of a sandboxed server whose env declares none.
const sandboxPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// bwrapSystemDirs are the system directories a bwrap sandbox sees,
// read-only; a symlink (merged /usr) is recreated as a symlink.
var bwrapSystemDirs = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}

// bwrapEtc are the files and directories of /etc a server needs to run
// programs, resolve users and check TLS certificates. Nothing else of /etc
// (shadow, ssh host keys, sudoers…) is visible.
var bwrapEtc = []string{
	"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives",
	"/etc/ssl", "/etc/ca-certificates", "/etc/pki", "/etc/crypto-policies",
	"/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/localtime", "/etc/timezone",
	"/etc/mime.types", "/etc/os-release",
}

// bwrapNetEtc are the /etc files of name resolution, visible only when the
// server has the network.
var bwrapNetEtc = []string{"/etc/resolv.conf", "/etc/hosts", "/etc/host.conf", "/etc/gai.conf"}

// packageCaches are the package caches, relative to the user's home, that a
// bwrap sandbox sees read-only at their host path, with the variable that
// points the tool at them (HOME inside is another, empty, directory).
var packageCaches = []struct{ rel, env string }{
	{".npm", "npm_config_cache"},
	{".cache/uv", "UV_CACHE_DIR"},
	{".cache/pip", "PIP_CACHE_DIR"},
	{".cache/node/corepack", "COREPACK_HOME"},
}

// bwrapInvocation is the argv (without the bwrap program) and environment
// that run a server's command under bubblewrap.
type bwrapInvocation struct {
	args []string
	env  []string
}

// bwrapCommand builds the bubblewrap invocation of the program path (already
// resolved) with args, sandboxed by sb. declared is the server's configured
// environment, filtered here by sb.AllowedEnv; hostHome is the user's home,
// whose package caches are granted read-only; lang is the gateway's LANG;
// exists reports whether a host path exists, and isLink whether it is a
// symlink (and to what), so that tests can describe a machine.
//
// The sandbox has new user, pid (unless SharePID), ipc, uts, cgroup and
// (unless the network is host or bridge) network namespaces; the system
// directories and a minimal /etc read-only; a private /proc, /dev and /tmp;
// HOME an empty directory in that /tmp; the program's own install directory
// and the granted binds; nothing else of the host, so no part of the user's
// home is visible unless granted. The server dies with its parent and runs
// in a new session (no TIOCSTI into the gateway's terminal).
func bwrapCommand(sb *Sandbox, path string, args []string, declared map[string]string, hostHome, lang string,
	exists func(string) bool, isLink func(string) (string, bool)) bwrapInvocation {
	a := []string{
		"--die-with-parent", "--new-session",
		"--unshare-user", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
		"--hostname", "sandbox",
	}
	if !sb.SharePID {
		a = append(a, "--unshare-pid")
	}
	isolated := sb.Network != NetworkHost && sb.Network != NetworkBridge
	if isolated {
		a = append(a, "--unshare-net")
	}
	var bound []string // real directories bound, which cover what lies under them
	for _, d := range bwrapSystemDirs {
		if target, ok := isLink(d); ok {
			a = append(a, "--symlink", target, d)
		} else if exists(d) {
			a = append(a, "--ro-bind", d, d)
			bound = append(bound, d)
		}
	}
	etc := bwrapEtc
	if !isolated {
		etc = append(slices.Clone(etc), bwrapNetEtc...)
	}
	for _, f := range etc {
		if exists(f) {
			a = append(a, "--ro-bind", f, f)
		}
	}
	a = append(a, "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--dir", sandboxHome)

	// The program's own install (a gateway binary in a build directory, a
	// node under ~/.nvm), unless the system directories hold it already.
	env := map[string]string{}
	if dir := installGrant(path, hostHome); !underAny(dir, bound) {
		a = append(a, "--ro-bind", dir, dir)
	}
	if hostHome != "" {
		for _, c := range packageCaches {
			p := filepath.Join(hostHome, c.rel)
			if exists(p) {
				a = append(a, "--ro-bind", p, p)
				env[c.env] = p
			}
		}
	}
	for _, p := range sb.ROBinds {
		a = append(a, "--ro-bind", p, p)
	}
	for _, p := range sb.RWBinds {
		a = append(a, "--bind", p, p)
	}
	a = append(a, "--chdir", "/tmp", "--")
	a = append(a, path)
	a = append(a, args...)

	env["HOME"] = sandboxHome
	env["TMPDIR"] = "/tmp"
	env["PATH"] = sandboxPath
	if lang != "" {
		env["LANG"] = lang
	}
	for k, v := range declared {
		if sb.AllowedEnv == nil || slices.Contains(sb.AllowedEnv, k) {
			env[k] = v
		}
	}
	return bwrapInvocation{args: a, env: sortedEnv(env)}
}

// installGrant returns what to grant, read-only, for the program at path:
// the install prefix when the program sits in a bin directory (node's lib
// beside its bin), else the program's directory, else the program alone;
// the first that does not expose the home or a shared directory (a program
// in ~/bin must not grant ~, one in /tmp must not grant /tmp).
func installGrant(path, hostHome string) string {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	dir := filepath.Dir(path)
	var candidates []string
	if filepath.Base(dir) == "bin" {
		candidates = append(candidates, filepath.Dir(dir))
	}
	for _, c := range append(candidates, dir) {
		if grantable(c, hostHome) {
			return c
		}
	}
	return path
}

// grantable reports whether directory p may be granted whole: it is not a
// shared top-level directory, nor the home or a directory above it.
func grantable(p, hostHome string) bool {
	switch p {
	case "/", "/tmp", "/var", "/var/tmp", "/dev", "/dev/shm", "/run", "/home", "/root", "/etc", "/srv", "/mnt", "/media":
		return false
	}
	return hostHome == "" || p != hostHome && !strings.HasPrefix(hostHome, p+"/")
}

// underAny reports whether p is one of dirs or lies under one of them.
func underAny(p string, dirs []string) bool {
	for _, d := range dirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

func sortedEnv(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// hostExists and hostLink describe the real machine to bwrapCommand.
func hostExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func hostLink(p string) (string, bool) {
	fi, err := os.Lstat(p)
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		return "", false
	}
	target, err := os.Readlink(p)
	return target, err == nil
}
