package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"secure-mcp-gateway/admin"
)

type (
	cacheStatusIn struct {
		Config string `query:"config" doc:"only the servers of this MCP config (name or ID)"`
		Server string `query:"server_name" doc:"only the servers of this name"`
		Key    string `query:"api_key" doc:"only the servers of the MCP config this gateway key's project uses: the key's fingerprint (fp:xxxxxxxx) or sha256: form; send the key itself only in a body"`
	}
	clearCacheIn struct {
		Body struct {
			CacheType  string `json:"cache_type,omitempty" enum:"all,gateway_config,server_config" doc:"all (the default), gateway_config or server_config"`
			ServerName string `json:"server_name,omitempty" doc:"only the servers of this name; with no config or key, its entries in every MCP config, including servers the config no longer lists"`
			ConfigName string `json:"config_name,omitempty" doc:"only the servers of this MCP config"`
			ConfigID   string `json:"config_id,omitempty" doc:"only the servers of the MCP config with this ID"`
			APIKey     string `json:"api_key,omitempty" doc:"only the servers of the MCP config this gateway key's project uses: the key, its fingerprint or its sha256: form"`
		}
	}
)

// cacheRoutes inspect and clear the discovery cache, as `cache status` and
// `cache clear` do.
func (h *handlers) cacheRoutes(a huma.API) {
	const tag = "cache"
	route(a, h, http.MethodGet, "/cache/status", "cache-status", tag, "Show, per server, whether its tool list is cached, how many tools, when it expires and in which tiers",
		func(ctx context.Context, in *cacheStatusIn) (*Reply[admin.CacheStatus], error) {
			sc := admin.CacheScope{ServerName: in.Server, APIKey: in.Key}
			if in.Config != "" {
				sc.Config = ref(in.Config)
			}
			st, err := h.st.CacheStatus(ctx, sc)
			if err != nil {
				return nil, err
			}
			cached := 0
			for _, r := range st.Servers {
				if r.Cached {
					cached++
				}
			}
			return reply(ctx, fmt.Sprintf("%d of %d server(s) cached (tiers %v)", cached, len(st.Servers), st.Tiers), st)
		})
	route(a, h, http.MethodPost, "/cache/clear", "clear-cache", tag, "Clear cached tool lists, so that the next session lists its upstreams live",
		func(ctx context.Context, in *clearCacheIn) (*Reply[admin.CacheCleared], error) {
			b := in.Body
			res, err := h.st.ClearCache(ctx, admin.ClearCacheRequest{CacheType: b.CacheType,
				CacheScope: admin.CacheScope{Config: refOr(b.ConfigName, b.ConfigID), ServerName: b.ServerName, APIKey: b.APIKey}})
			if err != nil {
				return nil, err
			}
			msg := fmt.Sprintf("Cleared %d cached tool list(s) of %s in %v", res.Entries, res.Scope, res.Tiers)
			if res.CacheType == admin.CacheTypeGateway {
				msg = "gateway_config: " + res.GatewayConfig
			}
			return reply(ctx, msg, res)
		})
}
