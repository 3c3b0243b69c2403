package admin

import (
	"context"
	"strings"

	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/internal/secret"
)

// GuardrailsKeyStatus says whether the guardrail provider's API key
// (plugins.guardrails.config.api_key) is set, by fingerprint only.
type GuardrailsKeyStatus struct {
	Set         bool   `json:"set"`
	Fingerprint string `json:"fingerprint,omitempty"`
	Provider    string `json:"provider,omitempty"`
}

// GuardrailsKey reports the guardrail provider's API key without showing it.
func (s *Store) GuardrailsKey(ctx context.Context) (GuardrailsKeyStatus, error) {
	c, err := s.Load(ctx)
	if err != nil {
		return GuardrailsKeyStatus{}, err
	}
	var st GuardrailsKeyStatus
	if p := c.Plugins.Guardrails; p != nil {
		st.Provider = p.Provider
		if k, _ := p.Config["api_key"].(string); k != "" {
			st.Set, st.Fingerprint = true, "fp:"+secret.Fingerprint(k)
		}
	}
	return st, nil
}

// SetGuardrailsKeyRequest sets the guardrail provider's API key.
type SetGuardrailsKeyRequest struct {
	APIKey string `json:"api_key"`
}

// SetGuardrailsKey writes plugins.guardrails.config.api_key.
func (s *Store) SetGuardrailsKey(ctx context.Context, req SetGuardrailsKeyRequest) (GuardrailsKeyStatus, error) {
	key := strings.TrimSpace(req.APIKey)
	if key == "" {
		return GuardrailsKeyStatus{}, &RequestError{Fields: []string{"api_key"}, Problem: ProblemMissing}
	}
	var st GuardrailsKeyStatus
	err := s.update(ctx, func(c *config.Config) error {
		if c.Plugins.Guardrails == nil {
			c.Plugins.Guardrails = &config.Plugin{}
		}
		p := c.Plugins.Guardrails
		if p.Config == nil {
			p.Config = map[string]any{}
		}
		p.Config["api_key"] = key
		st = GuardrailsKeyStatus{Set: true, Fingerprint: "fp:" + secret.Fingerprint(key), Provider: p.Provider}
		return nil
	})
	return st, err
}

// TelemetryRequest changes the telemetry provider's settings
// (plugins.telemetry.config); nil fields stay as they are.
type TelemetryRequest struct {
	Enabled  *bool   `json:"enabled,omitempty"`
	URL      *string `json:"url,omitempty"`
	Insecure *bool   `json:"insecure,omitempty"`
}

// TelemetrySettings is the telemetry provider after a change.
type TelemetrySettings struct {
	Provider string         `json:"provider,omitempty"`
	Config   map[string]any `json:"config"`
}

// SetTelemetry changes the given telemetry settings.
func (s *Store) SetTelemetry(ctx context.Context, req TelemetryRequest) (TelemetrySettings, error) {
	if req.Enabled == nil && req.URL == nil && req.Insecure == nil {
		return TelemetrySettings{}, &RequestError{Fields: []string{"enabled", "url", "insecure"}, Problem: ProblemMissing}
	}
	var res TelemetrySettings
	err := s.update(ctx, func(c *config.Config) error {
		if c.Plugins.Telemetry == nil {
			c.Plugins.Telemetry = &config.Plugin{}
		}
		p := c.Plugins.Telemetry
		if p.Config == nil {
			p.Config = map[string]any{}
		}
		if req.Enabled != nil {
			p.Config["enabled"] = *req.Enabled
		}
		if req.URL != nil {
			p.Config["url"] = *req.URL
		}
		if req.Insecure != nil {
			p.Config["insecure"] = *req.Insecure
		}
		res = TelemetrySettings{Provider: p.Provider, Config: map[string]any{}}
		for _, k := range []string{"enabled", "url", "insecure"} {
			if v, ok := p.Config[k]; ok {
				res.Config[k] = v
			}
		}
		return nil
	})
	return res, err
}
