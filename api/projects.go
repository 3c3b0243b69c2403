package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"secure-mcp-gateway/admin"
)

type (
	// CreateProjectBody is the body of POST /projects.
	CreateProjectBody struct {
		ProjectName   string `json:"project_name" minLength:"1" doc:"a name no other project has"`
		MCPConfigName string `json:"mcp_config_name,omitempty" doc:"assign this MCP config (by name)"`
		MCPConfigID   string `json:"mcp_config_id,omitempty" doc:"assign this MCP config (by ID)"`
	}
	createProjectIn struct {
		Body CreateProjectBody
	}
	// CreatedProject is the new project, with the Python gateway's keys.
	CreatedProject struct {
		ProjectID   string `json:"project_id"`
		ProjectName string `json:"project_name"`
		admin.Ref
	}
	assignIn struct {
		ProjectParam
		Body struct {
			ConfigName string `json:"config_name,omitempty" doc:"MCP config name"`
			ConfigID   string `json:"config_id,omitempty" doc:"MCP config ID"`
		}
	}
	addMemberIn struct {
		ProjectParam
		Body struct {
			Email  string `json:"email,omitempty" doc:"the user's email"`
			UserID string `json:"user_id,omitempty" doc:"the user's ID"`
		}
	}
	removeMembersIn struct {
		ProjectParam
		ForceParam
	}
	removeMemberIn struct {
		ProjectParam
		UserParam
		ForceParam
	}
)

func (h *handlers) projectRoutes(a huma.API) {
	const tag = "projects"
	route(a, h, http.MethodGet, "/projects", "list-projects", tag, "List projects",
		func(ctx context.Context, _ *none) (*Reply[[]admin.ProjectSummary], error) {
			rows, err := h.st.ListProjects(ctx)
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("%d project(s)", len(rows)), rows)
		})
	route(a, h, http.MethodPost, "/projects", "create-project", tag, "Create a project, optionally with an MCP config",
		func(ctx context.Context, in *createProjectIn) (*Reply[CreatedProject], error) {
			r, err := h.st.CreateProject(ctx, admin.CreateProjectRequest{ProjectName: in.Body.ProjectName,
				Config: refOr(in.Body.MCPConfigName, in.Body.MCPConfigID)})
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("Created project %q", r.Name), CreatedProject{r.ID, r.Name, r})
		})
	route(a, h, http.MethodPost, "/projects/search", "search-projects", tag, "Find projects",
		func(ctx context.Context, in *searchIn) (*Reply[[]admin.SearchHit], error) {
			hits, err := h.st.SearchProjects(ctx, in.Body.SearchTerm)
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("%d match(es)", len(hits)), hits)
		})
	route(a, h, http.MethodGet, "/projects/{project}", "get-project", tag, "Get a project",
		func(ctx context.Context, in *ProjectParam) (*Reply[admin.ProjectSummary], error) {
			p, err := h.st.GetProject(ctx, ref(in.Project))
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("Project %q", p.Name), p)
		})
	route(a, h, http.MethodDelete, "/projects/{project}", "delete-project", tag, "Delete a project that has no gateway keys",
		func(ctx context.Context, in *ProjectParam) (*Reply[Removed], error) {
			name, err := h.st.RemoveProject(ctx, ref(in.Project))
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("Removed project %q", name), Removed{name})
		})
	route(a, h, http.MethodPost, "/projects/{project}/assign-config", "assign-config", tag, "Give a project an MCP config",
		func(ctx context.Context, in *assignIn) (*Reply[admin.AssignResult], error) {
			r, err := h.st.AssignConfig(ctx, admin.AssignConfigRequest{Project: ref(in.Project),
				Config: refOr(in.Body.ConfigName, in.Body.ConfigID)})
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("Assigned MCP config %q to project %q", r.ConfigName, r.ProjectName), r)
		})
	route(a, h, http.MethodPost, "/projects/{project}/unassign-config", "unassign-config", tag, "Take a project's MCP config away",
		func(ctx context.Context, in *ProjectParam) (*Reply[admin.AssignResult], error) {
			r, err := h.st.UnassignConfig(ctx, ref(in.Project))
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("Project %q has no MCP config now", r.ProjectName), r)
		})
	route(a, h, http.MethodGet, "/projects/{project}/config", "get-project-config", tag, "Get a project's MCP config (secrets masked)",
		func(ctx context.Context, in *ProjectParam) (*Reply[admin.ConfigDetail], error) {
			d, err := h.st.ProjectConfig(ctx, ref(in.Project))
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("MCP config %q", d.Name), d)
		})
	route(a, h, http.MethodGet, "/projects/{project}/users", "list-project-users", tag, "List a project's users",
		func(ctx context.Context, in *ProjectParam) (*Reply[[]admin.UserSummary], error) {
			rows, err := h.st.ProjectUsers(ctx, ref(in.Project))
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("%d user(s)", len(rows)), rows)
		})
	route(a, h, http.MethodPost, "/projects/{project}/users", "add-project-user", tag, "Add a user to a project",
		func(ctx context.Context, in *addMemberIn) (*Reply[admin.MembershipResult], error) {
			r, err := h.st.AddUser(ctx, admin.MembershipRequest{Project: ref(in.Project), User: refOr(in.Body.Email, in.Body.UserID)})
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("Added %s to project %q", r.Email, r.ProjectName), r)
		})
	route(a, h, http.MethodDelete, "/projects/{project}/users", "remove-all-project-users", tag, "Take every user out of a project",
		func(ctx context.Context, in *removeMembersIn) (*Reply[admin.MembershipResult], error) {
			r, err := h.st.RemoveAllUsers(ctx, admin.MembershipRequest{Project: ref(in.Project), Force: in.Force})
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("Removed %d user(s) from project %q", r.Removed, r.ProjectName), r)
		})
	route(a, h, http.MethodDelete, "/projects/{project}/users/{user}", "remove-project-user", tag, "Take a user out of a project",
		func(ctx context.Context, in *removeMemberIn) (*Reply[admin.MembershipResult], error) {
			r, err := h.st.RemoveUser(ctx, admin.MembershipRequest{Project: ref(in.Project), User: ref(in.User), Force: in.Force})
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("Removed %s from project %q", r.Email, r.ProjectName), r)
		})
	route(a, h, http.MethodPost, "/projects/{project}/export", "export-project", tag, "Export a project with its users and MCP config, secrets included",
		func(ctx context.Context, in *ProjectParam) (*Reply[json.RawMessage], error) {
			e, err := h.st.ExportProject(ctx, ref(in.Project))
			if err != nil {
				return nil, err
			}
			b, err := raw(e)
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("Exported project %q (it holds secrets)", e.Project.Name), b)
		})
}
