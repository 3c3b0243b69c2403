package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/internal/secret"
	"secure-mcp-gateway/proxy"
)

// patchConfigFile rewrites the config file at path through fn, on its
// generic JSON form, as a user editing it by hand would.
func patchConfigFile(t *testing.T, path string, fn func(m map[string]any)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	fn(m)
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// firstServer returns the generic form of the first server of the only
// MCP config.
func firstServer(m map[string]any) map[string]any {
	for _, mc := range m["mcp_configs"].(map[string]any) {
		return mc.(map[string]any)["mcp_config"].([]any)[0].(map[string]any)
	}
	return nil
}

// runGatewayCLI runs the gateway binary on f's config with args and
// returns its stdout, stderr and exit code.
func runGatewayCLI(t *testing.T, f *fixture, args ...string) (string, string, int) {
	t.Helper()
	e := &cliEnv{home: f.dir, cfg: f.path, wd: f.dir}
	return e.run(t, args...)
}

// TestE2EDetectorTypoRefused: a block list naming "secret" (for "secrets")
// would switch the secrets detector off; the gateway refuses to start, and
// validate and health-check exit 1, each naming the file, the server, the
// field path, the value and the likely fix.
func TestE2EDetectorTypoRefused(t *testing.T) {
	t.Parallel()
	srv := exampleServer("echo_server", "echo", nil)
	srv.InputGuardrailsPolicy = &config.Policy{Enabled: true, PolicyName: "p", Block: []string{"pii", "secrets"}}
	f := newFixture(t, srv)
	patchConfigFile(t, f.path, func(m map[string]any) {
		firstServer(m)["input_guardrails_policy"].(map[string]any)["block"] = []any{"pii", "secret"}
	})
	wantAll := []string{f.path, `server "echo_server"`, ".input_guardrails_policy.block[1]", `unknown detector "secret"`, `hint: did you mean "secrets"?`}

	cmd := exec.Command(gatewayBin, "--config", f.path)
	cmd.Env = gatewayEnv(authn.EnvKey + "=" + f.key)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitConfig {
		t.Fatalf("gateway start: err %v, want exit %d\nstderr:\n%s", err, exitConfig, stderr.String())
	}
	for _, w := range wantAll {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("start refusal lacks %q:\n%s", w, stderr.String())
		}
	}
	for _, args := range [][]string{{"config", "validate"}, {"system", "health-check"}} {
		out, errOut, code := runGatewayCLI(t, f, args...)
		if code != 1 {
			t.Errorf("%v: exit %d, want 1\n%s%s", args, code, out, errOut)
		}
		for _, w := range wantAll[1:] {
			if !strings.Contains(out, w) {
				t.Errorf("%v output lacks %q:\n%s", args, w, out)
			}
		}
	}
	// A command that writes a typo is refused the same way, file untouched.
	before, _ := os.ReadFile(f.path)
	_, errOut, code := runGatewayCLI(t, f, "config", "update-server-output-guardrails", "--config-name", "default_config",
		"--server-name", "echo_server", "--policy", `{"enabled":true,"policy_name":"p","block":["injection"]}`)
	if code == 0 || !strings.Contains(errOut, `did you mean "injection_attack"?`) {
		t.Errorf("writing a typo: exit %d, stderr %s", code, errOut)
	}
	if after, _ := os.ReadFile(f.path); string(after) != string(before) {
		t.Error("a refused update changed the file")
	}
}

