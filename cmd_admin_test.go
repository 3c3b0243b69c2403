package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/internal/secret"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// cliEnv is a temporary HOME with a config file outside the default path,
// for driving the real binary.
type cliEnv struct {
	home, cfg, wd string
	extraEnv      []string
}

func newCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	dir := t.TempDir()
	e := &cliEnv{home: filepath.Join(dir, "home"), cfg: filepath.Join(dir, "cfg", "enkrypt_mcp_config.json"), wd: filepath.Join(dir, "work")}
	for _, d := range []string{e.home, e.wd} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// run runs the gateway binary with --config and args, returning stdout,
// stderr and the exit code.
func (e *cliEnv) run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(gatewayBin, append([]string{"--config", e.cfg}, args...)...)
	cmd.Env = gatewayEnv(append([]string{"HOME=" + e.home, "APPDATA=" + filepath.Join(e.home, "AppData"),
		"PATH=" + filepath.Join(e.home, "bin")}, e.extraEnv...)...)
	cmd.Dir = e.wd
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), code
}

// must runs args and fails the test unless they exit 0.
func (e *cliEnv) must(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := e.run(t, args...)
	if code != 0 {
		t.Fatalf("%v: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, out, errOut)
	}
	return out
}

// load reads the config file the commands wrote.
func (e *cliEnv) load(t *testing.T) *config.Config {
	t.Helper()
	c, err := config.Load(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// masker replaces volatile values (IDs, timestamps, keys, temp paths) by
// numbered placeholders, numbered in order of first appearance so that a
// deterministic transcript masks deterministically.
type masker struct {
	repl   []string // literal old, new pairs
	seen   map[string]string
	counts map[string]int
}

var (
	uuidRE  = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	timeRE  = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}`)
	shaRE   = regexp.MustCompile(`sha256:([0-9a-f]{8})[0-9a-f]{56}`)
	fpRE    = regexp.MustCompile(`fp:[0-9a-f]{8}`)
	keyRE   = regexp.MustCompile(`(^|[^A-Za-z0-9_<-])([A-Za-z0-9_-]{43})($|[^A-Za-z0-9_-])`)
	stampRE = regexp.MustCompile(`\.bkp\.\d{8}_\d{6}(\.\d+)?`)
	// padRE is table padding, whose width depends on the masked values.
	padRE = regexp.MustCompile(`(\S) {2,}`)
)

func newMasker(e *cliEnv) *masker {
	return &masker{
		repl:   []string{gatewayBin, "<gateway>", e.home, "<home>", filepath.Dir(e.cfg), "<cfgdir>", e.wd, "<work>"},
		seen:   map[string]string{},
		counts: map[string]int{},
	}
}

func (m *masker) label(kind, v string) string {
	if l, ok := m.seen[v]; ok {
		return l
	}
	m.counts[kind]++
	l := fmt.Sprintf("<%s-%d>", kind, m.counts[kind])
	m.seen[v] = l
	return l
}

func (m *masker) mask(s string) string {
	s = strings.NewReplacer(m.repl...).Replace(s)
	s = uuidRE.ReplaceAllStringFunc(s, func(v string) string { return m.label("id", v) })
	s = timeRE.ReplaceAllString(s, "<time>")
	s = stampRE.ReplaceAllString(s, ".bkp.<stamp>")
	s = shaRE.ReplaceAllStringFunc(s, func(v string) string { return "sha256:" + m.label("fp", "fp:"+v[7:15]) })
	s = fpRE.ReplaceAllStringFunc(s, func(v string) string { return m.label("fp", v) })
	s = keyRE.ReplaceAllStringFunc(s, func(v string) string {
		sub := keyRE.FindStringSubmatch(v)
		return sub[1] + m.label("key", sub[2]) + sub[3]
	})
	return padRE.ReplaceAllString(s, "$1  ")
}

// maskJSON masks a JSON document and re-encodes it with sorted keys, so
// that maps keyed by random IDs come out in a stable order.
func (m *masker) maskJSON(t *testing.T, data []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(m.mask(string(data))), &v); err != nil {
		t.Fatalf("masked JSON: %v", err)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

// transcript records commands and their masked output for a golden file.
type transcript struct {
	e   *cliEnv
	m   *masker
	buf strings.Builder
}

func newTranscript(e *cliEnv) *transcript { return &transcript{e: e, m: newMasker(e)} }

// run runs args, records them, and returns the unmasked stdout and exit code.
func (tr *transcript) run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	stdout, stderr, code := tr.e.run(t, args...)
	fmt.Fprintf(&tr.buf, "$ secure-mcp-gateway %s\n%s", tr.m.mask(shellJoin(args)), tr.m.mask(stdout))
	if stderr != "" {
		fmt.Fprintf(&tr.buf, "[stderr] %s", tr.m.mask(stderr))
	}
	if code != 0 {
		fmt.Fprintf(&tr.buf, "[exit %d]\n", code)
	}
	tr.buf.WriteString("\n")
	return stdout, code
}

// want runs args and fails unless the exit code is code.
func (tr *transcript) want(t *testing.T, code int, args ...string) string {
	t.Helper()
	out, got := tr.run(t, args...)
	if got != code {
		t.Errorf("%v: exit %d, want %d\n%s", args, got, code, tr.buf.String())
	}
	return out
}

// check appends the masked resulting config and compares with the golden file.
func (tr *transcript) check(t *testing.T, name string) {
	t.Helper()
	data, err := os.ReadFile(tr.e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr.buf.WriteString("== resulting config ==\n" + tr.m.maskJSON(t, data))
	checkGolden(t, name, tr.buf.String())
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("%s differs (-want +got); run with -update if the change is intended:\n%s", path, d)
	}
}

// seed writes a first config with generate-config and lists what it made,
// so that every ID is numbered in a stable order.
func seed(t *testing.T, tr *transcript) {
	t.Helper()
	tr.e.must(t, "generate-config")
	tr.want(t, 0, "config", "list")
	tr.want(t, 0, "project", "list")
	tr.want(t, 0, "user", "list")
	tr.want(t, 0, "user", "list-all-api-keys")
}

func TestCLIConfigGolden(t *testing.T) {
	e := newCLIEnv(t)
	tr := newTranscript(e)
	seed(t, tr)
	tr.want(t, 0, "config", "add", "--config-name", "work")
	tr.want(t, 1, "config", "add", "--config-name", "work")
	tr.want(t, 2, "config", "get")
	tr.want(t, 1, "config", "get", "--config-name", "nope")
	tr.want(t, 0, "config", "add-server", "--config-name", "work", "--server-name", "files",
		"--server-command", "/usr/bin/files-mcp", "--args", "serve, --root", "--arg", "/data/a,b", "--env", `{"TOKEN":"s3cret-value"}`,
		"--tools", `{"read":{}}`, "--description", "file access",
		"--input-guardrails-policy", `{"enabled":true,"policy_name":"Sample Policy","block":["pii"]}`)
	tr.want(t, 1, "config", "add-server", "--config-name", "work", "--server-name", "files", "--server-command", "x")
	tr.want(t, 2, "config", "add-server", "--config-name", "work", "--server-name", "bad", "--server-command", "x", "--env", `{"A":1}`)
	tr.want(t, 3, "config", "add-server", "--config-name", "work", "--server-name", "bad name!", "--server-command", "x")
	tr.want(t, 0, "config", "add-server", "--config-name", "work", "--server-name", "remote", "--server-url", "https://mcp.example.com/mcp")
	tr.want(t, 0, "config", "list-servers", "--config-name", "work")
	getServer := tr.want(t, 0, "config", "get-server", "--config-name", "work", "--server-name", "files")
	if strings.Contains(getServer, "s3cret-value") {
		t.Errorf("get-server shows an env secret:\n%s", getServer)
	}
	tr.want(t, 0, "config", "update-server", "--config-name", "work", "--server-name", "files", "--description", "files, read-only")
	tr.want(t, 0, "config", "update-server-output-guardrails", "--config-name", "work", "--server-name", "files",
		"--policy", `{"enabled":true,"policy_name":"Out","block":["toxicity"]}`)
	policyFile := filepath.Join(e.wd, "policy.json")
	if err := os.WriteFile(policyFile, []byte(`{"enabled":false,"policy_name":"Off"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tr.want(t, 0, "config", "update-server-guardrails", "--config-name", "work", "--server-name", "remote",
		"--input-policy-file", policyFile, "--output-policy", `{"enabled":true,"policy_name":"Out"}`)
	tr.want(t, 2, "config", "update-server-input-guardrails", "--config-name", "work", "--server-name", "files", "--policy", `{"enabled":"yes"}`)
	tr.want(t, 0, "config", "copy", "--source-config", "work", "--target-config", "work-copy")
	tr.want(t, 0, "config", "rename", "--config-name", "work-copy", "--new-name", "staging")
	tr.want(t, 0, "config", "search", "--search-term", "FILE")
	tr.want(t, 1, "config", "validate", "--config-name", "staging") // toxicity needs a guardrail provider
	export := filepath.Join(e.wd, "staging.json")
	tr.want(t, 0, "config", "export", "--config-name", "staging", "--output-file", export)
	tr.want(t, 0, "config", "import", "--input-file", export, "--config-name", "imported")
	tr.want(t, 0, "config", "remove-server", "--config-name", "imported", "--server-name", "remote")
	tr.want(t, 0, "config", "remove-all-servers", "--config-name", "staging")
	tr.want(t, 0, "config", "remove", "--config-name", "staging")
	tr.want(t, 1, "config", "remove", "--config-name", "default_config")
	tr.want(t, 0, "config", "list-projects", "--config-name", "default_config")
	tr.want(t, 0, "config", "get", "--config-name", "work", "--json")
	tr.want(t, 0, "config", "list", "--json")
	tr.check(t, "config.txt")

	c := e.load(t)
	ids := c.MCPConfigIDsByName("work")
	s, _ := c.MCPConfigs[ids[0]].Server("files")
	if diff := cmp.Diff([]string{"serve", "--root", "/data/a,b"}, s.Config.Args); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
	if s.Config.Env["TOKEN"] != "s3cret-value" {
		t.Errorf("env not stored: %v", s.Config.Env)
	}
	if fi, err := os.Stat(export); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("export file mode: %v %v", fi, err)
	}
}

func TestCLIProjectUserGolden(t *testing.T) {
	e := newCLIEnv(t)
	tr := newTranscript(e)
	seed(t, tr)
	tr.want(t, 0, "project", "create", "--project-name", "team")
	tr.want(t, 1, "project", "create", "--project-name", "team")
	tr.want(t, 0, "user", "create", "--email", "ann@example.com")
	tr.want(t, 1, "user", "create", "--email", "ANN@example.com")
	tr.want(t, 2, "user", "create", "--email", "not-an-email")
	tr.want(t, 1, "user", "generate-api-key", "--email", "ann@example.com", "--project-name", "team")
	tr.want(t, 0, "project", "add-user", "--project-name", "team", "--email", "ann@example.com")
	tr.want(t, 0, "project", "assign-config", "--project-name", "team", "--config-name", "default_config")
	out := tr.want(t, 0, "user", "generate-api-key", "--email", "ann@example.com", "--project-name", "team", "--json")
	var gen struct {
		APIKey      string `json:"api_key"`
		Fingerprint string `json:"fingerprint"`
	}
	if err := json.Unmarshal([]byte(out), &gen); err != nil || len(gen.APIKey) != 43 {
		t.Fatalf("generate-api-key --json = %q (%v)", out, err)
	}
	tr.want(t, 0, "user", "generate-api-key", "--email", "ann@example.com", "--project-name", "team")
	tr.want(t, 0, "project", "get", "--project-name", "team")
	tr.want(t, 0, "project", "list-users", "--project-name", "team")
	tr.want(t, 0, "project", "get-config", "--project-name", "team")
	tr.want(t, 0, "user", "get", "--email", "ann@example.com")
	tr.want(t, 0, "user", "list-projects", "--email", "ann@example.com")
	tr.want(t, 0, "user", "list-api-keys", "--email", "ann@example.com", "--project-name", "team")
	tr.want(t, 0, "user", "get-api-key", "--api-key", gen.Fingerprint)
	tr.want(t, 0, "user", "disable-api-key", "--api-key", gen.APIKey)
	tr.want(t, 0, "user", "enable-api-key", "--api-key", gen.Fingerprint)
	rot := tr.want(t, 0, "user", "rotate-api-key", "--api-key", gen.APIKey, "--json")
	var rotated struct {
		APIKey string `json:"api_key"`
	}
	if err := json.Unmarshal([]byte(rot), &rotated); err != nil || rotated.APIKey == "" {
		t.Fatalf("rotate-api-key --json = %q (%v)", rot, err)
	}
	c := e.load(t)
	if _, err := authn.Authenticate(c, authn.Credentials{Key: secret.String(gen.APIKey)}); !errors.Is(err, authn.ErrUnknownKey) {
		t.Errorf("old key after rotation: %v, want ErrUnknownKey", err)
	}
	if p, err := authn.Authenticate(c, authn.Credentials{Key: secret.String(rotated.APIKey)}); err != nil || p.Email != "ann@example.com" {
		t.Errorf("rotated key: %v %v", p, err)
	}
	for k := range c.APIKeys {
		if !config.KeyHashed(k) {
			t.Errorf("key stored in plain text: %s", config.KeyFingerprint(k))
		}
	}
	tr.want(t, 1, "user", "get-api-key", "--api-key", gen.APIKey)
	tr.want(t, 1, "project", "remove", "--project-name", "team")
	tr.want(t, 1, "project", "remove-user", "--project-name", "team", "--email", "ann@example.com")
	tr.want(t, 1, "user", "delete", "--email", "ann@example.com")
	tr.want(t, 0, "user", "update", "--email", "ann@example.com", "--new-email", "anne@example.com")
	tr.want(t, 0, "user", "search", "--search-term", "anne")
	tr.want(t, 0, "project", "search", "--search-term", "TEAM")
	tr.want(t, 0, "project", "export", "--project-name", "team", "--output-file", filepath.Join(e.wd, "team.json"))
	tr.want(t, 0, "project", "remove-user", "--project-name", "team", "--email", "anne@example.com", "--force")
	tr.want(t, 0, "user", "list-all-api-keys")
	tr.want(t, 0, "user", "create", "--email", "bob@example.com")
	tr.want(t, 0, "project", "add-user", "--project-name", "team", "--email", "bob@example.com")
	tr.want(t, 0, "user", "delete-all-api-keys", "--email", "bob@example.com")
	tr.want(t, 0, "project", "remove-all-users", "--project-name", "team")
	tr.want(t, 0, "project", "unassign-config", "--project-name", "team")
	tr.want(t, 0, "project", "remove", "--project-name", "team")
	tr.want(t, 0, "user", "delete", "--email", "anne@example.com")
	tr.want(t, 1, "user", "delete", "--email", "default@example.com")
	tr.want(t, 0, "user", "delete", "--email", "default@example.com", "--force")
	tr.want(t, 0, "user", "list", "--json")
	tr.check(t, "project_user.txt")
}

func TestCLISystemGolden(t *testing.T) {
	e := newCLIEnv(t)
	tr := newTranscript(e)
	seed(t, tr)
	tr.want(t, 0, "system", "health-check")
	backup := filepath.Join(e.wd, "backup.json")
	tr.want(t, 0, "system", "backup", "--output-file", backup)
	tr.want(t, 2, "system", "reset")
	tr.want(t, 0, "system", "reset", "--confirm")
	tr.want(t, 0, "config", "list")
	tr.want(t, 0, "system", "restore", "--input-file", backup)
	tr.want(t, 0, "config", "list")

	// A legacy plaintext key keeps working after hash-keys.
	c := e.load(t)
	const legacy = "legacy-plaintext-key-0123456789"
	var rec *config.APIKey
	for _, r := range c.APIKeys {
		rec = &config.APIKey{ProjectID: r.ProjectID, UserID: r.UserID}
	}
	c.APIKeys[legacy] = rec
	if err := config.Save(e.cfg, c); err != nil {
		t.Fatal(err)
	}
	tr.want(t, 0, "system", "health-check")
	tr.want(t, 0, "system", "hash-keys")
	c = e.load(t)
	if _, ok := c.APIKeys[legacy]; ok {
		t.Error("plaintext key still stored after hash-keys")
	}
	if _, err := authn.Authenticate(c, authn.Credentials{Key: legacy}); err != nil {
		t.Errorf("legacy key after hash-keys: %v", err)
	}
	tr.want(t, 0, "system", "health-check", "--json")
	tr.check(t, "system.txt")
}

// TestCLIMalformedConfigUntouched checks that every writing command refuses
// a malformed or invalid file, names the file, the JSON path and a fix, and
// leaves the bytes as they were.
func TestCLIMalformedConfigUntouched(t *testing.T) {
	e := newCLIEnv(t)
	e.must(t, "generate-config")
	good, err := os.ReadFile(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, data, want string
	}{
		{"syntax", string(good[:len(good)/2]), e.cfg},
		{"duplicate key", strings.Replace(string(good), `"users": {`, `"users": {}, "users": {`, 1), "duplicate"},
		{"dangling project", strings.Replace(string(good), `"mcp_config_id": "`, `"mcp_config_id": "x`, 1), "mcp_config_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(e.cfg, []byte(tc.data), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{
				{"user", "create", "--email", "x@example.com"},
				{"config", "add", "--config-name", "c"},
				{"project", "list"},
				{"system", "hash-keys"},
			} {
				_, stderr, code := e.run(t, args...)
				if code != exitConfig || !strings.Contains(stderr, e.cfg) || !strings.Contains(stderr, tc.want) {
					t.Errorf("%v: exit %d, stderr %q; want exit %d naming %s and %q", args, code, stderr, exitConfig, e.cfg, tc.want)
				}
				if tc.name == "dangling project" && !strings.Contains(stderr, "hint:") {
					t.Errorf("%v: stderr %q has no fix", args, stderr)
				}
				now, err := os.ReadFile(e.cfg)
				if err != nil || string(now) != tc.data {
					t.Fatalf("%v changed the malformed file", args)
				}
			}
		})
	}
}

