package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"secure-mcp-gateway/internal/config"
)

// ConfigSummary is an MCP config in listings: its servers' and projects'
// names.
type ConfigSummary struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Servers  []string `json:"servers"`
	Projects []string `json:"projects"`
}

func summaryOf(c *config.Config, id string) ConfigSummary {
	m := c.MCPConfigs[id]
	r := ConfigSummary{ID: id, Name: m.Name, Servers: []string{}, Projects: []string{}}
	for _, s := range m.Servers {
		if s != nil {
			r.Servers = append(r.Servers, s.Name)
		}
	}
	for _, p := range c.ProjectsUsing(id) {
		r.Projects = append(r.Projects, ProjectName(c, p))
	}
	slices.Sort(r.Projects)
	return r
}

// ListConfigs returns every MCP config, by name.
func (s *Store) ListConfigs(ctx context.Context) ([]ConfigSummary, error) {
	c, err := s.Load(ctx)
	if err != nil {
		return nil, err
	}
	rows := []ConfigSummary{}
	for _, id := range SortedIDs(c.MCPConfigs, func(id string) string { return ConfigName(c, id) }) {
		if c.MCPConfigs[id] != nil {
			rows = append(rows, summaryOf(c, id))
		}
	}
	return rows, nil
}

// newConfigName checks that name is usable for a new MCP config; field is
// the request field that gave it.
func newConfigName(c *config.Config, field, name string) error {
	if strings.TrimSpace(name) == "" {
		return &RequestError{Fields: []string{field}, Problem: ProblemMissing}
	}
	if ids := c.MCPConfigIDsByName(name); len(ids) > 0 {
		return &ConflictError{Kind: "config", Name: name,
			Detail: fmt.Sprintf("an MCP config named %q already exists (ID %s); choose another name", name, ids[0])}
	}
	return nil
}

// AddConfigRequest creates an empty MCP config.
type AddConfigRequest struct {
	ConfigName string `json:"config_name"`
}

// AddConfig creates an empty MCP config with a new ID.
func (s *Store) AddConfig(ctx context.Context, req AddConfigRequest) (Ref, error) {
	id := NewUUID()
	err := s.update(ctx, func(c *config.Config) error {
		if err := newConfigName(c, "config_name", req.ConfigName); err != nil {
			return err
		}
		if c.MCPConfigs == nil {
			c.MCPConfigs = map[string]*config.MCPConfig{}
		}
		c.MCPConfigs[id] = &config.MCPConfig{Name: req.ConfigName, Servers: []*config.Server{}}
		return nil
	})
	if err != nil {
		return Ref{}, err
	}
	return Ref{ID: id, Name: req.ConfigName}, nil
}

// CopyConfigRequest copies an MCP config (named or given by ID in
// SourceConfig) and its servers under the name TargetConfig.
type CopyConfigRequest struct {
	SourceConfig string `json:"source_config"`
	TargetConfig string `json:"target_config"`
}

// CopyConfigResult is the new config and the name of the one copied.
type CopyConfigResult struct {
	Ref
	SourceName string `json:"source_name"`
}

// CopyConfig deep-copies an MCP config, keeping unknown keys.
func (s *Store) CopyConfig(ctx context.Context, req CopyConfigRequest) (CopyConfigResult, error) {
	res := CopyConfigResult{Ref: Ref{ID: NewUUID(), Name: req.TargetConfig}}
	err := s.update(ctx, func(c *config.Config) error {
		if req.SourceConfig == "" {
			return &RequestError{Fields: []string{"source_config"}, Problem: ProblemMissing}
		}
		src := req.SourceConfig
		if _, ok := c.MCPConfigByID(src); !ok {
			var err error
			if src, _, err = resolveConfig(c, Ref{Name: src}); err != nil {
				return err
			}
		}
		if err := newConfigName(c, "target_config", req.TargetConfig); err != nil {
			return err
		}
		cp, err := cloneMCPConfig(c.MCPConfigs[src])
		if err != nil {
			return err
		}
		res.SourceName, cp.Name = c.MCPConfigs[src].Name, req.TargetConfig
		c.MCPConfigs[res.ID] = cp
		return nil
	})
	return res, err
}

// cloneMCPConfig deep-copies m through JSON, keeping unknown keys.
func cloneMCPConfig(m *config.MCPConfig) (*config.MCPConfig, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("copy config: %w", err)
	}
	var cp config.MCPConfig
	if err := json.Unmarshal(b, &cp); err != nil {
		return nil, fmt.Errorf("copy config: %w", err)
	}
	return &cp, nil
}

// RenameConfigRequest renames an MCP config.
type RenameConfigRequest struct {
	Config  Ref    `json:"config"`
	NewName string `json:"new_name"`
}

// RenameConfigResult is the renamed config and its old name.
type RenameConfigResult struct {
	Ref
	OldName string `json:"old_name"`
}

// RenameConfig gives an MCP config a name no other config has.
func (s *Store) RenameConfig(ctx context.Context, req RenameConfigRequest) (RenameConfigResult, error) {
	var res RenameConfigResult
	err := s.update(ctx, func(c *config.Config) error {
		id, m, err := resolveConfig(c, req.Config)
		if err != nil {
			return err
		}
		if err := newConfigName(c, "new_name", req.NewName); err != nil {
			return err
		}
		res = RenameConfigResult{Ref: Ref{ID: id, Name: req.NewName}, OldName: m.Name}
		m.Name = req.NewName
		return nil
	})
	return res, err
}

