package admin

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"secure-mcp-gateway/internal/config"
)

// Field names of project and user references, as a RequestError reports
// them.
var (
	projectFields = [2]string{"project_name", "project_id"}
	userFields    = [2]string{"email", "user_id"}
)

func resolveProject(c *config.Config, r Ref) (string, *config.Project, error) {
	id, err := resolve("project", projectFields, r, c.ProjectIDsByName,
		func(id string) bool { return c.Projects[id] != nil },
		func() []string {
			var out []string
			for _, p := range c.Projects {
				if p != nil {
					out = append(out, p.Name)
				}
			}
			return out
		})
	if err != nil {
		return "", nil, err
	}
	return id, c.Projects[id], nil
}

// resolveUser resolves a user by ID or, in Ref.Name, by email.
func resolveUser(c *config.Config, r Ref) (string, *config.User, error) {
	id, err := resolve("user", userFields, r, c.UserIDsByEmail,
		func(id string) bool { return c.Users[id] != nil },
		func() []string {
			var out []string
			for _, u := range c.Users {
				if u != nil {
					out = append(out, u.Email)
				}
			}
			return out
		})
	if err != nil {
		return "", nil, err
	}
	return id, c.Users[id], nil
}

// UserEmail is the email of user id, or the ID in angle brackets when it
// does not exist.
func UserEmail(c *config.Config, id string) string {
	if u := c.Users[id]; u != nil {
		return u.Email
	}
	return "<missing " + id + ">"
}

// ProjectSummary is a project in listings.
type ProjectSummary struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	ConfigID   string   `json:"mcp_config_id"`
	ConfigName string   `json:"mcp_config_name"`
	Users      []string `json:"users"`
	Keys       int      `json:"api_keys"`
	CreatedAt  string   `json:"created_at,omitempty"`
}

// ProjectSummaryOf describes project id of c.
func ProjectSummaryOf(c *config.Config, id string) ProjectSummary {
	p := c.Projects[id]
	r := ProjectSummary{ID: id, Name: p.Name, ConfigID: p.MCPConfigID, Users: []string{},
		Keys: len(c.APIKeysOf("", id)), CreatedAt: p.CreatedAt}
	if p.MCPConfigID != "" {
		r.ConfigName = ConfigName(c, p.MCPConfigID)
	}
	for _, u := range p.Users {
		r.Users = append(r.Users, UserEmail(c, u))
	}
	slices.Sort(r.Users)
	return r
}

// UserSummary is a user in listings.
type UserSummary struct {
	ID        string   `json:"id"`
	Email     string   `json:"email"`
	Projects  []string `json:"projects"`
	Keys      int      `json:"api_keys"`
	CreatedAt string   `json:"created_at,omitempty"`
}

// UserSummaryOf describes user id of c.
func UserSummaryOf(c *config.Config, id string) UserSummary {
	u := c.Users[id]
	r := UserSummary{ID: id, Email: u.Email, Projects: []string{}, Keys: len(c.APIKeysOf(id, "")), CreatedAt: u.CreatedAt}
	for _, p := range c.ProjectsOf(id) {
		r.Projects = append(r.Projects, ProjectName(c, p))
	}
	slices.Sort(r.Projects)
	return r
}

// ListProjects returns every project, by name.
func (s *Store) ListProjects(ctx context.Context) ([]ProjectSummary, error) {
	c, err := s.Load(ctx)
	if err != nil {
		return nil, err
	}
	rows := []ProjectSummary{}
	for _, id := range SortedIDs(c.Projects, func(id string) string { return ProjectName(c, id) }) {
		if c.Projects[id] != nil {
			rows = append(rows, ProjectSummaryOf(c, id))
		}
	}
	return rows, nil
}

// CreateProjectRequest creates a project with no users and, unless Config
// names one, no MCP config.
type CreateProjectRequest struct {
	ProjectName string `json:"project_name"`
	Config      Ref    `json:"config,omitzero"`
}

// CreateProject creates a project under a name no other project has.
func (s *Store) CreateProject(ctx context.Context, req CreateProjectRequest) (Ref, error) {
	if strings.TrimSpace(req.ProjectName) == "" {
		return Ref{}, &RequestError{Fields: []string{"project_name"}, Problem: ProblemMissing}
	}
	id := NewUUID()
	err := s.update(ctx, func(c *config.Config) error {
		if ids := c.ProjectIDsByName(req.ProjectName); len(ids) > 0 {
			return &ConflictError{Kind: "project", Name: req.ProjectName,
				Detail: fmt.Sprintf("a project named %q already exists (ID %s); choose another name", req.ProjectName, ids[0])}
		}
		cid := ""
		if req.Config != (Ref{}) {
			var err error
			if cid, _, err = resolveConfig(c, req.Config); err != nil {
				return err
			}
		}
		if c.Projects == nil {
			c.Projects = map[string]*config.Project{}
		}
		c.Projects[id] = &config.Project{Name: req.ProjectName, MCPConfigID: cid, Users: []string{}, CreatedAt: Timestamp()}
		return nil
	})
	if err != nil {
		return Ref{}, err
	}
	return Ref{ID: id, Name: req.ProjectName}, nil
}

