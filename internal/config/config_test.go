package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	fixtureConfigID  = "6a0c8d2e-4b53-4a51-9b0e-3f7a52f1c001"
	fixtureProjectID = "3c7e1a2b-0d4f-4e6a-8b9c-1d2e3f4a5b01"
	fixtureUserID    = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b01"
)

func readFixture(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "python_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeTemp writes data to a fresh 0600 config file and returns its path.
func writeTemp(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), DefaultDirName, DefaultFileName)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func generic(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("unmarshal: %v\n%s", err, b)
	}
	return v
}

func TestDefaultPath(t *testing.T) {
	t.Setenv("HOME", "/home/someone")
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("home directory comes from another variable")
	}
	got, err := DefaultPath()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join("/home/someone", ".enkrypt", "enkrypt_mcp_config.json"); got != want {
		t.Errorf("DefaultPath() = %q, want %q", got, want)
	}
}

func TestLoadPythonConfig(t *testing.T) {
	c, err := Load(writeTemp(t, readFixture(t)))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got := c.Common.Timeouts.ToolExecutionTimeout(); got != 60*time.Second {
		t.Errorf("ToolExecutionTimeout = %v", got)
	}
	if got := c.Common.Timeouts.Escalation.Fail; got != 1.2 {
		t.Errorf("fail_threshold = %v", got)
	}
	if c.Common.CachePassword != nil {
		t.Errorf("CachePassword = %v, want nil", *c.Common.CachePassword)
	}
	if c.Common.AsyncInputGuardrails == nil || *c.Common.AsyncInputGuardrails {
		t.Errorf("AsyncInputGuardrails = %v, want false", c.Common.AsyncInputGuardrails)
	}
	if c.Plugins.Guardrails == nil || c.Plugins.Guardrails.Provider != "enkrypt" {
		t.Errorf("guardrails plugin = %+v", c.Plugins.Guardrails)
	}
	mc, ok := c.MCPConfigByID(fixtureConfigID)
	if !ok || len(mc.Servers) != 2 {
		t.Fatalf("MCPConfigByID = %v, %v", mc, ok)
	}
	if _, ok := c.MCPConfigByID("nope"); ok {
		t.Error("MCPConfigByID(nope) found a config")
	}
	echo, ok := mc.Server("echo_server")
	if !ok {
		t.Fatal("echo_server missing")
	}
	for tool, want := range map[string]bool{"calc": false, "echo": true, "other": false} {
		if got := echo.ToolAllowed(tool); got != want {
			t.Errorf("ToolAllowed(%q) = %v, want %v", tool, got, want)
		}
	}
	if got := echo.Prefix(); got != "echo_server__" {
		t.Errorf("Prefix = %q", got)
	}
	if echo.InputGuardrailsPolicy == nil || echo.InputGuardrailsPolicy.PolicyName != "Sample Airline Guardrail" ||
		len(echo.InputGuardrailsPolicy.Block) != 9 {
		t.Errorf("input policy = %+v", echo.InputGuardrailsPolicy)
	}
	if echo.Config.Env["ECHO_TOKEN"] != "env-secret-value" {
		t.Errorf("env = %v", echo.Config.Env)
	}
	gh, _ := mc.Server("github_oauth")
	o := gh.OAuth
	if o == nil || !o.Enabled || o.ClientSecret != "oauth-client-secret-xyz" || o.BasicAuth() || !o.HTTPSRequired() ||
		o.ExpiryBuffer() != 120*time.Second || o.CustomHeaders["X-Api-Key"] != "header-secret" {
		t.Errorf("oauth = %+v", o.Redacted())
	}
	if !gh.ToolAllowed("anything") {
		t.Error("empty tools map must allow every tool")
	}
	remote, _ := c.MCPConfigs["7b1d9e3f-5c64-4b62-8c1f-4a8b63a2d002"].Server("remote.docs")
	if remote.Prefix() != "" || remote.Config.URL != "https://docs.example.com/mcp" {
		t.Errorf("remote = %+v", remote)
	}
	if p := c.Projects[fixtureProjectID]; p.MCPConfigID != fixtureConfigID || len(p.Users) != 2 {
		t.Errorf("project = %+v", p)
	}
	if len(c.APIKeys) != 3 {
		t.Errorf("apikeys = %d entries", len(c.APIKeys))
	}
}

