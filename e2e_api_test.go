package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"secure-mcp-gateway/admin"
	"secure-mcp-gateway/audit"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/oauthx/oauthxtest"
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
// the api command for f on a port the system picks, with args added.
func startAPI(t *testing.T, f *fixture, args ...string) *apiProc {
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
	cmd := exec.Command(gatewayBin, append([]string{"--config", f.path, "api", "--listen", "127.0.0.1:0"}, args...)...)
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
		"/api/v1/users/{user}/api-keys", "/api/v1/api-keys/rotate", "/api/v1/system/health", "/api/v1/cache/status", "/api/v1/cache/clear",
		"/api/v1/oauth/tokens", "/api/v1/oauth/tokens/{server}", "/api/v1/audit/records", "/api/v1/pins"} {
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
		{"an allowed origin with a path", []string{"api", "--allowed-origin", "https://admin.example.com/ui"}, exitUsage, "--allowed-origin"},
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

// TestE2EAPIRuntime: the cache, OAuth token and health routes of the real
// binary act on the same state as the CLI, through the same operations: a
// session's discovered tools appear in GET /cache/status exactly as in
// `cache status --json`, and POST /cache/clear empties them; a login token
// is listed by its fingerprint and revoked at the issuer by DELETE
// /oauth/tokens/{server}; health?probe=true tells the reachable upstreams
// from a dead one, and shows none of their secrets.
func TestE2EAPIRuntime(t *testing.T) {
	const canary = "CANARY-api-runtime-secret"
	as := oauthxtest.NewAuthServer()
	t.Cleanup(as.Close)
	up := oauthxtest.NewUpstream(as, nil)
	t.Cleanup(up.Close)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := l.Addr().String()
	l.Close() // nothing listens there any more

	f := newFixture(t, exampleServer("echo", "echo", map[string]string{"ECHO_TOKEN": canary}))
	var configName string
	for _, mc := range f.cfg.MCPConfigs {
		configName = mc.Name
	}
	p := startAPI(t, f)

	// 1. A session discovers echo's tools; both surfaces see the same entry.
	g := startGateway(t, f)
	if names := g.toolNames(t); len(names) == 0 {
		t.Fatal("the session listed no tools")
	}
	g.cs.Close()
	var apiStatus admin.CacheStatus
	waitFor(t, 30*time.Second, "echo's tool list in the cache", func() bool {
		r := p.must(t, "GET", "/api/v1/cache/status?server_name=echo", nil)
		apiStatus = admin.CacheStatus{}
		if err := json.Unmarshal(r.Body.Data, &apiStatus); err != nil {
			t.Fatal(err)
		}
		return len(apiStatus.Servers) == 1 && apiStatus.Servers[0].Cached
	})
	var cliStatus admin.CacheStatus
	if err := json.Unmarshal([]byte(runCLI(t, "--config", f.path, "cache", "status", "--server-name", "echo", "--json")), &cliStatus); err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(apiStatus)
	c, _ := json.Marshal(cliStatus)
	if !bytes.Equal(a, c) || !slices.Contains(apiStatus.Servers[0].Tiers, "disk") {
		t.Fatalf("API and CLI disagree on the cache:\nAPI %s\nCLI %s", a, c)
	}

	// 2. Clearing it through the API makes the CLI see it gone.
	r := p.must(t, "POST", "/api/v1/cache/clear", map[string]any{"server_name": "echo", "config_name": configName})
	var cleared admin.CacheCleared
	if err := json.Unmarshal(r.Body.Data, &cleared); err != nil || cleared.Entries != 1 {
		t.Fatalf("clear: %v %s", err, r.raw)
	}
	if out := runCLI(t, "--config", f.path, "cache", "status", "--json"); !strings.Contains(out, `"cached": false`) || strings.Contains(out, `"cached": true`) {
		t.Fatalf("cache status after the API's clear:\n%s", out)
	}

	// 3. A login token, listed by fingerprint and revoked through the API.
	if err := config.Update(f.path, func(c *config.Config) error {
		for _, mc := range c.MCPConfigs {
			mc.Servers = append(mc.Servers, loginServerEntry("crm", up.URL), &config.Server{Name: "gone",
				Config: config.ServerConfig{URL: "http://user:" + canary + "@" + deadAddr + "/mcp?key=" + canary,
					Headers: map[string]string{"Authorization": "Bearer " + canary}}, Tools: map[string]json.RawMessage{}})
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if stdout, stderr, err := runLogin(t, f, "crm", configName); err != nil {
		t.Fatalf("oauth login: %v\n%s\n%s", err, stdout, stderr)
	}
	r = p.must(t, "GET", "/api/v1/oauth/tokens", nil)
	var tokens []admin.OAuthToken
	if err := json.Unmarshal(r.Body.Data, &tokens); err != nil || len(tokens) != 1 {
		t.Fatalf("tokens: %v %s", err, r.raw)
	}
	if tk := tokens[0]; tk.Server != "crm" || tk.Kind != admin.TokenLogin || !tk.Cached || len(tk.Fingerprint) != 8 || !tk.Refreshable {
		t.Fatalf("token row %+v", tk)
	}
	outputs := []string{r.raw}
	r = p.must(t, "DELETE", "/api/v1/oauth/tokens/crm", nil)
	outputs = append(outputs, r.raw)
	var revoked []admin.TokenRevocation
	if err := json.Unmarshal(r.Body.Data, &revoked); err != nil || len(revoked) != 1 || revoked[0].Outcome != admin.RevokeRevoked {
		t.Fatalf("revoke: %v %s", err, r.raw)
	}
	for _, tok := range as.Tokens() {
		if strings.HasPrefix(tok, "rt-") && !as.Revoked(tok) {
			t.Error("the refresh token is still valid at the authorization server")
		}
		for _, o := range outputs {
			if strings.Contains(o, tok) {
				t.Error("a token appears in an API response")
			}
		}
	}
	if out, _ := runOAuthCLI(t, f, "oauth", "status"); !strings.Contains(out, "not logged in: run") {
		t.Errorf("oauth status after the API's revoke:\n%s", out)
	}
	if r := p.do(t, "DELETE", "/api/v1/oauth/tokens/echo", p.key, nil); r.code != http.StatusNotFound {
		t.Errorf("revoke for a server without OAuth: %d %s", r.code, r.raw)
	}

	// 4. Health: cheap without probe; with it, one entry per upstream.
	r = p.must(t, "GET", "/api/v1/system/health", nil)
	var h admin.Health
	if err := json.Unmarshal(r.Body.Data, &h); err != nil || !h.Healthy || h.Upstreams != nil || h.Cache == nil || h.Cache.Servers != 3 {
		t.Fatalf("health: %v %s", err, r.raw)
	}
	r = p.must(t, "GET", "/api/v1/system/health?probe=true&timeout_seconds=5", nil)
	h = admin.Health{}
	if err := json.Unmarshal(r.Body.Data, &h); err != nil || h.Healthy || len(h.Upstreams) != 3 {
		t.Fatalf("probe: %v %s", err, r.raw)
	}
	for _, u := range h.Upstreams {
		want := u.Server != "gone"
		if u.Reachable != want {
			t.Errorf("%s reachable = %v, want %v: %s", u.Server, u.Reachable, want, u.Detail)
		}
	}
	if strings.Contains(r.raw, canary) {
		t.Errorf("a secret of an upstream is in the health report:\n%s", r.raw)
	}
}

// TestE2EAPIAllowedOrigin: with --allowed-origin, that origin gets CORS
// answers (preflight included) and no other does.
func TestE2EAPIAllowedOrigin(t *testing.T) {
	const origin = "https://admin.example.com"
	f := newFixture(t)
	p := startAPI(t, f, "--allowed-origin", origin)
	preflight := func(from string) *http.Response {
		req, err := http.NewRequest(http.MethodOptions, p.base+"/api/v1/configs", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", from)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := preflight(origin); resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != origin ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight of the allowed origin: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := preflight("https://evil.example"); resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight of another origin: %d %v", resp.StatusCode, resp.Header)
	}
}
