package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v3"

	"secure-mcp-gateway/admin"
	"secure-mcp-gateway/api"
	"secure-mcp-gateway/audit"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/serve"
	"secure-mcp-gateway/upstream"
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
// at path: the discovery cache, the OAuth token cache and the upstreams.
func adminRuntime(path string, log *zerolog.Logger) admin.Runtime {
	return admin.Runtime{Cache: cacheOpener{path: path, log: log}, Tokens: tokenKeeper{path: path}, Probe: upstreamProber{}}
}

// upstreamProber checks that a server can be reached without running a
// session: a remote server must answer an HTTP request (any status), a
// stdio server's command must resolve to an executable file. Nothing is
// started, and no header, env value, URL credential or query is sent or
// shown.
type upstreamProber struct{}

// Probe implements admin.Prober.
func (upstreamProber) Probe(ctx context.Context, c *config.Config, s *config.Server) (string, error) {
	if s.Config.URL != "" {
		return probeURL(ctx, c, s.Config.URL)
	}
	if sb := config.EffectiveSandbox(s, c.Common.Sandbox); sb != nil && sb.Enabled && sb.Runtime != config.SandboxBwrap {
		return "", &admin.SkipError{Reason: fmt.Sprintf("runs in a %s sandbox, where its command may live in the image: not checked without starting it", cmp.Or(sb.Runtime, config.SandboxAuto))}
	}
	return probeCommand(s)
}

// probeURL sends HEAD to the server's URL, stripped of credentials, query
// and fragment, through the gateway's SSRF-checked transport; any HTTP
// answer means the server is reachable.
func probeURL(ctx context.Context, c *config.Config, raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("server_url does not parse as a URL")
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	shown := admin.ShownEndpoint(u.String())
	if err := upstream.CheckURL(u); err != nil {
		return "", err
	}
	tr := upstream.NewHTTPTransport(c.Common.Timeouts.ConnectivityTimeout())
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u.String(), nil)
	if err != nil {
		return "", errors.New("server_url cannot be requested")
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) { // its text repeats the URL; the cause alone names no secret
			err = ue.Err
		}
		return "", fmt.Errorf("%s: no HTTP answer: %w", shown, err)
	}
	resp.Body.Close()
	return fmt.Sprintf("%s answered HTTP %d", shown, resp.StatusCode), nil
}

// probeCommand finds a stdio server's command as the upstream would: a
// path as given, a bare name in the PATH the server gets (its env's PATH,
// else the gateway's).
func probeCommand(s *config.Server) (string, error) {
	name := s.Config.Command
	if name == "" {
		return "", errors.New("no command")
	}
	candidates := []string{name}
	if !strings.ContainsAny(name, `/\`) {
		path, ok := s.Config.Env["PATH"]
		if !ok {
			path = os.Getenv("PATH")
		}
		candidates = nil
		for _, dir := range filepath.SplitList(path) {
			if dir != "" {
				candidates = append(candidates, filepath.Join(dir, name))
			}
		}
	}
	for _, p := range candidates {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && (runtime.GOOS == "windows" || fi.Mode().Perm()&0o111 != 0) {
			return "command " + p + " is executable (not started)", nil
		}
	}
	if len(candidates) == 1 && candidates[0] == name {
		return "", fmt.Errorf("command %s is not an executable file", name)
	}
	return "", fmt.Errorf("command %q is not on the server's PATH", name)
}
