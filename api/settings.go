package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"secure-mcp-gateway/admin"
)

type (
	setGuardrailsKeyIn struct {
		Body struct {
			APIKey string `json:"api_key" minLength:"1" doc:"the guardrail provider's API key; never shown again, only its fingerprint"`
		}
	}
	setTelemetryIn struct {
		Body admin.TelemetryRequest
	}
)

func (h *handlers) settingsRoutes(a huma.API) {
	const tag = "settings"
	route(a, h, http.MethodGet, "/settings/enkrypt-api-key", "get-enkrypt-api-key", tag, "Say whether the guardrail provider's API key is set (fingerprint only)",
		func(ctx context.Context, _ *none) (*Reply[admin.GuardrailsKeyStatus], error) {
			st, err := h.st.GuardrailsKey(ctx)
			if err != nil {
				return nil, err
			}
			msg := "no guardrail provider API key is set"
			if st.Set {
				msg = "guardrail provider API key " + st.Fingerprint + " is set"
			}
			return reply(ctx, msg, st)
		})
	route(a, h, http.MethodPut, "/settings/enkrypt-api-key", "set-enkrypt-api-key", tag, "Set the guardrail provider's API key",
		func(ctx context.Context, in *setGuardrailsKeyIn) (*Reply[admin.GuardrailsKeyStatus], error) {
			st, err := h.st.SetGuardrailsKey(ctx, admin.SetGuardrailsKeyRequest{APIKey: in.Body.APIKey})
			if err != nil {
				return nil, err
			}
			return reply(ctx, "Set the guardrail provider API key "+st.Fingerprint, st)
		})
	route(a, h, http.MethodPut, "/settings/telemetry", "configure-telemetry", tag, "Change the telemetry settings (enabled, url, insecure)",
		func(ctx context.Context, in *setTelemetryIn) (*Reply[admin.TelemetrySettings], error) {
			st, err := h.st.SetTelemetry(ctx, in.Body)
			if err != nil {
				return nil, err
			}
			return reply(ctx, "Updated the telemetry settings; gateways apply them at their next start", st)
		})
}
