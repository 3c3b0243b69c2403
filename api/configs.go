package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"secure-mcp-gateway/admin"
	"secure-mcp-gateway/internal/config"
)

type (
	addConfigIn struct {
		Body admin.AddConfigRequest
	}
	copyConfigIn struct {
		Body admin.CopyConfigRequest
	}
	renameConfigIn struct {
		ConfigParam
		Body struct {
			NewName string `json:"new_name" minLength:"1" doc:"a name no other MCP config has"`
		}
	}
	importConfigIn struct {
		Body struct {
			ConfigName string          `json:"config_name" minLength:"1" doc:"name of the new MCP config"`
			Config     json.RawMessage `json:"config" doc:"an MCP config as POST /configs/{config}/export returns it"`
		}
	}
	searchIn struct {
		Body Search
	}
	// ConfigValidation is the result of validate.
	ConfigValidation struct {
		Valid  bool   `json:"valid"`
		ID     string `json:"id"`
		Name   string `json:"name"`
		Detail string `json:"detail"`
	}
)

func (h *handlers) configRoutes(a huma.API) {
	const tag = "configs"
	route(a, h, http.MethodGet, "/configs", "list-configs", tag, "List MCP configs",
		func(ctx context.Context, _ *none) (*Reply[[]admin.ConfigSummary], error) {
			rows, err := h.st.ListConfigs(ctx)
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("%d MCP config(s)", len(rows)), rows)
		})
	route(a, h, http.MethodPost, "/configs", "create-config", tag, "Create an empty MCP config",
		func(ctx context.Context, in *addConfigIn) (*Reply[admin.Ref], error) {
			r, err := h.st.AddConfig(ctx, in.Body)
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("Created MCP config %q", r.Name), r)
		})
	route(a, h, http.MethodPost, "/configs/copy", "copy-config", tag, "Copy an MCP config and its servers",
		func(ctx context.Context, in *copyConfigIn) (*Reply[admin.CopyConfigResult], error) {
			r, err := h.st.CopyConfig(ctx, in.Body)
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("Copied MCP config %q to %q", r.SourceName, r.Name), r)
		})
	route(a, h, http.MethodPost, "/configs/import", "import-config", tag, "Add an exported MCP config under a new name",
		func(ctx context.Context, in *importConfigIn) (*Reply[admin.Ref], error) {
			var m *config.MCPConfig
			if len(in.Body.Config) > 0 && string(in.Body.Config) != "null" {
				m = &config.MCPConfig{}
				if err := json.Unmarshal(in.Body.Config, m); err != nil {
					return nil, &admin.InvalidError{Field: "config", Err: err}
				}
			}
			r, err := h.st.ImportConfig(ctx, admin.ImportConfigRequest{ConfigName: in.Body.ConfigName, Config: m})
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("Imported MCP config %q", r.Name), r)
		})
	route(a, h, http.MethodPost, "/configs/search", "search-configs", tag, "Find MCP configs and servers",
		func(ctx context.Context, in *searchIn) (*Reply[[]admin.SearchHit], error) {
			hits, err := h.st.SearchConfigs(ctx, in.Body.SearchTerm)
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("%d match(es)", len(hits)), hits)
		})
	route(a, h, http.MethodPut, "/configs/{config}/rename", "rename-config", tag, "Rename an MCP config",
		func(ctx context.Context, in *renameConfigIn) (*Reply[admin.RenameConfigResult], error) {
			r, err := h.st.RenameConfig(ctx, admin.RenameConfigRequest{Config: ref(in.Config), NewName: in.Body.NewName})
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("Renamed MCP config %q to %q", r.OldName, r.Name), r)
		})
	route(a, h, http.MethodGet, "/configs/{config}", "get-config", tag, "Get an MCP config (secrets masked)",
		func(ctx context.Context, in *ConfigParam) (*Reply[admin.ConfigDetail], error) {
			d, err := h.st.GetConfig(ctx, ref(in.Config))
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("MCP config %q", d.Name), d)
		})
	route(a, h, http.MethodDelete, "/configs/{config}", "delete-config", tag, "Delete an MCP config no project uses",
		func(ctx context.Context, in *ConfigParam) (*Reply[Removed], error) {
			name, err := h.st.RemoveConfig(ctx, ref(in.Config))
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("Removed MCP config %q", name), Removed{name})
		})
	route(a, h, http.MethodGet, "/configs/{config}/projects", "list-config-projects", tag, "List the projects that use an MCP config",
		func(ctx context.Context, in *ConfigParam) (*Reply[[]admin.ProjectSummary], error) {
			c, ids, err := h.st.ConfigProjects(ctx, ref(in.Config))
			if err != nil {
				return nil, err
			}
			rows := []admin.ProjectSummary{}
			for _, id := range ids {
				rows = append(rows, admin.ProjectSummaryOf(c, id))
			}
			return reply(ctx, fmt.Sprintf("%d project(s)", len(rows)), rows)
		})
	route(a, h, http.MethodPost, "/configs/{config}/validate", "validate-config", tag, "Check the config file holding an MCP config",
		func(ctx context.Context, in *ConfigParam) (*Reply[ConfigValidation], error) {
			d, err := h.st.GetConfig(ctx, ref(in.Config))
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("MCP config %q is valid", d.Name),
				ConfigValidation{Valid: true, ID: d.ID, Name: d.Name, Detail: "the config file loads and validates"})
		})
	route(a, h, http.MethodPost, "/configs/{config}/export", "export-config", tag, "Export an MCP config, secrets included",
		func(ctx context.Context, in *ConfigParam) (*Reply[json.RawMessage], error) {
			m, err := h.st.ExportConfig(ctx, ref(in.Config))
			if err != nil {
				return nil, err
			}
			b, err := raw(m)
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("Exported MCP config %q (it holds secrets)", m.Name), b)
		})
}
