package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"secure-mcp-gateway/audit"
	"secure-mcp-gateway/internal/config"
)

// apiProc is a running "api" command.
type apiProc struct {
	base, key string
	stderr    *syncBuffer
	cmd       *exec.Cmd
}

// stop sends SIGINT and waits for a clean exit.
func (p *apiProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("api exit: %v\n%s", err, p.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("api did not stop on SIGINT")
	}
}

// startAPI creates an admin key with "system rotate-admin-key" and starts
// the api command for f on a port the system picks.
func startAPI(t *testing.T, f *fixture) *apiProc {
	t.Helper()
	out, err := exec.Command(gatewayBin, "--config", f.path, "system", "rotate-admin-key", "--json").Output()
	if err != nil {
		t.Fatalf("rotate-admin-key: %v", err)
	}
	var rk struct {
		Key string `json:"admin_apikey"`
	}
	if err := json.Unmarshal(out, &rk); err != nil || rk.Key == "" {
		t.Fatalf("rotate-admin-key printed %q (%v)", out, err)
	}
	cmd := exec.Command(gatewayBin, "--config", f.path, "api", "--listen", "127.0.0.1:0")
	cmd.Env = gatewayEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &apiProc{key: rk.Key, stderr: &syncBuffer{}, cmd: cmd}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("api stderr:\n%s", p.stderr)
		}
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.stderr.Write([]byte(line + "\n"))
			if _, rest, ok := strings.Cut(line, "admin API on http://"); ok {
				a, _, _ := strings.Cut(rest, " ")
				addr <- a
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			t.Fatalf("api exited before listening:\n%s", p.stderr)
		}
		p.base = "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatalf("api did not listen within 30s:\n%s", p.stderr)
	}
	return p
}

