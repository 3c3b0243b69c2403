package api

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"secure-mcp-gateway/admin"
	"secure-mcp-gateway/audit"
	"secure-mcp-gateway/internal/config"
)

const (
	adminKey = "test-admin-key-0123456789" // testdata/config.json holds its sha256: form
	canary   = "CANARY-admin-fixture-secret"
)

// server starts the API on a copy of testdata/config.json.
func server(t *testing.T, o Options) (*httptest.Server, *admin.Store) {
	t.Helper()
	return serverWith(t, o, admin.Runtime{})
}

// serverWith is server whose store reaches rt.
func serverWith(t *testing.T, o Options, rt admin.Runtime) (*httptest.Server, *admin.Store) {
	t.Helper()
	b, err := os.ReadFile("testdata/config.json")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "enkrypt_mcp_config.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	o.Store = admin.OpenWith(path, rt)
	if o.Rate == 0 { // only TestLimits tests the limit; the others must not meet it however fast they run
		o.Rate, o.Burst = 1e9, 1e9
	}
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, o.Store
}

// reply is a decoded response.
type response struct {
	code int
	raw  string
	Body struct {
		Status        string          `json:"status"`
		Message       string          `json:"message"`
		Detail        string          `json:"detail"`
		Data          json.RawMessage `json:"data"`
		CorrelationID string          `json:"correlation_id"`
		Timestamp     string          `json:"timestamp"`
		Error         *Problem        `json:"error"`
	}
}

func call(t *testing.T, srv *httptest.Server, method, path, key string, body any) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	exercised.add(method, req.URL.Path)
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{code: resp.StatusCode, raw: string(b)}
	if err := json.Unmarshal(b, &r.Body); err != nil && resp.Header.Get("Content-Type") == "application/json" {
		t.Fatalf("%s %s: body is not JSON: %v\n%s", method, path, err, b)
	}
	return r
}

func (r response) data(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body.Data, v); err != nil {
		t.Fatalf("data: %v\n%s", err, r.raw)
	}
}

// TestAuth: /api/v1 needs the admin key; /health and the OpenAPI document
// do not.
func TestAuth(t *testing.T) {
	srv, _ := server(t, Options{})
	for _, c := range []struct {
		name, path, key string
		want            int
	}{
		{"no key", "/api/v1/configs", "", http.StatusUnauthorized},
		{"wrong key", "/api/v1/configs", adminKey + "x", http.StatusUnauthorized},
		{"admin key", "/api/v1/configs", adminKey, http.StatusOK},
		{"unknown route needs the key too", "/api/v1/nothing", "", http.StatusUnauthorized},
		{"unknown route", "/api/v1/nothing", adminKey, http.StatusNotFound},
		{"health open", "/health", "", http.StatusOK},
		{"openapi open", "/openapi.json", "", http.StatusOK},
		{"openapi yaml open", "/openapi.yaml", "", http.StatusOK},
		{"docs open", "/docs", "", http.StatusOK},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := call(t, srv, http.MethodGet, c.path, c.key, nil)
			if r.code != c.want {
				t.Fatalf("status %d, want %d\n%s", r.code, c.want, r.raw)
			}
			if c.want == http.StatusNotFound && (r.Body.Status != "error" || !strings.Contains(r.Body.Message, "/openapi.json")) {
				t.Fatalf("404 body = %s", r.raw)
			}
			if c.want == http.StatusUnauthorized {
				if r.Body.Status != "error" || r.Body.Error == nil || r.Body.Error.Status != 401 || !strings.Contains(r.Body.Message, "Authorization: Bearer") && !strings.Contains(r.Body.Message, "rotate-admin-key") {
					t.Fatalf("401 body = %s", r.raw)
				}
				if strings.Contains(r.raw, adminKey) {
					t.Fatalf("401 body echoes the key: %s", r.raw)
				}
			}
		})
	}
}