// GetProject describes one project.
func (s *Store) GetProject(ctx context.Context, ref Ref) (ProjectSummary, error) {
	c, err := s.Load(ctx)
	if err != nil {
		return ProjectSummary{}, err
	}
	id, _, err := resolveProject(c, ref)
	if err != nil {
		return ProjectSummary{}, err
	}
	return ProjectSummaryOf(c, id), nil
}

// RemoveProject deletes a project that has no gateway keys and returns its
// name.
func (s *Store) RemoveProject(ctx context.Context, ref Ref) (string, error) {
	var name string
	err := s.update(ctx, func(c *config.Config) error {
		id, p, err := resolveProject(c, ref)
		if err != nil {
			return err
		}
		if keys := c.APIKeysOf("", id); len(keys) > 0 {
			return &ConflictError{Kind: "project", Name: p.Name, Detail: fmt.Sprintf(
				"project %q has %d gateway key(s); delete them first (user delete-api-key or user delete-all-api-keys)", p.Name, len(keys))}
		}
		name = p.Name
		delete(c.Projects, id)
		return nil
	})
	return name, err
}

// AssignConfigRequest gives a project an MCP config.
type AssignConfigRequest struct {
	Project Ref `json:"project"`
	Config  Ref `json:"config"`
}

// AssignResult names the project and the config assigned.
type AssignResult struct {
	ProjectName string `json:"project_name"`
	ConfigName  string `json:"config_name,omitempty"`
}

// AssignConfig sets a project's MCP config.
func (s *Store) AssignConfig(ctx context.Context, req AssignConfigRequest) (AssignResult, error) {
	var res AssignResult
	err := s.update(ctx, func(c *config.Config) error {
		_, p, err := resolveProject(c, req.Project)
		if err != nil {
			return err
		}
		cid, m, err := resolveConfig(c, req.Config)
		if err != nil {
			return err
		}
		p.MCPConfigID, res = cid, AssignResult{ProjectName: p.Name, ConfigName: m.Name}
		return nil
	})
	return res, err
}

// UnassignConfig takes a project's MCP config away.
func (s *Store) UnassignConfig(ctx context.Context, ref Ref) (AssignResult, error) {
	var res AssignResult
	err := s.update(ctx, func(c *config.Config) error {
		_, p, err := resolveProject(c, ref)
		if err != nil {
			return err
		}
		p.MCPConfigID, res.ProjectName = "", p.Name
		return nil
	})
	return res, err
}

// ProjectConfig returns a project's MCP config, secrets masked. A project
// without one is a NotFoundError of kind "project config".
func (s *Store) ProjectConfig(ctx context.Context, ref Ref) (ConfigDetail, error) {
	c, err := s.Load(ctx)
	if err != nil {
		return ConfigDetail{}, err
	}
	_, p, err := resolveProject(c, ref)
	if err != nil {
		return ConfigDetail{}, err
	}
	m, ok := c.MCPConfigByID(p.MCPConfigID)
	if !ok {
		return ConfigDetail{}, &NotFoundError{Kind: "project config", Name: p.Name}
	}
	return ConfigDetail{ID: p.MCPConfigID, Name: m.Name, Projects: summaryOf(c, p.MCPConfigID).Projects, Servers: shownServers(m)}, nil
}

// ProjectUsers lists a project's users, by email.
func (s *Store) ProjectUsers(ctx context.Context, ref Ref) ([]UserSummary, error) {
	c, err := s.Load(ctx)
	if err != nil {
		return nil, err
	}
	_, p, err := resolveProject(c, ref)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, u := range p.Users {
		set[u] = true
	}
	rows := []UserSummary{}
	for _, u := range SortedIDs(set, func(id string) string { return UserEmail(c, id) }) {
		if c.Users[u] != nil {
			rows = append(rows, UserSummaryOf(c, u))
		}
	}
	return rows, nil
}

// MembershipRequest adds a user to a project or removes one (or, for
// RemoveAllUsers, every one). Force also deletes the removed users' keys
// for the project, which would otherwise keep working.
type MembershipRequest struct {
	Project Ref  `json:"project"`
	User    Ref  `json:"user"`
	Force   bool `json:"force,omitempty"`
}

// MembershipResult says what a membership change did.
type MembershipResult struct {
	ProjectName string `json:"project_name"`
	Email       string `json:"email,omitempty"`
	Removed     int    `json:"removed"`
	DeletedKeys int    `json:"deleted_keys"`
}

