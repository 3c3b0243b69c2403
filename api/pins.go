package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"secure-mcp-gateway/admin"
)

type (
	approvePinIn struct {
		Body admin.ApprovePinRequest
	}
	// ApprovedPin names the tool whose changed definition became its pin.
	ApprovedPin struct {
		Server string `json:"server"`
		Tool   string `json:"tool"`
	}
)

func (h *handlers) pinRoutes(a huma.API) {
	const tag = "pins"
	route(a, h, http.MethodGet, "/pins", "list-pins", tag, "List pinned tool definitions and the changes waiting for approval (rug-pull protection)",
		func(ctx context.Context, _ *none) (*Reply[json.RawMessage], error) {
			p, where, err := h.st.Pins(ctx)
			if err != nil {
				return nil, err
			}
			b, err := raw(p)
			if err != nil {
				return nil, err
			}
			return reply(ctx, "Pinned tools in "+where, b)
		})
	route(a, h, http.MethodPost, "/pins/approve", "approve-pin", tag, "Accept a tool's changed definition as its new pin",
		func(ctx context.Context, in *approvePinIn) (*Reply[ApprovedPin], error) {
			if err := h.st.ApprovePin(ctx, in.Body); err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("Approved the new definition of %s on %s; gateways show the tool again when they next list its server", in.Body.Tool, in.Body.Server),
				ApprovedPin{in.Body.Server, in.Body.Tool})
		})
}
