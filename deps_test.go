package main

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestDeps enforces the import rules of ARCHITECTURE.md: main → proxy →
// {upstream, guard, authn, cache}; main → oauthx; the leaves never import one
// another or proxy; internal/config imports no domain package (only the
// leaf helper internal/atomicfile, which writes every state file the same
// way); examples is imported by main alone; serve (the runtime) is imported
// by main alone and imports neither admin, scan nor hook.
func TestDeps(t *testing.T) {
	const mod = "secure-mcp-gateway"
	leaves := []string{"upstream", "guard", "authn", "cache", "oauthx"}
	forbidden := map[string][]string{
		"proxy":           {"oauthx", "examples"},
		"internal/config": {"authn", "upstream", "guard", "cache", "oauthx", "proxy", "examples", "internal/secret"},
		"examples":        {"proxy", "upstream", "guard", "authn", "cache", "oauthx"},
		// admin edits the config: internal/*, authn and guard (for validation
		// tables) only; main adapts it.
		"admin": {"proxy", "upstream", "serve", "cache", "oauthx", "examples"},
		// admin/live binds admin's runtime interfaces to cache, oauthx and
		// upstream; it runs no sessions and serves nothing.
		"admin/live": {"proxy", "serve", "api", "examples", "scan", "hook", "telemetry"},
		"audit":      {"proxy", "upstream", "guard", "authn", "cache", "oauthx", "examples"},
		// api adapts admin to HTTP: admin, authn and internal/* (audit for
		// its change records); nothing of the runtime.
		"api": {"proxy", "upstream", "serve", "cache", "oauthx", "examples", "scan", "hook", "telemetry"},
		// telemetry observes call events: proxy's types and guard's verdicts
		// only (authn and cache come through proxy); it never reaches upstreams,
		// tokens or config edits.
		"telemetry": {"upstream", "oauthx", "examples", "admin", "audit", "serve"},
		// serve (the runtime) composes sessions from the domain packages;
		// it never edits the config, never scans and never installs hooks.
		"serve": {"admin", "scan", "hook", "examples", "oauthx/oauthxtest"},
	}
	for _, l := range leaves {
		f := []string{"proxy", "examples"}
		for _, o := range leaves {
			if o != l {
				f = append(f, o)
			}
		}
		forbidden[l] = f
	}

	out, err := exec.Command("go", "list", "-json=ImportPath,Deps", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for dec.More() {
		var p struct {
			ImportPath string
			Deps       []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, mod), "/")
		if rel == "" && !slices.Contains(p.Deps, mod+"/admin") {
			t.Errorf("main must use package admin for config operations")
		}
		rules, ok := forbidden[rel]
		if rel != "" && rel != "serve" {
			rules = append(slices.Clip(rules), "serve")
			if rel != "api" {
				rules = append(rules, "api") // only main serves the admin API
			}
		} else if !ok {
			continue
		}
		if ok {
			seen++
		}
		for _, d := range p.Deps {
			if !strings.HasPrefix(d, mod+"/") {
				continue
			}
			dep := strings.TrimPrefix(d, mod+"/")
			for _, f := range rules {
				bad := dep == f || strings.HasPrefix(dep, f+"/")
				if f == "*" {
					bad = true
				}
				if bad {
					t.Errorf("%s must not depend on %s (ARCHITECTURE.md import rules)", rel, dep)
				}
			}
		}
	}
	if seen < 4 {
		t.Fatalf("checked only %d packages; is the layout what this test expects?", seen)
	}
}
