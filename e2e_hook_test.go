package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"secure-mcp-gateway/audit"
	"secure-mcp-gateway/hook"
	"secure-mcp-gateway/internal/config"
)

// hookRun is one run of `secure-mcp-gateway hook <client>`.
type hookRun struct {
	code           int
	stdout, stderr string
}

// runHookBin runs the real gateway binary as a client runs its hook: the
// event on stdin, HOME pointing at an empty folder (no default config)
// unless cfgPath is set.
func runHookBin(t *testing.T, client, cfgPath string, event []byte) hookRun {
	t.Helper()
	return runHookProg(t, gatewayBin, hookArgs(false, client, cfgPath), gatewayEnv("HOME="+t.TempDir(), "USERPROFILE="+t.TempDir()), event)
}

// hookArgs is the command line of a hook for client: the gateway's
// `[--config PATH] hook CLIENT`, or with lean the hook binary's
// `[--config PATH] CLIENT`.
func hookArgs(lean bool, client, cfgPath string) []string {
	var args []string
	if cfgPath != "" {
		args = []string{"--config", cfgPath}
	}
	if !lean {
		args = append(args, "hook")
	}
	return append(args, client)
}

// runHookProg runs bin with args and env, the event on stdin.
func runHookProg(t *testing.T, bin string, args, env []string, event []byte) hookRun {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdin = bytes.NewReader(event)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run hook: %v", err)
	}
	return hookRun{code, stdout.String(), stderr.String()}
}

// leanHook is the secure-mcp-gateway-hook binary, built once.
var leanHook struct {
	once sync.Once
	path string
	err  error
}

// leanHookBin builds cmd/secure-mcp-gateway-hook once (with -race when the
// tests run with it) into a folder of its own: not next to gatewayBin, so
// that `install --hooks` run from gatewayBin keeps writing the gateway's
// own hook command.
func leanHookBin(t testing.TB) string {
	t.Helper()
	leanHook.once.Do(func() {
		leanHook.path = filepath.Join(filepath.Dir(gatewayBin), "lean", hookBinaryName)
		args := []string{"build", "-o", leanHook.path}
		if raceEnabled {
			args = append(args, "-race")
		}
		if out, err := exec.Command("go", append(args, "./cmd/secure-mcp-gateway-hook")...).CombinedOutput(); err != nil {
			leanHook.err = fmt.Errorf("build the hook binary: %v\n%s", err, out)
		}
	})
	if leanHook.err != nil {
		t.Fatal(leanHook.err)
	}
	return leanHook.path
}

func readHookFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "hooks", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jsonAt returns the value at a dotted path of the JSON object s.
func jsonAt(t *testing.T, s, path string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, s)
	}
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// TestHookEvents feeds each client's documented event JSON to the real
// binary with the built-in policies and checks the answer's shape: what
// decides, the guardrail named in the reason, and no secret echoed.
func TestHookEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fixture, client string
		code            int
		want            map[string]any // dotted path -> value in stdout JSON
		reason          string         // dotted path of the reason
		reasonHas       string
		emptyStdout     bool
		stderrHas       string
	}{
		{fixture: "claude_pretooluse_bash_aws_key.json", client: "claude-code",
			want:   map[string]any{"hookSpecificOutput.hookEventName": "PreToolUse", "hookSpecificOutput.permissionDecision": "deny"},
			reason: "hookSpecificOutput.permissionDecisionReason", reasonHas: "secrets (aws_access_key_id) in tool_input.command"},
		{fixture: "claude_userpromptsubmit_card.json", client: "claude-code",
			want:   map[string]any{"decision": "block"},
			reason: "reason", reasonHas: "pii (card) in prompt"},
		{fixture: "claude_pretooluse_webfetch_metadata.json", client: "claude-code",
			want:   map[string]any{"hookSpecificOutput.permissionDecision": "deny"},
			reason: "hookSpecificOutput.permissionDecisionReason", reasonHas: "ssrf (metadata) in tool_input.url"},
		{fixture: "claude_posttooluse_injection.json", client: "claude-code",
			want:   map[string]any{"decision": "block"},
			reason: "reason", reasonHas: "injection_attack"},
		{fixture: "claude_pretooluse_edit_benign.json", client: "claude-code", emptyStdout: true},
		{fixture: "claude_sessionstart.json", client: "claude-code", emptyStdout: true},
		{fixture: "claude_unknown_event.json", client: "claude-code", code: 1, emptyStdout: true,
			stderrHas: "SomeFutureEvent: unknown event"},
		{fixture: "malformed.json", client: "claude-code", code: 1, emptyStdout: true,
			stderrHas: "not a hook event JSON object"},
		{fixture: "cursor_beforeshellexecution_aws_key.json", client: "cursor",
			want:   map[string]any{"permission": "deny"},
			reason: "agent_message", reasonHas: "secrets (aws_access_key_id) in command"},
		{fixture: "cursor_beforesubmitprompt_card.json", client: "cursor",
			want:   map[string]any{"continue": false},
			reason: "user_message", reasonHas: "pii (card) in prompt"},
		{fixture: "cursor_beforemcpexecution_metadata.json", client: "cursor",
			want:   map[string]any{"permission": "deny"},
			reason: "userMessage", reasonHas: "ssrf (metadata) in tool_input.url"},
		{fixture: "cursor_beforereadfile_ssh_key.json", client: "cursor",
			want:   map[string]any{"permission": "deny"},
			reason: "agentMessage", reasonHas: "path_traversal (sensitive_file) in file_path"},
		{fixture: "cursor_beforeshellexecution_benign.json", client: "cursor",
			want: map[string]any{"permission": "allow"}},
		{fixture: "cursor_afterfileedit_benign.json", client: "cursor", want: map[string]any{}},
		{fixture: "cursor_aftermcpexecution_injection.json", client: "cursor", want: map[string]any{},
			stderrHas: "injection_attack (instruction_override)"},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			t.Parallel()
			r := runHookBin(t, tt.client, "", readHookFixture(t, tt.fixture))
			if r.code != tt.code {
				t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			if tt.emptyStdout {
				if strings.TrimSpace(r.stdout) != "" {
					t.Errorf("stdout %q, want none", r.stdout)
				}
			} else if jsonAt(t, r.stdout, "nonexistent") != nil || r.stdout == "" {
				t.Fatalf("stdout %q, want a JSON object", r.stdout)
			}
			for p, want := range tt.want {
				if got := jsonAt(t, r.stdout, p); got != want {
					t.Errorf("%s = %#v, want %#v\nstdout: %s", p, got, want, r.stdout)
				}
			}
			if tt.reason != "" {
				got, _ := jsonAt(t, r.stdout, tt.reason).(string)
				if !strings.Contains(got, tt.reasonHas) {
					t.Errorf("%s = %q, want it to contain %q", tt.reason, got, tt.reasonHas)
				}
			}
			if tt.stderrHas != "" && !strings.Contains(r.stderr, tt.stderrHas) {
				t.Errorf("stderr %q, want it to contain %q", r.stderr, tt.stderrHas)
			}
			for _, secret := range []string{"AKIAIOSFODNN7EXAMPLE", "4111 1111 1111 1111"} {
				if strings.Contains(r.stdout+r.stderr, secret) {
					t.Errorf("the answer echoes %q:\nstdout: %s\nstderr: %s", secret, r.stdout, r.stderr)
				}
			}
		})
	}
}