// TestE2EUnknownKeysWarnedAndKept: misspelt keys are warnings with a
// did-you-mean (errors under --strict), logged once at start, and survive
// every write.
func TestE2EUnknownKeysWarnedAndKept(t *testing.T) {
	t.Parallel()
	f := newFixture(t, exampleServer("echo_server", "echo", nil))
	patchConfigFile(t, f.path, func(m map[string]any) {
		s := firstServer(m)
		s["output_guardrail_policy"] = map[string]any{"enabled": true, "block": []any{"secrets"}}
		s["config"].(map[string]any)["envv"] = map[string]any{"A": "b"}
	})
	out, errOut, code := runGatewayCLI(t, f, "config", "validate")
	if code != 0 {
		t.Fatalf("validate: exit %d\n%s%s", code, out, errOut)
	}
	for _, w := range []string{".output_guardrail_policy: unknown key", `hint: did you mean "output_guardrails_policy"?`,
		".config.envv: unknown key", `hint: did you mean "env"?`} {
		if !strings.Contains(out, w) {
			t.Errorf("validate output lacks %q:\n%s", w, out)
		}
	}
	if _, _, code := runGatewayCLI(t, f, "config", "validate", "--strict"); code != 1 {
		t.Errorf("validate --strict: exit %d, want 1", code)
	}
	// --strict refuses to serve over HTTP too, naming the key.
	httpStrict := exec.Command(gatewayBin, "--config", f.path, "--strict", "--http", "--listen", "127.0.0.1:0")
	httpStrict.Env = gatewayEnv()
	if out, err := httpStrict.CombinedOutput(); err == nil || !strings.Contains(string(out), "envv") {
		t.Errorf("--strict --http with unknown keys: err %v, output:\n%s", err, out)
	}
	// A write keeps them.
	runGatewayCLI(t, f, "config", "add-server", "--config-name", "default_config", "--server-name", "second", "--server-command", gatewayBin)
	b, err := os.ReadFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"second"`) || !strings.Contains(string(b), `"output_guardrail_policy"`) || !strings.Contains(string(b), `"envv"`) {
		t.Fatalf("after add-server the unknown keys are gone:\n%s", b)
	}
	// At start: one warning per key, and the gateway serves.
	g := startGateway(t, f)
	g.toolNames(t)
	if n := strings.Count(g.stderr.String(), `config.envv","hint"`); n != 1 {
		t.Errorf("envv warned %d times at start, want once:\n%s", n, g.stderr)
	}
}

// TestE2EProviderlessPolicyExplained: the seed's sample policies list
// detectors that need a remote provider; with none configured the gateway
// still fails closed, and says why and how to fix it in the log and in
// the initialize instructions a real client receives.
func TestE2EProviderlessPolicyExplained(t *testing.T) {
	t.Parallel()
	srv := exampleServer("echo_server", "echo", nil)
	srv.ToolGuardrailsPolicy = &config.Policy{Enabled: true, PolicyName: "Sample Airline Guardrail", Block: []string{"policy_violation", "injection_attack", "toxicity"}}
	srv.InputGuardrailsPolicy = &config.Policy{Enabled: true, PolicyName: "Sample Airline Guardrail", Block: []string{"nsfw", "pii"}}
	f := newFixture(t, srv)
	g := startGateway(t, f)
	ins := g.cs.InitializeResult().Instructions
	for _, w := range []string{proxy.DefaultInstructions, `server "echo_server"`, "tool_guardrails_policy lists policy_violation, toxicity",
		"input_guardrails_policy lists nsfw", "fails closed",
		"config update-server-tool-guardrails --config-name default_config --server-name echo_server --preset default"} {
		if !strings.Contains(ins, w) {
			t.Errorf("instructions lack %q:\n%s", w, ins)
		}
	}
	if names := g.toolNames(t); len(names) != 0 {
		t.Errorf("tools listed despite a tool policy that cannot run: %v", names)
	}
	log := g.stderr.String()
	if n := strings.Count(log, `"policy":"tool_guardrails_policy"`); n != 1 {
		t.Errorf("start log names the tool policy problem %d times, want once:\n%s", n, log)
	}
	out, _, code := runGatewayCLI(t, f, "config", "validate")
	if code != 1 || !strings.Contains(out, "hint: switch the policy to the offline detectors: secure-mcp-gateway config update-server-input-guardrails") {
		t.Errorf("validate: exit %d\n%s", code, out)
	}
	// The fix it names works.
	runGatewayCLI(t, f, "config", "update-server-tool-guardrails", "--config-name", "default_config", "--server-name", "echo_server", "--preset", "default")
	runGatewayCLI(t, f, "config", "update-server-input-guardrails", "--config-name", "default_config", "--server-name", "echo_server", "--preset", "default")
	if out, errOut, code := runGatewayCLI(t, f, "config", "validate"); code != 0 {
		t.Errorf("validate after the fixes: exit %d\n%s%s", code, out, errOut)
	}
}

