package admin

import (
	"context"
	"errors"
	"strings"
	"testing"

	"secure-mcp-gateway/internal/config"
)

// TestUserOperations: user and key changes land in the file; refusals are
// typed; no listing holds a key.
func TestUserOperations(t *testing.T) {
	ctx := context.Background()
	user, proj := Ref{Name: "default@example.com"}, Ref{ID: projectID}
	tests := []struct {
		name    string
		op      func(*Store) error
		wantErr any
		check   func(t *testing.T, c *config.Config)
	}{
		{"create", func(s *Store) error {
			_, err := s.CreateUser(ctx, CreateUserRequest{Email: "new@example.com"})
			return err
		}, nil, func(t *testing.T, c *config.Config) {
			if len(c.UserIDsByEmail("new@example.com")) != 1 {
				t.Fatal("user missing")
			}
		}},
		{"create bad email", func(s *Store) error {
			_, err := s.CreateUser(ctx, CreateUserRequest{Email: "Name <a@b.c>"})
			return err
		}, new(*InvalidEmailError), nil},
		{"create taken", func(s *Store) error {
			_, err := s.CreateUser(ctx, CreateUserRequest{Email: "default@example.com"})
			return err
		}, new(*ConflictError), nil},
		{"update email", func(s *Store) error {
			_, err := s.UpdateUser(ctx, UpdateUserRequest{User: user, NewEmail: "renamed@example.com"})
			return err
		}, nil, func(t *testing.T, c *config.Config) {
			if c.Users[userID].Email != "renamed@example.com" {
				t.Fatal("not renamed")
			}
		}},
		{"generate, rotate, disable, delete", func(s *Store) error {
			k, err := s.GenerateKey(ctx, GenerateKeyRequest{User: user, Project: proj})
			if err != nil {
				return err
			}
			r, err := s.RotateKey(ctx, k.APIKey)
			if err != nil {
				return err
			}
			if r.RotatedFrom != k.Fingerprint {
				t.Errorf("rotated_from = %q, want %q", r.RotatedFrom, k.Fingerprint)
			}
			if _, err := s.GetKey(ctx, k.APIKey); !errors.As(err, new(*KeyNotFoundError)) {
				t.Errorf("old key after rotation: err = %v, want KeyNotFoundError", err)
			}
			if _, err := s.SetKeyDisabled(ctx, r.Fingerprint, true); err != nil {
				return err
			}
			rows, err := s.ListAllKeys(ctx)
			if err != nil {
				return err
			}
			if len(rows) != 1 || !rows[0].Disabled || strings.Contains(rows[0].Fingerprint, r.APIKey) {
				t.Errorf("keys = %+v", rows)
			}
			_, err = s.DeleteKey(ctx, r.Fingerprint)
			return err
		}, nil, func(t *testing.T, c *config.Config) {
			if len(c.APIKeys) != 0 {
				t.Fatalf("keys left: %d", len(c.APIKeys))
			}
		}},
		{"key for a non-member", func(s *Store) error {
			if _, err := s.CreateUser(ctx, CreateUserRequest{Email: "out@example.com"}); err != nil {
				return err
			}
			_, err := s.GenerateKey(ctx, GenerateKeyRequest{User: Ref{Name: "out@example.com"}, Project: proj})
			return err
		}, new(*RefusedError), nil},
		{"delete member needs force", func(s *Store) error {
			_, err := s.DeleteUser(ctx, DeleteUserRequest{User: user})
			return err
		}, new(*ConflictError), nil},
		{"delete member with force", func(s *Store) error {
			_, err := s.DeleteUser(ctx, DeleteUserRequest{User: user, Force: true})
			return err
		}, nil, func(t *testing.T, c *config.Config) {
			if c.Users[userID] != nil || len(c.Projects[projectID].Users) != 0 {
				t.Fatal("user not deleted everywhere")
			}
		}},
		{"missing key ref", func(s *Store) error {
			_, err := s.DeleteKey(ctx, " ")
			return err
		}, new(*RequestError), nil},
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