// TestHookLeanSameAnswers runs the secure-mcp-gateway-hook binary and the
// gateway's `hook` command side by side on every fixture of
// testdata/hooks/ (and a 10 KB event), for both clients, with the built-in
// defaults, a hooks block passed by --config and by ENKRYPT_CONFIG_PATH, a
// block naming an unknown detector and a missing config file: exit code,
// stdout and stderr must be the same byte for byte.
func TestHookLeanSameAnswers(t *testing.T) {
	t.Parallel()
	lean := leanHookBin(t)
	fixtures, err := filepath.Glob(filepath.Join("testdata", "hooks", "*.json"))
	if err != nil || len(fixtures) < 10 {
		t.Fatalf("fixtures: %v, %d found", err, len(fixtures))
	}
	events := map[string][]byte{}
	for _, f := range fixtures {
		events[filepath.Base(f)] = readHookFixture(t, filepath.Base(f))
	}
	big, err := json.Marshal(map[string]any{"hook_event_name": "PreToolUse", "tool_name": "Write",
		"tool_input": map[string]any{"file_path": "/p/a.go", "content": strings.Repeat("x := 1 // AKIAIOSFODNN7EXAMPLE\n", 10<<10/32)}})
	if err != nil {
		t.Fatal(err)
	}
	events["10KB PreToolUse Write"] = big

	on := func(block ...string) *config.HookPolicy { return &config.HookPolicy{Enabled: true, Block: block} }
	ask := on("secrets", "ssrf", "keyword_detector")
	ask.Action, ask.Keywords, ask.SensitiveTools = config.HookActionAsk, []string{"rm -rf"}, []string{"Bash", "WebFetch", "Shell"}
	f := newFixture(t)
	f.cfg.Hooks = &config.Hooks{FailMode: config.HookFailClosed,
		ClaudeCode: map[string]*config.HookPolicy{"PreToolUse": ask, "UserPromptSubmit": {Enabled: false}},
		Cursor:     map[string]*config.HookPolicy{"beforeShellExecution": ask, "afterMCPExecution": on("secrets")}}
	f.save(t)
	policy := f.path
	bad := newFixture(t)
	bad.cfg.Hooks = &config.Hooks{Cursor: map[string]*config.HookPolicy{"beforeShellExecution": on("secrets", "secretz")}}
	b, err := config.Marshal(bad.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad.path, b, 0o600); err != nil {
		t.Fatal(err)
	}

	type variant struct {
		name, cfgFlag, cfgEnv string
		all                   bool // every event, else one per client
	}
	variants := []variant{
		{name: "defaults", all: true},
		{name: "policy", cfgFlag: policy, all: true},
		{name: "env", cfgEnv: policy},
		{name: "unknown detector", cfgFlag: bad.path},
		{name: "missing config", cfgFlag: filepath.Join(t.TempDir(), "none.json")},
	}
	one := map[string]string{"claude-code": "claude_pretooluse_bash_aws_key.json", "cursor": "cursor_beforeshellexecution_aws_key.json"}
	var mu sync.Mutex
	answered, codes := 0, map[int]bool{}
	t.Run("pairs", func(t *testing.T) {
		for _, v := range variants {
			for _, client := range []string{"claude-code", "cursor"} {
				for name, event := range events {
					if !v.all && name != one[client] {
						continue
					}
					t.Run(v.name+"/"+client+"/"+name, func(t *testing.T) {
						t.Parallel()
						home := t.TempDir()
						env := gatewayEnv("HOME="+home, "USERPROFILE="+home)
						if v.cfgEnv != "" {
							env = append(env, EnvConfigPath+"="+v.cfgEnv)
						}
						full := runHookProg(t, gatewayBin, hookArgs(false, client, v.cfgFlag), env, event)
						small := runHookProg(t, lean, hookArgs(true, client, v.cfgFlag), env, event)
						if full != small {
							t.Errorf("answers differ\ngateway hook: exit %d\nstdout: %q\nstderr: %q\nhook binary: exit %d\nstdout: %q\nstderr: %q",
								full.code, full.stdout, full.stderr, small.code, small.stdout, small.stderr)
						}
						mu.Lock()
						defer mu.Unlock()
						codes[full.code] = true
						if strings.Contains(full.stdout, "deny") || strings.Contains(full.stdout, `"ask"`) {
							answered++
						}
					})
				}
			}
		}
	})
	// The pairs must have covered blocks, asks and both fail modes, not
	// only agreed on nothing.
	if answered < 5 || !codes[0] || !codes[1] || !codes[2] {
		t.Errorf("the pairs covered %d deny/ask answers and exit codes %v; want blocks and exits 0, 1 and 2", answered, codes)
	}
}