// TestE2EAddServerDefaults: add-server applies the default offline
// policies and says so; --guardrails off applies none and warns.
func TestE2EAddServerDefaults(t *testing.T) {
	t.Parallel()
	f := newFixture(t, exampleServer("echo_server", "echo", nil))
	out, errOut, code := runGatewayCLI(t, f, "config", "add-server", "--config-name", "default_config", "--server-name", "guarded", "--server-command", gatewayBin, "--arg", "example-server", "--arg", "echo")
	if code != 0 {
		t.Fatalf("add-server: exit %d\n%s%s", code, out, errOut)
	}
	for _, w := range []string{`preset "default"`, "input:", "blocks pii, secrets", "tool definitions:", "tool_poisoning"} {
		if !strings.Contains(out, w) {
			t.Errorf("add-server output lacks %q:\n%s", w, out)
		}
	}
	out, _, code = runGatewayCLI(t, f, "config", "add-server", "--config-name", "default_config", "--server-name", "bare", "--server-command", gatewayBin, "--guardrails", "off")
	if code != 0 || !strings.Contains(out, "not checked") {
		t.Errorf("--guardrails off: exit %d\n%s", code, out)
	}
	if _, errOut, code := runGatewayCLI(t, f, "config", "add-server", "--config-name", "default_config", "--server-name", "x", "--server-command", gatewayBin, "--guardrails", "lax"); code != exitUsage || !strings.Contains(errOut, "hint: use one of strict, default, off") {
		t.Errorf("--guardrails lax: exit %d, stderr %s", code, errOut)
	}
	c, err := config.Load(f.path)
	if err != nil {
		t.Fatal(err)
	}
	m := c.MCPConfigs[func() string {
		for id := range c.MCPConfigs {
			return id
		}
		return ""
	}()]
	g, _ := m.Server("guarded")
	if g.InputGuardrailsPolicy == nil || !g.InputGuardrailsPolicy.Enabled || g.OutputGuardrailsPolicy == nil || g.ToolGuardrailsPolicy == nil || !g.ToolGuardrailsPolicy.Enabled {
		t.Errorf("guarded server policies = %+v %+v %+v", g.InputGuardrailsPolicy, g.OutputGuardrailsPolicy, g.ToolGuardrailsPolicy)
	}
	b, _ := m.Server("bare")
	if b.InputGuardrailsPolicy != nil || b.ToolGuardrailsPolicy != nil {
		t.Errorf("bare server has policies: %+v", b)
	}
	// The guarded server really blocks a secret in arguments.
	gw := startGateway(t, f)
	res := gw.call(t, "guarded__echo", map[string]any{"message": "key AKIA" + "IOSFODNN7EXAMPLE"})
	if !res.IsError || !strings.Contains(resultText(res), "secrets") {
		t.Errorf("secret through a default-guarded server: %v %s", res.IsError, resultText(res))
	}
}

// TestE2EDeniedTools: per-server and gateway-wide denied_tools in the
// Python 2.2 format: a denied tool is not listed, a call is refused naming
// the pattern and reason, and meta discovery counts it.
func TestE2EDeniedTools(t *testing.T) {
	t.Parallel()
	srv := exampleServer("echo_server", "echo", nil)
	f := newFixture(t, srv)
	patchConfigFile(t, f.path, func(m map[string]any) {
		firstServer(m)["denied_tools"] = []any{map[string]any{"name": "ad?", "reason": "arithmetic is off limits"}}
	})
	g := startGateway(t, f)
	if names := g.toolNames(t); !contains(names, "echo_server__echo") || contains(names, "echo_server__add") {
		t.Errorf("tools/list = %v, want echo without add", names)
	}
	res := g.call(t, "echo_server__add", map[string]any{"a": 1, "b": 2})
	if !res.IsError || !strings.Contains(resultText(res), `pattern "ad?"`) || !strings.Contains(resultText(res), "arithmetic is off limits") {
		t.Errorf("call of a denied tool: %v %s", res.IsError, resultText(res))
	}

	// Gateway-wide list, meta exposure: discovery reports the denied tool
	// apart from those guardrails withheld.
	f2 := newFixture(t, exampleServer("echo_server", "echo", nil))
	patchConfigFile(t, f2.path, func(m map[string]any) {
		common := m["common_mcp_gateway_config"].(map[string]any)
		common["denied_tools"] = []any{"add"}
		common["tool_exposure"] = "meta"
	})
	g2 := startGateway(t, f2)
	d := metaJSON(t, g2, proxy.MetaDiscoverAllTools, map[string]any{"server_name": "echo_server"})
	b, _ := json.Marshal(d)
	if d["policy_denied_count"] != 1.0 || d["blocked_count"] != 0.0 || !strings.Contains(string(b), `"pattern":"add"`) {
		t.Errorf("discovery result does not report the denied tool apart: %s", b)
	}
}

