// Command secure-mcp-gateway is a security gateway for the Model Context
// Protocol. An MCP client starts it over stdio with a gateway key in its
// environment; it authenticates the key against a local JSON config, starts
// the key's upstream MCP servers on demand and re-exports their tools,
// checking every call against the configured guardrails.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...";
// otherwise init fills it from the build info (see resolveVersion).
var version = "dev"

func init() { version = resolveVersion(version, debug.ReadBuildInfo) }

// resolveVersion returns v when the build set it, else the module version
// and VCS revision the Go toolchain recorded: "v1.2.3", or for a build from
// a checkout "v0.0.0-…-abcdef123456+dirty (revision abcdef123456, modified)".
func resolveVersion(v string, read func() (*debug.BuildInfo, bool)) string {
	if v != "dev" {
		return v
	}
	bi, ok := read()
	if !ok {
		return v
	}
	mod := bi.Main.Version
	if mod == "" || mod == "(devel)" {
		mod = "dev"
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return mod
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if modified == "true" {
		return fmt.Sprintf("%s (revision %s, modified)", mod, rev)
	}
	return fmt.Sprintf("%s (revision %s)", mod, rev)
}

func main() {
	stopProfiling := startProfiling()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand().Run(ctx, os.Args)
	stop()
	stopProfiling()
	if err != nil {
		fmt.Fprintf(os.Stderr, "secure-mcp-gateway: %v\n", err)
		os.Exit(exitCode(err))
	}
}