// TestPlainAdminKey: an admin_apikey stored in plain text, as the Python
// gateway wrote it, is accepted too.
func TestPlainAdminKey(t *testing.T) {
	if _, ok := storedDigest("sha256:zz"); ok {
		t.Fatal("a malformed sha256: entry must not be usable")
	}
	d1, _ := storedDigest("plain-key")
	d2, _ := storedDigest(hashPrefix + hexSHA("plain-key"))
	if d1 != d2 {
		t.Fatal("plain and hashed forms of a key must stand for the same digest")
	}
}

// TestLifecycle runs the common operations in order, as a script would.
func TestLifecycle(t *testing.T) {
	srv, st := server(t, Options{})
	ctx := context.Background()
	steps := []struct {
		method, path string
		body         any
		want         int
	}{
		{"POST", "/api/v1/configs", map[string]any{"config_name": "work"}, 200},
		{"POST", "/api/v1/configs/copy", map[string]any{"source_config": "default_config", "target_config": "copy"}, 200},
		{"PUT", "/api/v1/configs/copy/rename", map[string]any{"new_name": "copy2"}, 200},
		{"POST", "/api/v1/configs/work/servers", map[string]any{"server_name": "echo", "server_command": "/bin/echo", "server_args": []string{"hi"}, "description": "d"}, 200},
		{"PUT", "/api/v1/configs/work/servers/echo", map[string]any{"description": "changed"}, 200},
		{"PUT", "/api/v1/configs/work/servers/echo/input-guardrails", map[string]any{"enabled": true, "policy_name": "p", "block": []string{"secrets"}}, 200},
		{"PUT", "/api/v1/configs/work/servers/echo/guardrails", map[string]any{"output_guardrails_policy": map[string]any{"enabled": true, "block": []string{"pii"}}}, 200},
		{"PUT", "/api/v1/configs/work/servers/echo/sandbox", map[string]any{}, 200},
		{"PUT", "/api/v1/configs/work/servers/echo/output-guardrails", map[string]any{"enabled": true, "block": []string{"secrets"}}, 200},
		{"PUT", "/api/v1/configs/work/servers/echo/tool-guardrails", map[string]any{"enabled": false}, 200},
		{"GET", "/api/v1/configs/work/servers/echo", nil, 200},
		{"GET", "/api/v1/configs/work/servers", nil, 200},
		{"POST", "/api/v1/configs/work/validate", nil, 200},
		{"POST", "/api/v1/configs/search", map[string]any{"search_term": "echo"}, 200},
		{"POST", "/api/v1/projects", map[string]any{"project_name": "team", "mcp_config_name": "work"}, 200},
		{"GET", "/api/v1/configs/work/projects", nil, 200},
		{"POST", "/api/v1/projects/team/unassign-config", nil, 200},
		{"POST", "/api/v1/projects/team/assign-config", map[string]any{"config_name": "work"}, 200},
		{"GET", "/api/v1/projects/team/config", nil, 200},
		{"GET", "/api/v1/projects", nil, 200},
		{"GET", "/api/v1/projects/team", nil, 200},
		{"POST", "/api/v1/users", map[string]any{"email": "ana@example.com"}, 200},
		{"PUT", "/api/v1/users/ana@example.com", map[string]any{"new_email": "ana@corp.example"}, 200},
		{"GET", "/api/v1/users", nil, 200},
		{"GET", "/api/v1/users/ana@corp.example", nil, 200},
		{"POST", "/api/v1/projects/team/users", map[string]any{"email": "ana@corp.example"}, 200},
		{"GET", "/api/v1/projects/team/users", nil, 200},
		{"GET", "/api/v1/users/ana@corp.example/projects", nil, 200},
		{"POST", "/api/v1/users/ana@corp.example/api-keys", map[string]any{"project_name": "team"}, 200},
		{"GET", "/api/v1/users/ana@corp.example/api-keys?project_identifier=team", nil, 200},
		{"POST", "/api/v1/users/search", map[string]any{"search_term": "ana"}, 200},
		{"POST", "/api/v1/projects/search", map[string]any{"search_term": "tea"}, 200},
		{"POST", "/api/v1/projects/team/export", nil, 200},
		{"POST", "/api/v1/configs/work/export", nil, 200},
		{"GET", "/api/v1/system/health", nil, 200},
		{"PUT", "/api/v1/settings/enkrypt-api-key", map[string]any{"api_key": "guardrail-key-value"}, 200},
		{"GET", "/api/v1/settings/enkrypt-api-key", nil, 200},
		{"PUT", "/api/v1/settings/telemetry", map[string]any{"enabled": false, "url": "http://localhost:4317"}, 200},
		{"POST", "/api/v1/system/backup", nil, 200},
		{"DELETE", "/api/v1/projects/team/users/ana@corp.example", nil, 409}, // a key would keep working
		{"DELETE", "/api/v1/projects/team/users/ana@corp.example?force=true", nil, 200},
		{"POST", "/api/v1/projects/team/users", map[string]any{"email": "ana@corp.example"}, 200},
		{"DELETE", "/api/v1/projects/team/users", nil, 200},
		{"DELETE", "/api/v1/configs/work/servers/echo", nil, 200},
		{"DELETE", "/api/v1/configs/copy2/servers", nil, 200},
		{"DELETE", "/api/v1/configs/copy2", nil, 200},
		{"DELETE", "/api/v1/projects/team", nil, 200},
		{"DELETE", "/api/v1/users/ana@corp.example", nil, 200},
		{"POST", "/api/v1/users", map[string]any{"email": "bob@example.com"}, 200},
		{"POST", "/api/v1/projects/default_project/users", map[string]any{"email": "bob@example.com"}, 200},
		{"DELETE", "/api/v1/users/bob@example.com", nil, 409}, // still in a project
		{"DELETE", "/api/v1/users/bob@example.com", map[string]any{"force": true}, 200},
	}
	for _, s := range steps {
		r := call(t, srv, s.method, s.path, adminKey, s.body)
		if r.code != s.want {
			t.Fatalf("%s %s: status %d, want %d\n%s", s.method, s.path, r.code, s.want, r.raw)
		}
		if s.want == 200 && (r.Body.Status != "success" || r.Body.Timestamp == "" || r.Body.CorrelationID == "" || r.Body.Message == "") {
			t.Fatalf("%s %s: envelope incomplete: %s", s.method, s.path, r.raw)
		}
		if (strings.Contains(r.raw, canary) || strings.Contains(r.raw, "guardrail-key-value")) && !strings.HasSuffix(s.path, "/export") && !strings.HasSuffix(s.path, "/backup") {
			t.Fatalf("%s %s: a secret is in the response: %s", s.method, s.path, r.raw)
		}
	}
	c, err := st.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.MCPConfigs) != 3 || len(c.Projects) != 1 || len(c.Users) != 1 || len(c.APIKeys) != 0 {
		t.Fatalf("after the script: %d configs, %d projects, %d users, %d keys; want 3, 1, 1, 0",
			len(c.MCPConfigs), len(c.Projects), len(c.Users), len(c.APIKeys))
	}
}

