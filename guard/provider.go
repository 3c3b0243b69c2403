package guard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"secure-mcp-gateway/internal/config"
)

// Provider names accepted in plugins.guardrails.provider.
const (
	ProviderEnkrypt = "enkrypt"
	ProviderOpenAI  = "openai"
)

// Defaults for remote providers.
const (
	// DefaultEnkryptBaseURL is the Enkrypt API used when config.base_url is
	// empty.
	DefaultEnkryptBaseURL = "https://api.enkryptai.com"
	// DefaultOpenAIBaseURL is the OpenAI API used when config.base_url is
	// empty.
	DefaultOpenAIBaseURL = "https://api.openai.com/v1"
	// DefaultOpenAIThreshold is the category score at or above which an
	// OpenAI moderation category counts.
	DefaultOpenAIThreshold = 0.7
	// PlaceholderAPIKey is the api_key generated configs carry; it means
	// "not configured".
	PlaceholderAPIKey = "YOUR_ENKRYPT_API_KEY"
	// maxProviderResponse caps a provider's response body.
	maxProviderResponse = 1 << 20
)

// DefaultOpenAIBlockCategories are the moderation categories that count
// when config.block_categories is unset.
var DefaultOpenAIBlockCategories = []string{"hate", "violence", "sexual"}

// Provider runs model detectors remotely. Detect returns which of detectors
// fired on text; stage is "input" or "output" and policy is the policy's
// policy_name. An error means no verdict: callers fail closed.
type Provider interface {
	// Name is the provider name, for messages.
	Name() string
	// Supports reports whether the provider can run detector.
	Supports(detector string) bool
	// Detect runs detectors over text.
	Detect(ctx context.Context, text string, detectors []string, stage, policy string) ([]string, error)
}

// ProviderError says a remote provider gave no verdict. It never carries
// the API key or the scanned text.
type ProviderError struct {
	// Provider is the provider name.
	Provider string
	// Err is the cause.
	Err error
}

func (e *ProviderError) Error() string {
	return fmt.Sprintf("guardrail provider %s failed: %v", e.Provider, e.Err)
}

func (e *ProviderError) Unwrap() error { return e.Err }

// ProviderOptions configures NewProvider. A nil *ProviderOptions means the
// defaults.
type ProviderOptions struct {
	// Client sends the requests; nil means a client with no timeout of its
	// own (calls are bounded by their context).
	Client *http.Client
}

// ErrNoProvider means no usable remote provider is configured.
var ErrNoProvider = errors.New("no usable guardrail provider")

