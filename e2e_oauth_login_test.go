package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/oauthx"
	"secure-mcp-gateway/oauthx/oauthxtest"
)

// loginServerEntry is a remote server entry with a browser-login "oauth" entry.
func loginServerEntry(name, url string) *config.Server {
	return &config.Server{Name: name, Config: config.ServerConfig{URL: url}, Tools: map[string]json.RawMessage{},
		OAuthLogin: &config.OAuthLogin{Flow: config.FlowAuthorizationCode, Scopes: []string{"mcp"}}}
}

// runLogin runs `oauth login server --no-browser` and plays the user's
// browser: it follows the URL the command prints alone on a line of its
// stderr. It returns stdout and stderr.
func runLogin(t *testing.T, f *fixture, server, configName string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, gatewayBin, "--config", f.path, "oauth", "login", server, "--config-name", configName, "--no-browser")
	cmd.Env = gatewayEnv()
	var stdout strings.Builder
	cmd.Stdout = &stdout
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	var wg sync.WaitGroup
	sc := bufio.NewScanner(errPipe)
	for sc.Scan() {
		line := sc.Text()
		stderr.WriteString(line + "\n")
		if strings.HasPrefix(line, "http://") || strings.HasPrefix(line, "https://") {
			wg.Go(func() {
				if _, _, err := oauthxtest.FollowLogin(ctx, line); err != nil {
					t.Errorf("follow the authorization URL: %v", err)
				}
			})
		}
	}
	err = cmd.Wait()
	wg.Wait()
	return stdout.String(), stderr.String(), err
}

// TestE2EOAuthLogin: `oauth login --no-browser` against a test
// authorization server, then the stdio gateway calls a tool of the
// protected upstream with the stored token; an expired access token is
// refreshed once; a revoked grant turns into an error naming the login
// command, while the tools stay listed from the discovery cache; a token
// never reaches another upstream, and no token appears in any output.
func TestE2EOAuthLogin(t *testing.T) {
	t.Parallel()
	as := oauthxtest.NewAuthServer()
	t.Cleanup(as.Close)
	up := oauthxtest.NewUpstream(as, nil)
	t.Cleanup(up.Close)
	other := oauthxtest.NewUpstream(as, nil)
	t.Cleanup(other.Close)
	f := newFixture(t, loginServerEntry("crm", up.URL), loginServerEntry("other", other.URL))
	var configName string
	for _, mc := range f.cfg.MCPConfigs {
		configName = mc.Name
	}
	var outputs []string

	stdout, stderr, err := runLogin(t, f, "crm", configName)
	outputs = append(outputs, stdout, stderr)
	if err != nil {
		t.Fatalf("oauth login: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	if !strings.Contains(stdout, `server "crm"`) || !strings.Contains(stdout, "logged in") || strings.Contains(stdout, "/authorize") {
		t.Errorf("login stdout:\n%s", stdout)
	}
	var urlLines int
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, "/authorize?") {
			urlLines++
			if !strings.HasPrefix(l, as.URL+"/authorize?") || strings.ContainsAny(l, " \t") {
				t.Errorf("the authorization URL is not alone on its line: %q", l)
			}
		}
	}
	if urlLines != 1 {
		t.Errorf("stderr has %d authorization URL lines:\n%s", urlLines, stderr)
	}
	if p := as.Problems(); len(p) != 0 {
		t.Errorf("the authorization server saw protocol problems: %v", p)
	}

	g := startGateway(t, f)
	names := g.toolNames(t)
	if !contains(names, "crm__whoami") {
		t.Fatalf("tools/list lacks crm__whoami: %v", names)
	}
	res := g.call(t, "crm__whoami", map[string]any{})
	outputs = append(outputs, resultText(res))
	if res.IsError || resultText(res) != "authenticated" {
		t.Fatalf("crm__whoami = %q (isError %v)", resultText(res), res.IsError)
	}
	// The server never logged in to: its call names the exact command.
	res = g.call(t, "other__whoami", map[string]any{})
	outputs = append(outputs, resultText(res))
	wantOther := "oauth login other --config-name " + configName
	if !res.IsError || !strings.Contains(resultText(res), wantOther) {
		t.Errorf("other__whoami = %q, want an error naming %q", resultText(res), wantOther)
	}

	// The access token expires: one refresh, and the call goes through.
	as.ExpireAccessTokens()
	res = g.call(t, "crm__whoami", map[string]any{})
	outputs = append(outputs, resultText(res))
	if res.IsError || resultText(res) != "authenticated" {
		t.Errorf("after expiry crm__whoami = %q (isError %v)", resultText(res), res.IsError)
	}
	if n := as.Grants("refresh_token"); n != 1 {
		t.Errorf("refreshed %d times, want 1", n)
	}

	// The grant is revoked at the authorization server: the call's error
	// names the login command.
	as.RevokeAll()
	res = g.call(t, "crm__whoami", map[string]any{})
	outputs = append(outputs, resultText(res))
	wantCRM := "oauth login crm --config-name " + configName
	if !res.IsError || !strings.Contains(resultText(res), wantCRM) {
		t.Errorf("after revocation crm__whoami = %q, want an error naming %q", resultText(res), wantCRM)
	}
	g.cs.Close()

	// A new gateway process without a usable token lists crm's tools from
	// the discovery cache, and a call says which command to run.
	g2 := startGateway(t, f)
	if names := g2.toolNames(t); !contains(names, "crm__whoami") {
		t.Errorf("tools/list without a token lacks the cached crm__whoami: %v", names)
	}
	res = g2.call(t, "crm__whoami", map[string]any{})
	outputs = append(outputs, resultText(res))
	if !res.IsError || !strings.Contains(resultText(res), wantCRM) {
		t.Errorf("without a token crm__whoami = %q, want an error naming %q", resultText(res), wantCRM)
	}
	g2.cs.Close()

	status, err := runOAuthCLI(t, f, "oauth", "list")
	outputs = append(outputs, status)
	if err != nil || !strings.Contains(status, "crm") || !strings.Contains(status, "not logged in: run") {
		t.Errorf("oauth list: %v\n%s", err, status)
	}

	// No token ever reached the other upstream, and none appears in any
	// output.
	toks := as.Tokens()
	if len(toks) < 3 {
		t.Fatalf("only %d tokens issued; the canary check proves little", len(toks))
	}
	all := strings.Join(outputs, "\n") + g.stderr.String() + g2.stderr.String()
	for _, tok := range toks {
		if other.Saw(tok) != 0 {
			t.Error("a token of crm was sent to the other upstream")
		}
		if strings.Contains(all, tok) {
			t.Errorf("a token (%d chars) appears in the output", len(tok))
		}
	}
	b, err := os.ReadFile(oauthx.CachePath(f.path))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), `"at-`) {
		t.Error("the revoked grant's token is still cached")
	}
}

