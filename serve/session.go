package serve

import (
	"context"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/rs/zerolog"

	"secure-mcp-gateway/audit"
	"secure-mcp-gateway/audit/auditproxy"
	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/guard"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/internal/secret"
	"secure-mcp-gateway/oauthx"
	"secure-mcp-gateway/proxy"
	"secure-mcp-gateway/telemetry"
	"secure-mcp-gateway/upstream"
)

// shared is what every client session of the process shares: the
// options, the discovery cache, the call-event observers and the timeout
// budgets.
type shared struct {
	opts  Options
	log   zerolog.Logger
	tools proxy.ToolCache
	// observers receive every session's call events: the audit log when
	// it is on, and the HTTP mode's metrics.
	observers []proxy.Observer
	// onUpstream is told of upstream starts and exits (the HTTP metrics);
	// nil over stdio.
	onUpstream func(upstream.Event)
	// traceContext is on when traces are exported: requests get trace ids
	// and upstreams their parent (proxy.Options.TraceContext).
	traceContext bool
	timeouts     *proxy.TimeoutTracker // timeout budgets and metrics of every session
	audit        *audit.Log            // the audit log when it is on, else nil
	// elicitLogin lets a session complete a server's browser login through
	// its client (URL-mode elicitation); only over stdio, where the
	// client's browser can reach the loopback redirect listener.
	elicitLogin bool
}

// open copies o, fills its defaults and opens what sessions share; the
// returned function closes it. An audit log that is switched on but cannot
// be opened is a *ConfigError: serving without the record the config asks
// for would fail open.
func open(o *Options) (*shared, func(), error) {
	if o == nil || o.Config == nil {
		panic("serve: Options.Config is required")
	}
	r := &shared{opts: *o}
	if r.opts.Logger != nil {
		r.log = *r.opts.Logger
	} else {
		r.log = zerolog.Nop()
	}
	if r.opts.Redactor == nil {
		r.opts.Redactor = &secret.Redactor{}
	}
	cfg := r.opts.Config
	r.timeouts = proxy.NewTimeoutTracker(proxy.BudgetsFromConfig(cfg.Common.Timeouts), &r.log)
	r.observers = append(r.observers, callLog{r.log})
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	if cfg.Audit != nil && cfg.Audit.Enabled {
		al, err := audit.Open(*cfg.Audit)
		if err != nil {
			return nil, nil, &ConfigError{fmt.Errorf("audit log (audit.path in %s): %w", r.opts.ConfigPath, err)}
		}
		closers = append(closers, func() { _ = al.Close() })
		r.observers = append(r.observers, auditproxy.Observer(al))
		r.audit = al
	}
	tset, err := cfg.Plugins.TelemetrySettings()
	if err != nil {
		closeAll()
		return nil, nil, &ConfigError{fmt.Errorf("plugins.telemetry in %s: %w", r.opts.ConfigPath, err)}
	}
	tr, err := telemetry.Start(context.Background(), telemetry.Options{Settings: tset, Version: r.opts.Version, Logger: &r.log})
	if err != nil {
		closeAll()
		return nil, nil, &ConfigError{fmt.Errorf("telemetry (plugins.telemetry in %s, or OTEL_EXPORTER_OTLP_*): %w", r.opts.ConfigPath, err)}
	}
	if tr != nil {
		closers = append(closers, func() {
			// Spans still queued get a moment to leave; a dead collector
			// does not hold the exit longer than this.
			ctx, cancel := context.WithTimeout(context.Background(), telemetry.DefaultExportTimeout)
			defer cancel()
			err := tr.Shutdown(ctx)
			if n := tr.Dropped(); err != nil || n > 0 {
				r.log.Warn().Err(err).Uint64("dropped_events", n).Msg("telemetry: not every call event was exported")
			}
		})
		r.observers = append(r.observers, tr)
		r.traceContext = true
	}
	if r.opts.OpenToolCache != nil {
		if store, err := r.opts.OpenToolCache(&r.log); err != nil {
			r.log.Warn().Err(err).Msg("discovery cache unavailable; every upstream is listed live")
		} else {
			r.tools = store
			closers = append(closers, func() { store.Close() })
		}
	}
	return r, closeAll, nil
}

