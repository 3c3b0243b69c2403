package config

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// testDetectors stands in for package guard's table.
var testDetectors = &Detectors{Offline: []string{"pii", "secrets", "injection_attack"}, Model: []string{"toxicity", "nsfw"}}

func TestSuggest(t *testing.T) {
	keys := []string{"input_guardrails_policy", "output_guardrails_policy", "tool_guardrails_policy", "env", "args", "command"}
	for _, c := range []struct{ in, want string }{
		{"output_guardrail_policy", "output_guardrails_policy"},
		{"envv", "env"},
		{"comand", "command"},
		{"zzzzzzzzzz", ""},
	} {
		if got := Suggest(c.in, keys); got != c.want {
			t.Errorf("Suggest(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := Suggest("secret", testDetectors.Offline); got != "secrets" {
		t.Errorf("Suggest(secret) = %q, want secrets", got)
	}
}

const typoConfig = `{
  "common_mcp_gateway_config": {"enkrypt_log_level": "INFO", "enkrypt_log_levle": "DEBUG"},
  "mcp_configs": {
    "c1": {"mcp_config_name": "default", "mcp_config": [
      {"server_name": "echo", "description": "", "config": {"command": "/bin/echo", "envv": {"A": "b"}},
       "output_guardrail_policy": {"enabled": true, "block": ["pii"]},
       "input_guardrails_policy": {"enabled": true, "policy_name": "p", "block": ["secret", "pii", "toxcity"]},
       "denied_tools": ["rm_*", {"name": "drop_db", "reason": "destructive", "ticket": "SEC-1"}]}
    ]}
  }
}`

func TestUnknownKeysAreWarningsAndKept(t *testing.T) {
	c, err := Parse([]byte(typoConfig))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	var got []string
	for _, u := range c.UnknownKeys() {
		got = append(got, u.Path+" -> "+u.Fix)
	}
	want := []string{
		`common_mcp_gateway_config.enkrypt_log_levle -> did you mean "enkrypt_log_level"?`,
		`mcp_configs.c1.mcp_config[0].config.envv -> did you mean "env"?`,
		`mcp_configs.c1.mcp_config[0].output_guardrail_policy -> did you mean "output_guardrails_policy"?`,
		`mcp_configs.c1.mcp_config[0].denied_tools[1].ticket -> remove it, or move it where the gateway reads it`,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("unknown keys (-want +got):\n%s", d)
	}
	out, err := Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"envv"`, `"output_guardrail_policy"`, `"enkrypt_log_levle"`, `"ticket": "SEC-1"`, `"rm_*"`} {
		if !strings.Contains(string(out), k) {
			t.Errorf("written config lost %s:\n%s", k, out)
		}
	}
	if c.MCPConfigs["c1"].Servers[0].DeniedTools[1].Reason != "destructive" {
		t.Errorf("denied_tools object form not read: %+v", c.MCPConfigs["c1"].Servers[0].DeniedTools)
	}
}

func TestUnknownDetectorIsAnError(t *testing.T) {
	c, err := Parse([]byte(typoConfig))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate without a detector table = %v, want names unchecked", err)
	}
	var ve *ValidationError
	if err := c.Validate(WithDetectors(testDetectors)); !errors.As(err, &ve) {
		t.Fatalf("Validate = %v, want a *ValidationError", err)
	}
	var got []string
	for _, p := range ve.Problems {
		got = append(got, p.Error())
	}
	text := strings.Join(got, "\n")
	for _, want := range []string{
		`mcp_configs.c1.mcp_config[0].input_guardrails_policy.block[0]: unknown detector "secret" in MCP config "default", server "echo"`,
		`did you mean "secrets"?`,
		`block[2]: unknown detector "toxcity"`,
		`did you mean "toxicity"?`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("problems lack %q:\n%s", want, text)
		}
	}
	if len(ve.Problems) != 2 {
		t.Errorf("got %d problems, want 2:\n%s", len(ve.Problems), text)
	}
}

// TestEveryObjectKeepsUnknownKeys fails when a struct type of the config
// (added by anyone) would drop the keys it does not declare on a write:
// every struct needs the kept field and the UnmarshalJSON/MarshalJSON pair
// of json.go.
func TestEveryObjectKeepsUnknownKeys(t *testing.T) {
	extraType := reflect.TypeFor[extra]()
	seen := map[reflect.Type]bool{}
	var visit func(reflect.Type, string)
	visit = func(ty reflect.Type, path string) {
		for ty.Kind() == reflect.Pointer || ty.Kind() == reflect.Slice || ty.Kind() == reflect.Map {
			ty = ty.Elem()
		}
		if ty.Kind() != reflect.Struct || seen[ty] || ty == reflect.TypeFor[json.RawMessage]() {
			return
		}
		seen[ty] = true
		f, ok := ty.FieldByName("kept")
		if !ok || f.Type != extraType {
			t.Errorf("%s (%s) has no kept field: unknown keys in it would be lost on write", ty, path)
		}
		if !reflect.PointerTo(ty).Implements(reflect.TypeFor[json.Unmarshaler]()) || !ty.Implements(reflect.TypeFor[json.Marshaler]()) {
			t.Errorf("%s (%s) lacks UnmarshalJSON/MarshalJSON keeping unknown keys", ty, path)
		}
		for i := range ty.NumField() {
			if name, ok := jsonName(ty.Field(i)); ok {
				visit(ty.Field(i).Type, path+"."+name)
			}
		}
	}
	visit(reflect.TypeFor[Config](), "")
}

// TestPythonOnlyKeysSayWhy: keys of the Python gateway that this one does
// not use are warned about with the reason, not a misleading did-you-mean.
func TestPythonOnlyKeysSayWhy(t *testing.T) {
	c, err := Parse(readFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, u := range c.UnknownKeys() {
		got[u.Path[strings.LastIndex(u.Path, ".")+1:]] = u.Fix
	}
	for key, want := range map[string]string{
		"enable_tool_guardrails":          "tool_guardrails_policy",
		"enkrypt_remote_mcp_gateway_name": "remote config mode",
		"billing_code":                    "remove it, or move it",
	} {
		if !strings.Contains(got[key], want) {
			t.Errorf("hint for %s = %q, want it to mention %q", key, got[key], want)
		}
	}
}
