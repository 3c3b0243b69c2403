package main

import (
	"context"
	"fmt"
	"os"
	"secure-mcp-gateway/audit"
	"secure-mcp-gateway/audit/auditproxy"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/rs/zerolog"
	"github.com/urfave/cli/v3"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/guard"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/internal/secret"
	"secure-mcp-gateway/internal/wire"
	"secure-mcp-gateway/oauthx"
	"secure-mcp-gateway/proxy"
	"secure-mcp-gateway/upstream"
)

// serveStdio is the default action: authenticate the key from the
// environment and serve MCP on stdin/stdout until the client goes away.
func serveStdio(ctx context.Context, cmd *cli.Command) error {
	if cmd.Args().Present() {
		return &exitError{exitUsage, fmt.Errorf("unknown command %q\nhint: secure-mcp-gateway --help lists the commands", cmd.Args().First())}
	}
	path, err := configPath(cmd)
	if err != nil {
		return &exitError{exitConfig, err}
	}
	if cmd.Root().Bool("http") {
		return serveHTTP(ctx, cmd, path)
	}
	cred := authn.FromEnv(os.Getenv)
	// A refused key is one line on stderr (clients show the last line), so
	// its hint stays on that line.
	if cred.Key.IsZero() {
		return &exitError{exitAuth, fmt.Errorf("%s is not set: the MCP client must pass a gateway key from %s in its env block (hint: secure-mcp-gateway install --client claude-desktop, or cursor, vscode, ..., writes the client entry with a new key)", authn.EnvKey, path)}
	}
	cfg, err := config.Load(path, checkDetectors)
	if err != nil {
		return &exitError{exitConfig, err}
	}
	if err := strictUnknownKeys(cmd, cfg, path); err != nil {
		return err
	}
	principal, err := authn.Authenticate(cfg, cred)
	if err != nil {
		return &exitError{exitAuth, fmt.Errorf("the key in %s was refused by %s: %w", authn.EnvKey, path, err)}
	}

	redactor := secretsOf(cfg, cred)
	log, closeLog, err := newLogger(cmd, cfg.Common.LogLevel, redactor)
	if err != nil {
		return &exitError{exitUsage, err}
	}
	defer closeLog.Close()

	deps, closeDeps, err := newSessionDeps(cfg, path, log, redactor)
	if err != nil {
		return err
	}
	defer closeDeps()
	deps.elicitLogin = true // the client's browser is on this host: it reaches the loopback redirect
	deps.relist = relistInterval(cmd)
	// Every client line is checked strictly (UTF-8, no duplicate keys, size
	// and depth caps) before the SDK parses it; a bad line gets an error.
	return runGateway(ctx, deps, principal, wire.Stdio(os.Stdin, os.Stdout, &wire.Options{Logger: &log}))
}

// sessionDeps is what every client session of the process shares: the
// config, the logger and redactor, the discovery cache.
type sessionDeps struct {
	cfg      *config.Config
	path     string
	log      zerolog.Logger
	redactor *secret.Redactor
	tools    proxy.ToolCache
	// observers receive every session's call events: the audit log when
	// it is on, and the HTTP mode's metrics.
	observers []proxy.Observer
	timeouts  *proxy.TimeoutTracker // timeout budgets and metrics of every session
	// elicitLogin lets a session complete a server's browser login through
	// its client (URL-mode elicitation); only over stdio, where the
	// client's browser can reach the loopback redirect listener.
	elicitLogin bool
	relist      time.Duration // --tool-relist-interval; negative: never
}

// relistInterval returns --tool-relist-interval as proxy.Options wants it.
func relistInterval(cmd *cli.Command) time.Duration {
	if d := cmd.Root().Duration("tool-relist-interval"); d > 0 {
		return d
	}
	return -1
}

// newSessionDeps opens what sessions share; the returned function closes it.
func newSessionDeps(cfg *config.Config, path string, log zerolog.Logger, redactor *secret.Redactor) (*sessionDeps, func(), error) {
	d := &sessionDeps{cfg: cfg, path: path, log: log, redactor: redactor,
		timeouts: proxy.NewTimeoutTracker(proxy.BudgetsFromConfig(cfg.Common.Timeouts), &log)}
	logConfigWarnings(cfg, path, &log)
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	// An audit log that is switched on but cannot be opened stops the
	// gateway: serving without the record the config asks for would fail open.
	if cfg.Audit != nil && cfg.Audit.Enabled {
		al, err := audit.Open(*cfg.Audit)
		if err != nil {
			return nil, nil, &exitError{exitConfig, fmt.Errorf("audit log (audit.path in %s): %w", path, err)}
		}
		closers = append(closers, func() { _ = al.Close() })
		d.observers = append(d.observers, auditproxy.Observer(al))
	}
	if store, err := openToolCache(cfg, path, &log); err != nil {
		log.Warn().Err(err).Msg("discovery cache unavailable; every upstream is listed live")
	} else {
		d.tools = store
		closers = append(closers, func() { store.Close() })
	}
	return d, closeAll, nil
}

