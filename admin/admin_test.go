package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"secure-mcp-gateway/internal/config"
)

const (
	defaultID = "11111111-1111-4111-8111-111111111111"
	spareID   = "22222222-2222-4222-8222-222222222222"
	canary    = "CANARY-admin-fixture-secret"
)

// fixture copies testdata/config.json into a temporary directory and opens
// a Store on it.
func fixture(t *testing.T) *Store {
	t.Helper()
	b, err := os.ReadFile("testdata/config.json")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "enkrypt_mcp_config.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return Open(path)
}

func strp(s string) *string { return &s }

// TestOperationErrors: each refused operation fails with its typed error
// and leaves the file as it was.
func TestOperationErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		op    func(*Store) error
		check func(t *testing.T, err error)
	}{
		{"config not found, with suggestion", func(s *Store) error {
			_, err := s.GetConfig(ctx, Ref{Name: "default_confg"})
			return err
		}, func(t *testing.T, err error) {
			var nf *NotFoundError
			if !errors.As(err, &nf) || nf.Kind != "config" || nf.DidYouMean != "default_config" {
				t.Fatalf("err = %#v, want NotFoundError for config suggesting default_config", err)
			}
		}},
		{"config ref missing", func(s *Store) error {
			_, err := s.ListServers(ctx, Ref{})
			return err
		}, func(t *testing.T, err error) {
			var re *RequestError
			if !errors.As(err, &re) || re.Problem != ProblemMissing || strings.Join(re.Fields, ",") != "config_name,config_id" {
				t.Fatalf("err = %#v, want missing config_name/config_id", err)
			}
		}},
		{"config ref both", func(s *Store) error {
			_, err := s.ListServers(ctx, Ref{Name: "default_config", ID: defaultID})
			return err
		}, func(t *testing.T, err error) {
			var re *RequestError
			if !errors.As(err, &re) || re.Problem != ProblemExclusive {
				t.Fatalf("err = %#v, want exclusive RequestError", err)
			}
		}},
		{"add config name taken", func(s *Store) error {
			_, err := s.AddConfig(ctx, AddConfigRequest{ConfigName: "spare_config"})
			return err
		}, func(t *testing.T, err error) {
			var ce *ConflictError
			if !errors.As(err, &ce) || !strings.Contains(ce.Error(), spareID) {
				t.Fatalf("err = %v, want ConflictError naming %s", err, spareID)
			}
		}},
		{"remove config in use", func(s *Store) error {
			_, err := s.RemoveConfig(ctx, Ref{Name: "default_config"})
			return err
		}, func(t *testing.T, err error) {
			var ce *ConflictError
			if !errors.As(err, &ce) || !strings.Contains(ce.Error(), "default_project") {
				t.Fatalf("err = %v, want ConflictError naming the project", err)
			}
		}},
		{"server not found", func(s *Store) error {
			_, err := s.RemoveServer(ctx, ServerRef{Config: Ref{ID: defaultID}, ServerName: "echo_servr"})
			return err
		}, func(t *testing.T, err error) {
			var nf *NotFoundError
			if !errors.As(err, &nf) || nf.Kind != "server" || nf.DidYouMean != "echo_server" ||
				nf.Error() != `server "echo_servr" not found in MCP config "default_config"` {
				t.Fatalf("err = %#v", err)
			}
		}},
		{"add existing server", func(s *Store) error {
			_, err := s.AddServer(ctx, AddServerRequest{ServerRef: ServerRef{Config: Ref{ID: defaultID}, ServerName: "remote"},
				ServerFields: ServerFields{Command: strp("/bin/true")}})
			return err
		}, func(t *testing.T, err error) {
			var ce *ConflictError
			if !errors.As(err, &ce) || ce.Kind != "server" {
				t.Fatalf("err = %v, want ConflictError", err)
			}
		}},
		{"command and url", func(s *Store) error {
			_, err := s.UpdateServer(ctx, UpdateServerRequest{ServerRef: ServerRef{Config: Ref{ID: defaultID}, ServerName: "remote"},
				ServerFields: ServerFields{Command: strp("/bin/true"), URL: strp("https://x.example/mcp")}})
			return err
		}, func(t *testing.T, err error) {
			var re *RequestError
			if !errors.As(err, &re) || re.Problem != ProblemExclusive {
				t.Fatalf("err = %v, want exclusive RequestError", err)
			}
		}},
		{"sandbox on remote server", func(s *Store) error {
			_, err := s.SetServerSandbox(ctx, SetSandboxRequest{ServerRef: ServerRef{Config: Ref{ID: defaultID}, ServerName: "remote"},
				Sandbox: &config.Sandbox{}})
			return err
		}, func(t *testing.T, err error) {
			var rf *RefusedError
			if !errors.As(err, &rf) {
				t.Fatalf("err = %v, want RefusedError", err)
			}
		}},
		{"invalid result refused by validation", func(s *Store) error {
			_, err := s.UpdateServer(ctx, UpdateServerRequest{ServerRef: ServerRef{Config: Ref{ID: defaultID}, ServerName: "echo_server"},
				ServerFields: ServerFields{URL: strp("ftp://mcp.example/mcp")}})
			return err
		}, func(t *testing.T, err error) {
			var fe *config.FileError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want config.FileError", err)
			}
		}},
		{"search term missing", func(s *Store) error {
			_, err := s.SearchConfigs(ctx, "  ")
			return err
		}, func(t *testing.T, err error) {
			var re *RequestError
			if !errors.As(err, &re) || re.Fields[0] != "search_term" {
				t.Fatalf("err = %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fixture(t)
			before, err := os.ReadFile(s.Path())
			if err != nil {
				t.Fatal(err)
			}
			err = tt.op(s)
			if err == nil {
				t.Fatal("operation succeeded, want an error")
			}
			tt.check(t, err)
			after, err := os.ReadFile(s.Path())
			if err != nil {
				t.Fatal(err)
			}
			if string(after) != string(before) {
				t.Fatal("a refused operation changed the file")
			}
		})
	}
}