// TestHookConfig runs the hook under a config's hooks block: fail_mode
// closed turns a malformed event into a block (exit 2), a disabled event
// lets a credit card through, "ask" asks, sensitive_tools limit the check,
// and an unknown detector is reported with its path and the fail mode.
func TestHookConfig(t *testing.T) {
	t.Parallel()
	write := func(t *testing.T, h *config.Hooks) string {
		f := newFixture(t)
		f.cfg.Hooks = h
		f.save(t)
		return f.path
	}
	on := func(block ...string) *config.HookPolicy { return &config.HookPolicy{Enabled: true, Block: block} }

	t.Run("fail closed", func(t *testing.T) {
		t.Parallel()
		p := write(t, &config.Hooks{FailMode: config.HookFailClosed})
		for _, client := range []string{"claude-code", "cursor"} {
			r := runHookBin(t, client, p, readHookFixture(t, "malformed.json"))
			if r.code != 2 || !strings.Contains(r.stderr, "fail_mode is closed") {
				t.Errorf("%s: exit %d stderr %q, want 2 and the fail mode named", client, r.code, r.stderr)
			}
		}
	})
	t.Run("disabled event", func(t *testing.T) {
		t.Parallel()
		p := write(t, &config.Hooks{ClaudeCode: map[string]*config.HookPolicy{"UserPromptSubmit": {Enabled: false}}})
		r := runHookBin(t, "claude-code", p, readHookFixture(t, "claude_userpromptsubmit_card.json"))
		if r.code != 0 || strings.TrimSpace(r.stdout) != "" {
			t.Errorf("exit %d stdout %q, want 0 and no answer", r.code, r.stdout)
		}
	})
	t.Run("ask", func(t *testing.T) {
		t.Parallel()
		pol := on("secrets")
		pol.Action = config.HookActionAsk
		p := write(t, &config.Hooks{ClaudeCode: map[string]*config.HookPolicy{"PreToolUse": pol}})
		r := runHookBin(t, "claude-code", p, readHookFixture(t, "claude_pretooluse_bash_aws_key.json"))
		if got := jsonAt(t, r.stdout, "hookSpecificOutput.permissionDecision"); got != "ask" {
			t.Errorf("permissionDecision %v, want ask\n%s", got, r.stdout)
		}
	})
	t.Run("sensitive tools", func(t *testing.T) {
		t.Parallel()
		pol := on("secrets", "ssrf")
		pol.SensitiveTools = []string{"Write", "mcp__*__delete*"}
		p := write(t, &config.Hooks{ClaudeCode: map[string]*config.HookPolicy{"PreToolUse": pol}})
		r := runHookBin(t, "claude-code", p, readHookFixture(t, "claude_pretooluse_bash_aws_key.json"))
		if r.code != 0 || strings.TrimSpace(r.stdout) != "" {
			t.Errorf("Bash is not a sensitive tool here: exit %d stdout %q, want 0 and no answer", r.code, r.stdout)
		}
	})
	t.Run("unknown detector", func(t *testing.T) {
		t.Parallel()
		// Save refuses an unknown detector, so the file is written as a
		// user would have edited it.
		f := newFixture(t)
		f.cfg.Hooks = &config.Hooks{Cursor: map[string]*config.HookPolicy{"beforeShellExecution": on("secrets", "secretz")}}
		b, err := config.Marshal(f.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f.path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		p := f.path
		r := runHookBin(t, "cursor", p, readHookFixture(t, "cursor_beforeshellexecution_benign.json"))
		if r.code != 1 || !strings.Contains(r.stderr, `hooks.cursor.beforeShellExecution.block[1]: unknown detector "secretz"`) ||
			!strings.Contains(r.stderr, `did you mean "secrets"`) {
			t.Errorf("exit %d stderr %q, want 1 (fail open) naming the field", r.code, r.stderr)
		}
	})
}

// BenchmarkHookProcess measures what a client waits for on every tool call:
// the whole hook process (start, read the config, judge a 10 KB PreToolUse
// Write event, answer, exit), with the config file present, for the
// gateway's `hook` command and for the secure-mcp-gateway-hook binary; and
// as baselines, each program started only to print its version or usage,
// and true(1).
// Run without -race for a figure that means anything.
func BenchmarkHookProcess(b *testing.B) {
	f := newBenchFixture(b)
	content := strings.Repeat("func add(a, b int) int { return a + b } // plain Go source\n", 10<<10/58)
	event, err := json.Marshal(map[string]any{
		"session_id": "bench", "cwd": "/home/u/p", "hook_event_name": "PreToolUse", "tool_name": "Write",
		"tool_input": map[string]any{"file_path": "/home/u/p/add.go", "content": content},
	})
	if err != nil {
		b.Fatal(err)
	}
	lean := leanHookBin(b)
	env := gatewayEnv()
	// true(1) is the floor: what starting any process costs here,
	// measured the same way.
	trueBin, err := exec.LookPath("true")
	if err != nil {
		b.Fatal(err)
	}
	for _, bm := range []struct {
		name    string
		bin     string
		args    []string
		event   []byte
		wantOut bool
	}{
		{"gateway-hook", gatewayBin, hookArgs(false, "claude-code", f.path), event, false},
		{"hook-binary", lean, hookArgs(true, "claude-code", f.path), event, false},
		{"gateway-version", gatewayBin, []string{"--version"}, nil, true},
		{"hook-binary-help", lean, []string{"--help"}, nil, true},
		{"true", trueBin, nil, nil, false},
	} {
		b.Run(bm.name, func(b *testing.B) {
			if bm.event != nil {
				b.SetBytes(int64(len(bm.event)))
			}
			var runs []time.Duration
			for b.Loop() {
				cmd := exec.Command(bm.bin, bm.args...)
				cmd.Env = env
				cmd.Stdin = bytes.NewReader(bm.event)
				start := time.Now()
				out, err := cmd.Output()
				runs = append(runs, time.Since(start))
				if err != nil || (len(out) != 0) != bm.wantOut {
					b.Fatalf("%s: %v, stdout %q", bm.name, err, out)
				}
			}
			// On a shared machine the mean follows the load; the minimum
			// and the median say more about the program.
			slices.Sort(runs)
			b.ReportMetric(float64(runs[0])/1e6, "min-ms")
			b.ReportMetric(float64(runs[len(runs)/2])/1e6, "median-ms")
		})
	}
}

// TestInstallHooks installs the hooks for both clients into files that
// already hold other hooks and keys: those survive, the old file is backed
// up, the command is the absolute binary path with --config, installing
// twice leaves one entry per event, and the installed command really runs
// as a hook. A dry run writes nothing.
func TestInstallHooks(t *testing.T) {
	skipUnlessLinux(t)
	t.Parallel()
	tests := []struct {
		client, file, existing string
		events                 []string
		command                func(t *testing.T, doc map[string]any, event string) []string
	}{
		{client: "claude-code", file: ".claude/settings.json",
			existing: `{"model":"opus","hooks":{"PreToolUse":[{"matcher":"Bash","hooks":[{"type":"command","command":"/usr/local/bin/mine"}]}]}}`,
			events:   []string{"UserPromptSubmit", "PreToolUse", "PostToolUse"},
			command: func(t *testing.T, doc map[string]any, event string) []string {
				var cmds []string
				for _, g := range doc["hooks"].(map[string]any)[event].([]any) {
					for _, h := range g.(map[string]any)["hooks"].([]any) {
						cmds = append(cmds, h.(map[string]any)["command"].(string))
					}
				}
				return cmds
			}},
		{client: "cursor", file: ".cursor/hooks.json",
			existing: `{"version":1,"hooks":{"beforeShellExecution":[{"command":"/usr/local/bin/mine"}],"stop":[{"command":"./audit.sh"}]}}`,
			events:   []string{"beforeSubmitPrompt", "beforeShellExecution", "beforeMCPExecution", "afterMCPExecution", "beforeReadFile", "afterFileEdit"},
			command: func(t *testing.T, doc map[string]any, event string) []string {
				var cmds []string
				for _, h := range doc["hooks"].(map[string]any)[event].([]any) {
					cmds = append(cmds, h.(map[string]any)["command"].(string))
				}
				return cmds
			}},
	}
	for _, tt := range tests {
		t.Run(tt.client, func(t *testing.T) {
			t.Parallel()
			e := newCLIEnv(t)
			e.must(t, "generate-config")
			path := filepath.Join(e.home, tt.file)
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(tt.existing), 0o600); err != nil {
				t.Fatal(err)
			}
			out := e.must(t, "install", tt.client, "--hooks", "--dry-run")
			if !strings.Contains(out, "would write the hooks to "+path) {
				t.Errorf("dry run output:\n%s", out)
			}
			if b, _ := os.ReadFile(path); string(b) != tt.existing {
				t.Fatalf("dry run changed %s:\n%s", path, b)
			}
			e.must(t, "install", tt.client, "--hooks")
			out = e.must(t, "install", "--client", tt.client, "--hooks")
			if !strings.Contains(out, "Backup of the previous hooks file: "+path+".bkp.") {
				t.Errorf("no backup reported:\n%s", out)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatalf("%s is not JSON: %v\n%s", path, err, b)
			}
			if !strings.Contains(string(b), "/usr/local/bin/mine") || (tt.client == "claude-code" && doc["model"] != "opus") ||
				(tt.client == "cursor" && !strings.Contains(string(b), "./audit.sh")) {
				t.Errorf("other hooks or keys were lost:\n%s", b)
			}
			var ours string
			for _, ev := range tt.events {
				var n int
				for _, c := range tt.command(t, doc, ev) {
					if strings.HasSuffix(c, " hook "+tt.client) {
						n++
						ours = c
					}
				}
				if n != 1 {
					t.Errorf("%s: %d gateway hooks, want 1\n%s", ev, n, b)
				}
			}
			if !strings.HasPrefix(ours, gatewayBin+" --config "+e.cfg+" hook ") {
				t.Errorf("hook command %q, want the absolute binary and --config", ours)
			}
			// The installed command line works as a hook.
			fixture := "claude_pretooluse_bash_aws_key.json"
			if tt.client == "cursor" {
				fixture = "cursor_beforeshellexecution_aws_key.json"
			}
			sh := exec.Command("/bin/sh", "-c", ours)
			sh.Env = gatewayEnv("HOME=" + e.home)
			sh.Stdin = bytes.NewReader(readHookFixture(t, fixture))
			got, err := sh.Output()
			if err != nil || !strings.Contains(string(got), "deny") {
				t.Errorf("installed hook: %v, stdout %s", err, got)
			}
		})
	}
}