// TestKeys issues, lists, rotates, disables, enables and deletes a key;
// listings never show a key.
func TestKeys(t *testing.T) {
	srv, _ := server(t, Options{})
	r := call(t, srv, "POST", "/api/v1/users/default@example.com/api-keys", adminKey, map[string]any{"project_name": "default_project"})
	if r.code != 200 {
		t.Fatalf("generate: %d %s", r.code, r.raw)
	}
	var k admin.IssuedKey
	r.data(t, &k)
	if k.APIKey == "" || !strings.HasPrefix(k.Fingerprint, "fp:") {
		t.Fatalf("issued key = %+v", k)
	}
	for _, p := range []string{"/api/v1/api-keys", "/api/v1/api-keys/" + k.Fingerprint, "/api/v1/users/default@example.com/api-keys"} {
		r := call(t, srv, "GET", p, adminKey, nil)
		if r.code != 200 || !strings.Contains(r.raw, k.Fingerprint) || strings.Contains(r.raw, k.APIKey) {
			t.Fatalf("GET %s: %d %s", p, r.code, r.raw)
		}
	}
	r = call(t, srv, "POST", "/api/v1/api-keys/rotate", adminKey, map[string]any{"api_key": k.APIKey})
	var rk RotatedKey
	r.data(t, &rk)
	if r.code != 200 || rk.NewAPIKey == "" || rk.NewAPIKey == k.APIKey || rk.RotatedFrom != k.Fingerprint {
		t.Fatalf("rotate: %d %s", r.code, r.raw)
	}
	for _, s := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/api/v1/api-keys/" + k.Fingerprint, 404},
		{"POST", "/api/v1/api-keys/" + rk.Fingerprint + "/disable", 200},
		{"POST", "/api/v1/api-keys/" + rk.Fingerprint + "/enable", 200},
		{"DELETE", "/api/v1/api-keys/" + rk.Fingerprint, 200},
		{"DELETE", "/api/v1/users/default@example.com/api-keys", 200},
	} {
		if r := call(t, srv, s.method, s.path, adminKey, nil); r.code != s.want {
			t.Fatalf("%s %s: %d, want %d\n%s", s.method, s.path, r.code, s.want, r.raw)
		}
	}
}