// apiReply is a decoded API response.
type apiReply struct {
	code int
	raw  string
	Body struct {
		Status  string          `json:"status"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
}

func (p *apiProc) do(t *testing.T, method, path, bearer string, body any) apiReply {
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, p.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := apiReply{code: resp.StatusCode, raw: string(b)}
	_ = json.Unmarshal(b, &r.Body)
	return r
}

// must runs an admin request that has to succeed.
func (p *apiProc) must(t *testing.T, method, path string, body any) apiReply {
	t.Helper()
	r := p.do(t, method, path, p.key, body)
	if r.code != http.StatusOK || r.Body.Status != "success" {
		t.Fatalf("%s %s: %d\n%s", method, path, r.code, r.raw)
	}
	return r
}

// TestE2EAPIProvisionAndCall provisions a config, a server, a project, a
// user and a key through the REST API of the real binary, then uses the
// key with the stdio gateway to call a tool.
func TestE2EAPIProvisionAndCall(t *testing.T) {
	f := newFixture(t)
	p := startAPI(t, f)

	p.must(t, "POST", "/api/v1/configs", map[string]any{"config_name": "api_config"})
	echo := exampleServer("echo_server", "echo", nil)
	p.must(t, "POST", "/api/v1/configs/api_config/servers", map[string]any{
		"server_name": "echo_server", "server_command": echo.Config.Command, "server_args": echo.Config.Args,
		"env": echo.Config.Env, "description": "echo through the API"})
	p.must(t, "POST", "/api/v1/projects", map[string]any{"project_name": "api_project", "mcp_config_name": "api_config"})
	p.must(t, "POST", "/api/v1/users", map[string]any{"email": "ana@example.com"})
	p.must(t, "POST", "/api/v1/projects/api_project/users", map[string]any{"email": "ana@example.com"})
	r := p.must(t, "POST", "/api/v1/users/ana@example.com/api-keys", map[string]any{"project_name": "api_project"})
	var issued struct {
		APIKey      string `json:"api_key"`
		Fingerprint string `json:"fingerprint"`
	}
	if err := json.Unmarshal(r.Body.Data, &issued); err != nil || issued.APIKey == "" {
		t.Fatalf("issued key: %v\n%s", err, r.raw)
	}
	if l := p.must(t, "GET", "/api/v1/api-keys", nil); strings.Contains(l.raw, issued.APIKey) || !strings.Contains(l.raw, issued.Fingerprint) {
		t.Fatalf("key listing must show the fingerprint, never the key:\n%s", l.raw)
	}

	f.key = issued.APIKey
	g := startGateway(t, f)
	if got := resultText(g.call(t, "echo_server__echo", map[string]any{"message": "via the admin API"})); !strings.Contains(got, "via the admin API") {
		t.Fatalf("echo through a key issued by the API = %q", got)
	}
}

// TestE2EAPIRefusals: no bearer and a wrong one are 401; bad bodies are
// 422 or 400 with a message naming the field.
func TestE2EAPIRefusals(t *testing.T) {
	f := newFixture(t, exampleServer("echo_server", "echo", nil))
	p := startAPI(t, f)
	for _, c := range []struct {
		name, method, path, bearer string
		body                       any
		want                       int
		says                       string
	}{
		{"no bearer", "GET", "/api/v1/configs", "", nil, 401, "Authorization: Bearer"},
		{"wrong bearer", "GET", "/api/v1/configs", p.key + "x", nil, 401, "wrong admin key"},
		{"health is open", "GET", "/health", "", nil, 200, "ok"},
		{"missing field", "POST", "/api/v1/configs", p.key, map[string]any{}, 422, "config_name"},
		{"unknown detector", "PUT", "/api/v1/configs/default_config/servers/echo_server/input-guardrails", p.key,
			map[string]any{"enabled": true, "policy_name": "p", "block": []string{"no_such_detector"}}, 422, "no_such_detector"},
		{"malformed JSON", "POST", "/api/v1/users", p.key, `{"email":`, 400, "JSON"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := p.do(t, c.method, c.path, c.bearer, c.body)
			if r.code != c.want || !strings.Contains(r.Body.Message, c.says) {
				t.Fatalf("%d %q, want %d saying %q\n%s", r.code, r.Body.Message, c.want, c.says, r.raw)
			}
			if c.want >= 400 && r.Body.Status != "error" {
				t.Fatalf("status %q, want error", r.Body.Status)
			}
		})
	}
}

// TestE2EAPIConcurrentWithCLI: CLI and API writes at the same moment all
// land; none overwrites another.
func TestE2EAPIConcurrentWithCLI(t *testing.T) {
	f := newFixture(t)
	p := startAPI(t, f)
	const n = 6
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if out, err := exec.Command(gatewayBin, "--config", f.path, "user", "create", "--email", fmt.Sprintf("cli%d@example.com", i)).CombinedOutput(); err != nil {
				errs <- fmt.Errorf("cli user create %d: %v\n%s", i, err, out)
			}
		}()
		go func() { // no t.Fatal off the test goroutine: errors go to errs
			defer wg.Done()
			req, _ := http.NewRequest("POST", p.base+"/api/v1/users", strings.NewReader(fmt.Sprintf(`{"email":"api%d@example.com"}`, i)))
			req.Header.Set("Authorization", "Bearer "+p.key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- fmt.Errorf("api user create %d: %v", i, err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				errs <- fmt.Errorf("api user create %d: %d %s", i, resp.StatusCode, b)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var users []struct {
		Email string `json:"email"`
	}
	r := p.must(t, "GET", "/api/v1/users", nil)
	if err := json.Unmarshal(r.Body.Data, &users); err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, u := range users {
		have[u.Email] = true
	}
	for i := range n {
		for _, e := range []string{fmt.Sprintf("cli%d@example.com", i), fmt.Sprintf("api%d@example.com", i)} {
			if !have[e] {
				t.Errorf("user %s was lost", e)
			}
		}
	}
}

// TestE2EAPIOpenAPI: the served document is valid OpenAPI 3.1 by
// kin-openapi, and it documents the seed's route groups.
func TestE2EAPIOpenAPI(t *testing.T) {
	f := newFixture(t)
	p := startAPI(t, f)
	r := p.do(t, "GET", "/openapi.json", "", nil)
	if r.code != http.StatusOK {
		t.Fatalf("/openapi.json: %d", r.code)
	}
	doc, err := openapi3.NewLoader().LoadFromData([]byte(r.raw))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("validate: %v", err)
	}
	for _, path := range []string{"/api/v1/configs", "/api/v1/configs/{config}/servers/{server}", "/api/v1/projects/{project}/assign-config",
		"/api/v1/users/{user}/api-keys", "/api/v1/api-keys/rotate", "/api/v1/system/health"} {
		if doc.Paths.Find(path) == nil {
			t.Errorf("%s is not documented", path)
		}
	}
	if r := p.do(t, "GET", "/docs", "", nil); r.code != http.StatusOK {
		t.Errorf("/docs: %d", r.code)
	}
}

// TestE2EAPIAudit: with the audit log on, every API write is an
// admin_change record naming the admin key's fingerprint, the route, the
// outcome and the config's hash before and after; reads are not recorded.
func TestE2EAPIAudit(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	f.cfg.Audit = &config.Audit{Enabled: true, Path: dir}
	f.save(t)
	p := startAPI(t, f)
	p.must(t, "GET", "/api/v1/configs", nil)
	p.must(t, "POST", "/api/v1/users", map[string]any{"email": "audited@example.com"})
	if r := p.do(t, "POST", "/api/v1/users", p.key, map[string]any{"email": "audited@example.com"}); r.code != http.StatusConflict {
		t.Fatalf("duplicate user: %d %s", r.code, r.raw)
	}
	p.stop(t)

	files, err := audit.ListFiles([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	var changes []audit.Record
	if err := audit.ReadRecords(files, func(_ string, r audit.Record) bool {
		if r.Kind == audit.KindAdminChange {
			changes = append(changes, r)
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(changes) != 2 {
		t.Fatalf("%d admin_change records, want 2 (the two writes): %+v", len(changes), changes)
	}
	ok, dup := changes[0], changes[1]
	if ok.Outcome != "200" || ok.Method != "POST" || ok.Target != "/api/v1/users" || ok.BeforeSHA256 == ok.AfterSHA256 ||
		!strings.Contains(ok.Actor, "fp:") || strings.Contains(ok.Actor, p.key) {
		t.Errorf("write record: %+v", ok)
	}
	if dup.Outcome != "409" || dup.BeforeSHA256 != dup.AfterSHA256 {
		t.Errorf("refused write record: %+v", dup)
	}
	if res, err := audit.VerifyPaths([]string{dir}, audit.VerifyOptions{}); err != nil || len(res) == 0 {
		t.Fatalf("verify: %v", err)
	} else {
		for _, r := range res {
			if len(r.Problems) > 0 {
				t.Errorf("audit file %s: %v", r.File, r.Problems)
			}
		}
	}
}

// TestE2EAPIStartRefusals: the api command refuses a config without an
// admin key (exit 3) and plain HTTP on a non-loopback address (exit 2).
func TestE2EAPIStartRefusals(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		name string
		args []string
		code int
		says string
	}{
		{"no admin key", []string{"api", "--listen", "127.0.0.1:0"}, exitConfig, "rotate-admin-key"},
		{"non-loopback without TLS", []string{"api", "--listen", "0.0.0.0:0"}, exitUsage, "--insecure-listen"},
		{"half a TLS pair", []string{"api", "--tls-cert", "c.pem"}, exitUsage, "--tls-key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(gatewayBin, append([]string{"--config", f.path}, c.args...)...)
			cmd.Env = gatewayEnv()
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != c.code || !strings.Contains(string(out), c.says) {
				t.Fatalf("err %v, output %q; want exit %d saying %q", err, out, c.code, c.says)
			}
		})
	}
}
