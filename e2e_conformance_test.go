package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"secure-mcp-gateway/internal/config"
)

var updateConformance = flag.Bool("update-conformance", false, "rewrite testdata/conformance-baseline.json from this run")

// conformanceBaseline is the committed ratchet: every check listed as
// passing must keep passing.
const conformanceBaseline = "testdata/conformance-baseline.json"

// TestE2EConformance runs the official MCP conformance suite (server
// scenarios, spec 2025-11-25) against --http mode in front of the go-sdk's
// conformance everything-server as a stdio upstream with unprefixed names.
// The suite cannot send headers, so a reverse proxy in the test adds the
// gateway key; Host and Origin pass through unchanged for the DNS-rebinding
// scenario. Any check of the baseline that stops passing fails the test.
func TestE2EConformance(t *testing.T) {
	node, _ := requireInspector(t)
	suite, err := filepath.Abs(filepath.Join(inspectorDir, "node_modules", "@modelcontextprotocol", "conformance", "dist", "index.js"))
	if err != nil {
		t.Fatal(err)
	}
	es := filepath.Join(t.TempDir(), "everything-server")
	if out, err := exec.Command("go", "build", "-o", es, "github.com/modelcontextprotocol/go-sdk/conformance/everything-server").CombinedOutput(); err != nil {
		t.Fatalf("build the go-sdk everything-server: %v\n%s", err, out)
	}
	empty := ""
	f := newFixture(t, &config.Server{Name: "everything", ToolPrefix: &empty, Config: config.ServerConfig{Command: es}})
	// Default flags: the suite opens a session per scenario and never
	// closes one, which the per-key cap survives by evicting idle ones.
	p := startHTTP(t, f)

	target, _ := url.Parse(p.base)
	proxy := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host
			r.Out.Header.Set("Apikey", f.key)
		},
		FlushInterval: -1,
	})
	defer proxy.Close()

	outDir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, suite, "server", "--url", proxy.URL+"/mcp", "--spec-version", "2025-11-25", "-o", outDir)
	out, _ := cmd.CombinedOutput() // a failing check exits non-zero; the checks decide
	t.Logf("conformance suite:\n%s", lastLines(string(out), 8))

	got := map[string]string{}
	files, _ := filepath.Glob(filepath.Join(outDir, "*", "checks.json"))
	if len(files) == 0 {
		t.Fatalf("the suite wrote no results:\n%s", out)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var checks []struct{ ID, Status string }
		if err := json.Unmarshal(b, &checks); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		scenario := strings.TrimPrefix(filepath.Base(filepath.Dir(file)), "server-")
		scenario = scenario[:len(scenario)-len("-2006-01-02T15-04-05-000Z")]
		for _, c := range checks {
			got[scenario+"/"+c.ID] = c.Status
		}
	}
	var passing []string
	for id, st := range got {
		if st == "SUCCESS" {
			passing = append(passing, id)
		}
	}
	sort.Strings(passing)
	t.Logf("%d of %d checks pass", len(passing), len(got))
	if resp, err := http.Get(p.base + "/metrics"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "smg_sessions_evicted_total{") || strings.HasPrefix(line, "smg_sessions_open ") {
				t.Logf("%s", line)
			}
		}
	}
	if *updateConformance {
		b, _ := json.MarshalIndent(map[string]any{"spec_version": "2025-11-25", "passing": passing}, "", "  ")
		if err := os.WriteFile(conformanceBaseline, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(conformanceBaseline)
	if err != nil {
		t.Fatalf("read the baseline (run with -update-conformance to create it): %v", err)
	}
	var base struct{ Passing []string }
	if err := json.Unmarshal(b, &base); err != nil {
		t.Fatal(err)
	}
	for _, id := range base.Passing {
		if got[id] != "SUCCESS" {
			t.Errorf("conformance regression: %s is %q, the baseline has it passing", id, got[id])
		}
	}
	for id, st := range got {
		if st != "SUCCESS" {
			t.Logf("not passing: %s (%s)", id, st)
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var _ http.Handler = (*httputil.ReverseProxy)(nil)