// TestE2ETryShowsSecurity: try shows, after the working call, a secret
// blocked, PII redacted and a poisoned tool withheld, each with its reason.
func TestE2ETryShowsSecurity(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	out, errOut, code := e.run(t, "try")
	if code != 0 {
		t.Fatalf("try: exit %d\n%s%s", code, out, errOut)
	}
	for _, w := range []string{
		"isError=false  hello through the gateway",
		"blocked by input guardrails: secrets (aws_access_key_id)",
		"isError=false  Call Jane at [REDACTED:email]",
		"the client sees only poison__word_count",
		`Tool "calculate_statistics" on server "poison" is withheld: its definition failed the tool guardrails`,
		"wrong key exits 4",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("try output lacks %q:\n%s", w, out)
		}
	}
	// The secret is never printed; the email only in the request shown.
	if strings.Contains(out, "IOSFODNN7EXAMPLE") || strings.Count(out, "jane.doe@example.com") != 1 {
		t.Errorf("try output shows the secret or the unredacted PII:\n%s", out)
	}
}

// TestE2EInstallNoLeakAndReplace: the VS Code workspace file never holds
// the key; installing again for the same client disables the key it
// replaces unless --keep-old-key; --print writes no client file.
func TestE2EInstallNoLeakAndReplace(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	e.must(t, "generate-config")
	printed := func(out string) string {
		_, rest, _ := strings.Cut(out, "Paste this key there (shown once; only its hash is stored):\n  ")
		k, _, _ := strings.Cut(rest, "\n")
		return k
	}
	out1 := e.must(t, "install", "--client", "vscode")
	k1 := printed(out1)
	file := filepath.Join(e.wd, ".vscode", "mcp.json")
	b, err := os.ReadFile(file)
	if err != nil || k1 == "" || strings.Contains(string(b), k1) || !strings.Contains(string(b), `"password": true`) {
		t.Fatalf("VS Code file (err %v) holds the key or no password input:\n%s\noutput:\n%s", err, b, out1)
	}
	if !strings.Contains(out1, "changed "+file) || !strings.Contains(out1, "nothing to back up") {
		t.Errorf("install output does not name the file and backup:\n%s", out1)
	}
	out2 := e.must(t, "install", "--client", "vscode")
	k2 := printed(out2)
	if !strings.Contains(out2, "Disabled the key(s) this install replaces: fp:") || !strings.Contains(out2, "Backup of the previous file: "+file+".bkp.") {
		t.Errorf("re-install output:\n%s", out2)
	}
	c := e.load(t)
	if _, err := authn.Authenticate(c, authn.Credentials{Key: secret.String(k1)}); err == nil {
		t.Error("the replaced key still works")
	}
	if _, err := authn.Authenticate(c, authn.Credentials{Key: secret.String(k2)}); err != nil {
		t.Errorf("the new key: %v", err)
	}
	out3 := e.must(t, "install", "--client", "vscode", "--keep-old-key")
	if !strings.Contains(out3, "Kept the earlier key(s) working") {
		t.Errorf("--keep-old-key output:\n%s", out3)
	}
	if _, err := authn.Authenticate(e.load(t), authn.Credentials{Key: secret.String(k2)}); err != nil {
		t.Errorf("--keep-old-key disabled the earlier key: %v", err)
	}
	// --print: any client, an entry with a working key, no file written.
	out4 := e.must(t, "install", "--print", "zed")
	if !strings.Contains(out4, `"mcpServers"`) || !strings.Contains(out4, authn.EnvKey) {
		t.Errorf("--print output:\n%s", out4)
	}
	if entries, _ := filepath.Glob(filepath.Join(e.home, ".config", "zed*")); len(entries) != 0 {
		t.Errorf("--print wrote %v", entries)
	}
}