// ConfigDetail is one MCP config with its servers, secrets masked.
type ConfigDetail struct {
	ID       string           `json:"id"`
	Name     string           `json:"name"`
	Projects []string         `json:"projects"`
	Servers  []*config.Server `json:"servers"`
}

// GetConfig returns an MCP config; its servers' secrets are masked.
func (s *Store) GetConfig(ctx context.Context, ref Ref) (ConfigDetail, error) {
	c, err := s.Load(ctx)
	if err != nil {
		return ConfigDetail{}, err
	}
	id, m, err := resolveConfig(c, ref)
	if err != nil {
		return ConfigDetail{}, err
	}
	return ConfigDetail{ID: id, Name: m.Name, Projects: summaryOf(c, id).Projects, Servers: shownServers(m)}, nil
}

func shownServers(m *config.MCPConfig) []*config.Server {
	servers := []*config.Server{}
	for _, s := range m.Servers {
		if s != nil {
			servers = append(servers, ShownServer(s))
		}
	}
	return servers
}

// ConfigProjects returns the IDs of the projects that use an MCP config,
// ordered by project name, with the config read.
func (s *Store) ConfigProjects(ctx context.Context, ref Ref) (*config.Config, []string, error) {
	c, err := s.Load(ctx)
	if err != nil {
		return nil, nil, err
	}
	id, _, err := resolveConfig(c, ref)
	if err != nil {
		return nil, nil, err
	}
	set := map[string]bool{}
	for _, p := range c.ProjectsUsing(id) {
		set[p] = true
	}
	return c, SortedIDs(set, func(id string) string { return ProjectName(c, id) }), nil
}

// RemoveConfig deletes an MCP config no project uses and returns its name.
func (s *Store) RemoveConfig(ctx context.Context, ref Ref) (string, error) {
	var name string
	err := s.update(ctx, func(c *config.Config) error {
		id, m, err := resolveConfig(c, ref)
		if err != nil {
			return err
		}
		if users := c.ProjectsUsing(id); len(users) > 0 {
			ns := make([]string, len(users))
			for i, p := range users {
				ns[i] = ProjectName(c, p)
			}
			slices.Sort(ns)
			return &ConflictError{Kind: "config", Name: m.Name, Detail: fmt.Sprintf(
				"MCP config %q is used by project(s) %s; assign them another config or run \"project unassign-config\" first",
				m.Name, strings.Join(ns, ", "))}
		}
		name = m.Name
		delete(c.MCPConfigs, id)
		return nil
	})
	return name, err
}

// ExportConfig returns an MCP config as stored, secrets included: it is
// what "config export" writes to a 0600 file.
func (s *Store) ExportConfig(ctx context.Context, ref Ref) (*config.MCPConfig, error) {
	c, err := s.Load(ctx)
	if err != nil {
		return nil, err
	}
	_, m, err := resolveConfig(c, ref)
	return m, err
}

// ImportConfigRequest adds an exported MCP config under a new name.
type ImportConfigRequest struct {
	ConfigName string            `json:"config_name"`
	Config     *config.MCPConfig `json:"config"`
}

// ImportConfig adds req.Config with a new ID under req.ConfigName.
func (s *Store) ImportConfig(ctx context.Context, req ImportConfigRequest) (Ref, error) {
	if req.Config == nil {
		return Ref{}, &RequestError{Fields: []string{"config"}, Problem: ProblemMissing}
	}
	id := NewUUID()
	err := s.update(ctx, func(c *config.Config) error {
		if err := newConfigName(c, "config_name", req.ConfigName); err != nil {
			return err
		}
		m, err := cloneMCPConfig(req.Config)
		if err != nil {
			return err
		}
		m.Name = req.ConfigName
		if c.MCPConfigs == nil {
			c.MCPConfigs = map[string]*config.MCPConfig{}
		}
		c.MCPConfigs[id] = m
		return nil
	})
	if err != nil {
		return Ref{}, err
	}
	return Ref{ID: id, Name: req.ConfigName}, nil
}

// SearchHit is one search result.
type SearchHit struct {
	Type  string `json:"type"`
	ID    string `json:"id"`
	Name  string `json:"name"`
	Match string `json:"match"`
}

// SearchConfigs finds configs by name or ID prefix and servers by name,
// description, command or URL; term is matched case-insensitively.
func (s *Store) SearchConfigs(ctx context.Context, term string) ([]SearchHit, error) {
	term = strings.ToLower(strings.TrimSpace(term))
	if term == "" {
		return nil, &RequestError{Fields: []string{"search_term"}, Problem: ProblemMissing}
	}
	c, err := s.Load(ctx)
	if err != nil {
		return nil, err
	}
	hits := []SearchHit{}
	for _, id := range SortedIDs(c.MCPConfigs, func(id string) string { return ConfigName(c, id) }) {
		m := c.MCPConfigs[id]
		if m == nil {
			continue
		}
		if strings.Contains(strings.ToLower(m.Name), term) || strings.HasPrefix(id, term) {
			hits = append(hits, SearchHit{"config", id, m.Name, "name"})
		}
		for _, sv := range m.Servers {
			if sv == nil {
				continue
			}
			for _, f := range []struct{ what, val string }{
				{"server name", sv.Name}, {"description", sv.Description}, {"command", sv.Config.Command}, {"url", sv.Config.URL},
			} {
				if f.val != "" && strings.Contains(strings.ToLower(f.val), term) {
					hits = append(hits, SearchHit{"server", id, m.Name + "/" + sv.Name, f.what})
					break
				}
			}
		}
	}
	return hits, nil
}