// TestErrors: bad requests fail with the status their admin error maps to
// and a message that names the field at fault.
func TestErrors(t *testing.T) {
	srv, _ := server(t, Options{})
	for _, c := range []struct {
		name, method, path string
		body               any
		want               int
		says               []string
	}{
		{"missing field", "POST", "/api/v1/configs", map[string]any{}, 422, []string{"config_name"}},
		{"unknown field", "POST", "/api/v1/configs", map[string]any{"config_name": "x", "confg": 1}, 422, []string{"confg"}},
		{"wrong type", "POST", "/api/v1/configs/default_config/servers", map[string]any{"server_name": "x", "server_command": "c", "server_args": "a b"}, 422, []string{"server_args"}},
		{"malformed JSON", "POST", "/api/v1/configs", "{", 400, nil},
		{"unknown detector", "PUT", "/api/v1/configs/default_config/servers/echo_server/input-guardrails",
			map[string]any{"enabled": true, "block": []string{"no_such_detector"}}, 422, []string{"no_such_detector"}},
		{"neither command nor url", "POST", "/api/v1/configs/default_config/servers", map[string]any{"server_name": "x"}, 422, []string{"server_command", "server_url"}},
		{"bad email", "POST", "/api/v1/users", map[string]any{"email": "not-an-email"}, 422, []string{"email"}},
		{"name taken", "POST", "/api/v1/configs", map[string]any{"config_name": "default_config"}, 409, []string{"already exists"}},
		{"config in use", "DELETE", "/api/v1/configs/default_config", nil, 409, []string{"default_project"}},
		{"not found, suggestion", "GET", "/api/v1/configs/default_confg", nil, 404, []string{"did you mean \"default_config\""}},
		{"server not found", "GET", "/api/v1/configs/default_config/servers/nope", nil, 404, []string{"nope"}},
		{"key not found", "GET", "/api/v1/api-keys/fp:00000000", nil, 404, []string{"not found", "fingerprint"}},
		{"sandbox on remote", "PUT", "/api/v1/configs/default_config/servers/remote/sandbox", map[string]any{"sandbox": map[string]any{"enabled": true}}, 409, []string{"remote"}},
		{"reset unconfirmed", "POST", "/api/v1/system/reset", map[string]any{"confirm": false}, 422, []string{"confirm"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := call(t, srv, c.method, c.path, adminKey, c.body)
			if r.code != c.want {
				t.Fatalf("status %d, want %d\n%s", r.code, c.want, r.raw)
			}
			if r.Body.Status != "error" || r.Body.Error == nil || r.Body.Error.Status != c.want || r.Body.Error.Title == "" ||
				r.Body.Detail != r.Body.Message || r.Body.CorrelationID == "" {
				t.Fatalf("not an error envelope with a problem: %s", r.raw)
			}
			for _, s := range c.says {
				if !strings.Contains(r.Body.Message, s) {
					t.Errorf("message %q does not say %q", r.Body.Message, s)
				}
			}
		})
	}
}

