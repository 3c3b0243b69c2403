package admin

import (
	"context"
	"errors"
	"testing"

	"secure-mcp-gateway/internal/config"
)

const (
	projectID = "33333333-3333-4333-8333-333333333333"
	userID    = "44444444-4444-4444-8444-444444444444"
)

// TestProjectOperations: project changes land in the file; refusals are
// typed.
func TestProjectOperations(t *testing.T) {
	ctx := context.Background()
	proj := Ref{Name: "default_project"}
	tests := []struct {
		name    string
		op      func(*Store) error
		wantErr any
		check   func(t *testing.T, c *config.Config)
	}{
		{"create", func(s *Store) error {
			_, err := s.CreateProject(ctx, CreateProjectRequest{ProjectName: "p2"})
			return err
		}, nil, func(t *testing.T, c *config.Config) {
			if len(c.ProjectIDsByName("p2")) != 1 {
				t.Fatal("p2 missing")
			}
		}},
		{"create taken", func(s *Store) error {
			_, err := s.CreateProject(ctx, CreateProjectRequest{ProjectName: "default_project"})
			return err
		}, new(*ConflictError), nil},
		{"create unnamed", func(s *Store) error {
			_, err := s.CreateProject(ctx, CreateProjectRequest{})
			return err
		}, new(*RequestError), nil},
		{"assign config", func(s *Store) error {
			_, err := s.AssignConfig(ctx, AssignConfigRequest{Project: proj, Config: Ref{ID: spareID}})
			return err
		}, nil, func(t *testing.T, c *config.Config) {
			if c.Projects[projectID].MCPConfigID != spareID {
				t.Fatal("not assigned")
			}
		}},
		{"unassign config", func(s *Store) error {
			_, err := s.UnassignConfig(ctx, proj)
			return err
		}, nil, func(t *testing.T, c *config.Config) {
			if c.Projects[projectID].MCPConfigID != "" {
				t.Fatal("still assigned")
			}
		}},
		{"add member again", func(s *Store) error {
			_, err := s.AddUser(ctx, MembershipRequest{Project: proj, User: Ref{Name: "default@example.com"}})
			return err
		}, new(*ConflictError), nil},
		{"unknown user", func(s *Store) error {
			_, err := s.AddUser(ctx, MembershipRequest{Project: proj, User: Ref{Name: "nobody@example.com"}})
			return err
		}, new(*NotFoundError), nil},
		{"remove user", func(s *Store) error {
			_, err := s.RemoveUser(ctx, MembershipRequest{Project: proj, User: Ref{ID: userID}})
			return err
		}, nil, func(t *testing.T, c *config.Config) {
			if len(c.Projects[projectID].Users) != 0 {
				t.Fatal("user still in project")
			}
		}},
		{"remove project", func(s *Store) error {
			_, err := s.RemoveProject(ctx, Ref{ID: projectID})
			return err
		}, nil, func(t *testing.T, c *config.Config) {
			if c.Projects[projectID] != nil {
				t.Fatal("project still there")
			}
		}},
		{"config of unassigned project", func(s *Store) error {
			if _, err := s.UnassignConfig(ctx, proj); err != nil {
				return err
			}
			_, err := s.ProjectConfig(ctx, proj)
			return err
		}, new(*NotFoundError), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fixture(t)
			err := tt.op(s)
			if tt.wantErr != nil {
				if err == nil || !errors.As(err, tt.wantErr) {
					t.Fatalf("err = %v, want %T", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c, err := config.Load(s.Path())
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}
