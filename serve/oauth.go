package serve

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/rs/zerolog"
	"golang.org/x/oauth2"

	"secure-mcp-gateway/cache"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/internal/secret"
	"secure-mcp-gateway/oauthx"
	"secure-mcp-gateway/upstream"
)

// oauthSources builds the token source of every OAuth-enabled server of mc.
// Each token is registered with redactor before anyone can use it, so no
// log line can carry one. A server whose source cannot be built gets an
// error source, so that only its calls fail.
//
// A remote server with an "oauth" login entry gets an oauthx.LoginSource
// reading the token that `oauth login` stored; it never prompts, and
// without a usable token its calls fail with an error naming the login
// command. configPath is the config file.
//
// With shared (the Redis of Options.SharedState), replicas share each
// client-credentials token: one grant per upstream for all of them, each
// replica keeping its copy in the cache file beside the config for while
// Redis is down. Login tokens stay per replica.
func oauthSources(mc *config.MCPConfig, cfg *config.Config, configPath string, shared *cache.Shared, redactor *secret.Redactor, log *zerolog.Logger) map[string]oauth2.TokenSource {
	cacheFile := oauthx.CachePath(configPath)
	var sharedTokens oauthx.SharedTokens
	if shared != nil { // a nil *cache.Shared must not become a non-nil interface
		sharedTokens = shared
	}
	out := map[string]oauth2.TokenSource{}
	for _, s := range mc.Servers {
		if s.OAuthLogin != nil && s.Config.URL != "" {
			redactor.Add(s.OAuthLogin.ClientSecret)
			out[s.Name] = oauthx.NewLoginSource(oauthx.LoginTarget(s, mc.Name, configPath), &oauthx.Options{
				Logger:    log,
				Transport: upstream.NewHTTPTransport(cfg.Common.Timeouts.ConnectivityTimeout()),
				CheckURL:  upstream.CheckURL,
				CacheFile: cacheFile,
				Timeout:   cfg.Common.Timeouts.AuthTimeout(),
				OnToken:   func(tok string) { redactor.Add(tok) },
			})
			continue
		}
		if s.OAuth == nil || !s.OAuth.Enabled {
			continue
		}
		redactor.Add(s.OAuth.ClientSecret)
		for _, v := range s.OAuth.AdditionalParams {
			redactor.Add(v)
		}
		for _, v := range s.OAuth.CustomHeaders {
			redactor.Add(v)
		}
		src, err := oauthx.New(s.Name, s.OAuth, &oauthx.Options{
			Logger:    log,
			Transport: upstream.NewHTTPTransport(cfg.Common.Timeouts.ConnectivityTimeout()),
			CheckURL:  upstream.CheckURL,
			CacheFile: cacheFile,
			Timeout:   cfg.Common.Timeouts.AuthTimeout(),
			OnToken:   func(tok string) { redactor.Add(tok) },
			Shared:    sharedTokens,
		})
		if err != nil {
			log.Error().Str("server", s.Name).Err(err).Msg("oauth unusable for this server; its calls will fail")
			out[s.Name] = failingSource{err}
			continue
		}
		out[s.Name] = src
	}
	return out
}

var _ oauthx.SharedTokens = (*cache.Shared)(nil)

// failingSource is the token source of a server whose oauth_config the
// gateway cannot use: every start of that server fails with err.
type failingSource struct{ err error }

// Token implements oauth2.TokenSource.
func (f failingSource) Token() (*oauth2.Token, error) { return nil, f.err }

// withOAuth injects the token sources into specs: remote upstreams send
// Authorization: Bearer, stdio upstreams get the token in their environment
// (fetched before the child is spawned). Python-style `mcp-remote` entries
// also get `--header Authorization:${AUTH_HEADER}`, which mcp-remote
// expands from that environment.
func withOAuth(specs []upstream.Spec, srcs map[string]oauth2.TokenSource) []upstream.Spec {
	for i := range specs {
		src, ok := srcs[specs[i].Name]
		if !ok {
			continue
		}
		if specs[i].URL != "" {
			specs[i].TokenSource = src
			continue
		}
		specs[i].EnvFunc = func(ctx context.Context) (map[string]string, error) {
			if s, ok := src.(*oauthx.Source); ok {
				return s.Env(ctx)
			}
			_, err := src.Token()
			return nil, err
		}
		if slices.ContainsFunc(specs[i].Args, func(a string) bool { return strings.Contains(a, "mcp-remote") }) &&
			!slices.ContainsFunc(specs[i].Args, func(a string) bool { return strings.HasPrefix(strings.ToLower(a), "authorization:") }) {
			specs[i].Args = append(slices.Clone(specs[i].Args), "--header", "Authorization:${AUTH_HEADER}")
		}
	}
	return specs
}

