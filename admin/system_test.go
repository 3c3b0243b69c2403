package admin

import (
	"context"
	"errors"
	"testing"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/internal/config"
)

// TestSystemOperations: reset empties the file, hash-keys hashes plaintext
// entries, restore refuses an invalid config without touching the file.
func TestSystemOperations(t *testing.T) {
	ctx := context.Background()
	t.Run("reset", func(t *testing.T) {
		s := fixture(t)
		if err := s.Reset(ctx); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(s.Path())
		if err != nil {
			t.Fatal(err)
		}
		if len(c.MCPConfigs)+len(c.Projects)+len(c.Users)+len(c.APIKeys) != 0 {
			t.Fatalf("reset left entries: %+v", c)
		}
	})
	t.Run("hash keys", func(t *testing.T) {
		s := fixture(t)
		c, err := s.Backup(ctx)
		if err != nil {
			t.Fatal(err)
		}
		const plain = "plaintext-gateway-key-0123456789abcdef"
		c.APIKeys[plain] = &config.APIKey{ProjectID: projectID, UserID: userID}
		if err := s.Restore(ctx, c); err != nil {
			t.Fatal(err)
		}
		n, err := s.HashKeys(ctx)
		if err != nil || n != 1 {
			t.Fatalf("HashKeys = %d, %v; want 1", n, err)
		}
		after, err := config.Load(s.Path())
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := after.APIKeys[authn.HashKey(plain)]; !ok || after.APIKeys[plain] != nil {
			t.Fatalf("keys = %v", after.APIKeys)
		}
	})
	t.Run("restore invalid", func(t *testing.T) {
		s := fixture(t)
		c, err := s.Backup(ctx)
		if err != nil {
			t.Fatal(err)
		}
		c.MCPConfigs[defaultID].Servers[0].Config.URL = "ftp://bad.example"
		var ie *InvalidError
		if err := s.Restore(ctx, c); !errors.As(err, &ie) {
			t.Fatalf("err = %v, want InvalidError", err)
		}
	})
}

// TestApprovePinWithoutChange: approving a tool with no pending definition
// is a NotFoundError and a missing field a RequestError.
func TestApprovePinWithoutChange(t *testing.T) {
	s := fixture(t)
	var nf *NotFoundError
	if err := s.ApprovePin(context.Background(), ApprovePinRequest{Server: "echo_server", Tool: "echo"}); !errors.As(err, &nf) {
		t.Fatalf("err = %v, want NotFoundError", err)
	}
	var re *RequestError
	if err := s.ApprovePin(context.Background(), ApprovePinRequest{Server: "echo_server"}); !errors.As(err, &re) {
		t.Fatalf("err = %v, want RequestError", err)
	}
}