// TestLimits: a body over the limit is 413; a client over its rate is 429.
func TestLimits(t *testing.T) {
	srv, _ := server(t, Options{MaxBodyBytes: 64, Rate: 0.001, Burst: 3})
	big := map[string]any{"config_name": strings.Repeat("x", 100)}
	if r := call(t, srv, "POST", "/api/v1/configs", adminKey, big); r.code != http.StatusRequestEntityTooLarge {
		t.Fatalf("big body: %d %s", r.code, r.raw)
	}
	codes := []int{}
	for range 3 {
		codes = append(codes, call(t, srv, "GET", "/health", "", nil).code)
	}
	if codes[len(codes)-1] != http.StatusTooManyRequests {
		t.Fatalf("codes %v: want the burst of 3 used up by the 4th request", codes)
	}
}

// TestCorrelationID: a client's X-Correlation-ID comes back in the header
// and the envelope.
func TestCorrelationID(t *testing.T) {
	srv, _ := server(t, Options{})
	req, _ := http.NewRequest("GET", srv.URL+"/api/v1/configs", nil)
	req.Header.Set("Authorization", "Bearer "+adminKey)
	req.Header.Set("X-Correlation-ID", "abc-123")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env Envelope[json.RawMessage]
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("X-Correlation-ID") != "abc-123" || env.CorrelationID != "abc-123" {
		t.Fatalf("correlation id: header %q, body %q", resp.Header.Get("X-Correlation-ID"), env.CorrelationID)
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS header set; the API allows no cross-origin use")
	}
}

// TestSpec: the OpenAPI document is valid OpenAPI 3.1 and has every route.
func TestSpec(t *testing.T) {
	srv, _ := server(t, Options{})
	r := call(t, srv, "GET", "/openapi.json", "", nil)
	doc, err := openapi3.NewLoader().LoadFromData([]byte(r.raw))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi %q, want 3.1", doc.OpenAPI)
	}
	ops := 0
	for _, p := range doc.Paths.Map() {
		ops += len(p.Operations())
	}
	if ops < 50 {
		t.Fatalf("%d operations documented, want every route", ops)
	}
}

func hexSHA(s string) string {
	d, _ := storedDigest(s)
	return hex.EncodeToString(d[:])
}

// TestBackupResetRestore: a backup taken through the API restores what a
// reset deleted.
func TestBackupResetRestore(t *testing.T) {
	srv, st := server(t, Options{})
	r := call(t, srv, "POST", "/api/v1/system/backup", adminKey, nil)
	var b Backup
	r.data(t, &b)
	if r.code != 200 || b.BackupVersion != BackupVersion || len(b.Config) == 0 {
		t.Fatalf("backup: %d %s", r.code, r.raw)
	}
	if r := call(t, srv, "POST", "/api/v1/system/reset", adminKey, map[string]any{"confirm": true}); r.code != 200 {
		t.Fatalf("reset: %d %s", r.code, r.raw)
	}
	c, err := st.Load(context.Background())
	if err != nil || len(c.Users) != 0 {
		t.Fatalf("after reset: %v, %d users", err, len(c.Users))
	}
	if r := call(t, srv, "POST", "/api/v1/system/restore", adminKey, map[string]any{"backup_version": "9", "config": b.Config}); r.code != 422 {
		t.Fatalf("restore of an unknown backup version: %d %s", r.code, r.raw)
	}
	if r := call(t, srv, "POST", "/api/v1/system/restore", adminKey, b); r.code != 200 {
		t.Fatalf("restore: %d %s", r.code, r.raw)
	}
	c, err = st.Load(context.Background())
	if err != nil || len(c.Users) != 1 || c.AdminAPIKey == "" {
		t.Fatalf("after restore: %v, %d users, admin key %t", err, len(c.Users), c.AdminAPIKey != "")
	}
}