// TestOperationsChangeTheFile: each operation's effect is in the file
// afterwards, and what it returns for display holds no secret.
func TestOperationsChangeTheFile(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		op    func(*Store) (any, error)
		check func(t *testing.T, c *config.Config)
	}{
		{"add config", func(s *Store) (any, error) {
			return s.AddConfig(ctx, AddConfigRequest{ConfigName: "new_config"})
		}, func(t *testing.T, c *config.Config) {
			if len(c.MCPConfigIDsByName("new_config")) != 1 {
				t.Fatal("new_config missing")
			}
		}},
		{"copy config keeps servers", func(s *Store) (any, error) {
			return s.CopyConfig(ctx, CopyConfigRequest{SourceConfig: defaultID, TargetConfig: "copy"})
		}, func(t *testing.T, c *config.Config) {
			ids := c.MCPConfigIDsByName("copy")
			if len(ids) != 1 || len(c.MCPConfigs[ids[0]].Servers) != 2 || c.MCPConfigs[ids[0]].Servers[0].Config.Env["API_TOKEN"] != canary {
				t.Fatal("copy is not a full copy")
			}
		}},
		{"rename config", func(s *Store) (any, error) {
			return s.RenameConfig(ctx, RenameConfigRequest{Config: Ref{Name: "spare_config"}, NewName: "renamed"})
		}, func(t *testing.T, c *config.Config) {
			if c.MCPConfigs[spareID].Name != "renamed" {
				t.Fatal("not renamed")
			}
		}},
		{"remove unused config", func(s *Store) (any, error) {
			return s.RemoveConfig(ctx, Ref{ID: spareID})
		}, func(t *testing.T, c *config.Config) {
			if _, ok := c.MCPConfigs[spareID]; ok {
				t.Fatal("not removed")
			}
		}},
		{"add server", func(s *Store) (any, error) {
			return s.AddServer(ctx, AddServerRequest{ServerRef: ServerRef{Config: Ref{ID: spareID}, ServerName: "tool"},
				ServerFields: ServerFields{Command: strp("/bin/cat"), Env: &map[string]string{"K": canary}}, Sandbox: &config.Sandbox{}})
		}, func(t *testing.T, c *config.Config) {
			sv, ok := c.MCPConfigs[spareID].Server("tool")
			if !ok || sv.Config.Env["K"] != canary || sv.Sandbox == nil || sv.CreatedAt == "" {
				t.Fatalf("server = %+v", sv)
			}
		}},
		{"update server", func(s *Store) (any, error) {
			return s.UpdateServer(ctx, UpdateServerRequest{ServerRef: ServerRef{Config: Ref{ID: defaultID}, ServerName: "echo_server"},
				ServerFields: ServerFields{Description: strp("changed"), Args: &[]string{"a,b"}}})
		}, func(t *testing.T, c *config.Config) {
			sv, _ := c.MCPConfigs[defaultID].Server("echo_server")
			if sv.Description != "changed" || len(sv.Config.Args) != 1 || sv.Config.Env["API_TOKEN"] != canary || sv.UpdatedAt == "" {
				t.Fatalf("server = %+v", sv)
			}
		}},
		{"set policies", func(s *Store) (any, error) {
			return s.SetServerPolicies(ctx, SetPoliciesRequest{ServerRef: ServerRef{Config: Ref{ID: defaultID}, ServerName: "echo_server"},
				ToolGuardrailsPolicy: &config.Policy{Enabled: true, PolicyName: "p", Block: []string{"hidden_text"}}})
		}, func(t *testing.T, c *config.Config) {
			sv, _ := c.MCPConfigs[defaultID].Server("echo_server")
			if sv.ToolGuardrailsPolicy == nil || sv.ToolGuardrailsPolicy.PolicyName != "p" || sv.InputGuardrailsPolicy != nil {
				t.Fatalf("server = %+v", sv)
			}
		}},
		{"remove server", func(s *Store) (any, error) {
			return s.RemoveServer(ctx, ServerRef{Config: Ref{Name: "default_config"}, ServerName: "remote"})
		}, func(t *testing.T, c *config.Config) {
			if _, ok := c.MCPConfigs[defaultID].Server("remote"); ok {
				t.Fatal("not removed")
			}
		}},
		{"get config masks secrets", func(s *Store) (any, error) {
			return s.GetConfig(ctx, Ref{ID: defaultID})
		}, func(t *testing.T, c *config.Config) {}},
		{"list servers masks secrets", func(s *Store) (any, error) {
			return s.ListServers(ctx, Ref{ID: defaultID})
		}, func(t *testing.T, c *config.Config) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fixture(t)
			res, err := tt.op(s)
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(res)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), canary) {
				t.Fatalf("result holds a secret: %s", b)
			}
			c, err := config.Load(s.Path())
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

