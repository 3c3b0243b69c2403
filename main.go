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
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

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
