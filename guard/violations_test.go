package guard

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/internal/config"
)

// TestBlockedErrorViolations: every block path carries typed Violations
// that agree with its text: the stage, the detector (or the check that
// blocked: size, format, provider), and every detector's rules appear in
// the reasons.
func TestBlockedErrorViolations(t *testing.T) {
	ctx := context.Background()
	var hdr http.Header
	enk := enkryptServer(t, &hdr, http.StatusOK)
	broken := enkryptServer(t, &hdr, http.StatusInternalServerError)
	offline := crossingEngine(nil)
	small := NewEngine(&Options{MaxOutputBytes: 100, Servers: []*config.Server{{Name: "s", OutputGuardrailsPolicy: &config.Policy{Enabled: true, Block: []string{"secrets"}}}}})
	redact := NewEngine(&Options{Servers: []*config.Server{{Name: "s", OutputGuardrailsPolicy: &config.Policy{Enabled: true, Block: []string{"secrets"}, AdditionalConfig: map[string]any{"redact": true}}}}})
	model := providerEngine(t, &config.Plugin{Provider: "enkrypt", Config: map[string]any{"api_key": testKey, "base_url": enk.URL}}, 0, "toxicity")
	failing := providerEngine(t, &config.Plugin{Provider: "enkrypt", Config: map[string]any{"api_key": testKey, "base_url": broken.URL}}, 0, "toxicity")
	noProvider := providerEngine(t, nil, 0, "nsfw")
	output := func(e *Engine, res *mcp.CallToolResult) error {
		_, check, err := e.CheckCall(ctx, "s", "t", json.RawMessage(`{}`))
		if err != nil {
			return err
		}
		_, err = check(ctx, res)
		return err
	}
	call := func(e *Engine, args string) error {
		_, _, err := e.CheckCall(ctx, "s", "t", json.RawMessage(args))
		return err
	}
	big := textResult(strings.Repeat("a", 200))
	blob := &mcp.CallToolResult{Content: []mcp.Content{&mcp.EmbeddedResource{Resource: &mcp.ResourceContents{URI: "file:///x", MIMEType: "text/plain", Blob: []byte("AKIAIOSFODNN7EXAMPLE aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")}}}}
	for _, c := range []struct {
		name      string
		err       error
		stage     string
		detectors []string // sorted, one entry per violation detector
		rule      string   // the rule of the first violation, when fixed
	}{
		{"input detector", call(offline, `{"q": "use `+testAWSKey+`"}`), "input", []string{"secrets"}, ""},
		{"input number PII", call(offline, `{"card": 4111111111111111}`), "input", []string{"pii"}, ""},
		{"input not JSON", call(offline, `{"q": `), "input", []string{CheckFormat}, ""},
		{"output detector", output(offline, textResult("token "+testGitHubToken)), "output", []string{"secrets"}, ""},
		{"output size", output(small, big), "output", []string{CheckSize}, ""},
		{"output redact leftover", output(redact, blob), "output", []string{"secrets", "secrets"}, ""},
		{"resource size", func() error {
			_, err := small.CheckResource(ctx, "s", "file:///a", &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: "file:///a", Text: strings.Repeat("a", 200)}}})
			return err
		}(), "output", []string{CheckSize}, ""},
		{"prompt detector", func() error {
			_, err := offline.CheckPrompt(ctx, "s", "p", &mcp.GetPromptResult{Description: "key " + testAWSKey})
			return err
		}(), "output", []string{"secrets"}, ""},
		{"crossing input detector", offline.CheckInput(ctx, "s", "Prompt \"p\"", map[string]string{"x": "078-05-1120"}), "input", []string{"pii"}, ""},
		{"crossing input format", offline.CheckInput(ctx, "s", "Prompt \"p\"", func() {}), "input", []string{CheckFormat}, ""},
		{"crossing output format", offline.CheckOutput(ctx, "s", "Tool \"t\"", func() {}), "output", []string{CheckFormat}, ""},
		{"crossing output size", small.CheckOutput(ctx, "s", "Tool \"t\"", strings.Repeat("a", 200)), "output", []string{CheckSize}, ""},
		{"model detector fired", call(model, `{"q": "words of hate"}`), "input", []string{"toxicity"}, "enkrypt"},
		{"model detector fired on output", output(model, textResult("full of hate")), "output", []string{"toxicity"}, "enkrypt"},
		{"provider failure", call(failing, `{"q": "hello"}`), "input", []string{CheckProvider}, ""},
		{"no provider", call(noProvider, `{"q": "hello"}`), "input", []string{CheckProvider}, ""},
		{"crossing provider failure", failing.CheckOutput(ctx, "s", "Tool \"t\"", "hello"), "output", []string{CheckProvider}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var be *BlockedError
			if !errors.As(c.err, &be) {
				t.Fatalf("err = %v, want BlockedError", c.err)
			}
			vd := be.Verdict()
			if vd.Stage != c.stage || !vd.Blocked() {
				t.Errorf("verdict = %+v, want a block at stage %s", vd, c.stage)
			}
			var dets []string
			for _, v := range be.Violations {
				dets = append(dets, v.Detector)
				if v.Stage != c.stage || v.Action != ActionBlock {
					t.Errorf("violation %+v: want stage %s, action block", v, c.stage)
				}
				if v.Rule != "" && !strings.Contains(be.Error(), v.Rule) {
					t.Errorf("violation %+v: its rule is not in the text %q", v, be.Error())
				}
				if !strings.Contains(be.Error(), v.Detector) && v.Detector != CheckSize && v.Detector != CheckFormat && v.Detector != CheckProvider {
					t.Errorf("violation %+v: its detector is not in the text %q", v, be.Error())
				}
			}
			if strings.Join(dets, ",") != strings.Join(c.detectors, ",") {
				t.Errorf("detectors = %v, want %v (%v)", dets, c.detectors, be)
			}
			if c.rule != "" && be.Violations[0].Rule != c.rule {
				t.Errorf("rule = %q, want %q", be.Violations[0].Rule, c.rule)
			}
		})
	}
}

