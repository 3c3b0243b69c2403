package main

import (
	"context"

	"github.com/urfave/cli/v3"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/serve"
)

// httpFlags are the root command's flags for --http mode.
func httpFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Category: httpCategory, Name: "http", Usage: "serve MCP over streamable HTTP (for hosting one gateway for many users) instead of stdio"},
		&cli.StringFlag{Category: httpCategory, Name: "listen", Value: serve.DefaultListen, Usage: "HTTP mode: address to listen on; a non-loopback address needs --tls-cert/--tls-key or --insecure-listen"},
		&cli.StringFlag{Category: httpCategory, Name: "tls-cert", Usage: "HTTP mode: TLS certificate file"},
		&cli.StringFlag{Category: httpCategory, Name: "tls-key", Usage: "HTTP mode: TLS key file"},
		&cli.BoolFlag{Category: httpCategory, Name: "insecure-listen", Usage: "HTTP mode: allow plain HTTP on a non-loopback address"},
		&cli.StringSliceFlag{Category: httpCategory, Name: "allowed-origin", Usage: "HTTP mode: a browser Origin allowed besides the listener's own (repeatable)"},
		&cli.DurationFlag{Category: httpCategory, Name: "session-idle-timeout", Value: serve.DefaultSessionIdleTimeout, Usage: "HTTP mode: close a session (and reap its upstreams) after this long without requests"},
		&cli.IntFlag{Category: httpCategory, Name: "max-sessions-per-key", Value: serve.DefaultMaxSessionsPerKey, Usage: "HTTP mode: open sessions allowed per gateway key; at the cap a new session closes the key's least recently used idle one"},
		&cli.IntFlag{Category: httpCategory, Name: "max-sessions", Value: serve.DefaultMaxSessions, Usage: "HTTP mode: open sessions allowed across all keys; at the cap a new session closes the least recently used idle one"},
		&cli.IntFlag{Category: httpCategory, Name: "max-upstream-processes", Value: serve.DefaultMaxUpstreamProcs, Usage: "HTTP mode: upstream processes the open sessions may run across all keys (each session counts its stdio servers); at the cap a new session closes the least recently used idle ones"},
		&cli.FloatFlag{Category: httpCategory, Name: "rate-limit", Value: serve.DefaultRatePerKey, Usage: "HTTP mode: requests per second allowed per gateway key (token bucket)"},
		&cli.IntFlag{Category: httpCategory, Name: "rate-burst", Value: serve.DefaultBurstPerKey, Usage: "HTTP mode: token bucket size per gateway key"},
		&cli.Int64Flag{Category: httpCategory, Name: "max-body-bytes", Value: serve.DefaultMaxBodyBytes, Usage: "HTTP mode: largest request body accepted"},
		&cli.DurationFlag{Category: httpCategory, Name: "shutdown-grace", Value: serve.DefaultShutdownGrace, Usage: "HTTP mode: on SIGTERM, how long in-flight requests may finish"},
		&cli.DurationFlag{Category: httpCategory, Name: "drain-delay", Usage: "HTTP mode: on SIGTERM, how long /readyz answers 503 while requests are still served, before the listener closes (longer than the load balancer's health-check interval × fall count)"},
	}
}

// serveHTTP is --http mode: one gateway process for many users, each MCP
// session with its own principal and upstreams (see serve.HTTP).
func serveHTTP(ctx context.Context, cmd *cli.Command, path string) error {
	cfg, err := config.Load(path, checkDetectors)
	if err != nil {
		return cli.Exit(err, exitConfig)
	}
	if err := strictUnknownKeys(cmd, cfg, path); err != nil {
		return err
	}
	redactor := serve.Secrets(cfg, authn.Credentials{})
	log, closeLog, err := newLogger(cmd, cfg.Common.LogLevel, redactor)
	if err != nil {
		return cli.Exit(err, exitUsage)
	}
	defer closeLog.Close()

	root := cmd.Root()
	opts := &serve.HTTPOptions{
		Options:              serveOptions(cmd, cfg, path, &log, redactor),
		Listen:               root.String("listen"),
		TLSCert:              root.String("tls-cert"),
		TLSKey:               root.String("tls-key"),
		InsecureListen:       root.Bool("insecure-listen"),
		AllowedOrigins:       root.StringSlice("allowed-origin"),
		SessionIdleTimeout:   root.Duration("session-idle-timeout"),
		MaxSessionsPerKey:    int(root.Int("max-sessions-per-key")),
		MaxSessions:          int(root.Int("max-sessions")),
		MaxUpstreamProcesses: int(root.Int("max-upstream-processes")),
		RateLimit:            root.Float("rate-limit"),
		RateBurst:            int(root.Int("rate-burst")),
		MaxBodyBytes:         root.Int64("max-body-bytes"),
		ShutdownGrace:        root.Duration("shutdown-grace"),
		DrainDelay:           root.Duration("drain-delay"),
	}
	defer closeShared(opts.SharedState)
	// Bad flags are refused before the config's warnings are logged or
	// anything is opened.
	if err := opts.CheckFlags(); err != nil {
		return err
	}
	logConfigWarnings(cfg, path, &log)
	return serve.HTTP(ctx, opts)
}
