package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"secure-mcp-gateway/admin"
)

type (
	rotateKeyIn struct {
		Body struct {
			APIKey string `json:"api_key" minLength:"1" doc:"the key, its fingerprint (fp:xxxxxxxx) or its stored sha256: form"`
		}
	}
	// RotatedKey is the new key, with the Python gateway's key name.
	RotatedKey struct {
		NewAPIKey string `json:"new_api_key"`
		admin.IssuedKey
	}
	// KeyState is a key after enable, disable or delete.
	KeyState struct {
		Fingerprint string `json:"fingerprint"`
		Disabled    bool   `json:"disabled"`
		Deleted     bool   `json:"deleted,omitempty"`
	}
)

func (h *handlers) keyRoutes(a huma.API) {
	const tag = "api-keys"
	route(a, h, http.MethodGet, "/api-keys", "list-api-keys", tag, "List every gateway key (fingerprints only)",
		func(ctx context.Context, _ *none) (*Reply[[]admin.KeySummary], error) {
			rows, err := h.st.ListAllKeys(ctx)
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("%d key(s)", len(rows)), rows)
		})
	route(a, h, http.MethodPost, "/api-keys/rotate", "rotate-api-key", tag, "Replace a gateway key with a new one (shown once)",
		func(ctx context.Context, in *rotateKeyIn) (*Reply[RotatedKey], error) {
			k, err := h.st.RotateKey(ctx, in.Body.APIKey)
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("Rotated key %s to %s; the old key is refused now", k.RotatedFrom, k.Fingerprint), RotatedKey{k.APIKey, k})
		})
	route(a, h, http.MethodGet, "/api-keys/{key}", "get-api-key", tag, "Describe a gateway key",
		func(ctx context.Context, in *KeyParam) (*Reply[admin.KeySummary], error) {
			rows, err := h.st.GetKey(ctx, in.Key)
			if err != nil {
				return nil, err
			}
			return reply(ctx, "Key "+rows[0].Fingerprint, rows[0])
		})
	for _, d := range []struct {
		verb     string
		disabled bool
	}{{"disable", true}, {"enable", false}} {
		route(a, h, http.MethodPost, "/api-keys/{key}/"+d.verb, d.verb+"-api-key", tag, "Make a gateway key "+d.verb+"d",
			func(ctx context.Context, in *KeyParam) (*Reply[KeyState], error) {
				fp, err := h.st.SetKeyDisabled(ctx, in.Key, d.disabled)
				if err != nil {
					return nil, err
				}
				return reply(ctx, fmt.Sprintf("Key %s %sd", fp, d.verb), KeyState{Fingerprint: fp, Disabled: d.disabled})
			})
	}
	route(a, h, http.MethodDelete, "/api-keys/{key}", "delete-api-key", tag, "Delete a gateway key",
		func(ctx context.Context, in *KeyParam) (*Reply[KeyState], error) {
			fp, err := h.st.DeleteKey(ctx, in.Key)
			if err != nil {
				return nil, err
			}
			return reply(ctx, "Deleted key "+fp, KeyState{Fingerprint: fp, Deleted: true})
		})
}