// TestExportImport: an exported MCP config imports under a new name with
// its servers.
func TestExportImport(t *testing.T) {
	srv, st := server(t, Options{})
	r := call(t, srv, "POST", "/api/v1/configs/default_config/export", adminKey, nil)
	if r.code != 200 {
		t.Fatalf("export: %d %s", r.code, r.raw)
	}
	r = call(t, srv, "POST", "/api/v1/configs/import", adminKey, map[string]any{"config_name": "imported", "config": r.Body.Data})
	if r.code != 200 {
		t.Fatalf("import: %d %s", r.code, r.raw)
	}
	d, err := st.GetConfig(context.Background(), admin.Ref{Name: "imported"})
	if err != nil || len(d.Servers) != 2 {
		t.Fatalf("imported config: %v, %d servers; want 2", err, len(d.Servers))
	}
	if r := call(t, srv, "POST", "/api/v1/configs/import", adminKey, map[string]any{"config_name": "x", "config": nil}); r.code != 422 {
		t.Fatalf("import without a config: %d %s", r.code, r.raw)
	}
}

// TestOnChange: every write is reported with the file's hash before and
// after, its status and the admin key's fingerprint; reads are not; a key
// in a path is reported by fingerprint.
func TestOnChange(t *testing.T) {
	var mu sync.Mutex
	var got []Change
	srv, _ := server(t, Options{OnChange: func(c Change) { mu.Lock(); got = append(got, c); mu.Unlock() }})
	call(t, srv, "GET", "/api/v1/configs", adminKey, nil)
	call(t, srv, "POST", "/api/v1/configs", adminKey, map[string]any{"config_name": "audited"})
	call(t, srv, "POST", "/api/v1/configs", adminKey, map[string]any{"config_name": "audited"})
	call(t, srv, "DELETE", "/api/v1/api-keys/plain-gateway-key", adminKey, nil)
	call(t, srv, "POST", "/api/v1/configs", "", map[string]any{"config_name": "nobody"})
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 {
		t.Fatalf("%d changes reported, want 3 (reads and refused bearers are not writes): %+v", len(got), got)
	}
	ok, dup, key := got[0], got[1], got[2]
	if ok.Status != 200 || ok.BeforeSHA256 == "" || ok.BeforeSHA256 == ok.AfterSHA256 || ok.Target != "/api/v1/configs" ||
		!strings.Contains(ok.Actor, "fp:") || strings.Contains(ok.Actor, adminKey) || ok.Correlation == "" {
		t.Errorf("successful write: %+v", ok)
	}
	if dup.Status != 409 || dup.BeforeSHA256 != dup.AfterSHA256 {
		t.Errorf("refused write: %+v", dup)
	}
	if key.Status != 404 || strings.Contains(key.Target, "plain-gateway-key") || !strings.Contains(key.Target, "/api-keys/fp:") {
		t.Errorf("key path: %+v", key)
	}
}