// AddUser adds a user to a project.
func (s *Store) AddUser(ctx context.Context, req MembershipRequest) (MembershipResult, error) {
	var res MembershipResult
	err := s.update(ctx, func(c *config.Config) error {
		_, p, err := resolveProject(c, req.Project)
		if err != nil {
			return err
		}
		uid, u, err := resolveUser(c, req.User)
		if err != nil {
			return err
		}
		if slices.Contains(p.Users, uid) {
			return &ConflictError{Kind: "user", Name: u.Email, Detail: fmt.Sprintf("user %s is already in project %q", u.Email, p.Name)}
		}
		p.Users = append(p.Users, uid)
		res = MembershipResult{ProjectName: p.Name, Email: u.Email}
		return nil
	})
	return res, err
}

// removeFromProject takes users out of project pid. Their keys for the
// project would keep working, so without force it refuses when any exist.
func removeFromProject(c *config.Config, pid string, users []string, force bool) (removedKeys int, err error) {
	p := c.Projects[pid]
	var keys []string
	for _, u := range users {
		keys = append(keys, c.APIKeysOf(u, pid)...)
	}
	if len(keys) > 0 && !force {
		return 0, &ConflictError{Kind: "project", Name: p.Name, Detail: fmt.Sprintf(
			"%d gateway key(s) of these users belong to project %q and would keep working; delete them, or pass --force to delete them too",
			len(keys), p.Name)}
	}
	for _, k := range keys {
		delete(c.APIKeys, k)
	}
	p.Users = slices.DeleteFunc(p.Users, func(u string) bool { return slices.Contains(users, u) })
	return len(keys), nil
}

// RemoveUser takes a user out of a project.
func (s *Store) RemoveUser(ctx context.Context, req MembershipRequest) (MembershipResult, error) {
	var res MembershipResult
	err := s.update(ctx, func(c *config.Config) error {
		pid, p, err := resolveProject(c, req.Project)
		if err != nil {
			return err
		}
		uid, u, err := resolveUser(c, req.User)
		if err != nil {
			return err
		}
		if !slices.Contains(p.Users, uid) {
			return &RefusedError{Detail: fmt.Sprintf("user %s is not in project %q", u.Email, p.Name)}
		}
		n, err := removeFromProject(c, pid, []string{uid}, req.Force)
		res = MembershipResult{ProjectName: p.Name, Email: u.Email, Removed: 1, DeletedKeys: n}
		return err
	})
	return res, err
}

// RemoveAllUsers takes every user out of a project; req.User is unused.
func (s *Store) RemoveAllUsers(ctx context.Context, req MembershipRequest) (MembershipResult, error) {
	var res MembershipResult
	err := s.update(ctx, func(c *config.Config) error {
		pid, p, err := resolveProject(c, req.Project)
		if err != nil {
			return err
		}
		users := len(p.Users)
		n, err := removeFromProject(c, pid, slices.Clone(p.Users), req.Force)
		res = MembershipResult{ProjectName: p.Name, Removed: users, DeletedKeys: n}
		return err
	})
	return res, err
}

// ProjectExport is a project with its MCP config and users, secrets
// included, as "project export" writes it; gateway keys are not in it.
type ProjectExport struct {
	ProjectID string                  `json:"project_id"`
	Project   *config.Project         `json:"project"`
	Users     map[string]*config.User `json:"users"`
	MCPConfig *config.MCPConfig       `json:"mcp_config,omitempty"`
}

// ExportProject returns a project, its users and its MCP config.
func (s *Store) ExportProject(ctx context.Context, ref Ref) (ProjectExport, error) {
	c, err := s.Load(ctx)
	if err != nil {
		return ProjectExport{}, err
	}
	id, p, err := resolveProject(c, ref)
	if err != nil {
		return ProjectExport{}, err
	}
	v := ProjectExport{ProjectID: id, Project: p, Users: map[string]*config.User{}}
	for _, u := range p.Users {
		if c.Users[u] != nil {
			v.Users[u] = c.Users[u]
		}
	}
	if m, ok := c.MCPConfigByID(p.MCPConfigID); ok {
		v.MCPConfig = m
	}
	return v, nil
}

// SearchProjects finds projects by name or ID prefix, case-insensitively.
func (s *Store) SearchProjects(ctx context.Context, term string) ([]SearchHit, error) {
	term = strings.ToLower(strings.TrimSpace(term))
	if term == "" {
		return nil, &RequestError{Fields: []string{"search_term"}, Problem: ProblemMissing}
	}
	c, err := s.Load(ctx)
	if err != nil {
		return nil, err
	}
	hits := []SearchHit{}
	for _, id := range SortedIDs(c.Projects, func(id string) string { return ProjectName(c, id) }) {
		p := c.Projects[id]
		switch {
		case p == nil:
		case strings.Contains(strings.ToLower(p.Name), term):
			hits = append(hits, SearchHit{"project", id, p.Name, "name"})
		case strings.HasPrefix(id, term):
			hits = append(hits, SearchHit{"project", id, p.Name, "id"})
		}
	}
	return hits, nil
}