// TestInstallHooksLean installs the hooks from a gateway binary that has
// secure-mcp-gateway-hook beside it: the entries run the hook binary (with
// --config) and work as hooks. Installing again once the hook binary is
// gone replaces them with the gateway's `hook` command, one entry per
// event.
func TestInstallHooksLean(t *testing.T) {
	skipUnlessLinux(t)
	t.Parallel()
	lean := leanHookBin(t)
	tests := []struct {
		client, file, event, fixture string
		commands                     func(doc map[string]any) []string
	}{
		{client: "claude-code", file: ".claude/settings.json", event: "PreToolUse", fixture: "claude_pretooluse_bash_aws_key.json",
			commands: func(doc map[string]any) (out []string) {
				for _, g := range doc["hooks"].(map[string]any)["PreToolUse"].([]any) {
					for _, h := range g.(map[string]any)["hooks"].([]any) {
						out = append(out, h.(map[string]any)["command"].(string))
					}
				}
				return out
			}},
		{client: "cursor", file: ".cursor/hooks.json", event: "beforeShellExecution", fixture: "cursor_beforeshellexecution_aws_key.json",
			commands: func(doc map[string]any) (out []string) {
				for _, h := range doc["hooks"].(map[string]any)["beforeShellExecution"].([]any) {
					out = append(out, h.(map[string]any)["command"].(string))
				}
				return out
			}},
	}
	for _, tt := range tests {
		t.Run(tt.client, func(t *testing.T) {
			t.Parallel()
			dir, home := t.TempDir(), t.TempDir()
			cfg := filepath.Join(t.TempDir(), "enkrypt_mcp_config.json")
			gw, hk := filepath.Join(dir, "secure-mcp-gateway"), filepath.Join(dir, hookBinaryName)
			linkOrCopy(t, gatewayBin, gw)
			linkOrCopy(t, lean, hk)
			env := gatewayEnv("HOME="+home, "USERPROFILE="+home)
			gateway := func(args ...string) {
				t.Helper()
				cmd := exec.Command(gw, append([]string{"--config", cfg}, args...)...)
				cmd.Env = env
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("%v: %v\n%s", args, err, out)
				}
			}
			installed := func() []string {
				t.Helper()
				b, err := os.ReadFile(filepath.Join(home, tt.file))
				if err != nil {
					t.Fatal(err)
				}
				var doc map[string]any
				if err := json.Unmarshal(b, &doc); err != nil {
					t.Fatal(err)
				}
				return tt.commands(doc)
			}
			gateway("generate-config")
			gateway("install", tt.client, "--hooks")
			want := hk + " --config " + cfg + " " + tt.client
			if got := installed(); len(got) != 1 || got[0] != want {
				t.Fatalf("%s hooks %q, want [%q]", tt.event, got, want)
			}
			sh := exec.Command("/bin/sh", "-c", want)
			sh.Env = env
			sh.Stdin = bytes.NewReader(readHookFixture(t, tt.fixture))
			if out, err := sh.Output(); err != nil || !strings.Contains(string(out), "deny") {
				t.Errorf("installed hook binary: %v, stdout %s", err, out)
			}

			if err := os.Remove(hk); err != nil {
				t.Fatal(err)
			}
			gateway("install", tt.client, "--hooks")
			want = gw + " --config " + cfg + " hook " + tt.client
			if got := installed(); len(got) != 1 || got[0] != want {
				t.Errorf("without the hook binary: %s hooks %q, want [%q]", tt.event, got, want)
			}
		})
	}
}