// TestE2EOAuthLoginRevoke: `oauth revoke` revokes the refresh token at the
// authorization server's revocation endpoint (RFC 7009) and forgets it.
func TestE2EOAuthLoginRevoke(t *testing.T) {
	t.Parallel()
	as := oauthxtest.NewAuthServer()
	t.Cleanup(as.Close)
	up := oauthxtest.NewUpstream(as, nil)
	t.Cleanup(up.Close)
	f := newFixture(t, loginServerEntry("crm", up.URL))
	var configName string
	for _, mc := range f.cfg.MCPConfigs {
		configName = mc.Name
	}
	if stdout, stderr, err := runLogin(t, f, "crm", configName); err != nil {
		t.Fatalf("oauth login: %v\n%s\n%s", err, stdout, stderr)
	}
	status, err := runOAuthCLI(t, f, "oauth", "status")
	if err != nil || !strings.Contains(status, "cached ") || !strings.Contains(status, "(refreshable)") {
		t.Fatalf("oauth status: %v\n%s", err, status)
	}
	out, err := runOAuthCLI(t, f, "oauth", "revoke", "--server", "crm")
	if err != nil || !strings.Contains(out, "revoked at the issuer") {
		t.Fatalf("oauth revoke: %v\n%s", err, out)
	}
	if as.Calls("/revoke") == 0 {
		t.Error("the revocation endpoint was not called")
	}
	for _, tok := range as.Tokens() {
		if strings.HasPrefix(tok, "rt-") && !as.Revoked(tok) {
			t.Error("the refresh token is still valid at the authorization server")
		}
		if strings.Contains(status+out, tok) {
			t.Error("a token appears in the CLI output")
		}
	}
	if st, _ := oauthx.InspectLogin(oauthx.CachePath(f.path), "crm", up.URL); st.Cached {
		t.Error("the token is still cached after revoke")
	}
}

