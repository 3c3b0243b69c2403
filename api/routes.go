package api

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"secure-mcp-gateway/admin"
)

// handlers adapts each route to one admin operation.
type handlers struct {
	st      *admin.Store
	maxBody int64
}

const v1 = "/api/v1"

// route registers one operation; every route answers with the envelope or
// an Error.
func route[I, O any](a huma.API, h *handlers, method, path, id, tag, summary string, fn func(context.Context, *I) (*O, error)) {
	huma.Register(a, huma.Operation{
		OperationID:   id,
		Method:        method,
		Path:          v1 + path,
		Summary:       summary,
		Tags:          []string{tag},
		MaxBodyBytes:  h.maxBody,
		DefaultStatus: http.StatusOK,
		Errors:        append([]int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity}, moreErrors[id]...),
	}, func(ctx context.Context, in *I) (*O, error) {
		out, err := fn(ctx, in)
		if err != nil {
			return nil, fail(ctx, err)
		}
		return out, nil
	})
}

// moreErrors are the statuses some operations answer besides the common
// ones: 501 when the server runs without the gateway's runtime, 502 when
// an issuer refused a revocation.
var moreErrors = map[string][]int{
	"cache-status":       {http.StatusNotImplemented},
	"clear-cache":        {http.StatusNotImplemented},
	"list-oauth-tokens":  {http.StatusNotImplemented},
	"revoke-oauth-token": {http.StatusNotImplemented, http.StatusBadGateway},
	"system-health":      {http.StatusNotImplemented},
}

func (h *handlers) register(a huma.API) {
	h.configRoutes(a)
	h.serverRoutes(a)
	h.projectRoutes(a)
	h.userRoutes(a)
	h.keyRoutes(a)
	h.settingsRoutes(a)
	h.pinRoutes(a)
	h.systemRoutes(a)
	h.auditRoutes(a)
	h.cacheRoutes(a)
	h.oauthRoutes(a)
}

// Path parameters. A config, project or user may be given by name (email)
// or by ID, as the CLI accepts either.
type (
	// ConfigParam is the {config} of a path.
	ConfigParam struct {
		Config string `path:"config" doc:"MCP config name or ID"`
	}
	// ServerParam is the {config} and {server} of a path.
	ServerParam struct {
		Config string `path:"config" doc:"MCP config name or ID"`
		Server string `path:"server" doc:"server name"`
	}
	// ProjectParam is the {project} of a path.
	ProjectParam struct {
		Project string `path:"project" doc:"project name or ID"`
	}
	// UserParam is the {user} of a path.
	UserParam struct {
		User string `path:"user" doc:"user email or ID"`
	}
	// KeyParam is the {key} of a path.
	KeyParam struct {
		Key string `path:"key" doc:"gateway key fingerprint (fp:xxxxxxxx, from GET /api/v1/api-keys) or its stored sha256: form"`
	}
	// ForceParam is the force query parameter of deletes.
	ForceParam struct {
		Force bool `query:"force" doc:"also delete the gateway keys that would otherwise keep working"`
	}
	// Search is the body of the search routes.
	Search struct {
		SearchTerm string `json:"search_term" minLength:"1" doc:"text to find (case-insensitive)"`
	}
	// Removed names what a delete removed.
	Removed struct {
		Name string `json:"name"`
	}
	none struct{}
)

func ref(s string) admin.Ref { return admin.RefOf(s) }

func (p ServerParam) ref() admin.ServerRef {
	return admin.ServerRef{Config: ref(p.Config), ServerName: p.Server}
}

// raw marshals v for a data field whose schema is any JSON (whole config
// files and exports, which keep unknown keys).
func raw(v any) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	return json.RawMessage(b), err
}

// refOr builds a Ref from a name and an ID field pair, as bodies give them.
func refOr(name, id string) admin.Ref { return admin.Ref{Name: name, ID: id} }
