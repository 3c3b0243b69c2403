package guard

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/internal/config"
)

const testKey = "sk-provider-canary-0123456789abcdef"

// enkryptServer answers POST /guardrails/policy/detect with summary for
// texts containing "hate" and records the request headers.
func enkryptServer(t *testing.T, got *http.Header, status int) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/guardrails/policy/detect" {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		*got = r.Header.Clone()
		var body struct {
			Text string `json:"text"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		if status != http.StatusOK {
			http.Error(w, `{"error":"quota"}`, status)
			return
		}
		tox := 0
		if strings.Contains(body.Text, "hate") {
			tox = 1
		}
		topics := []string{}
		if strings.Contains(body.Text, "politics") {
			topics = []string{"politics"}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"summary": map[string]any{"toxicity": tox, "nsfw": 0, "topic_detector": topics, "injection_attack": 1},
			"details": map[string]any{"toxicity": map[string]any{"score": 0.9}},
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func providerEngine(t *testing.T, plugin *config.Plugin, timeout time.Duration, block ...string) *Engine {
	t.Helper()
	prov, problem := NewProvider(plugin, nil)
	return NewEngine(&Options{
		Provider: prov, ProviderProblem: problem, GuardrailTimeout: timeout,
		Servers: []*config.Server{{Name: "s",
			InputGuardrailsPolicy:  &config.Policy{Enabled: true, PolicyName: "My Policy", Block: block},
			OutputGuardrailsPolicy: &config.Policy{Enabled: true, PolicyName: "My Policy", Block: block},
		}},
	})
}

func TestEnkryptProvider(t *testing.T) {
	var hdr http.Header
	srv := enkryptServer(t, &hdr, http.StatusOK)
	e := providerEngine(t, &config.Plugin{Provider: "enkrypt", Config: map[string]any{"api_key": testKey, "base_url": srv.URL}}, 0, "toxicity", "topic_detector")
	for _, c := range []struct {
		name, args string
		want       string // substring of the block reason; empty means allowed
	}{
		{"clean", `{"q": "weather in Paris"}`, ""},
		{"toxic", `{"q": "words of hate"}`, "toxicity (enkrypt)"},
		{"topic list", `{"q": "talk politics"}`, "topic_detector (enkrypt)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := e.CheckCall(context.Background(), "s", "t", json.RawMessage(c.args))
			if c.want == "" {
				if err != nil {
					t.Fatalf("blocked: %v", err)
				}
				return
			}
			var be *BlockedError
			if !errors.As(err, &be) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want a block naming %q", err, c.want)
			}
			if strings.Contains(err.Error(), "injection_attack") {
				t.Errorf("a detector not in the block list counted: %v", err)
			}
		})
	}
	for k, want := range map[string]string{"Apikey": testKey, "X-Enkrypt-Policy": "My Policy", "X-Enkrypt-Source-Name": "mcp-gateway", "X-Enkrypt-Source-Event": "pre-tool"} {
		if got := hdr.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	// Output checks say post-tool.
	_, check, err := e.CheckCall(context.Background(), "s", "t", json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := check(context.Background(), textResult("fine")); err != nil {
		t.Fatal(err)
	}
	if got := hdr.Get("X-Enkrypt-Source-Event"); got != "post-tool" {
		t.Errorf("output event = %q, want post-tool", got)
	}
	if _, err := check(context.Background(), textResult("full of hate")); err == nil {
		t.Error("toxic output passed")
	}
}

func TestProviderFailsClosed(t *testing.T) {
	var hdr http.Header
	broken := enkryptServer(t, &hdr, http.StatusInternalServerError)
	stop := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-stop }))
	t.Cleanup(func() { close(stop); slow.Close() })
	for _, c := range []struct {
		name    string
		plugin  *config.Plugin
		timeout time.Duration
		block   []string
		want    string
	}{
		{"http error", &config.Plugin{Provider: "enkrypt", Config: map[string]any{"api_key": testKey, "base_url": broken.URL}}, 0, []string{"toxicity"}, "HTTP status 500"},
		{"timeout", &config.Plugin{Provider: "enkrypt", Config: map[string]any{"api_key": testKey, "base_url": slow.URL}}, 50 * time.Millisecond, []string{"nsfw"}, "guardrail_timeout"},
		{"placeholder key", &config.Plugin{Provider: "enkrypt", Config: map[string]any{"api_key": PlaceholderAPIKey}}, 0, []string{"bias"}, "plugins.guardrails.config.api_key"},
		{"no plugin", nil, 0, []string{"hallucination"}, "plugins.guardrails.config.api_key"},
		{"unknown provider", &config.Plugin{Provider: "acme"}, 0, []string{"toxicity"}, `"acme"`},
		{"openai cannot run bias", &config.Plugin{Provider: "openai", Config: map[string]any{"api_key": testKey}}, 0, []string{"bias"}, `use provider "enkrypt"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := providerEngine(t, c.plugin, c.timeout, c.block...)
			_, _, err := e.CheckCall(context.Background(), "s", "t", json.RawMessage(`{"q":"hello"}`))
			var be *BlockedError
			if !errors.As(err, &be) {
				t.Fatalf("err = %v, want BlockedError", err)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.block[0]) {
				t.Errorf("err = %v, want it to name %q and %q", err, c.block[0], c.want)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error leaks the API key: %v", err)
			}
		})
	}
}

