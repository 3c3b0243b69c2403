package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v3"

	"secure-mcp-gateway/admin/live"
	"secure-mcp-gateway/audit"
	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/cache"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/internal/secret"
	"secure-mcp-gateway/proxy"
	"secure-mcp-gateway/serve"
)

// serveStdio is the default action: authenticate the key from the
// environment and serve MCP on stdin/stdout until the client goes away.
func serveStdio(ctx context.Context, cmd *cli.Command) error {
	if cmd.Args().Present() {
		return cli.Exit(fmt.Errorf("unknown command %q\nhint: secure-mcp-gateway --help lists the commands", cmd.Args().First()), exitUsage)
	}
	path, err := configPath(cmd)
	if err != nil {
		return cli.Exit(err, exitConfig)
	}
	if cmd.Root().Bool("http") {
		return serveHTTP(ctx, cmd, path)
	}
	cred := authn.FromEnv(os.Getenv)
	// A refused key is one line on stderr (clients show the last line), so
	// its hint stays on that line.
	if cred.Key.IsZero() {
		return cli.Exit(fmt.Errorf("%s is not set: the MCP client must pass a gateway key from %s in its env block (hint: secure-mcp-gateway install --client claude-desktop, or cursor, vscode, ..., writes the client entry with a new key)", authn.EnvKey, path), exitAuth)
	}
	cfg, err := config.Load(path, checkDetectors)
	if err != nil {
		return cli.Exit(err, exitConfig)
	}
	if err := strictUnknownKeys(cmd, cfg, path); err != nil {
		return err
	}
	principal, err := authn.Authenticate(cfg, cred)
	if err != nil {
		return cli.Exit(fmt.Errorf("the key in %s was refused by %s: %w", authn.EnvKey, path, err), exitAuth)
	}

	redactor := serve.Secrets(cfg, cred)
	log, closeLog, err := newLogger(cmd, cfg.Common.LogLevel, redactor)
	if err != nil {
		return cli.Exit(err, exitUsage)
	}
	defer closeLog.Close()
	logConfigWarnings(cfg, path, &log)
	opts := serveOptions(cmd, cfg, path, &log, redactor)
	defer closeShared(opts.SharedState)
	return serve.Stdio(ctx, principal, os.Stdin, os.Stdout, &opts)
}

// serveOptions wires what both modes share: the config, the logger and
// redactor, and the CLI's builders of guardrails, sandboxes and the
// discovery cache.
func serveOptions(cmd *cli.Command, cfg *config.Config, path string, log *zerolog.Logger, redactor *secret.Redactor) serve.Options {
	shared := openShared(cfg, log)
	var supervisor []string
	if exe, err := executablePath(); err == nil {
		supervisor = []string{exe, supervisorCommandName}
	}
	return serve.Options{
		Config:         cfg,
		ConfigPath:     path,
		ConfigOptions:  []config.Option{checkDetectors},
		Logger:         log,
		Redactor:       redactor,
		Version:        version,
		Supervisor:     supervisor,
		RelistInterval: relistInterval(cmd),
		Guard: func(p *authn.Principal, log *zerolog.Logger, al *audit.Log) proxy.Guard {
			return newGuard(p, cfg, path, shared, log, al)
		},
		Instructions: func(p *authn.Principal) string {
			return sessionInstructions(providerProblems(cfg, p.MCPConfig.Name, p.MCPConfig.Servers))
		},
		Sandbox: sandboxSpec,
		OpenToolCache: func(log *zerolog.Logger) (*cache.Store, error) {
			return live.OpenToolCache(cfg, path, log)
		},
		SharedState: shared,
	}
}

// openShared is the Redis state shared with other replicas when the config
// names a Redis (the discovery cache's settings); nil otherwise.
func openShared(cfg *config.Config, log *zerolog.Logger) *cache.Shared {
	ro := cache.RedisFromConfig(&cfg.Common)
	if ro == nil {
		return nil
	}
	return cache.NewShared(ro, *log)
}

// closeShared closes s if there is one.
func closeShared(s *cache.Shared) {
	if s != nil {
		_ = s.Close()
	}
}

// relistInterval returns --tool-relist-interval as proxy.Options wants it.
func relistInterval(cmd *cli.Command) time.Duration {
	if d := cmd.Root().Duration("tool-relist-interval"); d > 0 {
		return d
	}
	return -1
}
