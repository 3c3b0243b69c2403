package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v3"

	"secure-mcp-gateway/admin"
	"secure-mcp-gateway/admin/live"
	"secure-mcp-gateway/api"
	"secure-mcp-gateway/audit"
	"secure-mcp-gateway/serve"
)

// apiShutdownGrace is how long in-flight admin requests may finish after
// SIGTERM.
const apiShutdownGrace = 10 * time.Second

// apiCommand serves the REST admin API: the admin operations of the CLI
// over HTTP, for platform teams and the Python gateway's API clients.
func apiCommand() *cli.Command {
	return &cli.Command{
		Name:  "api",
		Usage: "serve the REST admin API (configs, servers, projects, users, gateway keys, cache, OAuth tokens, health) with its OpenAPI document",
		Description: "Every /api/v1 route needs \"Authorization: Bearer <admin key>\"; create the key with\n" +
			"\"secure-mcp-gateway system rotate-admin-key\" (it is printed once and stored hashed as admin_apikey).\n" +
			"/health, /openapi.json, /openapi.yaml and the docs at /docs are open. There is no CORS unless\n" +
			"--allowed-origin names a browser origin: that origin alone gets CORS answers (preflight included), and\n" +
			"cross-origin browser writes from any other are refused, as with --http. Changes are written to the config\n" +
			"file as the CLI writes them; stdio gateways see them at their next start.\n\n" +
			"Example:\n  secure-mcp-gateway api --listen 127.0.0.1:8001 --allowed-origin https://admin.example.com",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: api.DefaultListen, Usage: "address to listen on; a non-loopback address needs --tls-cert/--tls-key or --insecure-listen"},
			&cli.StringFlag{Name: "tls-cert", Usage: "TLS certificate file"},
			&cli.StringFlag{Name: "tls-key", Usage: "TLS key file"},
			&cli.BoolFlag{Name: "insecure-listen", Usage: "allow plain HTTP on a non-loopback address (a TLS proxy sits in front)"},
			&cli.FloatFlag{Name: "rate-limit", Value: api.DefaultRate, Usage: "requests per second allowed per client IP (token bucket)"},
			&cli.IntFlag{Name: "rate-burst", Value: api.DefaultBurst, Usage: "token bucket size per client IP"},
			&cli.Int64Flag{Name: "max-body-bytes", Value: api.DefaultMaxBodyBytes, Usage: "largest request body accepted"},
			&cli.StringSliceFlag{Name: "allowed-origin", Usage: "a browser origin (scheme://host[:port]) given CORS answers and allowed to send cross-origin requests (repeatable); default: none"},
		},
		Action: serveAPI,
	}
}

// withAdminKeyCommand adds "rotate-admin-key" to the system group.
func withAdminKeyCommand(system *cli.Command) *cli.Command {
	system.Commands = append(system.Commands, &cli.Command{
		Name:  "rotate-admin-key",
		Usage: "create or replace the REST admin API's key (printed once; stored hashed as admin_apikey)",
		Flags: []cli.Flag{jsonFlag},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			st, err := adminStore(cmd)
			if err != nil {
				return err
			}
			key, err := st.RotateAdminKey(ctx)
			if err != nil {
				return cliError(err)
			}
			return done(cmd, "New admin API key (shown only now; the old one is refused from now on):\n"+key,
				map[string]any{"admin_apikey": key})
		},
	})
	return system
}

// serveAPI runs the API until ctx ends (SIGINT/SIGTERM), then lets
// in-flight requests finish.
func serveAPI(ctx context.Context, cmd *cli.Command) error {
	listen, cert, key := cmd.String("listen"), cmd.String("tls-cert"), cmd.String("tls-key")
	// The same listener rules as --http: TLS in pairs, loopback or TLS or
	// an explicit --insecure-listen (a *serve.OptionError: exit 2).
	origins := cmd.StringSlice("allowed-origin")
	if err := (&serve.HTTPOptions{Listen: listen, TLSCert: cert, TLSKey: key, InsecureListen: cmd.Bool("insecure-listen"),
		AllowedOrigins: origins}).CheckFlags(); err != nil {
		return err
	}
	if err := api.CheckOrigins(origins); err != nil {
		return originError(err)
	}
	if cmd.Float("rate-limit") <= 0 || cmd.Int("rate-burst") <= 0 || cmd.Int64("max-body-bytes") <= 0 {
		return usageError("--rate-limit, --rate-burst and --max-body-bytes must be positive")
	}
	path, err := configPath(cmd)
	if err != nil {
		return configError(err)
	}
	log := zerolog.New(cmd.Root().ErrWriter).Level(zerolog.WarnLevel)
	rt := adminRuntime(path, &log)
	c, err := admin.Open(path).Load(ctx)
	if err != nil {
		return configError(err)
	}
	if c.AdminAPIKey == "" {
		return cli.Exit(fmt.Errorf("config file %s has no admin_apikey, so no request could be authorized\n  hint: secure-mcp-gateway system rotate-admin-key", path), exitConfig)
	}
	opts := api.Options{Version: version, Rate: cmd.Float("rate-limit"),
		Burst: int(cmd.Int("rate-burst")), MaxBodyBytes: cmd.Int64("max-body-bytes"), AllowedOrigins: origins}
	if c.Audit != nil && c.Audit.Enabled {
		al, err := audit.Open(*c.Audit)
		if err != nil {
			return cli.Exit(fmt.Errorf("audit log (audit.path in %s): %w", path, err), exitConfig)
		}
		defer al.Close()
		opts.OnChange = func(ch api.Change) { al.Write(adminChangeRecord(ch)) }
		rt.AuditLog = al
	}
	opts.Store = admin.OpenWith(path, rt)
	handler, err := api.New(opts)
	if err != nil {
		return originError(err)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return usageError("--listen %s: %v", listen, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	scheme := "http"
	if cert != "" {
		scheme = "https"
	}
	fmt.Fprintf(cmd.Root().ErrWriter, "secure-mcp-gateway admin API on %s://%s (config %s; docs at /docs)\n", scheme, ln.Addr(), path)
	errc := make(chan error, 1)
	go func() {
		if cert != "" {
			errc <- srv.ServeTLS(ln, cert, key)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("admin API: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), apiShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("admin API shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin API: %w", err)
	}
	return nil
}

// originError reports a refused --allowed-origin as --http does: a
// *serve.OptionError naming the flag (exit 2).
func originError(err error) error {
	var oe *api.OriginError
	if errors.As(err, &oe) {
		return &serve.OptionError{Option: "allowed-origin", Err: fmt.Errorf("--allowed-origin %q: %w", oe.Origin, oe.Err)}
	}
	return err
}

// adminChangeRecord is the audit record of an admin API write: who, the
// route, its outcome and the config file's hash before and after.
func adminChangeRecord(ch api.Change) audit.Record {
	return audit.Record{Kind: audit.KindAdminChange, Actor: ch.Actor, Method: ch.Method, Target: ch.Target,
		Outcome: strconv.Itoa(ch.Status), BeforeSHA256: ch.BeforeSHA256, AfterSHA256: ch.AfterSHA256,
		Detail: "admin API request " + ch.Correlation}
}

// adminRuntime is what the admin operations reach beyond the config file
// at path (package admin/live).
func adminRuntime(path string, log *zerolog.Logger) admin.Runtime { return live.Runtime(path, log) }