// TestCLIConcurrentWriters starts 20 real CLI processes adding users at
// once: the file lock must serialise them so that every user lands.
func TestCLIConcurrentWriters(t *testing.T) {
	e := newCLIEnv(t)
	e.must(t, "generate-config")
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(gatewayBin, "--config", e.cfg, "user", "create", "--email", fmt.Sprintf("u%02d@example.com", i))
			cmd.Env = gatewayEnv("HOME=" + e.home)
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Sprintf("user %d: %v\n%s", i, err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}
	c := e.load(t)
	for i := range n {
		if ids := c.UserIDsByEmail(fmt.Sprintf("u%02d@example.com", i)); len(ids) != 1 {
			t.Errorf("user u%02d: %d entries, want 1", i, len(ids))
		}
	}
	if len(c.Users) != n+1 {
		t.Errorf("%d users, want %d", len(c.Users), n+1)
	}
	backups, _ := filepath.Glob(e.cfg + ".bkp.*")
	if len(backups) == 0 || len(backups) > config.DefaultBackups {
		t.Errorf("%d backups, want 1..%d", len(backups), config.DefaultBackups)
	}
	fi, err := os.Stat(e.cfg)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("config mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
}

// TestCLIUnknownKeysPreserved checks that keys this gateway does not know
// survive a CLI write.
func TestCLIUnknownKeysPreserved(t *testing.T) {
	e := newCLIEnv(t)
	e.must(t, "generate-config")
	data, err := os.ReadFile(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	data = bytes.Replace(data, []byte(`"users": {`), []byte(`"x_future_setting": {"keep": [1, 2]}, "users": {`), 1)
	if err := os.WriteFile(e.cfg, data, 0o600); err != nil {
		t.Fatal(err)
	}
	e.must(t, "user", "create", "--email", "z@example.com")
	after, err := os.ReadFile(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(after, &top); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(strings.Fields(string(top["x_future_setting"])), ""); got != `{"keep":[1,2]}` {
		t.Errorf("unknown key after write = %s", got)
	}
}

// BenchmarkCLIUserCreate measures one admin write as a user sees it: start
// the binary, take the lock, read, validate, back up and replace the file.
func BenchmarkCLIUserCreate(b *testing.B) {
	dir := b.TempDir()
	cfg := filepath.Join(dir, "enkrypt_mcp_config.json")
	run := func(args ...string) {
		cmd := exec.Command(gatewayBin, append([]string{"--config", cfg}, args...)...)
		cmd.Env = gatewayEnv("HOME=" + dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	run("generate-config")
	for i := 0; b.Loop(); i++ {
		run("user", "create", "--email", fmt.Sprintf("bench%d@example.com", i))
	}
}
