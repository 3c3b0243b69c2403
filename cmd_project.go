package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/urfave/cli/v3"

	"secure-mcp-gateway/internal/config"
)

// projectCommand is the "project" group: projects, their MCP config and users.
func projectCommand() *cli.Command {
	withRef := func(flags ...cli.Flag) []cli.Flag {
		return append(append(projectRefFlags(), jsonFlag), flags...)
	}
	force := &cli.BoolFlag{Name: "force", Usage: "also delete the user's gateway keys for this project"}
	return &cli.Command{
		Name:  "project",
		Usage: "manage projects: a group of users sharing one MCP config",
		Commands: []*cli.Command{
			{Name: "list", Usage: "list projects", Flags: []cli.Flag{jsonFlag}, Action: projectList},
			{Name: "create", Usage: "create a project", Flags: []cli.Flag{jsonFlag,
				&cli.StringFlag{Name: "project-name", Usage: "the new project's name"}}, Action: projectCreate},
			{Name: "get", Usage: "show a project", Flags: withRef(), Action: projectGet},
			{Name: "remove", Usage: "delete a project that has no gateway keys", Flags: withRef(), Action: projectRemove},
			{Name: "assign-config", Usage: "give a project an MCP config", Flags: withRef(configRefFlags()...), Action: projectAssignConfig},
			{Name: "unassign-config", Usage: "take a project's MCP config away (its keys stop working)", Flags: withRef(), Action: projectUnassignConfig},
			{Name: "get-config", Usage: "show a project's MCP config", Flags: withRef(), Action: projectGetConfig},
			{Name: "list-users", Usage: "list a project's users", Flags: withRef(), Action: projectListUsers},
			{Name: "add-user", Usage: "add a user to a project", Flags: withRef(userRefFlags()...), Action: projectAddUser},
			{Name: "remove-user", Usage: "remove a user from a project", Flags: withRef(append(userRefFlags(), force)...), Action: projectRemoveUser},
			{Name: "remove-all-users", Usage: "remove every user from a project", Flags: withRef(force), Action: projectRemoveAllUsers},
			{Name: "export", Usage: "write a project, its MCP config and users to a file", Flags: withRef(
				&cli.StringFlag{Name: "output-file", Usage: "file to write (mode 0600)"}), Action: projectExport},
			{Name: "search", Usage: "find projects by name or ID", Flags: []cli.Flag{jsonFlag,
				&cli.StringFlag{Name: "search-term", Usage: "text to look for (case-insensitive)"}}, Action: projectSearch},
		},
	}
}

// projectRow is the JSON form of a project in listings.
type projectRow struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	ConfigID   string   `json:"mcp_config_id"`
	ConfigName string   `json:"mcp_config_name"`
	Users      []string `json:"users"`
	Keys       int      `json:"api_keys"`
	CreatedAt  string   `json:"created_at,omitempty"`
}

func projectRowOf(c *config.Config, id string) projectRow {
	p := c.Projects[id]
	r := projectRow{ID: id, Name: p.Name, ConfigID: p.MCPConfigID, Users: []string{},
		Keys: len(c.APIKeysOf("", id)), CreatedAt: p.CreatedAt}
	if p.MCPConfigID != "" {
		r.ConfigName = configName(c, p.MCPConfigID)
	}
	for _, u := range p.Users {
		r.Users = append(r.Users, userEmail(c, u))
	}
	slices.Sort(r.Users)
	return r
}

func projectTable(w io.Writer, rows []projectRow) error {
	var t [][]string
	for _, r := range rows {
		t = append(t, []string{r.Name, r.ID, orDash(r.ConfigName), fmt.Sprint(len(r.Users)), fmt.Sprint(r.Keys)})
	}
	return printTable(w, []string{"NAME", "ID", "MCP CONFIG", "USERS", "KEYS"}, t)
}

func projectList(_ context.Context, cmd *cli.Command) error {
	c, _, err := loadAdminConfig(cmd)
	if err != nil {
		return err
	}
	rows := []projectRow{}
	for _, id := range sortedIDs(c.Projects, func(id string) string { return projectName(c, id) }) {
		if c.Projects[id] != nil {
			rows = append(rows, projectRowOf(c, id))
		}
	}
	return out(cmd, rows, func(w io.Writer) error { return projectTable(w, rows) })
}

func projectCreate(_ context.Context, cmd *cli.Command) error {
	name, id := cmd.String("project-name"), newUUID()
	if strings.TrimSpace(name) == "" {
		return usageError("--project-name is required")
	}
	err := updateAdminConfig(cmd, func(c *config.Config) error {
		if ids := c.ProjectIDsByName(name); len(ids) > 0 {
			return adminError("a project named %q already exists (ID %s); choose another name", name, ids[0])
		}
		if c.Projects == nil {
			c.Projects = map[string]*config.Project{}
		}
		c.Projects[id] = &config.Project{Name: name, Users: []string{}, CreatedAt: timestamp()}
		return nil
	})
	if err != nil {
		return err
	}
	return done(cmd, fmt.Sprintf("Created project %q (ID %s); next: project assign-config, project add-user", name, id),
		map[string]any{"id": id, "name": name})
}

