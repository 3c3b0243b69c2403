package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/internal/config"
)

// trySandbox is the last step of `try`: the hostile sandboxprobe example,
// once unsandboxed and once under bwrap with a pids limit, against a fake
// home holding canary secrets in dir. It prints what each managed.
func trySandbox(ctx context.Context, w io.Writer, exe, dir string) error {
	const forks, pidsLimit = 50, 32
	fmt.Fprintf(w, "\n9. The hostile sandboxprobe server, unsandboxed and with \"sandbox\": {\"enabled\": true, \"runtime\": \"bwrap\", \"pids_limit\": %d},\n"+
		"   against a fake home holding canary secrets:\n", pidsLimit)
	if _, err := exec.LookPath("bwrap"); err != nil {
		fmt.Fprintln(w, "   skipped: bubblewrap is not installed (Linux: apt install bubblewrap); see docs/SANDBOX.md")
		return nil
	}
	home := filepath.Join(dir, "home")
	for p, v := range map[string]string{".ssh/id_rsa": "canary private key\n", ".aws/credentials": "aws_secret_access_key = canary\n"} {
		full := filepath.Join(home, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o700); err != nil {
			return fmt.Errorf("make the fake home: %w", err)
		}
		if err := os.WriteFile(full, []byte(v), 0o600); err != nil {
			return fmt.Errorf("make the fake home: %w", err)
		}
	}
	cfg, key, err := newDefaultConfig(exe, time.Now())
	if err != nil {
		return err
	}
	probe := func(name string, sb *config.Sandbox) *config.Server {
		return &config.Server{Name: name, Config: config.ServerConfig{Command: exe, Args: []string{"example-server", "sandboxprobe"}},
			Tools: map[string]json.RawMessage{}, Sandbox: sb}
	}
	for _, mc := range cfg.MCPConfigs {
		mc.Servers = []*config.Server{probe("plain", nil),
			probe("boxed", &config.Sandbox{Enabled: true, Runtime: config.SandboxBwrap, PidsLimit: pidsLimit})}
	}
	path := filepath.Join(dir, "sandbox_config.json")
	if err := config.Save(path, cfg, checkDetectors); err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen for the probe's connection: %w", err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	gateway := exec.Command(exe, "--config", path)
	env := []string{authn.EnvKey + "=" + key.Reveal(), "HOME=" + home}
	for _, kv := range cleanEnv() {
		if !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	gateway.Env = env
	var stderr bytes.Buffer
	gateway.Stderr = &stderr
	client := mcp.NewClient(&mcp.Implementation{Name: "try-client", Version: version}, nil)
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: gateway}, nil)
	if err != nil {
		return fmt.Errorf("connect to the gateway: %w\n%s", err, stderr.String())
	}
	defer cs.Close()

	type report struct {
		Read    map[string]string `json:"read"`
		Write   map[string]string `json:"write"`
		Connect string            `json:"connect"`
		Forked  int               `json:"forked"`
		Procs   int               `json:"procs"`
		Home    string            `json:"home"`
	}
	ssh, aws := filepath.Join(home, ".ssh", "id_rsa"), filepath.Join(home, ".aws", "credentials")
	reports := map[string]*report{}
	for _, name := range []string{"plain", "boxed"} {
		outside := filepath.Join(home, "written-by-"+name)
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name + "__probe", Arguments: map[string]any{
			"read": []string{ssh, aws}, "write": []string{outside}, "connect": l.Addr().String(), "fork": forks}})
		switch {
		case err != nil:
			fmt.Fprintf(w, "   %s: %v\n", name, err)
			continue
		case res.IsError:
			fmt.Fprintf(w, "   %s: %s\n", name, contentText(res.Content))
			continue
		}
		var r report
		if err := json.Unmarshal([]byte(contentText(res.Content)), &r); err != nil {
			return fmt.Errorf("the probe's report: %w", err)
		}
		r.Write["~/written"] = r.Write[outside]
		reports[name] = &r
	}
	plain, boxed := reports["plain"], reports["boxed"]
	if plain == nil || boxed == nil {
		return nil // the failure is printed above
	}
	read := func(v string) string {
		if strings.Contains(v, "canary") {
			return "READ"
		}
		return brief(v)
	}
	rows := [][]string{
		{"read ~/.ssh/id_rsa", read(plain.Read[ssh]), read(boxed.Read[ssh])},
		{"read ~/.aws/credentials", read(plain.Read[aws]), read(boxed.Read[aws])},
		{"write a file into ~", brief(plain.Write["~/written"]), brief(boxed.Write["~/written"])},
		{"connect to " + l.Addr().String(), brief(plain.Connect), brief(boxed.Connect)},
		{"start " + strconv.Itoa(forks) + " processes", strconv.Itoa(plain.Forked), strconv.Itoa(boxed.Forked)},
		{"processes in /proc", strconv.Itoa(plain.Procs), strconv.Itoa(boxed.Procs)},
		{"HOME", plain.Home, boxed.Home},
	}
	var buf bytes.Buffer
	if err := printTable(&buf, []string{"ATTEMPT", "UNSANDBOXED", "BWRAP"}, rows); err != nil {
		return err
	}
	for line := range strings.Lines(buf.String()) {
		fmt.Fprint(w, "   "+line)
	}
	return nil
}

// brief is the last clause of an error message ("… : no such file or
// directory"), or the message itself.
func brief(s string) string {
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}