// newSession builds the gateway for one client session of principal, with
// its own upstream pool, guardrails and OAuth token sources. Nothing starts
// until the client needs it; the pool must be closed when the session ends.
func (d *sessionDeps) newSession(principal *authn.Principal, sessionID string, onClose func()) (*proxy.Gateway, *upstream.Pool) {
	log := d.log.With().Str("project", principal.ProjectName).Str("key", principal.KeyFingerprint).Logger()
	cfg := d.cfg
	oauth := oauthSources(principal.MCPConfig, cfg, d.path, d.redactor, &log)
	var supervisor []string
	if exe, err := executablePath(); err == nil {
		supervisor = []string{exe, supervisorCommandName}
	}
	var gw *proxy.Gateway
	var onUnavailable func(context.Context, *mcp.ServerSession, string, error) error
	if d.elicitLogin {
		onUnavailable = newLoginElicitor(principal.MCPConfig, d.path, oauthx.Options{
			Logger:    &log,
			Transport: upstream.NewHTTPTransport(cfg.Common.Timeouts.ConnectivityTimeout()),
			CheckURL:  upstream.CheckURL,
			CacheFile: oauthx.CachePath(d.path),
			Timeout:   cfg.Common.Timeouts.AuthTimeout(),
			OnToken:   func(tok string) { d.redactor.Add(tok) },
		}, func(server string) { gw.UpstreamToolsChanged(server) }, &log).onUnavailable
	}
	pool := upstream.NewPool(withOAuth(upstreamSpecs(&cfg.Common, principal.MCPConfig), oauth), &upstream.Options{
		Logger:         &log,
		Client:         &mcp.Implementation{Name: "secure-mcp-gateway", Version: version},
		ConnectTimeout: cfg.Common.Timeouts.DiscoveryTimeout(),
		DialTimeout:    cfg.Common.Timeouts.ConnectivityTimeout(),
		Redactor:       d.redactor,
		Supervisor:     supervisor,
		// The gateway relays each upstream's notifications and requests to
		// the client, and sees stdio upstreams' messages in wire order.
		NewClient:      func(server string) *mcp.Client { return gw.NewUpstreamClient(server) },
		WrapConnection: func(server string, c mcp.Connection) mcp.Connection { return gw.WrapConnection(server, c) },
	})
	gw = proxy.New(principal, pool, &proxy.Options{
		Logger:                    &log,
		Version:                   version,
		DiscoveryTimeout:          cfg.Common.Timeouts.DiscoveryTimeout(),
		CallTimeout:               cfg.Common.Timeouts.ToolExecutionTimeout(),
		ToolCache:                 d.tools,
		Guard:                     newGuard(principal, cfg, d.path, &log),
		Observers:                 d.observers,
		SessionID:                 sessionID,
		AllowEgressAfterInjection: cfg.Common.EgressAfterInjection == "allow",
		Redact:                    d.redactor.Redact,
		OnClose:                   onClose,
		ToolExposure:              cfg.Common.ToolExposure,
		Timeouts:                  d.timeouts,
		OnUnavailable:             onUnavailable,
		RelistInterval:            d.relist,
		Instructions:              sessionInstructions(providerProblems(cfg, principal.MCPConfig.Name, principal.MCPConfig.Servers)),
	})
	return gw, pool
}

// runGateway serves one client session for principal over t and reaps every
// upstream before returning.
func runGateway(ctx context.Context, d *sessionDeps, principal *authn.Principal, t mcp.Transport) error {
	gw, pool := d.newSession(principal, "", nil)
	defer pool.Close()
	d.log.Info().Int("servers", len(principal.MCPConfig.Servers)).Msg("gateway ready; upstreams start on first use")
	err := gw.Run(ctx, t)
	if ctx.Err() != nil {
		err = nil // a signal is a normal way to stop
	}
	d.log.Info().Msg("client gone; stopping upstreams")
	return err
}

// upstreamSpecs turns server entries into upstream specs, in config order.
func upstreamSpecs(common *config.Common, mc *config.MCPConfig) []upstream.Spec {
	specs := make([]upstream.Spec, 0, len(mc.Servers))
	for _, s := range mc.Servers {
		specs = append(specs, upstream.Spec{
			Name:            s.Name,
			MaxMessageBytes: common.UpstreamMaxMessageBytes(s),
			Command:         s.Config.Command,
			Args:            s.Config.Args,
			Env:             s.Config.Env,
			URL:             s.Config.URL,
			Headers:         s.Config.Headers,
			Sandbox:         sandboxSpec(s, common.Sandbox),
		})
	}
	return specs
}

// secretsOf collects every secret value the process knows about so that no
// log line can carry one: the caller's key, every server's env and header
// values, OAuth client secrets, the cache password and the admin key.
func secretsOf(cfg *config.Config, cred authn.Credentials) *secret.Redactor {
	r := &secret.Redactor{}
	r.Add(cred.Key.Reveal(), cfg.AdminAPIKey)
	r.Add(guard.ProviderSecrets(cfg)...)
	if cfg.Common.CachePassword != nil {
		r.Add(*cfg.Common.CachePassword)
	}
	for key := range cfg.APIKeys {
		r.Add(key)
	}
	for _, mc := range cfg.MCPConfigs {
		for _, s := range mc.Servers {
			for _, v := range s.Config.Env {
				r.Add(v)
			}
			for _, v := range s.Config.Headers {
				r.Add(v)
			}
			r.Add(upstream.URLSecrets(s.Config.URL)...)
			if s.OAuth != nil {
				r.Add(s.OAuth.ClientSecret)
			}
		}
	}
	return r
}