// NewProvider returns the provider p selects (nil means the default,
// "enkrypt"). It returns ErrNoProvider, wrapped with the setting to fix,
// when the provider has no usable API key, and an error for an unknown
// provider name.
func NewProvider(p *config.Plugin, opts *ProviderOptions) (Provider, error) {
	var o ProviderOptions
	if opts != nil {
		o = *opts
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	name, settings := ProviderEnkrypt, map[string]any(nil)
	if p != nil {
		if p.Provider != "" {
			name = strings.ToLower(strings.TrimSpace(p.Provider))
		}
		settings = p.Config
	}
	key := strings.TrimSpace(stringSetting(settings, "api_key"))
	base := strings.TrimRight(strings.TrimSpace(stringSetting(settings, "base_url")), "/")
	switch name {
	case ProviderEnkrypt:
		if key == "" || key == PlaceholderAPIKey {
			return nil, fmt.Errorf("%w: set plugins.guardrails.config.api_key to an Enkrypt API key (provider \"enkrypt\")", ErrNoProvider)
		}
		if base == "" {
			base = DefaultEnkryptBaseURL
		}
		return &enkrypt{key: key, base: base, client: o.Client}, nil
	case ProviderOpenAI:
		if key == "" || key == PlaceholderAPIKey {
			return nil, fmt.Errorf("%w: set plugins.guardrails.config.api_key to an OpenAI API key (provider \"openai\")", ErrNoProvider)
		}
		if base == "" {
			base = DefaultOpenAIBaseURL
		}
		oa := &openAI{key: key, base: base, client: o.Client, threshold: DefaultOpenAIThreshold, block: DefaultOpenAIBlockCategories}
		if t, ok := settings["threshold"].(float64); ok && t > 0 {
			oa.threshold = t
		}
		if c := stringsSetting(settings, "block_categories"); len(c) > 0 {
			oa.block = c
		}
		return oa, nil
	default:
		return nil, fmt.Errorf("%w: plugins.guardrails.provider %q is not one of %q, %q", ErrNoProvider, name, ProviderEnkrypt, ProviderOpenAI)
	}
}

// ProviderSecrets returns the secret values of the guardrail provider
// settings (its API key), for the log redactor.
func ProviderSecrets(cfg *config.Config) []string {
	if cfg == nil || cfg.Plugins.Guardrails == nil {
		return nil
	}
	if k := stringSetting(cfg.Plugins.Guardrails.Config, "api_key"); k != "" && k != PlaceholderAPIKey {
		return []string{k}
	}
	return nil
}

func stringSetting(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// enkrypt is the Enkrypt guardrails API: POST {base}/guardrails/policy/detect.
type enkrypt struct {
	key, base string
	client    *http.Client
}

func (*enkrypt) Name() string { return ProviderEnkrypt }

func (*enkrypt) Supports(d string) bool { return IsModelDetector(d) }

func (p *enkrypt) Detect(ctx context.Context, text string, detectors []string, stage, policy string) ([]string, error) {
	body, _ := json.Marshal(map[string]string{"text": text})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+"/guardrails/policy/detect", bytes.NewReader(body))
	if err != nil {
		return nil, &ProviderError{ProviderEnkrypt, fmt.Errorf("build request: %w", err)}
	}
	event := "pre-tool"
	if stage == "output" {
		event = "post-tool"
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("apikey", p.key)
	req.Header.Set("X-Enkrypt-Policy", policy)
	req.Header.Set("X-Enkrypt-Source-Name", "mcp-gateway")
	req.Header.Set("X-Enkrypt-Source-Event", event)
	var out struct {
		Summary map[string]json.RawMessage `json:"summary"`
		Error   any                        `json:"error"`
	}
	if err := doJSON(p.client, req, &out); err != nil {
		return nil, &ProviderError{ProviderEnkrypt, err}
	}
	if out.Error != nil && out.Error != "" {
		return nil, &ProviderError{ProviderEnkrypt, errors.New("the API answered with an error")}
	}
	if out.Summary == nil {
		return nil, &ProviderError{ProviderEnkrypt, errors.New("the response has no summary")}
	}
	var fired []string
	for _, d := range detectors {
		if firedValue(out.Summary[d]) {
			fired = append(fired, d)
		}
	}
	return fired, nil
}

// firedValue reports whether a summary value means the detector fired: 1
// (or true) or a non-empty list.
func firedValue(raw json.RawMessage) bool {
	var v any
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil {
		return false
	}
	switch x := v.(type) {
	case float64:
		return x == 1
	case bool:
		return x
	case []any:
		return len(x) > 0
	}
	return false
}

// openAI is OpenAI moderation: POST {base}/moderations. It runs toxicity
// (every blocked category but sexual ones) and nsfw (sexual categories).
type openAI struct {
	key, base string
	client    *http.Client
	threshold float64
	block     []string
}

func (*openAI) Name() string { return ProviderOpenAI }

func (*openAI) Supports(d string) bool { return d == "toxicity" || d == "nsfw" }

func (p *openAI) Detect(ctx context.Context, text string, detectors []string, _, _ string) ([]string, error) {
	body, _ := json.Marshal(map[string]string{"input": text})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+"/moderations", bytes.NewReader(body))
	if err != nil {
		return nil, &ProviderError{ProviderOpenAI, fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+p.key)
	var out struct {
		Results []struct {
			Categories     map[string]bool    `json:"categories"`
			CategoryScores map[string]float64 `json:"category_scores"`
		} `json:"results"`
	}
	if err := doJSON(p.client, req, &out); err != nil {
		return nil, &ProviderError{ProviderOpenAI, err}
	}
	if len(out.Results) == 0 {
		return nil, &ProviderError{ProviderOpenAI, errors.New("the response has no results")}
	}
	hit := map[string]bool{}
	for _, r := range out.Results {
		for cat, score := range r.CategoryScores {
			if score < p.threshold || !p.blocked(cat) {
				continue
			}
			if strings.HasPrefix(cat, "sexual") {
				hit["nsfw"] = true
			} else {
				hit["toxicity"] = true
			}
		}
	}
	var fired []string
	for _, d := range detectors {
		if hit[d] {
			fired = append(fired, d)
		}
	}
	return fired, nil
}

// blocked reports whether category cat (such as "hate/threatening") is one
// of the blocked categories or below one.
func (p *openAI) blocked(cat string) bool {
	return slices.ContainsFunc(p.block, func(b string) bool { return cat == b || strings.HasPrefix(cat, b+"/") })
}

// doJSON sends req and decodes a 2xx JSON answer into out. Its errors name
// the status, never the request's headers or body.
func doJSON(c *http.Client, req *http.Request, out any) error {
	resp, err := c.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(req.Context().Err(), context.DeadlineExceeded) {
			return errors.New("timed out (timeout_settings.guardrail_timeout)")
		}
		return fmt.Errorf("send request to %s: %w", req.URL.Host, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxProviderResponse))
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP status %d", resp.StatusCode)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	return nil
}

// ValidateProviders returns a problem for every policy of servers that
// lists a model detector with no usable provider in cfg, naming the server,
// the policy, the detector and the setting it needs.
func ValidateProviders(cfg *config.Config, servers []*config.Server) []string {
	var plugin *config.Plugin
	if cfg != nil {
		plugin = cfg.Plugins.Guardrails
	}
	prov, perr := NewProvider(plugin, nil)
	var problems []string
	for i, s := range servers {
		if s == nil {
			continue
		}
		for _, pp := range []struct {
			name string
			p    *config.Policy
		}{{"input_guardrails_policy", s.InputGuardrailsPolicy}, {"output_guardrails_policy", s.OutputGuardrailsPolicy}, {"tool_guardrails_policy", s.ToolGuardrailsPolicy}} {
			if pp.p == nil || !pp.p.Enabled {
				continue
			}
			for _, d := range pp.p.Block {
				d = strings.TrimSpace(d)
				if !IsModelDetector(d) {
					continue
				}
				switch {
				case pp.name == "tool_guardrails_policy":
					problems = append(problems, fmt.Sprintf("mcp_config[%d] (%s): %s lists model detector %q, which tool definition checks do not run; remove it", i, s.Name, pp.name, d))
				case perr != nil:
					problems = append(problems, fmt.Sprintf("mcp_config[%d] (%s): %s lists model detector %q: %v", i, s.Name, pp.name, d, perr))
				case !prov.Supports(d):
					problems = append(problems, fmt.Sprintf("mcp_config[%d] (%s): %s lists model detector %q, which provider %q cannot run; use provider \"enkrypt\" or remove it", i, s.Name, pp.name, d, prov.Name()))
				}
			}
		}
	}
	return problems
}

// withTimeout bounds ctx by d when d is positive.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}
