package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"secure-mcp-gateway/internal/config"
)

// ServerRef names a server of an MCP config.
type ServerRef struct {
	Config     Ref    `json:"config"`
	ServerName string `json:"server_name"`
}

// ServerFields are the settable fields of a server; nil leaves a field as
// it is (update) or at its default (add).
type ServerFields struct {
	Command                *string                     `json:"server_command,omitempty"`
	URL                    *string                     `json:"server_url,omitempty"`
	Args                   *[]string                   `json:"server_args,omitempty"`
	Env                    *map[string]string          `json:"env,omitempty"`
	Tools                  *map[string]json.RawMessage `json:"tools,omitempty"`
	Description            *string                     `json:"description,omitempty"`
	DeniedTools            *[]config.DeniedTool        `json:"denied_tools,omitempty"`
	InputGuardrailsPolicy  *config.Policy              `json:"input_guardrails_policy,omitempty"`
	OutputGuardrailsPolicy *config.Policy              `json:"output_guardrails_policy,omitempty"`
	ToolGuardrailsPolicy   *config.Policy              `json:"tool_guardrails_policy,omitempty"`
}

// apply sets the fields f gives on s.
func (f *ServerFields) apply(s *config.Server) error {
	if f.Command != nil && f.URL != nil {
		return &RequestError{Fields: []string{"server_command", "server_url"}, Problem: ProblemExclusive}
	}
	if f.Command != nil {
		s.Config.Command, s.Config.URL = *f.Command, ""
	}
	if f.URL != nil {
		s.Config.URL, s.Config.Command = *f.URL, ""
	}
	if f.Args != nil {
		s.Config.Args = *f.Args
	}
	if f.Env != nil {
		s.Config.Env = *f.Env
	}
	if f.Tools != nil {
		s.Tools = *f.Tools
		if s.Tools == nil {
			s.Tools = map[string]json.RawMessage{}
		}
	}
	if f.Description != nil {
		s.Description = *f.Description
	}
	if f.DeniedTools != nil {
		s.DeniedTools = *f.DeniedTools
	}
	for _, p := range []struct{ src, dst **config.Policy }{
		{&f.InputGuardrailsPolicy, &s.InputGuardrailsPolicy},
		{&f.OutputGuardrailsPolicy, &s.OutputGuardrailsPolicy},
		{&f.ToolGuardrailsPolicy, &s.ToolGuardrailsPolicy},
	} {
		if *p.src != nil {
			*p.dst = *p.src
		}
	}
	return nil
}

// ListServers returns the servers of an MCP config, secrets masked.
func (s *Store) ListServers(ctx context.Context, ref Ref) ([]*config.Server, error) {
	c, err := s.Load(ctx)
	if err != nil {
		return nil, err
	}
	_, m, err := resolveConfig(c, ref)
	if err != nil {
		return nil, err
	}
	return shownServers(m), nil
}

// GetServer returns one server, secrets masked.
func (s *Store) GetServer(ctx context.Context, ref ServerRef) (*config.Server, error) {
	c, err := s.Load(ctx)
	if err != nil {
		return nil, err
	}
	_, m, err := resolveConfig(c, ref.Config)
	if err != nil {
		return nil, err
	}
	i, err := findServer(m, ref.ServerName)
	if err != nil {
		return nil, err
	}
	return ShownServer(m.Servers[i]), nil
}

// AddServerRequest adds a server to an MCP config. Sandbox applies to a
// stdio server only and is ignored for a remote one.
type AddServerRequest struct {
	ServerRef
	ServerFields
	Sandbox *config.Sandbox `json:"sandbox,omitempty"`
}

// ServerResult is a server after a change, secrets masked, and the name of
// its MCP config.
type ServerResult struct {
	ConfigName string         `json:"config_name"`
	Server     *config.Server `json:"server"`
}

// AddServer appends a new server to an MCP config.
func (s *Store) AddServer(ctx context.Context, req AddServerRequest) (ServerResult, error) {
	if req.ServerName == "" {
		return ServerResult{}, &RequestError{Fields: []string{"server_name"}, Problem: ProblemMissing}
	}
	if (req.Command == nil || *req.Command == "") && (req.URL == nil || *req.URL == "") {
		return ServerResult{}, &RequestError{Fields: []string{"server_command", "server_url"}, Problem: ProblemMissing}
	}
	var res ServerResult
	err := s.update(ctx, func(c *config.Config) error {
		_, m, err := resolveConfig(c, req.Config)
		if err != nil {
			return err
		}
		if _, exists := m.Server(req.ServerName); exists {
			return &ConflictError{Kind: "server", Name: req.ServerName, Detail: fmt.Sprintf(
				"MCP config %q already has a server named %q\nhint: use config update-server to change it", m.Name, req.ServerName)}
		}
		sv := &config.Server{Name: req.ServerName, Tools: map[string]json.RawMessage{}, CreatedAt: Timestamp()}
		if err := req.ServerFields.apply(sv); err != nil {
			return err
		}
		if req.Sandbox != nil && sv.Config.Command != "" {
			sv.Sandbox = req.Sandbox
		}
		m.Servers = append(m.Servers, sv)
		res = ServerResult{ConfigName: m.Name, Server: ShownServer(sv)}
		return nil
	})
	return res, err
}