// TestPins lists pinned tools and approves a changed definition.
func TestPins(t *testing.T) {
	srv, st := server(t, Options{})
	pins := `{"servers":{"echo_server":{"echo":{"sha256":"aa","definition":{"name":"echo"},"pinned_at":"2026-01-01T00:00:00Z",
		"pending":{"sha256":"bb","definition":{"name":"echo","description":"changed"},"seen_at":"2026-01-02T00:00:00Z"}}}}}`
	if err := os.WriteFile(st.PinFile(), []byte(pins), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := call(t, srv, "GET", "/api/v1/pins", adminKey, nil); r.code != 200 || !strings.Contains(r.raw, `"pending"`) {
		t.Fatalf("pins: %d %s", r.code, r.raw)
	}
	if r := call(t, srv, "POST", "/api/v1/pins/approve", adminKey, map[string]any{"server": "echo_server", "tool": "nope"}); r.code != 404 {
		t.Fatalf("approve of a tool without a change: %d %s", r.code, r.raw)
	}
	if r := call(t, srv, "POST", "/api/v1/pins/approve", adminKey, map[string]any{"server": "echo_server", "tool": "echo"}); r.code != 200 {
		t.Fatalf("approve: %d %s", r.code, r.raw)
	}
	p, _, err := st.Pins(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if pin := p.Servers["echo_server"]["echo"]; pin == nil || pin.Pending != nil || pin.SHA256 != "bb" {
		t.Fatalf("after approve: %+v", pin)
	}
}

// TestConcurrentWrites: writes at the same moment all land.
func TestConcurrentWrites(t *testing.T) {
	srv, st := server(t, Options{})
	const n = 16
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Go(func() { // no t.Fatal off the test goroutine: a transport error is code 0
			req, _ := http.NewRequest("POST", srv.URL+"/api/v1/users", strings.NewReader(fmt.Sprintf(`{"email":"u%d@example.com"}`, i)))
			req.Header.Set("Authorization", "Bearer "+adminKey)
			req.Header.Set("Content-Type", "application/json")
			if resp, err := srv.Client().Do(req); err == nil {
				codes[i] = resp.StatusCode
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Errorf("user %d: status %d", i, c)
		}
	}
	c, err := st.Load(context.Background())
	if err != nil || len(c.Users) != n+1 {
		t.Fatalf("%d users (%v), want %d", len(c.Users), err, n+1)
	}
}

// TestNoBody: a route that needs a body says so when it has none.
func TestNoBody(t *testing.T) {
	srv, _ := server(t, Options{})
	r := call(t, srv, "POST", "/api/v1/configs", adminKey, nil)
	if r.code < 400 || r.code >= 500 || r.Body.Status != "error" || !strings.Contains(strings.ToLower(r.Body.Message), "body") {
		t.Fatalf("no body: %d %s", r.code, r.raw)
	}
}

// TestAuditQuery reads the audit log the config names with the filters of
// `audit query`: by kind, the newest within a limit, a bad time bound (422
// naming the parameter), and no log at all (404 saying how to turn it on).
func TestAuditQuery(t *testing.T) {
	srv, st := server(t, Options{})
	dir := filepath.Join(t.TempDir(), "audit")
	if err := config.Update(st.Path(), func(c *config.Config) error {
		c.Audit = &config.Audit{Enabled: true, Path: dir}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r := call(t, srv, "GET", "/api/v1/audit/records", adminKey, nil)
	if r.code != http.StatusNotFound || !strings.Contains(r.Body.Message, `"enabled": true`) {
		t.Fatalf("no log yet: %d %s", r.code, r.raw)
	}
	l, err := audit.New(audit.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for i, kind := range []string{audit.KindToolCall, audit.KindBlock, audit.KindToolCall, audit.KindBlock} {
		l.Write(audit.Record{Kind: kind, Server: "s", Tool: fmt.Sprintf("t%d", i)})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var got AuditRecords
	r = call(t, srv, "GET", "/api/v1/audit/records?kind=block&limit=1", adminKey, nil)
	if r.code != http.StatusOK || json.Unmarshal(r.Body.Data, &got) != nil {
		t.Fatalf("query: %d %s", r.code, r.raw)
	}
	if got.Matched != 2 || len(got.Records) != 1 || got.Records[0].Tool != "t3" || got.Dir != dir {
		t.Errorf("kind=block&limit=1 = %+v; want the newest of 2 blocks (t3)", got)
	}
	r = call(t, srv, "GET", "/api/v1/audit/records?server=s&since=1h", adminKey, nil)
	if r.code != http.StatusOK || json.Unmarshal(r.Body.Data, &got) != nil || got.Matched != 4 {
		t.Errorf("server=s&since=1h: %d %s; want 4", r.code, r.raw)
	}
	r = call(t, srv, "GET", "/api/v1/audit/records?since=yesterday", adminKey, nil)
	if r.code != http.StatusUnprocessableEntity || r.Body.Error == nil || len(r.Body.Error.Errors) != 1 || r.Body.Error.Errors[0].Location != "query.since" {
		t.Errorf("since=yesterday: %d %s; want 422 at query.since", r.code, r.raw)
	}
	if r := call(t, srv, "GET", "/api/v1/audit/records", "", nil); r.code != http.StatusUnauthorized {
		t.Errorf("without the admin key: %d", r.code)
	}
}
