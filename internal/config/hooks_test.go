package config

import (
	"errors"
	"strings"
	"testing"
)

// TestHooksBlock parses a hooks block, keeps its unknown keys through a
// save, and reports bad fail modes, actions and empty entries by path.
func TestHooksBlock(t *testing.T) {
	in := `{"common_mcp_gateway_config":{},"hooks":{"fail_mode":"closed","future":1,
	  "claude_code":{"PreToolUse":{"enabled":true,"block":["secrets"],"sensitive_tools":["Bash"],"action":"ask","note":"x"}},
	  "cursor":{"beforeShellExecution":{"enabled":false}}}}`
	c, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	p := c.Hooks.ClaudeCode["PreToolUse"]
	if c.Hooks.FailMode != HookFailClosed || p == nil || !p.Enabled || p.Action != HookActionAsk || p.SensitiveTools[0] != "Bash" {
		t.Fatalf("parsed %+v %+v", c.Hooks, p)
	}
	out, err := Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"future": 1`, `"note": "x"`, `"sensitive_tools"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("saved config lost %s:\n%s", want, out)
		}
	}

	bad := `{"common_mcp_gateway_config":{},"hooks":{"fail_mode":"sometimes",
	  "claude_code":{"PreToolUse":{"enabled":true,"block":[" ","secretz","toxicity","pii"],"action":"warn","fail_mode":"x","sensitive_tools":[""]},"Stop":null}}}`
	c, err = Parse([]byte(bad))
	if err != nil {
		t.Fatal(err)
	}
	var ve *ValidationError
	if err := c.Validate(WithDetectors(&Detectors{Offline: []string{"pii", "secrets"}, Model: []string{"toxicity"}})); !errors.As(err, &ve) {
		t.Fatalf("Validate = %v, want a *ValidationError", err)
	}
	var paths []string
	for _, p := range ve.Problems {
		paths = append(paths, p.Path)
	}
	want := "hooks.fail_mode hooks.claude_code.PreToolUse.fail_mode hooks.claude_code.PreToolUse.action " +
		"hooks.claude_code.PreToolUse.block[0] hooks.claude_code.PreToolUse.block[1] hooks.claude_code.PreToolUse.block[2] " +
		"hooks.claude_code.PreToolUse.sensitive_tools[0] hooks.claude_code.Stop"
	if got := strings.Join(paths, " "); got != want {
		t.Errorf("problems at\n %s\nwant\n %s", got, want)
	}
}
