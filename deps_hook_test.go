package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestDepsHookBinary keeps the hook binary small: a client runs it on every
// tool call and prompt, and every package in its closure adds start-up time
// (package inits, page faults) before the event is judged. Neither it nor
// package hook (which the gateway's `hook` command runs too) may depend on
// the HTTP stack, the MCP SDK, the CLI framework, the logger, OAuth, or
// guard's provider half (package guard; the detectors are guard/detect).
func TestDepsHookBinary(t *testing.T) {
	t.Parallel()
	forbidden := []string{
		"net/http",
		"crypto/tls",
		"github.com/modelcontextprotocol/go-sdk",
		"github.com/urfave/cli",
		"github.com/rs/zerolog",
		"golang.org/x/oauth2",
		"secure-mcp-gateway/guard", // guard/detect is allowed: see below
		"secure-mcp-gateway/proxy",
		"secure-mcp-gateway/serve",
		"secure-mcp-gateway/upstream",
		"secure-mcp-gateway/authn",
		"secure-mcp-gateway/oauthx",
	}
	allowed := map[string]bool{"secure-mcp-gateway/guard/detect": true}
	for _, pkg := range []string{"./cmd/secure-mcp-gateway-hook", "./hook"} {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 10 || !slices.Contains(deps, "secure-mcp-gateway/guard/detect") {
			t.Fatalf("go list -deps %s listed %d packages without guard/detect; is the layout what this test expects?", pkg, len(deps))
		}
		for _, d := range deps {
			if allowed[d] {
				continue
			}
			for _, f := range forbidden {
				if d == f || strings.HasPrefix(d, f+"/") {
					t.Errorf("%s depends on %s; the hook binary must stay lean (see docs/HOOKS.md, Speed)", pkg, d)
				}
			}
		}
	}
}