// loginElicitor completes browser logins through the MCP client (URL-mode
// elicitation, MCP 2025-11-25) while serving over stdio, where the client
// and its browser are on this host and reach the loopback redirect
// listener. A call to a server that needs a login gets the -32042 error
// carrying the authorization URL; the login goes on in the background (5
// minutes at most), stores the token like `oauth login`, and tells the
// client with notifications/elicitation/complete, after which the client
// retries the call. A client without URL elicitation gets the error result
// naming the login command instead.
type loginElicitor struct {
	targets map[string]*oauthx.Target
	opts    oauthx.Options
	log     *zerolog.Logger
	// rediscover lists a server's tools again once it is logged in.
	rediscover func(server string)

	mu      sync.Mutex
	pending map[string]*pendingLogin // by server
}

// pendingLogin is a login in progress; ready is closed once url is set
// or the login ended without one.
type pendingLogin struct {
	id    string
	url   string
	ready chan struct{}
}

func newLoginElicitor(mc *config.MCPConfig, configPath string, opts oauthx.Options, rediscover func(string), log *zerolog.Logger) *loginElicitor {
	e := &loginElicitor{targets: map[string]*oauthx.Target{}, opts: opts, log: log, rediscover: rediscover, pending: map[string]*pendingLogin{}}
	for _, s := range mc.Servers {
		if s.OAuthLogin != nil && s.Config.URL != "" {
			e.targets[s.Name] = oauthx.LoginTarget(s, mc.Name, configPath)
		}
	}
	return e
}

// onUnavailable implements proxy.Options.OnUnavailable.
func (e *loginElicitor) onUnavailable(ctx context.Context, ss *mcp.ServerSession, server string, err error) error {
	var lr *oauthx.LoginRequiredError
	t := e.targets[server]
	if t == nil || !errors.As(err, &lr) || !urlElicitation(ss) {
		return nil
	}
	e.mu.Lock()
	p := e.pending[server]
	if p == nil {
		if st, err := oauthx.InspectLogin(e.opts.CacheFile, server, t.URL); err == nil && st.Cached &&
			(st.Expiry.IsZero() || st.Expiry.After(time.Now())) {
			// Logged in since this error was recorded: the server is
			// being listed again, no new login.
			e.mu.Unlock()
			return nil
		}
		p = &pendingLogin{id: rand.Text(), ready: make(chan struct{})}
		e.pending[server] = p
		go e.login(ss, server, t, p)
	}
	e.mu.Unlock()
	select {
	case <-p.ready:
	case <-ctx.Done():
		return nil
	}
	e.mu.Lock()
	u := p.url
	e.mu.Unlock()
	if u == "" {
		return nil // the login failed before it had a URL: the error result stands
	}
	return mcp.URLElicitationRequiredError([]*mcp.ElicitParams{{
		Mode: "url", ElicitationID: p.id, URL: u,
		Message: fmt.Sprintf("Log in to %q so that the gateway can call its tools (%s).", server, lr.Reason),
	}})
}

// login runs the login of server in the background and tells the client
// when it is done.
func (e *loginElicitor) login(ss *mcp.ServerSession, server string, t *oauthx.Target, p *pendingLogin) {
	var once sync.Once
	ready := func() { once.Do(func() { close(p.ready) }) }
	defer func() {
		ready()
		e.mu.Lock()
		delete(e.pending, server)
		e.mu.Unlock()
	}()
	res, err := oauthx.Login(context.Background(), t, &oauthx.LoginOptions{
		Options: e.opts,
		Prompt:  io.Discard, // stdout is the MCP channel; the URL goes to the client
		OpenBrowser: func(u string) error {
			e.mu.Lock()
			p.url = u
			e.mu.Unlock()
			ready()
			return nil
		},
	})
	if err != nil {
		e.log.Warn().Str("server", server).Err(err).Msg("login through the client failed")
		return
	}
	e.log.Info().Str("server", server).Str("token", res.Fingerprint).Msg("logged in through the client")
	if e.rediscover != nil {
		e.rediscover(server)
	}
	if err := ss.NotifyElicitationComplete(context.Background(), &mcp.ElicitationCompleteParams{ElicitationID: p.id}); err != nil {
		e.log.Debug().Err(err).Msg("elicitation complete notification not sent")
	}
}

// urlElicitation reports whether the client of ss supports URL-mode
// elicitation.
func urlElicitation(ss *mcp.ServerSession) bool {
	if ss == nil {
		return false
	}
	ip := ss.InitializeParams()
	return ip != nil && ip.Capabilities != nil && ip.Capabilities.Elicitation != nil && ip.Capabilities.Elicitation.URL != nil
}