// TestE2EOAuthLoginStepUp: the upstream starts asking for a scope the
// token lacks (403 insufficient_scope): the call's error names the scope
// and the login command; the next login asks for it too, and the running
// gateway picks up the new token.
func TestE2EOAuthLoginStepUp(t *testing.T) {
	t.Parallel()
	as := oauthxtest.NewAuthServer()
	t.Cleanup(as.Close)
	up := oauthxtest.NewUpstream(as, nil)
	t.Cleanup(up.Close)
	f := newFixture(t, loginServerEntry("crm", up.URL))
	var configName string
	for _, mc := range f.cfg.MCPConfigs {
		configName = mc.Name
	}
	if stdout, stderr, err := runLogin(t, f, "crm", configName); err != nil {
		t.Fatalf("oauth login: %v\n%s\n%s", err, stdout, stderr)
	}
	g := startGateway(t, f)
	if res := g.call(t, "crm__whoami", map[string]any{}); res.IsError {
		t.Fatalf("crm__whoami = %q", resultText(res))
	}
	up.SetScopes("mcp", "admin")
	res := g.call(t, "crm__whoami", map[string]any{})
	if !res.IsError || !strings.Contains(resultText(res), "admin") || !strings.Contains(resultText(res), "oauth login crm --config-name "+configName) {
		t.Fatalf("with too few scopes crm__whoami = %q, want an error naming the scope and the login command", resultText(res))
	}
	status, err := runOAuthCLI(t, f, "oauth", "status")
	if err != nil || !strings.Contains(status, "needs login for scopes") {
		t.Errorf("oauth status after step-up: %v\n%s", err, status)
	}
	if stdout, stderr, err := runLogin(t, f, "crm", configName); err != nil {
		t.Fatalf("second oauth login: %v\n%s\n%s", err, stdout, stderr)
	}
	if res := g.call(t, "crm__whoami", map[string]any{}); res.IsError || resultText(res) != "authenticated" {
		t.Errorf("after the step-up login crm__whoami = %q (isError %v)", resultText(res), res.IsError)
	}
	if p := as.Problems(); len(p) != 0 {
		t.Errorf("the authorization server saw protocol problems: %v", p)
	}
}

// TestE2EOAuthLoginElicitation: a client that supports URL-mode
// elicitation (MCP 2025-11-25) gets, for a server that needs a login, the
// -32042 error carrying the authorization URL; the user opens it, the
// gateway completes the login itself, says so with
// notifications/elicitation/complete, and the retried call goes through.
func TestE2EOAuthLoginElicitation(t *testing.T) {
	t.Parallel()
	as := oauthxtest.NewAuthServer()
	t.Cleanup(as.Close)
	up := oauthxtest.NewUpstream(as, nil)
	t.Cleanup(up.Close)
	f := newFixture(t, loginServerEntry("crm", up.URL))

	completed := make(chan string, 1)
	cmd := exec.Command(gatewayBin, "--config", f.path, "--log-level", "debug")
	cmd.Env = gatewayEnv(authn.EnvKey + "=" + f.key)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	client := mcp.NewClient(&mcp.Implementation{Name: "e2e-elicit", Version: "1"}, &mcp.ClientOptions{
		Capabilities: &mcp.ClientCapabilities{Elicitation: &mcp.ElicitationCapabilities{URL: &mcp.URLElicitationCapabilities{}}},
		ElicitationCompleteHandler: func(_ context.Context, req *mcp.ElicitationCompleteNotificationRequest) {
			completed <- req.Params.ElicitationID
		},
	})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 5 * time.Second}, nil)
	if err != nil {
		t.Fatalf("connect: %v\n%s", err, stderr)
	}
	defer cs.Close()
	defer func() {
		if t.Failed() {
			t.Logf("gateway stderr:\n%s", stderr)
		}
	}()

	_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "crm__whoami", Arguments: map[string]any{}})
	var rpcErr *jsonrpc.Error
	if !errors.As(err, &rpcErr) || rpcErr.Code != mcp.CodeURLElicitationRequired {
		t.Fatalf("call without a token = %v, want a -32042 URL elicitation", err)
	}
	var data struct {
		Elicitations []mcp.ElicitParams `json:"elicitations"`
	}
	if err := json.Unmarshal(rpcErr.Data, &data); err != nil || len(data.Elicitations) != 1 {
		t.Fatalf("elicitation data %s: %v", rpcErr.Data, err)
	}
	el := data.Elicitations[0]
	if el.Mode != "url" || el.ElicitationID == "" || !strings.HasPrefix(el.URL, as.URL+"/authorize?") || !strings.Contains(el.Message, "crm") {
		t.Fatalf("elicitation = %+v", el)
	}
	if _, _, err := oauthxtest.FollowLogin(ctx, el.URL); err != nil {
		t.Fatalf("follow the authorization URL: %v", err)
	}
	select {
	case id := <-completed:
		if id != el.ElicitationID {
			t.Errorf("completed elicitation %q, want %q", id, el.ElicitationID)
		}
	case <-ctx.Done():
		t.Fatal("no notifications/elicitation/complete")
	}
	// The upstream's restart may still be in its backoff: list and retry
	// until the call goes through.
	for {
		_, _ = cs.ListTools(ctx, nil)
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "crm__whoami", Arguments: map[string]any{}})
		if err == nil && !res.IsError && resultText(res) == "authenticated" {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the call never went through after the login: %v %v", err, res)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	if p := as.Problems(); len(p) != 0 {
		t.Errorf("the authorization server saw protocol problems: %v", p)
	}
	if strings.Contains(stderr.String(), "/authorize?") {
		t.Error("the authorization URL was logged")
	}
}
