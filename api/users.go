package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"secure-mcp-gateway/admin"
)

type (
	createUserIn struct {
		Body admin.CreateUserRequest
	}
	// CreatedUser is the new user, with the Python gateway's keys.
	CreatedUser struct {
		UserID string `json:"user_id"`
		admin.UserSummary
	}
	updateUserIn struct {
		UserParam
		Body struct {
			NewEmail string `json:"new_email" minLength:"1" doc:"an email no other user has"`
		}
	}
	// UpdatedUser is a user whose email changed.
	UpdatedUser struct {
		OldEmail string `json:"old_email"`
		Email    string `json:"email"`
	}
	deleteUserIn struct {
		UserParam
		ForceParam
		Body *struct {
			Force bool `json:"force,omitempty" doc:"as the query parameter force"`
		} `required:"false"`
	}
	listKeysIn struct {
		UserParam
		ProjectIdentifier string `query:"project_identifier" doc:"only the keys of this project (name or ID)"`
	}
	generateKeyIn struct {
		UserParam
		Body struct {
			ProjectName string `json:"project_name,omitempty" doc:"the project (by name)"`
			ProjectID   string `json:"project_id,omitempty" doc:"the project (by ID)"`
		}
	}
	// DeletedKeys says how many keys of a user went.
	DeletedKeys struct {
		Email   string `json:"email"`
		Deleted int    `json:"deleted"`
	}
)

func (h *handlers) userRoutes(a huma.API) {
	const tag = "users"
	route(a, h, http.MethodGet, "/users", "list-users", tag, "List users",
		func(ctx context.Context, _ *none) (*Reply[[]admin.UserSummary], error) {
			rows, err := h.st.ListUsers(ctx)
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("%d user(s)", len(rows)), rows)
		})
	route(a, h, http.MethodPost, "/users", "create-user", tag, "Create a user",
		func(ctx context.Context, in *createUserIn) (*Reply[CreatedUser], error) {
			u, err := h.st.CreateUser(ctx, in.Body)
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("Created user %s", u.Email), CreatedUser{u.ID, u})
		})
	route(a, h, http.MethodPost, "/users/search", "search-users", tag, "Find users",
		func(ctx context.Context, in *searchIn) (*Reply[[]admin.SearchHit], error) {
			hits, err := h.st.SearchUsers(ctx, in.Body.SearchTerm)
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("%d match(es)", len(hits)), hits)
		})
	route(a, h, http.MethodGet, "/users/{user}", "get-user", tag, "Get a user",
		func(ctx context.Context, in *UserParam) (*Reply[admin.UserSummary], error) {
			u, err := h.st.GetUser(ctx, ref(in.User))
			if err != nil {
				return nil, err
			}
			return reply(ctx, "User "+u.Email, u)
		})
	route(a, h, http.MethodPut, "/users/{user}", "update-user", tag, "Change a user's email",
		func(ctx context.Context, in *updateUserIn) (*Reply[UpdatedUser], error) {
			old, err := h.st.UpdateUser(ctx, admin.UpdateUserRequest{User: ref(in.User), NewEmail: in.Body.NewEmail})
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("Changed %s to %s", old, in.Body.NewEmail), UpdatedUser{old, in.Body.NewEmail})
		})
	route(a, h, http.MethodDelete, "/users/{user}", "delete-user", tag, "Delete a user (force: with its keys and memberships)",
		func(ctx context.Context, in *deleteUserIn) (*Reply[admin.DeleteUserResult], error) {
			force := in.Force || in.Body != nil && in.Body.Force
			r, err := h.st.DeleteUser(ctx, admin.DeleteUserRequest{User: ref(in.User), Force: force})
			if err != nil {
				return nil, err
			}
			return reply(ctx, "Deleted user "+r.Email, r)
		})
	route(a, h, http.MethodGet, "/users/{user}/projects", "list-user-projects", tag, "List a user's projects",
		func(ctx context.Context, in *UserParam) (*Reply[[]admin.ProjectSummary], error) {
			rows, err := h.st.UserProjects(ctx, ref(in.User))
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("%d project(s)", len(rows)), rows)
		})
	route(a, h, http.MethodGet, "/users/{user}/api-keys", "list-user-api-keys", tag, "List a user's gateway keys (fingerprints only)",
		func(ctx context.Context, in *listKeysIn) (*Reply[[]admin.KeySummary], error) {
			req := admin.ListKeysRequest{User: ref(in.User)}
			if in.ProjectIdentifier != "" {
				req.Project = ref(in.ProjectIdentifier)
			}
			rows, err := h.st.ListKeys(ctx, req)
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("%d key(s)", len(rows)), rows)
		})
	route(a, h, http.MethodPost, "/users/{user}/api-keys", "generate-api-key", tag, "Issue a gateway key for a user in a project (shown once)",
		func(ctx context.Context, in *generateKeyIn) (*Reply[admin.IssuedKey], error) {
			k, err := h.st.GenerateKey(ctx, admin.GenerateKeyRequest{User: ref(in.User), Project: refOr(in.Body.ProjectName, in.Body.ProjectID)})
			if err != nil {
				return nil, err
			}
			msg := fmt.Sprintf("Issued key %s for %s in project %q; it is shown only now", k.Fingerprint, k.Email, k.ProjectName)
			if k.NoConfig {
				msg += "; the project has no MCP config yet, so the key is refused until one is assigned"
			}
			return reply(ctx, msg, k)
		})
	route(a, h, http.MethodDelete, "/users/{user}/api-keys", "delete-user-api-keys", tag, "Delete every gateway key of a user",
		func(ctx context.Context, in *UserParam) (*Reply[DeletedKeys], error) {
			email, n, err := h.st.DeleteAllKeys(ctx, ref(in.User))
			if err != nil {
				return nil, err
			}
			return reply(ctx, fmt.Sprintf("Deleted %d key(s) of %s", n, email), DeletedKeys{email, n})
		})
}