// UpdateServerRequest changes the given fields of a server.
type UpdateServerRequest struct {
	ServerRef
	ServerFields
}

// UpdateServer changes a server and stamps its updated_at.
func (s *Store) UpdateServer(ctx context.Context, req UpdateServerRequest) (ServerResult, error) {
	return s.editServer(ctx, req.ServerRef, func(sv *config.Server) error { return req.ServerFields.apply(sv) })
}

// editServer runs fn on one server under the lock and stamps updated_at.
func (s *Store) editServer(ctx context.Context, ref ServerRef, fn func(*config.Server) error) (ServerResult, error) {
	var res ServerResult
	err := s.update(ctx, func(c *config.Config) error {
		_, m, err := resolveConfig(c, ref.Config)
		if err != nil {
			return err
		}
		i, err := findServer(m, ref.ServerName)
		if err != nil {
			return err
		}
		if err := fn(m.Servers[i]); err != nil {
			return err
		}
		m.Servers[i].UpdatedAt = Timestamp()
		res = ServerResult{ConfigName: m.Name, Server: ShownServer(m.Servers[i])}
		return nil
	})
	return res, err
}

// SetPoliciesRequest replaces a server's guardrail policies; nil ones stay.
type SetPoliciesRequest struct {
	ServerRef
	InputGuardrailsPolicy  *config.Policy `json:"input_guardrails_policy,omitempty"`
	OutputGuardrailsPolicy *config.Policy `json:"output_guardrails_policy,omitempty"`
	ToolGuardrailsPolicy   *config.Policy `json:"tool_guardrails_policy,omitempty"`
}

// SetServerPolicies replaces the given guardrail policies of a server.
func (s *Store) SetServerPolicies(ctx context.Context, req SetPoliciesRequest) (ServerResult, error) {
	if req.InputGuardrailsPolicy == nil && req.OutputGuardrailsPolicy == nil && req.ToolGuardrailsPolicy == nil {
		return ServerResult{}, &RequestError{Fields: []string{"input_guardrails_policy", "output_guardrails_policy", "tool_guardrails_policy"}, Problem: ProblemMissing}
	}
	f := ServerFields{InputGuardrailsPolicy: req.InputGuardrailsPolicy, OutputGuardrailsPolicy: req.OutputGuardrailsPolicy, ToolGuardrailsPolicy: req.ToolGuardrailsPolicy}
	return s.editServer(ctx, req.ServerRef, f.apply)
}

// SetSandboxRequest sets (or, with a nil Sandbox, removes) a server's
// sandbox.
type SetSandboxRequest struct {
	ServerRef
	Sandbox *config.Sandbox `json:"sandbox"`
}

// SetServerSandbox sets or removes the sandbox of a stdio server.
func (s *Store) SetServerSandbox(ctx context.Context, req SetSandboxRequest) (ServerResult, error) {
	if req.Sandbox != nil {
		if problems := req.Sandbox.Problems("sandbox"); len(problems) > 0 {
			return ServerResult{}, &InvalidError{Field: "sandbox", Err: errors.Join(problems...)}
		}
	}
	return s.editServer(ctx, req.ServerRef, func(sv *config.Server) error {
		if sv.Config.Command == "" && req.Sandbox != nil {
			return &RefusedError{Detail: fmt.Sprintf("server %q is remote (a URL): only stdio servers can be sandboxed", sv.Name)}
		}
		sv.Sandbox = req.Sandbox
		return nil
	})
}

// RemoveServer deletes a server and returns its MCP config's name.
func (s *Store) RemoveServer(ctx context.Context, ref ServerRef) (string, error) {
	var name string
	err := s.update(ctx, func(c *config.Config) error {
		_, m, err := resolveConfig(c, ref.Config)
		if err != nil {
			return err
		}
		i, err := findServer(m, ref.ServerName)
		if err != nil {
			return err
		}
		m.Servers = slices.Delete(m.Servers, i, i+1)
		name = m.Name
		return nil
	})
	return name, err
}

// RemoveAllServers empties an MCP config and returns how many servers it
// had and its name.
func (s *Store) RemoveAllServers(ctx context.Context, ref Ref) (int, string, error) {
	var n int
	var name string
	err := s.update(ctx, func(c *config.Config) error {
		_, m, err := resolveConfig(c, ref)
		if err != nil {
			return err
		}
		n, name, m.Servers = len(m.Servers), m.Name, []*config.Server{}
		return nil
	})
	return n, name, err
}
