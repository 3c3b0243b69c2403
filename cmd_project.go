package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v3"

	"secure-mcp-gateway/admin"
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
type projectRow = admin.ProjectSummary

func projectRowOf(c *config.Config, id string) projectRow { return admin.ProjectSummaryOf(c, id) }

func projectTable(w io.Writer, rows []projectRow) error {
	var t [][]string
	for _, r := range rows {
		t = append(t, []string{r.Name, r.ID, orDash(r.ConfigName), fmt.Sprint(len(r.Users)), fmt.Sprint(r.Keys)})
	}
	return printTable(w, []string{"NAME", "ID", "MCP CONFIG", "USERS", "KEYS"}, t)
}

// projectRef is the --project-name/--project-id reference of a command.
func projectRef(cmd *cli.Command) admin.Ref {
	return admin.Ref{Name: cmd.String("project-name"), ID: cmd.String("project-id")}
}

// userRef is the --email/--user-id reference of a command.
func userRef(cmd *cli.Command) admin.Ref {
	return admin.Ref{Name: cmd.String("email"), ID: cmd.String("user-id")}
}

func projectList(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	rows, err := st.ListProjects(ctx)
	if err != nil {
		return cliError(err)
	}
	return out(cmd, rows, func(w io.Writer) error { return projectTable(w, rows) })
}

func projectCreate(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	r, err := st.CreateProject(ctx, admin.CreateProjectRequest{ProjectName: cmd.String("project-name")})
	if err != nil {
		return cliError(err)
	}
	return done(cmd, fmt.Sprintf("Created project %q (ID %s); next: project assign-config, project add-user", r.Name, r.ID),
		map[string]any{"id": r.ID, "name": r.Name})
}

func projectGet(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	r, err := st.GetProject(ctx, projectRef(cmd))
	if err != nil {
		return cliError(err)
	}
	return out(cmd, r, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "Name:        %s\nID:          %s\nMCP config:  %s\nUsers:       %s\nKeys:        %d\nCreated:     %s\n",
			r.Name, r.ID, orDash(r.ConfigName), orDash(strings.Join(r.Users, ", ")), r.Keys, orDash(r.CreatedAt))
		return err
	})
}

func projectRemove(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	name, err := st.RemoveProject(ctx, projectRef(cmd))
	if err != nil {
		return cliError(err)
	}
	return done(cmd, fmt.Sprintf("Removed project %q", name), nil)
}

func projectAssignConfig(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	r, err := st.AssignConfig(ctx, admin.AssignConfigRequest{Project: projectRef(cmd), Config: configRef(cmd)})
	if err != nil {
		return cliError(err)
	}
	return done(cmd, fmt.Sprintf("Assigned MCP config %q to project %q", r.ConfigName, r.ProjectName), nil)
}

func projectUnassignConfig(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	r, err := st.UnassignConfig(ctx, projectRef(cmd))
	if err != nil {
		return cliError(err)
	}
	return done(cmd, fmt.Sprintf("Project %q has no MCP config now; its keys are refused until one is assigned", r.ProjectName), nil)
}

func projectGetConfig(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	d, err := st.ProjectConfig(ctx, projectRef(cmd))
	var nf *admin.NotFoundError
	if errors.As(err, &nf) && nf.Kind == "project config" {
		return adminError("project %q has no MCP config\nhint: run \"secure-mcp-gateway project assign-config --project-name %s --config-name NAME\"", nf.Name, nf.Name)
	}
	if err != nil {
		return cliError(err)
	}
	v := map[string]any{"id": d.ID, "name": d.Name, "servers": d.Servers}
	return out(cmd, v, func(w io.Writer) error {
		fmt.Fprintf(w, "MCP config:  %s\nID:          %s\n\n", d.Name, d.ID)
		return serverTable(w, d.Servers)
	})
}

// userRow is the JSON form of a user in listings.
type userRow = admin.UserSummary

func userTable(w io.Writer, rows []userRow) error {
	var t [][]string
	for _, r := range rows {
		t = append(t, []string{r.Email, r.ID, orDash(strings.Join(r.Projects, ", ")), fmt.Sprint(r.Keys)})
	}
	return printTable(w, []string{"EMAIL", "ID", "PROJECTS", "KEYS"}, t)
}

func projectListUsers(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	rows, err := st.ProjectUsers(ctx, projectRef(cmd))
	if err != nil {
		return cliError(err)
	}
	return out(cmd, rows, func(w io.Writer) error { return userTable(w, rows) })
}

// membership is the project and user reference and --force of a command.
func membership(cmd *cli.Command) admin.MembershipRequest {
	return admin.MembershipRequest{Project: projectRef(cmd), User: userRef(cmd), Force: cmd.Bool("force")}
}

func projectAddUser(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	r, err := st.AddUser(ctx, membership(cmd))
	if err != nil {
		return cliError(err)
	}
	return done(cmd, fmt.Sprintf("Added user %s to project %q", r.Email, r.ProjectName), nil)
}

func projectRemoveUser(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	r, err := st.RemoveUser(ctx, membership(cmd))
	if err != nil {
		return cliError(err)
	}
	return done(cmd, fmt.Sprintf("Removed user %s from project %q (%d key(s) deleted)", r.Email, r.ProjectName, r.DeletedKeys),
		map[string]any{"deleted_keys": r.DeletedKeys})
}

func projectRemoveAllUsers(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	r, err := st.RemoveAllUsers(ctx, membership(cmd))
	if err != nil {
		return cliError(err)
	}
	return done(cmd, fmt.Sprintf("Removed %d user(s) from project %q (%d key(s) deleted)", r.Removed, r.ProjectName, r.DeletedKeys),
		map[string]any{"removed": r.Removed, "deleted_keys": r.DeletedKeys})
}

func projectExport(ctx context.Context, cmd *cli.Command) error {
	file := cmd.String("output-file")
	if file == "" {
		return usageError("--output-file is required")
	}
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	e, err := st.ExportProject(ctx, projectRef(cmd))
	if err != nil {
		return cliError(err)
	}
	v := map[string]any{"project_id": e.ProjectID, "project": e.Project, "users": e.Users}
	if e.MCPConfig != nil {
		v["mcp_config"] = e.MCPConfig
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("export project: %w", err)
	}
	if err := writeFile0600(file, append(data, '\n')); err != nil {
		return err
	}
	return done(cmd, fmt.Sprintf("Exported project %q to %s (gateway keys are not exported)", e.Project.Name, file), map[string]any{"file": file})
}

func projectSearch(ctx context.Context, cmd *cli.Command) error {
	term, err := searchTerm(cmd)
	if err != nil {
		return err
	}
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	hits, err := st.SearchProjects(ctx, term)
	if err != nil {
		return cliError(err)
	}
	return searchTable(cmd, hits)
}