func projectGet(_ context.Context, cmd *cli.Command) error {
	c, _, err := loadAdminConfig(cmd)
	if err != nil {
		return err
	}
	id, _, err := resolveProject(cmd, c)
	if err != nil {
		return err
	}
	r := projectRowOf(c, id)
	return out(cmd, r, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "Name:        %s\nID:          %s\nMCP config:  %s\nUsers:       %s\nKeys:        %d\nCreated:     %s\n",
			r.Name, r.ID, orDash(r.ConfigName), orDash(strings.Join(r.Users, ", ")), r.Keys, orDash(r.CreatedAt))
		return err
	})
}

func projectRemove(_ context.Context, cmd *cli.Command) error {
	var name string
	err := updateAdminConfig(cmd, func(c *config.Config) error {
		id, p, err := resolveProject(cmd, c)
		if err != nil {
			return err
		}
		if keys := c.APIKeysOf("", id); len(keys) > 0 {
			return adminError("project %q has %d gateway key(s); delete them first (user delete-api-key or user delete-all-api-keys)", p.Name, len(keys))
		}
		name = p.Name
		delete(c.Projects, id)
		return nil
	})
	if err != nil {
		return err
	}
	return done(cmd, fmt.Sprintf("Removed project %q", name), nil)
}

func projectAssignConfig(_ context.Context, cmd *cli.Command) error {
	var pname, cname string
	err := updateAdminConfig(cmd, func(c *config.Config) error {
		_, p, err := resolveProject(cmd, c)
		if err != nil {
			return err
		}
		cid, m, err := resolveConfig(cmd, c)
		if err != nil {
			return err
		}
		p.MCPConfigID, pname, cname = cid, p.Name, m.Name
		return nil
	})
	if err != nil {
		return err
	}
	return done(cmd, fmt.Sprintf("Assigned MCP config %q to project %q", cname, pname), nil)
}

func projectUnassignConfig(_ context.Context, cmd *cli.Command) error {
	var pname string
	err := updateAdminConfig(cmd, func(c *config.Config) error {
		_, p, err := resolveProject(cmd, c)
		if err != nil {
			return err
		}
		p.MCPConfigID, pname = "", p.Name
		return nil
	})
	if err != nil {
		return err
	}
	return done(cmd, fmt.Sprintf("Project %q has no MCP config now; its keys are refused until one is assigned", pname), nil)
}

func projectGetConfig(_ context.Context, cmd *cli.Command) error {
	c, _, err := loadAdminConfig(cmd)
	if err != nil {
		return err
	}
	_, p, err := resolveProject(cmd, c)
	if err != nil {
		return err
	}
	m, ok := c.MCPConfigByID(p.MCPConfigID)
	if !ok {
		return adminError("project %q has no MCP config\nhint: run \"secure-mcp-gateway project assign-config --project-name %s --config-name NAME\"", p.Name, p.Name)
	}
	servers := []*config.Server{}
	for _, s := range m.Servers {
		if s != nil {
			servers = append(servers, shownServer(s))
		}
	}
	v := map[string]any{"id": p.MCPConfigID, "name": m.Name, "servers": servers}
	return out(cmd, v, func(w io.Writer) error {
		fmt.Fprintf(w, "MCP config:  %s\nID:          %s\n\n", m.Name, p.MCPConfigID)
		return serverTable(w, m.Servers)
	})
}

// userRow is the JSON form of a user in listings.
type userRow struct {
	ID        string   `json:"id"`
	Email     string   `json:"email"`
	Projects  []string `json:"projects"`
	Keys      int      `json:"api_keys"`
	CreatedAt string   `json:"created_at,omitempty"`
}

func userRowOf(c *config.Config, id string) userRow {
	u := c.Users[id]
	r := userRow{ID: id, Email: u.Email, Projects: []string{}, Keys: len(c.APIKeysOf(id, "")), CreatedAt: u.CreatedAt}
	for _, p := range c.ProjectsOf(id) {
		r.Projects = append(r.Projects, projectName(c, p))
	}
	slices.Sort(r.Projects)
	return r
}

func userTable(w io.Writer, rows []userRow) error {
	var t [][]string
	for _, r := range rows {
		t = append(t, []string{r.Email, r.ID, orDash(strings.Join(r.Projects, ", ")), fmt.Sprint(r.Keys)})
	}
	return printTable(w, []string{"EMAIL", "ID", "PROJECTS", "KEYS"}, t)
}