// newSession builds the gateway for one client session of principal, with
// its own upstream pool, guardrails and OAuth token sources. Nothing starts
// until the client needs it; the pool must be closed when the session ends.
func (r *shared) newSession(principal *authn.Principal, sessionID string, onClose func()) (*proxy.Gateway, *upstream.Pool) {
	log := r.log.With().Str("project", principal.ProjectName).Str("key", principal.KeyFingerprint).Logger()
	cfg, path, redactor := r.opts.Config, r.opts.ConfigPath, r.opts.Redactor
	oauth := oauthSources(principal.MCPConfig, cfg, path, r.opts.SharedState, redactor, &log)
	var gw *proxy.Gateway
	var onUnavailable func(context.Context, *mcp.ServerSession, string, error) error
	if r.elicitLogin {
		onUnavailable = newLoginElicitor(principal.MCPConfig, path, oauthx.Options{
			Logger:    &log,
			Transport: upstream.NewHTTPTransport(cfg.Common.Timeouts.ConnectivityTimeout()),
			CheckURL:  upstream.CheckURL,
			CacheFile: oauthx.CachePath(path),
			Timeout:   cfg.Common.Timeouts.AuthTimeout(),
			OnToken:   func(tok string) { redactor.Add(tok) },
		}, func(server string) { gw.UpstreamToolsChanged(server) }, &log).onUnavailable
	}
	pool := upstream.NewPool(withOAuth(upstreamSpecs(&cfg.Common, principal.MCPConfig, r.opts.Sandbox), oauth), &upstream.Options{
		Logger:         &log,
		Client:         &mcp.Implementation{Name: "secure-mcp-gateway", Version: r.opts.Version},
		ConnectTimeout: cfg.Common.Timeouts.DiscoveryTimeout(),
		DialTimeout:    cfg.Common.Timeouts.ConnectivityTimeout(),
		Redactor:       redactor,
		Supervisor:     r.opts.Supervisor,
		OnEvent:        r.onUpstream,
		// The gateway relays each upstream's notifications and requests to
		// the client, and sees stdio upstreams' messages in wire order.
		NewClient:      func(server string) *mcp.Client { return gw.NewUpstreamClient(server) },
		WrapConnection: func(server string, c mcp.Connection) mcp.Connection { return gw.WrapConnection(server, c) },
	})
	var g proxy.Guard
	if r.opts.Guard != nil {
		g = r.opts.Guard(principal, &log, r.audit)
	}
	var instructions string
	if r.opts.Instructions != nil {
		instructions = r.opts.Instructions(principal)
	}
	gw = proxy.New(principal, pool, &proxy.Options{
		Logger:                    &log,
		Version:                   r.opts.Version,
		DiscoveryTimeout:          cfg.Common.Timeouts.DiscoveryTimeout(),
		CallTimeout:               cfg.Common.Timeouts.ToolExecutionTimeout(),
		ToolCache:                 r.tools,
		Guard:                     g,
		Observers:                 r.observers,
		TraceContext:              r.traceContext,
		SessionID:                 sessionID,
		AllowEgressAfterInjection: cfg.Common.EgressAfterInjection == "allow",
		Redact:                    redactor.Redact,
		OnClose:                   onClose,
		ToolExposure:              cfg.Common.ToolExposure,
		Timeouts:                  r.timeouts,
		OnUnavailable:             onUnavailable,
		RelistInterval:            r.opts.RelistInterval,
		Instructions:              instructions,
	})
	return gw, pool
}

// upstreamSpecs turns server entries into upstream specs, in config order.
func upstreamSpecs(common *config.Common, mc *config.MCPConfig, sandbox func(*config.Server, *config.SandboxDefaults) *upstream.Sandbox) []upstream.Spec {
	specs := make([]upstream.Spec, 0, len(mc.Servers))
	for _, s := range mc.Servers {
		spec := upstream.Spec{
			Name:            s.Name,
			MaxMessageBytes: common.UpstreamMaxMessageBytes(s),
			Command:         s.Config.Command,
			Args:            s.Config.Args,
			Env:             s.Config.Env,
			URL:             s.Config.URL,
			Headers:         s.Config.Headers,
		}
		if sandbox != nil {
			spec.Sandbox = sandbox(s, common.Sandbox)
		}
		specs = append(specs, spec)
	}
	return specs
}

// Secrets collects every secret value the process knows about so that no
// log line can carry one: the caller's key (cred; zero in HTTP mode, where
// every request brings its own), every server's env and header values,
// OAuth client secrets, guardrail provider keys, the cache password, every
// gateway key and the admin key.
func Secrets(cfg *config.Config, cred authn.Credentials) *secret.Redactor {
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
