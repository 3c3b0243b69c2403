package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"secure-mcp-gateway/admin"
)

type revokeTokenIn struct {
	Server string `path:"server" doc:"server name"`
	Config string `query:"config" doc:"only the server of this MCP config (name or ID); default: every MCP config with a server of that name"`
}

// oauthRoutes list and revoke the OAuth tokens the gateway holds for
// upstream servers, as `oauth status` and `oauth revoke` do. Tokens are
// shown as fingerprints only.
func (h *handlers) oauthRoutes(a huma.API) {
	const tag = "oauth"
	route(a, h, http.MethodGet, "/oauth/tokens", "list-oauth-tokens", tag, "List each OAuth server's cached token (a fingerprint, never the token), its endpoint and expiry",
		func(ctx context.Context, _ *none) (*Reply[[]admin.OAuthToken], error) {
			ts, err := h.st.OAuthTokens(ctx)
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("%d OAuth token entry(s)", len(ts)), ts)
		})
	route(a, h, http.MethodDelete, "/oauth/tokens/{server}", "revoke-oauth-token", tag, "Revoke a server's cached tokens at their issuer (RFC 7009) and forget them",
		func(ctx context.Context, in *revokeTokenIn) (*Reply[[]admin.TokenRevocation], error) {
			req := admin.RevokeTokenRequest{ServerName: in.Server}
			if in.Config != "" {
				req.Config = ref(in.Config)
			}
			res, err := h.st.RevokeOAuthToken(ctx, req)
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("Revoked the OAuth tokens of server %q (%d entry(s))", in.Server, len(res)), res)
		})
}