func projectListUsers(_ context.Context, cmd *cli.Command) error {
	c, _, err := loadAdminConfig(cmd)
	if err != nil {
		return err
	}
	_, p, err := resolveProject(cmd, c)
	if err != nil {
		return err
	}
	rows := []userRow{}
	for _, u := range sortedIDs(sliceSet(p.Users), func(id string) string { return userEmail(c, id) }) {
		if c.Users[u] != nil {
			rows = append(rows, userRowOf(c, u))
		}
	}
	return out(cmd, rows, func(w io.Writer) error { return userTable(w, rows) })
}

func projectAddUser(_ context.Context, cmd *cli.Command) error {
	var pname, email string
	err := updateAdminConfig(cmd, func(c *config.Config) error {
		_, p, err := resolveProject(cmd, c)
		if err != nil {
			return err
		}
		uid, u, err := resolveUser(cmd, c)
		if err != nil {
			return err
		}
		if slices.Contains(p.Users, uid) {
			return adminError("user %s is already in project %q", u.Email, p.Name)
		}
		p.Users = append(p.Users, uid)
		pname, email = p.Name, u.Email
		return nil
	})
	if err != nil {
		return err
	}
	return done(cmd, fmt.Sprintf("Added user %s to project %q", email, pname), nil)
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
		return 0, adminError("%d gateway key(s) of these users belong to project %q and would keep working; delete them, or pass --force to delete them too",
			len(keys), p.Name)
	}
	for _, k := range keys {
		delete(c.APIKeys, k)
	}
	p.Users = slices.DeleteFunc(p.Users, func(u string) bool { return slices.Contains(users, u) })
	return len(keys), nil
}

func projectRemoveUser(_ context.Context, cmd *cli.Command) error {
	var pname, email string
	var n int
	err := updateAdminConfig(cmd, func(c *config.Config) error {
		pid, p, err := resolveProject(cmd, c)
		if err != nil {
			return err
		}
		uid, u, err := resolveUser(cmd, c)
		if err != nil {
			return err
		}
		if !slices.Contains(p.Users, uid) {
			return adminError("user %s is not in project %q", u.Email, p.Name)
		}
		pname, email = p.Name, u.Email
		n, err = removeFromProject(c, pid, []string{uid}, cmd.Bool("force"))
		return err
	})
	if err != nil {
		return err
	}
	return done(cmd, fmt.Sprintf("Removed user %s from project %q (%d key(s) deleted)", email, pname, n), map[string]any{"deleted_keys": n})
}

func projectRemoveAllUsers(_ context.Context, cmd *cli.Command) error {
	var pname string
	var users, n int
	err := updateAdminConfig(cmd, func(c *config.Config) error {
		pid, p, err := resolveProject(cmd, c)
		if err != nil {
			return err
		}
		pname, users = p.Name, len(p.Users)
		n, err = removeFromProject(c, pid, slices.Clone(p.Users), cmd.Bool("force"))
		return err
	})
	if err != nil {
		return err
	}
	return done(cmd, fmt.Sprintf("Removed %d user(s) from project %q (%d key(s) deleted)", users, pname, n),
		map[string]any{"removed": users, "deleted_keys": n})
}

func projectExport(_ context.Context, cmd *cli.Command) error {
	file := cmd.String("output-file")
	if file == "" {
		return usageError("--output-file is required")
	}
	c, _, err := loadAdminConfig(cmd)
	if err != nil {
		return err
	}
	id, p, err := resolveProject(cmd, c)
	if err != nil {
		return err
	}
	users := map[string]*config.User{}
	for _, u := range p.Users {
		if c.Users[u] != nil {
			users[u] = c.Users[u]
		}
	}
	v := map[string]any{"project_id": id, "project": p, "users": users}
	if m, ok := c.MCPConfigByID(p.MCPConfigID); ok {
		v["mcp_config"] = m
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("export project: %w", err)
	}
	if err := writeFile0600(file, append(data, '\n')); err != nil {
		return err
	}
	return done(cmd, fmt.Sprintf("Exported project %q to %s (gateway keys are not exported)", p.Name, file), map[string]any{"file": file})
}

func projectSearch(_ context.Context, cmd *cli.Command) error {
	term, err := searchTerm(cmd)
	if err != nil {
		return err
	}
	c, _, err := loadAdminConfig(cmd)
	if err != nil {
		return err
	}
	var hits []searchHit
	for _, id := range sortedIDs(c.Projects, func(id string) string { return projectName(c, id) }) {
		p := c.Projects[id]
		switch {
		case p == nil:
		case strings.Contains(strings.ToLower(p.Name), term):
			hits = append(hits, searchHit{Type: "project", ID: id, Name: p.Name, Match: "name"})
		case strings.HasPrefix(id, term):
			hits = append(hits, searchHit{Type: "project", ID: id, Name: p.Name, Match: "id"})
		}
	}
	return searchTable(cmd, hits)
}