// linkOrCopy puts the file src at dst, a hard link when it can.
func linkOrCopy(t *testing.T, src, dst string) {
	t.Helper()
	if os.Link(src, dst) == nil {
		return
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestHookDeps keeps the hook command light: the hook package imports no
// package that starts upstreams, opens the cache, authenticates or fetches
// tokens, so a hook process cannot do that work by accident.
func TestHookDeps(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "./hook").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range []string{"proxy", "upstream", "cache", "authn", "oauthx", "scan", "examples"} {
			if dep == "secure-mcp-gateway/"+f || strings.HasPrefix(dep, "secure-mcp-gateway/"+f+"/") {
				t.Errorf("hook imports %s", dep)
			}
		}
	}
}

// TestHookAudit: with the audit block on, both hook programs write one
// hook_decision record per event (event, tool, verdict, detectors, the
// event's size and hash, never its text) into a file that verifies; an
// audit directory that cannot be written makes an event get the fail mode.
func TestHookAudit(t *testing.T) {
	event := readHookFixture(t, "claude_pretooluse_bash_aws_key.json")
	for _, lean := range []bool{false, true} {
		t.Run(fmt.Sprintf("lean=%v", lean), func(t *testing.T) {
			bin := gatewayBin
			if lean {
				bin = leanHookBin(t)
			}
			dir := filepath.Join(t.TempDir(), "audit")
			f := newFixture(t)
			f.cfg.Audit = &config.Audit{Enabled: true, Path: dir}
			f.save(t)
			env := gatewayEnv("HOME="+t.TempDir(), "USERPROFILE="+t.TempDir())
			r := runHookProg(t, bin, hookArgs(lean, hook.ClaudeCode, f.path), env, event)
			if r.code != 0 || !strings.Contains(r.stdout, `"permissionDecision":"deny"`) {
				t.Fatalf("exit %d, stdout %s, stderr %s: want a deny", r.code, r.stdout, r.stderr)
			}
			out, code := runAudit(t, "", "verify", dir)
			if code != 0 || !strings.Contains(out, "closed, chained") {
				t.Fatalf("verify exit %d:\n%s", code, out)
			}
			out, code = runAudit(t, "", "query", "--kind", audit.KindHookDecision, "--json", dir)
			var rec audit.Record
			if code != 0 || json.Unmarshal([]byte(strings.TrimSpace(out)), &rec) != nil {
				t.Fatalf("query exit %d:\n%s", code, out)
			}
			if rec.Method != "PreToolUse" || rec.Tool != "Bash" || rec.Server != hook.ClaudeCode || rec.Verdict != "block" ||
				rec.ArgBytes != len(event) || rec.ArgSHA256 != audit.HashBytes(event) ||
				!slices.ContainsFunc(rec.Detectors, func(d string) bool { return strings.HasPrefix(d, "hook:secrets/") }) {
				t.Errorf("hook_decision record = %+v", rec)
			}
			files, err := audit.ListFiles([]string{dir})
			if err != nil || len(files) != 1 {
				t.Fatalf("audit files %v, %v", files, err)
			}
			raw, err := os.ReadFile(files[0])
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(raw, []byte("AKIA")) {
				t.Error("the audit file holds the key from the event")
			}

			// The audit path is a file, not a directory: the log cannot
			// open, and the fail mode applies (closed here: a block).
			blocker := filepath.Join(t.TempDir(), "not-a-dir")
			if err := os.WriteFile(blocker, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			f.cfg.Audit.Path = blocker
			f.cfg.Hooks = &config.Hooks{FailMode: config.HookFailClosed}
			f.save(t)
			r = runHookProg(t, bin, hookArgs(lean, hook.ClaudeCode, f.path), env, readHookFixture(t, "claude_pretooluse_edit_benign.json"))
			if r.code != 2 || !strings.Contains(r.stderr, "audit log") {
				t.Errorf("unopenable audit log: exit %d, stderr %q; want 2 and a message naming the audit log", r.code, r.stderr)
			}
		})
	}
}