// TestAllowedVerdicts: an allowed call reports its PII placeholders as
// input redactions, and a redact-mode result its replacements as output
// redactions; a clean call reports none.
func TestAllowedVerdicts(t *testing.T) {
	ctx := context.Background()
	in := testEngine(t, "")
	out := NewEngine(&Options{Servers: []*config.Server{{Name: "s", OutputGuardrailsPolicy: &config.Policy{Enabled: true, Block: []string{"secrets"}, AdditionalConfig: map[string]any{"redact": true}}}}})
	for _, c := range []struct {
		name          string
		e             *Engine
		args          string
		res           *mcp.CallToolResult
		input, output []Violation
	}{
		{"clean", in, `{"q": "weather"}`, textResult("sunny"), nil, nil},
		{"pii placeholders", in, `{"to": "jane@example.com"}`, textResult("sent to <EMAIL_1>"), []Violation{{Stage: "input", Detector: "pii", Rule: "email", Field: "arguments.to", Action: ActionRedact}}, nil},
		{"redacted result", out, `{}`, textResult("key " + testAWSKey), nil, []Violation{{Stage: "output", Detector: "secrets", Rule: "aws_access_key_id", Action: ActionRedact}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var vc VerdictChecker = c.e
			_, check, vin, err := vc.CheckCallVerdict(ctx, "s", "t", json.RawMessage(c.args))
			if err != nil {
				t.Fatal(err)
			}
			if vin.Stage != "input" || vin.Blocked() || !slicesEqual(vin.Violations, c.input) {
				t.Errorf("input verdict = %+v, want %+v", vin, c.input)
			}
			_, vout, err := check(ctx, c.res)
			if err != nil {
				t.Fatal(err)
			}
			if vout.Stage != "output" || vout.Blocked() || !slicesEqual(vout.Violations, c.output) {
				t.Errorf("output verdict = %+v, want %+v", vout, c.output)
			}
		})
	}
}

func slicesEqual(a, b []Violation) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