func TestRoundTripPreservesUnknownKeys(t *testing.T) {
	in := readFixture(t)
	c, err := Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(generic(t, in), generic(t, out)); diff != "" {
		t.Errorf("round trip changed the config (-in +out):\n%s", diff)
	}
	// Edits survive alongside the unknown keys.
	c.Users["new"] = &User{Email: "new@example.com"}
	out2, err := Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := Parse(out2)
	if err != nil {
		t.Fatal(err)
	}
	if c2.Users["new"] == nil || c2.Users["9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b02"].kept.unknown["display_name"] == nil {
		t.Errorf("edit or unknown key lost: %s", out2)
	}
}

func TestMarshalFormat(t *testing.T) {
	c, err := Parse(readFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if !strings.HasSuffix(s, "}\n") || strings.HasSuffix(s, "\n\n") {
		t.Errorf("want exactly one trailing newline, got %q", s[len(s)-5:])
	}
	if !strings.HasPrefix(s, "{\n  \"admin_apikey\": ") {
		t.Errorf("want two-space indent, got %q", s[:40])
	}
	if !strings.Contains(s, "sse?a=1&b=2") {
		t.Error("& was escaped")
	}
}

func TestMarshalOmitsAbsentKeys(t *testing.T) {
	in := `{
  "common_mcp_gateway_config": {"enkrypt_log_level": "DEBUG"},
  "mcp_configs": {"c": {"mcp_config_name": "n", "mcp_config": [
    {"server_name": "s", "description": "", "config": {"command": "x"}}
  ]}}
}`
	c, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, absent := range []string{
		"timeout_settings", "enkrypt_async_input_guardrails_enabled", "enkrypt_cache_port", "enkrypt_cache_password",
		"enkrypt_use_remote_mcp_config", "enkrypt_tool_cache_expiration", `"args"`, `"tools"`, "oauth_config",
		"tool_exposure", "projects", `"plugins"`, "_policy",
	} {
		if strings.Contains(string(out), absent) {
			t.Errorf("saved file grew %s:\n%s", absent, out)
		}
	}
	// An empty list or map present in the file is kept.
	c2, err := Parse([]byte(`{"common_mcp_gateway_config": {}, "projects": {"p": {"project_name": "p",
		"mcp_config_id": "", "users": []}}, "mcp_configs": {"c": {"mcp_config_name": "n",
		"mcp_config": [{"server_name": "s", "description": "", "config": {"command": "x", "args": []}, "tools": {}}]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	out2, err := Marshal(c2)
	if err != nil {
		t.Fatal(err)
	}
	for _, kept := range []string{`"users": []`, `"args": []`, `"tools": {}`} {
		if !strings.Contains(string(out2), kept) {
			t.Errorf("saved file lost %s:\n%s", kept, out2)
		}
	}
}

func TestMarshalKeepsPresentZeroValues(t *testing.T) {
	in := `{"common_mcp_gateway_config": {"enkrypt_cache_password": null, "timeout_settings": {},
		"tool_exposure": ""}, "mcp_configs": {"c": {"mcp_config_name": "n", "mcp_config": [
		{"server_name": "s", "description": "", "config": {"command": "x"},
		 "oauth_config": {"enabled": false, "OAUTH_USE_MTLS": false, "OAUTH_TOKEN_EXPIRY_BUFFER": 0}},
		{"server_name": "t", "description": "", "config": {"command": "x"}, "oauth_config": {"enabled": false}}]}}}`
	c, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	c.MCPConfigs["c"].Servers[1].OAuth = nil // cleared by the caller: removed
	out, err := Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "common_mcp_gateway_config": {
    "enkrypt_cache_password": null,
    "timeout_settings": {},
    "tool_exposure": ""
  },
  "mcp_configs": {
    "c": {
      "mcp_config_name": "n",
      "mcp_config": [
        {
          "server_name": "s",
          "description": "",
          "config": {
            "command": "x"
          },
          "oauth_config": {
            "enabled": false,
            "OAUTH_TOKEN_EXPIRY_BUFFER": 0,
            "OAUTH_USE_MTLS": false
          }
        },
        {
          "server_name": "t",
          "description": "",
          "config": {
            "command": "x"
          }
        }
      ]
    }
  }
}
`
	if diff := cmp.Diff(want, string(out)); diff != "" {
		t.Errorf("Marshal (-want +got):\n%s", diff)
	}
}

func TestMarshalBuiltConfigWritesSeedFields(t *testing.T) {
	out, err := Marshal(minimalConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"enkrypt_use_remote_mcp_config": false`, `"enkrypt_cache_password": null`,
		`"enkrypt_log_level": "INFO"`, `"description": ""`, `"args": []`, `"mcp_config_id": "c"`} {
		if !strings.Contains(string(out), key) {
			t.Errorf("built config lacks %s:\n%s", key, out)
		}
	}
	for _, key := range []string{"tool_exposure", "timeout_settings", `"plugins"`, "admin_apikey"} {
		if strings.Contains(string(out), key) {
			t.Errorf("built config has %s:\n%s", key, out)
		}
	}
}

func TestParseRejects(t *testing.T) {
	const srv = `{"common_mcp_gateway_config": {}, "mcp_configs": {"c": {"mcp_config_name": "n", "mcp_config": [%s]}}}`
	tests := []struct {
		name     string
		in       string
		wantType string // "syntax" or "validation"
		want     []string
	}{
		{"invalid json", "{\n  \"admin_apikey\": \"x\",\n  oops\n}", "syntax", []string{"line 3, column 3"}},
		{"truncated", `{"admin_apikey": "x"`, "syntax", []string{"unexpected end"}},
		{"trailing data", `{} {}`, "syntax", []string{"line 1, column 4", "after the top-level"}},
		{"empty", "  \n", "syntax", []string{"empty"}},
		{"not an object", `[1]`, "syntax", []string{"must be a JSON object"}},
		{"invalid utf-8", "{\n \"admin_apikey\": \"a\xffb\"}", "syntax", []string{"line 2, column 20", "invalid UTF-8"}},
		{"duplicate top-level key", `{"users": {}, "users": {}}`, "validation", []string{`users: duplicate key "users"`}},
		{"duplicate server key", fmt.Sprintf(srv, `{"server_name": "a", "server_name": "b", "config": {"command": "x"}}`),
			"validation", []string{`mcp_configs.c.mcp_config[0].server_name: duplicate key "server_name"`}},
		{"case-variant duplicate", fmt.Sprintf(srv, `{"server_name": "a", "Server_Name": "b", "config": {"command": "x"}}`),
			"validation", []string{`duplicate key "Server_Name" (same as "server_name" except for case)`, `rename it to "server_name"`}},
		{"case-variant known key", fmt.Sprintf(srv, `{"Server_Name": "b", "config": {"command": "x"}}`),
			"validation", []string{`mcp_config[0].Server_Name: key "Server_Name" differs only in case from "server_name"`}},
		{"unicode case fold", `{"admin_apiKey": "x"}`, "validation", []string{`differs only in case from "admin_apikey"`}},
		{"duplicate in unknown subtree", `{"x": {"a": 1, "a": 2}}`, "validation", []string{`x.a: duplicate key "a"`}},
		{"duplicate in tools", fmt.Sprintf(srv, `{"server_name": "a", "config": {"command": "x"}, "tools": {"t": "", "t": ""}}`),
			"validation", []string{`tools.t: duplicate key "t"`}},
		{"wrong types", `{"common_mcp_gateway_config": {"enkrypt_cache_port": "6379", "enkrypt_log_level": 3,
			"enkrypt_cache_db": 1.5, "timeout_settings": []}}`, "validation", []string{
			"common_mcp_gateway_config.enkrypt_cache_port: must be a whole number, not a string (line 1",
			"enkrypt_log_level: must be a string, not a number",
			"enkrypt_cache_db: must be a whole number, not a number",
			"timeout_settings: must be an object, not an array",
		}},
		{"block entry not a string", fmt.Sprintf(srv, `{"server_name": "a", "config": {"command": "x"},
			"input_guardrails_policy": {"enabled": true, "block": ["pii", 7]}}`),
			"validation", []string{"input_guardrails_policy.block[1]: must be a string, not a number"}},
		{"secret value not echoed", `{"admin_apikey": {"nested": "hunter2-secret"}}`, "validation",
			[]string{"admin_apikey: must be a string, not an object"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			if err == nil {
				t.Fatal("Parse succeeded, want error")
			}
			var se *SyntaxError
			var ve *ValidationError
			switch tt.wantType {
			case "syntax":
				if !errors.As(err, &se) {
					t.Fatalf("error %T %v, want *SyntaxError", err, err)
				}
			case "validation":
				if !errors.As(err, &ve) {
					t.Fatalf("error %T %v, want *ValidationError", err, err)
				}
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error echoes a value: %v", err)
			}
		})
	}
}

func TestParseUnicodeFoldedKeys(t *testing.T) {
	// encoding/json folds U+212A KELVIN SIGN to "K" and U+017F LONG S to "S",
	// so these spellings would silently fill the real fields.
	for _, in := range []string{
		"{\"common_mcp_gateway_config\": {\"en\u212Arypt_log_level\": \"DEBUG\"}}",
		"{\"projects\": {\"p\": {\"project_name\": \"p\", \"mcp_config_id\": \"\", \"u\u017Fers\": []}}}",
	} {
		_, err := Parse([]byte(in))
		if err == nil || !strings.Contains(err.Error(), "differs only in case") {
			t.Errorf("Parse(%q) = %v, want a case-variant error", in, err)
		}
	}
}

func TestParseDuplicateAPIKeyNotNamed(t *testing.T) {
	const key = "Hn1kq0bUq3Vx4rOeZ8m2dYt6wP9sLc5aJf7gE2hK4iM1nB3v"
	in := fmt.Sprintf(`{"apikeys": {%q: {"project_id": "p", "user_id": "u"}, %q: {"project_id": 5}}}`, key, key)
	_, err := Parse([]byte(in))
	if err == nil {
		t.Fatal("duplicate apikeys entry accepted")
	}
	if strings.Contains(err.Error(), key) {
		t.Errorf("error reveals the gateway key: %v", err)
	}
	if !strings.Contains(err.Error(), "apikeys[fp:") {
		t.Errorf("error does not locate the entry: %v", err)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	const plainKey = "PlainKeyPlainKeyPlainKeyPlainKeyPlainKeyPlainKey"
	in := `{
  "common_mcp_gateway_config": {"tool_exposure": "both", "timeout_settings": {"guardrail_timeout": -1}},
  "mcp_configs": {"c1": {"mcp_config_name": "one", "mcp_config": [
    {"server_name": "", "description": "", "config": {"command": "x"}},
    {"server_name": "bad name!", "description": "", "config": {"command": "x", "url": "https://x"}},
    {"server_name": "dup", "description": "", "config": {}},
    {"server_name": "dup", "description": "", "config": {"url": "ftp://files"}},
    {"server_name": "pol", "description": "", "config": {"command": "x"},
     "output_guardrails_policy": {"enabled": true, "block": [""]},
     "oauth_config": {"enabled": true, "OAUTH_VERSION": "2.1", "OAUTH_TOKEN_URL": "http://auth"}}
  ]}},
  "projects": {"p1": {"project_name": "p", "mcp_config_id": "missing", "users": ["ghost"]},
               "p2": {"project_name": "ok", "mcp_config_id": "", "users": []}},
  "users": {"u1": {"email": "a@b"}},
  "apikeys": {
    "sha256:abc": {"project_id": "p2", "user_id": "u1"},
    "` + plainKey + `": {"project_id": "nope", "user_id": "nobody"}
  }
}`
	c, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Validate = %v, want *ValidationError", err)
	}
	var paths []string
	for _, p := range ve.Problems {
		paths = append(paths, p.Path)
		if p.Problem == "" || p.Fix == "" {
			t.Errorf("problem without text or fix: %+v", p)
		}
	}
	fpSha := keyFingerprint("sha256:abc")
	fpPlain := keyFingerprint(plainKey)
	want := []string{
		"common_mcp_gateway_config.tool_exposure",
		"common_mcp_gateway_config.timeout_settings.guardrail_timeout",
		"mcp_configs.c1.mcp_config[0].server_name",
		"mcp_configs.c1.mcp_config[1].server_name",
		"mcp_configs.c1.mcp_config[1].config",
		"mcp_configs.c1.mcp_config[2].config",
		"mcp_configs.c1.mcp_config[3].server_name",
		"mcp_configs.c1.mcp_config[3].config.url",
		"mcp_configs.c1.mcp_config[4].output_guardrails_policy.block[0]",
		"mcp_configs.c1.mcp_config[4].oauth_config.OAUTH_TOKEN_URL",
		"mcp_configs.c1.mcp_config[4].oauth_config",
		"projects.p1.mcp_config_id",
		"projects.p1.users[0]",
		"apikeys[" + fpPlain + "].project_id",
		"apikeys[" + fpPlain + "].user_id",
		"apikeys[" + fpSha + "]",
	}
	if diff := cmp.Diff(sortedCopy(want), sortedCopy(paths)); diff != "" {
		t.Errorf("problem paths (-want +got):\n%s\nfull error:\n%v", diff, err)
	}
	msg := err.Error()
	if strings.Contains(msg, plainKey) {
		t.Error("validation error reveals a gateway key")
	}
	if got := strings.Count(msg, "\n") + 1 - strings.Count(msg, "\n  hint: "); got != len(ve.Problems) {
		t.Errorf("Error() has %d lines besides hints for %d problems", got, len(ve.Problems))
	}
	if !strings.Contains(msg, "mcp_configs.c1.mcp_config[3].server_name: server name \"dup\" is already used by mcp_config[2]\n  hint: ") {
		t.Errorf("unexpected format:\n%s", msg)
	}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestValidatePlainAndHashedDuplicate(t *testing.T) {
	c := minimalConfig()
	c.APIKeys["secret"] = &APIKey{ProjectID: "p", UserID: "u"}
	c.APIKeys["sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"] = &APIKey{ProjectID: "p", UserID: "u"}
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "both in plain text and hashed") {
		t.Errorf("Validate = %v", err)
	}
}

func minimalConfig() *Config {
	return &Config{
		Common: Common{LogLevel: "INFO", CacheHost: "localhost", CachePort: 6379},
		MCPConfigs: map[string]*MCPConfig{"c": {Name: "n", Servers: []*Server{
			{Name: "echo", Config: ServerConfig{Command: "echo", Args: []string{}}},
		}}},
		Projects: map[string]*Project{"p": {Name: "p", MCPConfigID: "c", Users: []string{"u"}}},
		Users:    map[string]*User{"u": {Email: "u@example.com"}},
		APIKeys:  map[string]*APIKey{},
	}
}

func TestTimeoutDefaults(t *testing.T) {
	var z TimeoutSettings
	tests := []struct {
		got, want time.Duration
	}{
		{z.DefaultTimeout(), DefaultTimeout},
		{z.GuardrailTimeout(), DefaultGuardrailTimeout},
		{z.AuthTimeout(), DefaultAuthTimeout},
		{z.ToolExecutionTimeout(), DefaultToolExecutionTimeout},
		{z.DiscoveryTimeout(), DefaultDiscoveryTimeout},
		{z.CacheTimeout(), DefaultCacheTimeout},
		{z.ConnectivityTimeout(), DefaultConnectivityTimeout},
		{TimeoutSettings{Guardrail: 1.5}.GuardrailTimeout(), 1500 * time.Millisecond},
	}
	for i, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%d: got %v, want %v", i, tt.got, tt.want)
		}
	}
}

func TestToolAllowed(t *testing.T) {
	s := &Server{Tools: map[string]json.RawMessage{
		"off":      json.RawMessage(`{"enabled": false}`),
		"on":       json.RawMessage(`{"enabled": true}`),
		"desc":     json.RawMessage(`"a description"`),
		"nullval":  json.RawMessage(`null`),
		"strfalse": json.RawMessage(`{"enabled": "false"}`),
	}}
	for name, want := range map[string]bool{"off": false, "on": true, "desc": true, "nullval": true, "strfalse": true, "absent": false} {
		if got := s.ToolAllowed(name); got != want {
			t.Errorf("ToolAllowed(%q) = %v, want %v", name, got, want)
		}
	}
	if !(&Server{}).ToolAllowed("x") {
		t.Error("nil tools must allow all")
	}
}

func TestOAuthRedacted(t *testing.T) {
	o := &OAuthConfig{ClientID: "id", ClientSecret: "s3cret", CustomHeaders: map[string]string{"X": "hv"}}
	r := o.Redacted()
	b, _ := json.Marshal(r)
	for _, leak := range []string{"s3cret", "hv"} {
		if strings.Contains(string(b), leak) {
			t.Errorf("Redacted leaks %q: %s", leak, b)
		}
	}
	if r.ClientID != "id" || o.ClientSecret != "s3cret" || o.CustomHeaders["X"] != "hv" {
		t.Error("Redacted changed the original or dropped non-secret fields")
	}
	if (*OAuthConfig)(nil).Redacted() != nil {
		t.Error("nil.Redacted() != nil")
	}
}

func TestLoadErrors(t *testing.T) {
	t.Run("missing", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nope.json")
		_, err := Load(path)
		var fe *FileError
		if !errors.As(err, &fe) || fe.Path != path || !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Load = %v", err)
		}
		for _, w := range []string{"config file " + path + ": ", "generate-config", "--config"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q lacks %q", err, w)
			}
		}
	})
	t.Run("group-writable", func(t *testing.T) {
		if runtime.GOOS == "windows" {
			t.Skip("no POSIX modes")
		}
		path := writeTemp(t, readFixture(t))
		if err := os.Chmod(path, 0o664); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		if !errors.Is(err, ErrInsecurePermissions) || !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Fatalf("Load = %v", err)
		}
		if err := Update(path, func(*Config) error { return nil }); !errors.Is(err, ErrInsecurePermissions) {
			t.Errorf("Update = %v", err)
		}
	})
	t.Run("syntax", func(t *testing.T) {
		_, err := Load(writeTemp(t, []byte("{\n  \"users\": }")))
		var se *SyntaxError
		if !errors.As(err, &se) || se.Line != 2 {
			t.Fatalf("Load = %v", err)
		}
		if !strings.HasPrefix(err.Error(), "config file ") {
			t.Errorf("error does not name the file: %v", err)
		}
	})
	t.Run("invalid", func(t *testing.T) {
		_, err := Load(writeTemp(t, []byte(`{"common_mcp_gateway_config": {"tool_exposure": "x"}}`)))
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ve.Problems) != 1 {
			t.Fatalf("Load = %v", err)
		}
	})
}

func TestSaveCreatesPrivateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", ".enkrypt", DefaultFileName)
	c := minimalConfig()
	if err := Save(path, c); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		for p, want := range map[string]fs.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
			st, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != want {
				t.Errorf("%s mode = %v, want %v", p, st.Mode().Perm(), want)
			}
		}
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Projects["p"].MCPConfigID != "c" {
		t.Errorf("loaded %+v", got.Projects["p"])
	}
	if b := backups(t, path); len(b) != 0 {
		t.Errorf("first save made backups %v", b)
	}
	if err := Save(path, c); err != nil {
		t.Fatal(err)
	}
	if b := backups(t, path); len(b) != 1 {
		t.Errorf("second save made backups %v", b)
	}
	bad := minimalConfig()
	bad.Projects["p"].MCPConfigID = "missing"
	before, _ := os.ReadFile(path)
	if err := Save(path, bad); err == nil {
		t.Error("Save wrote an invalid config")
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Error("failed Save changed the file")
	}
}

func backups(t *testing.T, path string) []string {
	t.Helper()
	list, err := listBackups(path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range list {
		names = append(names, filepath.Base(b.name))
	}
	return names
}

func TestUpdateConcurrent(t *testing.T) {
	path := writeTemp(t, readFixture(t))
	const n = 20
	errs := make(chan error, n)
	for i := range n {
		go func() {
			errs <- Update(path, func(c *Config) error {
				id := fmt.Sprintf("user-%02d", i)
				c.Users[id] = &User{Email: id + "@example.com"}
				p := c.Projects[fixtureProjectID]
				p.Users = append(p.Users, id)
				return nil
			})
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		id := fmt.Sprintf("user-%02d", i)
		if c.Users[id] == nil {
			t.Errorf("%s lost", id)
		}
	}
	if got := len(c.Projects[fixtureProjectID].Users); got != n+2 {
		t.Errorf("project has %d users, want %d", got, n+2)
	}
	if b := backups(t, path); len(b) != DefaultBackups {
		t.Errorf("%d backups kept, want %d: %v", len(b), DefaultBackups, b)
	}
	// Unknown keys survived twenty rewrites.
	if c.kept.unknown["schema_note"] == nil || c.Common.Timeouts.kept.unknown["adherence_threshold"] == nil {
		t.Error("unknown keys lost by Update")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temp file left behind: %s", e.Name())
		}
	}
}

func TestUpdateFailureLeavesFileUntouched(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		fn   func(*Config) error
		want func(error) bool
	}{
		{"fn error", nil, func(c *Config) error {
			c.Users["x"] = &User{}
			return errors.New("nope")
		}, func(err error) bool { return err != nil && strings.Contains(err.Error(), "nope") }},
		{"invalid result", nil, func(c *Config) error {
			c.Projects[fixtureProjectID].MCPConfigID = "gone"
			return nil
		}, func(err error) bool { var ve *ValidationError; return errors.As(err, &ve) }},
		{"malformed file", []byte(`{"users": {"a": {}, "a": {}}}`), func(*Config) error {
			return errors.New("fn must not run")
		}, func(err error) bool { var ve *ValidationError; return errors.As(err, &ve) }},
		{"not json", []byte(`{"users": `), func(*Config) error {
			return errors.New("fn must not run")
		}, func(err error) bool { var se *SyntaxError; return errors.As(err, &se) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.data
			if data == nil {
				data = readFixture(t)
			}
			path := writeTemp(t, data)
			err := Update(path, tt.fn)
			if !tt.want(err) {
				t.Fatalf("Update = %v", err)
			}
			got, _ := os.ReadFile(path)
			if string(got) != string(data) {
				t.Error("file changed")
			}
			if b := backups(t, path); len(b) != 0 {
				t.Errorf("backups made: %v", b)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		err := Update(filepath.Join(t.TempDir(), "none.json"), func(*Config) error { return nil })
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Update = %v", err)
		}
	})
}

func TestBackupNamingAndPruning(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, DefaultFileName)
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.Local)
	for i := range 12 {
		if err := backup(path, []byte(fmt.Sprint(i)), now); err != nil {
			t.Fatal(err)
		}
	}
	// An older Python-made backup and an unrelated file.
	os.WriteFile(path+".bkp.20240101_000000", nil, 0o600)
	os.WriteFile(path+".bkp.notes", nil, 0o600)
	if err := pruneBackups(path, DefaultBackups); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := 2; i <= 11; i++ {
		want = append(want, fmt.Sprintf("%s.bkp.20250304_050607.%d", DefaultFileName, i))
	}
	if diff := cmp.Diff(want, backups(t, path)); diff != "" {
		t.Errorf("backups (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(path + ".bkp.notes"); err != nil {
		t.Error("pruning removed an unrelated file")
	}
	if b, _ := os.ReadFile(path + ".bkp.20250304_050607.11"); string(b) != "11" {
		t.Errorf("newest backup holds %q", b)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(readFixture(f))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"users": {"a": {}, "A": {}}}`))
	f.Add([]byte(`{"common_mcp_gateway_config": {"Enkrypt_Log_Level": 1}}`))
	f.Add([]byte(`{"mcp_configs": {"c": {"mcp_config": [{"tools": {"t": {"enabled": false}}}]}}}`))
	f.Add([]byte("{\"x\": \"\xff\"}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		_ = c.Validate()
		out, err := Marshal(c)
		if err != nil {
			t.Fatalf("Marshal after Parse: %v", err)
		}
		c2, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(Marshal(c)): %v\n%s", err, out)
		}
		out2, err := Marshal(c2)
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != string(out2) {
			t.Fatalf("Marshal not stable:\n%s\n%s", out, out2)
		}
	})
}

func TestValidServerName(t *testing.T) {
	for name, want := range map[string]bool{
		"echo_server": true, "a.b-c_9": true, "A": true, strings.Repeat("x", 64): true,
		"": false, strings.Repeat("x", 65): false, "has space": false, "a/b": false, "é": false, "a__b:c": false,
	} {
		if got := validServerName(name); got != want {
			t.Errorf("validServerName(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestMaxMessageBytes: the common and per-server caps are read, saved back
// as written, resolved server first, and refused when negative.
func TestMaxMessageBytes(t *testing.T) {
	in := `{"common_mcp_gateway_config": {"max_message_bytes": 2048}, "mcp_configs": {"c": {"mcp_config_name": "n",
		"mcp_config": [{"server_name": "a", "description": "", "config": {"command": "x"}, "max_message_bytes": 1024},
		{"server_name": "b", "description": "", "config": {"command": "x"}}]}}}`
	c, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	servers := c.MCPConfigs["c"].Servers
	if got := c.Common.UpstreamMaxMessageBytes(servers[0]); got != 1024 {
		t.Errorf("server a cap = %d, want its own 1024", got)
	}
	if got := c.Common.UpstreamMaxMessageBytes(servers[1]); got != 2048 {
		t.Errorf("server b cap = %d, want the common 2048", got)
	}
	if got := (&Common{}).UpstreamMaxMessageBytes(servers[1]); got != DefaultMaxMessageBytes {
		t.Errorf("default cap = %d, want %d", got, DefaultMaxMessageBytes)
	}
	out, err := Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(out), `"max_message_bytes"`); n != 2 {
		t.Errorf("saved file has %d max_message_bytes keys, want 2:\n%s", n, out)
	}
	bad := strings.NewReplacer("2048", "-1", "1024", "-5").Replace(in)
	c, err = Parse([]byte(bad))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	var ve *ValidationError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "common_mcp_gateway_config.max_message_bytes: must not be negative") ||
		!strings.Contains(err.Error(), "mcp_config[0].max_message_bytes: must not be negative") {
		t.Errorf("negative caps: %v, want both named", err)
	}
}