// TestSearchConfigs finds configs by name and servers by their fields.
func TestSearchConfigs(t *testing.T) {
	hits, err := fixture(t).SearchConfigs(context.Background(), "ECHO")
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 1 || hits[0].Name != "default_config/echo_server" || hits[0].Match != "server name" {
		t.Fatalf("hits = %+v", hits)
	}
}

// helperEnv makes the test binary a second writer process.
const helperEnv = "ADMIN_TEST_WRITER_CONFIG"

// TestConcurrentWritesAllLand: goroutines of this process and a second
// process add servers to the same file at once; every server is in the
// file afterwards (no lost update).
func TestConcurrentWritesAllLand(t *testing.T) {
	if path := os.Getenv(helperEnv); path != "" {
		for i := range 5 {
			if _, err := Open(path).AddServer(context.Background(), addReq(fmt.Sprintf("proc_%d", i))); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		os.Exit(0)
	}
	s := fixture(t)
	child := exec.Command(os.Args[0], "-test.run=^TestConcurrentWritesAllLand$")
	child.Env = append(os.Environ(), helperEnv+"="+s.Path())
	var childOut strings.Builder
	child.Stderr = &childOut
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if _, err := s.AddServer(context.Background(), addReq(fmt.Sprintf("goroutine_%d", i))); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := child.Wait(); err != nil {
		t.Fatalf("writer process: %v\n%s", err, childOut.String())
	}
	c, err := config.Load(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("goroutine_%d", i))
	}
	for i := range 5 {
		want = append(want, fmt.Sprintf("proc_%d", i))
	}
	for _, name := range want {
		if _, ok := c.MCPConfigs[spareID].Server(name); !ok {
			t.Errorf("server %s was lost", name)
		}
	}
}

func addReq(name string) AddServerRequest {
	return AddServerRequest{ServerRef: ServerRef{Config: Ref{ID: spareID}, ServerName: name},
		ServerFields: ServerFields{Command: strp("/bin/cat")}}
}
