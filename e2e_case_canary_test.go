package main

import (
	"context"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/examples"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/oauthx"
)

// TestCaseCanary is section H of the catalogue: unique canaries seeded as the
// gateway key, an OAuth client secret, access tokens, a secret tool argument
// and a PII value go through the real binary in stdio and HTTP mode; then
// every stdout, stderr, log file and state file the runs produced is
// grepped. A canary may appear only where it is meant to be: the key and the
// client secret in the config, tokens in the token cache (and the upstream's
// environment), arguments in the upstream that received them and in the
// echo the client asked for.
func TestCaseCanary(t *testing.T) {
	const (
		clientID     = "canary-client"
		clientSecret = "CANARY-oauth-client-secret-6b1d"
		secretArg    = "ghp_CANARYsecretArgument0123456789abcdefAB"
		pii          = "canary.person.7731@example.com"
	)
	a := newE2EAuthServer(t, clientID, clientSecret)
	dir := t.TempDir()
	record := filepath.Join(dir, "upstream-record.jsonl")
	local := exampleServer("local", "probe", nil)
	local.OAuth = &config.OAuthConfig{Enabled: true, Version: "2.1", GrantType: "client_credentials",
		ClientID: clientID, ClientSecret: clientSecret, TokenURL: a.URL + "/token", Scope: "mcp"}
	// A guarded server blocks the secret (a block path: its log line and
	// audit record), and the audit log is on, under the walked directory.
	guarded := exampleServer("guarded", "echo", nil)
	guarded.InputGuardrailsPolicy = &config.Policy{Enabled: true, Block: []string{"secrets", "pii"}}
	f := newFixture(t,
		local,
		exampleServer("rec", "recorder", map[string]string{examples.EnvRecordFile: record}),
		exampleServer("echo_server", "echo", nil),
		guarded)
	f.cfg.Audit = &config.Audit{Enabled: true, Path: filepath.Join(f.dir, "audit")}
	f.save(t)
	logFile := filepath.Join(f.dir, "gateway.log")

	calls := func(t *testing.T, cs *mcp.ClientSession) (echoed string) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if _, err := cs.ListTools(ctx, nil); err != nil {
			t.Fatal(err)
		}
		for _, p := range []*mcp.CallToolParams{
			{Name: "local__pid"}, // starts the upstream with its token
			{Name: "rec__store", Arguments: map[string]any{"text": "token " + secretArg + " for " + pii}},
			{Name: "no_such__tool", Arguments: map[string]any{"text": secretArg + " " + pii}},
			{Name: "echo_server__add", Arguments: map[string]any{"a": secretArg, "b": pii}},
			{Name: "guarded__echo", Arguments: map[string]any{"message": "token " + secretArg + " for " + pii}},
		} {
			if _, err := cs.CallTool(ctx, p); err != nil {
				t.Logf("%s: %v", p.Name, err)
			}
		}
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo_server__echo", Arguments: map[string]any{"message": pii}})
		if err != nil {
			t.Fatal(err)
		}
		return resultText(res)
	}

	// stdio, with a log file, at debug level.
	cmd := exec.Command(gatewayBin, "--config", f.path, "--log-level", "debug", "--log-file", logFile)
	cmd.Env = gatewayEnv(authn.EnvKey + "=" + f.key)
	stdioErr := &syncBuffer{}
	cmd.Stderr = stdioErr
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "canary", Version: "1"}, nil).Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 5 * time.Second}, nil)
	if err != nil {
		t.Fatalf("connect: %v\n%s", err, stdioErr)
	}
	if got := calls(t, cs); got != pii {
		t.Errorf("echo = %q", got)
	}
	// A raw line with a secret and invalid UTF-8 is refused and logged
	// without its contents.
	raw := startRaw(t, f)
	raw.send(t, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\",\"params\":{\"name\":\"rec__store\",\"arguments\":{\"text\":\""+secretArg+"\xff\"}}}")
	raw.response(t, 9.0)
	cs.Close()

	// HTTP mode with the same config, the key sent as a bearer.
	p := startHTTP(t, f, "--log-level", "debug")
	hs, err := connectHTTP(t, p.url, http.Header{"Authorization": {"Bearer " + f.key}})
	if err != nil {
		t.Fatal(err)
	}
	if got := calls(t, hs); got != pii {
		t.Errorf("HTTP echo = %q", got)
	}
	hs.Close()

	tokens := a.tokens()
	if len(tokens) == 0 {
		t.Fatal("no token was issued: the OAuth path did not run")
	}
	canaries := map[string]string{"gateway key": f.key, "client secret": clientSecret, "secret argument": secretArg, "PII": pii}
	for i, tok := range tokens {
		canaries["token "+itoa(i)] = tok
	}
	outputs := map[string]string{"stdio stderr": stdioErr.String(), "HTTP stderr": p.stderr.String()}
	err = filepath.WalkDir(f.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		outputs[path] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(record); err == nil {
		outputs[record] = string(b)
	}
	if !strings.Contains(outputs[record], pii) {
		t.Fatal("the PII canary never reached its upstream: the scenario did not run")
	}
	if outputs[logFile] == "" {
		t.Fatal("the log file is empty: nothing was checked")
	}
	audited, blocks := 0, 0
	for place, text := range outputs {
		if strings.HasPrefix(place, filepath.Join(f.dir, "audit")) {
			audited++
			blocks += strings.Count(text, `"kind":"block"`)
		}
	}
	if audited == 0 || blocks == 0 {
		t.Fatalf("%d audit files with %d block records: the guarded call was not audited", audited, blocks)
	}
	allowed := func(place, canary string) bool {
		switch {
		case place == f.path, strings.HasPrefix(place, f.path+".bkp."): // the config (and its backups) hold keys and client secrets
			return canary == "gateway key" || canary == "client secret"
		case place == oauthx.CachePath(f.path):
			return strings.HasPrefix(canary, "token ")
		case place == record: // the upstream received the arguments
			return canary == "secret argument" || canary == "PII"
		}
		return false
	}
	for place, text := range outputs {
		for name, c := range canaries {
			if strings.Contains(text, c) && !allowed(place, name) {
				t.Errorf("the %s appears in %s", name, place)
			}
		}
	}
}
