package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"secure-mcp-gateway/admin"
	"secure-mcp-gateway/internal/config"
)

type (
	// AddServerBody is the body of POST /configs/{config}/servers.
	AddServerBody struct {
		ServerName string `json:"server_name" minLength:"1" doc:"a name the MCP config's other servers do not have"`
		admin.ServerFields
		Sandbox *config.Sandbox `json:"sandbox,omitempty" doc:"run a stdio server in a sandbox"`
	}
	addServerIn struct {
		ConfigParam
		Body AddServerBody
	}
	updateServerIn struct {
		ServerParam
		Body admin.ServerFields
	}
	policyIn struct {
		ServerParam
		Body config.Policy
	}
	// PoliciesBody replaces several policies of a server at once.
	PoliciesBody struct {
		InputGuardrailsPolicy  *config.Policy `json:"input_guardrails_policy,omitempty"`
		OutputGuardrailsPolicy *config.Policy `json:"output_guardrails_policy,omitempty"`
		ToolGuardrailsPolicy   *config.Policy `json:"tool_guardrails_policy,omitempty"`
	}
	policiesIn struct {
		ServerParam
		Body PoliciesBody
	}
	sandboxIn struct {
		ServerParam
		Body struct {
			Sandbox *config.Sandbox `json:"sandbox,omitempty" doc:"the sandbox; leave it out to remove the sandbox"`
		}
	}
	// RemovedServers says how many servers a config lost.
	RemovedServers struct {
		ConfigName string `json:"config_name"`
		Removed    int    `json:"removed"`
	}
)

func (h *handlers) serverRoutes(a huma.API) {
	const tag = "servers"
	route(a, h, http.MethodGet, "/configs/{config}/servers", "list-servers", tag, "List an MCP config's servers (secrets masked)",
		func(ctx context.Context, in *ConfigParam) (*Reply[[]*config.Server], error) {
			rows, err := h.st.ListServers(ctx, ref(in.Config))
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("%d server(s)", len(rows)), rows)
		})
	route(a, h, http.MethodPost, "/configs/{config}/servers", "add-server", tag, "Add a server to an MCP config",
		func(ctx context.Context, in *addServerIn) (*Reply[admin.ServerResult], error) {
			r, err := h.st.AddServer(ctx, admin.AddServerRequest{
				ServerRef:    admin.ServerRef{Config: ref(in.Config), ServerName: in.Body.ServerName},
				ServerFields: in.Body.ServerFields, Sandbox: in.Body.Sandbox})
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("Added server %q to MCP config %q", r.Server.Name, r.ConfigName), r)
		})
	route(a, h, http.MethodDelete, "/configs/{config}/servers", "remove-all-servers", tag, "Remove every server of an MCP config",
		func(ctx context.Context, in *ConfigParam) (*Reply[RemovedServers], error) {
			n, name, err := h.st.RemoveAllServers(ctx, ref(in.Config))
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("Removed %d server(s) from MCP config %q", n, name), RemovedServers{name, n})
		})
	route(a, h, http.MethodGet, "/configs/{config}/servers/{server}", "get-server", tag, "Get a server (secrets masked)",
		func(ctx context.Context, in *ServerParam) (*Reply[*config.Server], error) {
			s, err := h.st.GetServer(ctx, in.ref())
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("Server %q", s.Name), s)
		})
	route(a, h, http.MethodPut, "/configs/{config}/servers/{server}", "update-server", tag, "Change the given fields of a server",
		func(ctx context.Context, in *updateServerIn) (*Reply[admin.ServerResult], error) {
			r, err := h.st.UpdateServer(ctx, admin.UpdateServerRequest{ServerRef: in.ref(), ServerFields: in.Body})
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("Updated server %q of MCP config %q", r.Server.Name, r.ConfigName), r)
		})
	route(a, h, http.MethodDelete, "/configs/{config}/servers/{server}", "remove-server", tag, "Remove a server",
		func(ctx context.Context, in *ServerParam) (*Reply[Removed], error) {
			name, err := h.st.RemoveServer(ctx, in.ref())
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("Removed server %q from MCP config %q", in.Server, name), Removed{in.Server})
		})
	for _, p := range []struct{ path, id, dir string }{
		{"input-guardrails", "update-server-input-guardrails", "input"},
		{"output-guardrails", "update-server-output-guardrails", "output"},
		{"tool-guardrails", "update-server-tool-guardrails", "tool definitions"},
	} {
		route(a, h, http.MethodPut, "/configs/{config}/servers/{server}/"+p.path, p.id, tag, "Replace a server's "+p.dir+" guardrails policy",
			func(ctx context.Context, in *policyIn) (*Reply[admin.ServerResult], error) {
				req := admin.SetPoliciesRequest{ServerRef: in.ref()}
				pol := in.Body
				switch p.dir {
				case "input":
					req.InputGuardrailsPolicy = &pol
				case "output":
					req.OutputGuardrailsPolicy = &pol
				default:
					req.ToolGuardrailsPolicy = &pol
				}
				r, err := h.st.SetServerPolicies(ctx, req)
				if err != nil {
					return nil, err
				}
				return reply(ctx, fmt.Sprintf("Updated the %s guardrails of server %q", p.dir, r.Server.Name), r)
			})
	}
	route(a, h, http.MethodPut, "/configs/{config}/servers/{server}/guardrails", "update-server-guardrails", tag, "Replace the given guardrails policies of a server",
		func(ctx context.Context, in *policiesIn) (*Reply[admin.ServerResult], error) {
			r, err := h.st.SetServerPolicies(ctx, admin.SetPoliciesRequest{ServerRef: in.ref(),
				InputGuardrailsPolicy: in.Body.InputGuardrailsPolicy, OutputGuardrailsPolicy: in.Body.OutputGuardrailsPolicy,
				ToolGuardrailsPolicy: in.Body.ToolGuardrailsPolicy})
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("Updated the guardrails of server %q", r.Server.Name), r)
		})
	route(a, h, http.MethodPut, "/configs/{config}/servers/{server}/sandbox", "update-server-sandbox", tag, "Set or remove a stdio server's sandbox",
		func(ctx context.Context, in *sandboxIn) (*Reply[admin.ServerResult], error) {
			r, err := h.st.SetServerSandbox(ctx, admin.SetSandboxRequest{ServerRef: in.ref(), Sandbox: in.Body.Sandbox})
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("Updated the sandbox of server %q", r.Server.Name), r)
		})
}