func TestOpenAIModeration(t *testing.T) {
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/moderations" {
			http.NotFound(w, r)
			return
		}
		auth = r.Header.Get("Authorization")
		b, _ := io.ReadAll(r.Body)
		var req struct {
			Input string `json:"input"`
		}
		_ = json.Unmarshal(b, &req)
		scores := map[string]float64{"hate": 0.01, "hate/threatening": 0.0, "violence": 0.02, "sexual": 0.01, "sexual/minors": 0, "harassment": 0.01}
		switch {
		case strings.Contains(req.Input, "threat"):
			scores["hate/threatening"] = 0.93
		case strings.Contains(req.Input, "explicit"):
			scores["sexual"] = 0.88
		case strings.Contains(req.Input, "rude"):
			scores["harassment"] = 0.95 // not a blocked category by default
		}
		cats := map[string]bool{}
		for k, v := range scores {
			cats[k] = v > 0.5
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"id": "modr-1", "model": "omni-moderation-latest",
			"results": []any{map[string]any{"flagged": len(cats) > 0, "categories": cats, "category_scores": scores}}})
	}))
	t.Cleanup(srv.Close)
	e := providerEngine(t, &config.Plugin{Provider: "openai", Config: map[string]any{"api_key": testKey, "base_url": srv.URL + "/v1"}}, 0, "toxicity", "nsfw")
	for in, want := range map[string]string{"a threat": "toxicity (openai)", "explicit": "nsfw (openai)", "rude": "", "hello": ""} {
		_, _, err := e.CheckCall(context.Background(), "s", "t", json.RawMessage(`{"q":"`+in+`"}`))
		switch {
		case want == "" && err != nil:
			t.Errorf("%q blocked: %v", in, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: err = %v, want %q", in, err, want)
		}
	}
	if auth != "Bearer "+testKey {
		t.Errorf("Authorization = %q", auth)
	}
}

func TestValidateProviders(t *testing.T) {
	servers := []*config.Server{{Name: "a", InputGuardrailsPolicy: &config.Policy{Enabled: true, Block: []string{"pii", "toxicity"}}},
		{Name: "b", OutputGuardrailsPolicy: &config.Policy{Enabled: true, Block: []string{"bias"}}},
		{Name: "c", InputGuardrailsPolicy: &config.Policy{Enabled: false, Block: []string{"nsfw"}}}}
	none := &config.Config{}
	none.Plugins.Guardrails = &config.Plugin{Provider: "enkrypt", Config: map[string]any{"api_key": PlaceholderAPIKey}}
	if got := ValidateProviders(none, servers); len(got) != 2 || !strings.Contains(got[0], `"toxicity"`) || !strings.Contains(got[0], "config.api_key") || !strings.Contains(got[1], `"bias"`) {
		t.Errorf("placeholder key: %q", got)
	}
	oa := &config.Config{}
	oa.Plugins.Guardrails = &config.Plugin{Provider: "openai", Config: map[string]any{"api_key": testKey}}
	if got := ValidateProviders(oa, servers); len(got) != 1 || !strings.Contains(got[0], `"bias"`) {
		t.Errorf("openai: %q", got)
	}
	ok := &config.Config{}
	ok.Plugins.Guardrails = &config.Plugin{Provider: "enkrypt", Config: map[string]any{"api_key": testKey}}
	if got := ValidateProviders(ok, servers); len(got) != 0 {
		t.Errorf("configured: %q", got)
	}
	if got := ProviderSecrets(ok); len(got) != 1 || got[0] != testKey {
		t.Errorf("ProviderSecrets = %q", got)
	}
}

func textResult(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}
