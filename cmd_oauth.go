package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/rs/zerolog"
	"github.com/urfave/cli/v3"
	"golang.org/x/oauth2"

	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/internal/secret"
	"secure-mcp-gateway/oauthx"
	"secure-mcp-gateway/upstream"
)

// oauthCommand is `oauth login SERVER`, `oauth status` and `oauth revoke
// --server S`.
func oauthCommand() *cli.Command {
	return &cli.Command{
		Name:  "oauth",
		Usage: "log in to remote servers, inspect and revoke the OAuth tokens the gateway holds for upstream servers",
		Commands: []*cli.Command{
			{
				Name:      "login",
				Usage:     "log in to a remote server with its \"oauth\" entry (authorization code + PKCE in a browser)",
				ArgsUsage: "SERVER",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "config-name", Usage: "the MCP config holding SERVER (needed when several hold a server of that name)"},
					&cli.BoolFlag{Name: "no-browser", Usage: "do not open a browser; open the printed URL yourself (over SSH, for example)"},
					&cli.BoolFlag{Name: "new-client", Usage: "register a new client even if one is remembered for the authorization server (when it says the client is unknown)"},
				},
				Action: oauthLogin,
			},
			{
				Name:    "status",
				Aliases: []string{"list"},
				Usage:   "show each OAuth server's cached token (masked: a fingerprint, never the token)",
				Action:  oauthStatus,
			},
			{
				Name:  "revoke",
				Usage: "revoke a server's cached token (RFC 7009: OAUTH_REVOCATION_URL, or the login's revocation_endpoint) and forget it",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "server", Usage: "server name (as in server_name)", Required: true},
				},
				Action: oauthRevoke,
			},
		},
	}
}

// loginServer is a remote server entry with an "oauth" (login) entry.
type loginServer struct {
	config string // MCP config name
	server *config.Server
}

func loginServers(cfg *config.Config) []loginServer {
	var out []loginServer
	for _, id := range slices.Sorted(maps.Keys(cfg.MCPConfigs)) {
		mc := cfg.MCPConfigs[id]
		for _, s := range mc.Servers {
			if s != nil && s.OAuthLogin != nil && s.Config.URL != "" {
				out = append(out, loginServer{config: mc.Name, server: s})
			}
		}
	}
	return out
}

// loginTarget is the oauthx target of server s of MCP config configName;
// configPath is the config file, named in the login command when it is
// not the default one.
func loginTarget(s *config.Server, configName, configPath string) *oauthx.Target {
	shown := configPath
	if def, err := config.DefaultPath(); err == nil && def == configPath {
		shown = ""
	}
	return &oauthx.Target{Server: s.Name, ConfigName: configName, URL: s.Config.URL, Login: s.OAuthLogin,
		Command: oauthx.LoginCommand(s.Name, configName, shown)}
}

func oauthLogin(ctx context.Context, cmd *cli.Command) error {
	path, err := configPath(cmd)
	if err != nil {
		return &exitError{exitConfig, err}
	}
	cfg, err := config.Load(path, checkDetectors)
	if err != nil {
		return &exitError{exitConfig, err}
	}
	name := cmd.Args().First()
	if name == "" || cmd.Args().Len() > 1 {
		return &exitError{exitUsage, errors.New("usage: oauth login SERVER [--config-name NAME] [--no-browser] [--new-client]")}
	}
	var match []loginServer
	for _, ls := range loginServers(cfg) {
		if ls.server.Name == name && (cmd.String("config-name") == "" || cmd.String("config-name") == ls.config) {
			match = append(match, ls)
		}
	}
	switch len(match) {
	case 0:
		return &exitError{exitUsage, fmt.Errorf("no remote server named %q has an \"oauth\" entry in %s", name, path)}
	case 1:
	default:
		var names []string
		for _, m := range match {
			names = append(names, strconv.Quote(m.config))
		}
		return &exitError{exitUsage, fmt.Errorf("server %q is in several MCP configs (%s); choose one with --config-name", name, strings.Join(names, ", "))}
	}
	ls := match[0]
	errw := cmd.Root().ErrWriter
	opts := &oauthx.LoginOptions{
		Options: oauthx.Options{
			CacheFile: oauthx.CachePath(path),
			Transport: upstream.NewHTTPTransport(cfg.Common.Timeouts.ConnectivityTimeout()),
			CheckURL:  upstream.CheckURL,
			Timeout:   cfg.Common.Timeouts.AuthTimeout(),
		},
		Prompt:    errw,
		NewClient: cmd.Bool("new-client"),
	}
	if !cmd.Bool("no-browser") {
		opts.OpenBrowser = openBrowser
	}
	res, err := oauthx.Login(ctx, loginTarget(ls.server, ls.config, path), opts)
	if err != nil {
		return err
	}
	expires := "no expiry given"
	if !res.Expiry.IsZero() {
		expires = "expires in " + time.Until(res.Expiry).Round(time.Second).String()
	}
	refresh := "no refresh token: log in again when it expires"
	if res.Refreshable {
		refresh = "refreshed automatically"
	}
	fmt.Fprintf(cmd.Root().Writer, "server %q (config %q): logged in at %s; token %s, %s, %s\n",
		ls.server.Name, ls.config, endpointForDisplay(res.Issuer), res.Fingerprint, expires, refresh)
	return nil
}

// openBrowser asks the desktop to open u, without waiting and without
// letting the opener write to our stdout or stderr.
func openBrowser(u string) error {
	var c *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		c = exec.Command("open", u)
	case "windows":
		c = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
	default:
		if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
			return errors.New("no graphical display")
		}
		c = exec.Command("xdg-open", u)
	}
	if err := c.Start(); err != nil {
		return err
	}
	go func() { _ = c.Wait() }()
	return nil
}

// oauthServer is one OAuth-enabled server entry of the config.
type oauthServer struct {
	config string // MCP config name
	name   string
	oauth  *config.OAuthConfig
}

func oauthServers(cfg *config.Config) []oauthServer {
	var out []oauthServer
	for _, mc := range cfg.MCPConfigs {
		for _, s := range mc.Servers {
			if s.OAuth != nil && s.OAuth.Enabled {
				out = append(out, oauthServer{config: mc.Name, name: s.Name, oauth: s.OAuth})
			}
		}
	}
	return out
}

func oauthStatus(_ context.Context, cmd *cli.Command) error {
	path, err := configPath(cmd)
	if err != nil {
		return &exitError{exitConfig, err}
	}
	cfg, err := config.Load(path, checkDetectors)
	if err != nil {
		return &exitError{exitConfig, err}
	}
	servers := oauthServers(cfg)
	logins := loginServers(cfg)
	w := cmd.Root().Writer
	if len(servers) == 0 && len(logins) == 0 {
		fmt.Fprintln(w, "no server has oauth_config.enabled or an \"oauth\" login entry")
		return nil
	}
	cache := oauthx.CachePath(path)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tCONFIG\tTOKEN ENDPOINT / ISSUER\tTOKEN\tEXPIRES")
	now := time.Now()
	for _, s := range servers {
		st, err := oauthx.Inspect(cache, s.name, s.oauth)
		state, expires := "none cached", "-"
		switch {
		case err != nil:
			state = "unreadable cache: " + err.Error()
		case st.Cached:
			state = "cached " + st.Fingerprint
			if st.Expiry.IsZero() {
				expires = "unknown"
			} else if st.Expiry.After(now) {
				expires = "in " + st.Expiry.Sub(now).Round(time.Second).String()
			} else {
				expires = "expired"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.name, s.config, endpointForDisplay(s.oauth.TokenURL), state, expires)
	}
	for _, ls := range logins {
		st, err := oauthx.InspectLogin(cache, ls.server.Name, ls.server.Config.URL)
		issuer, state, expires := "-", "not logged in: run "+loginTarget(ls.server, ls.config, path).Command, "-"
		switch {
		case err != nil:
			state = "unreadable cache: " + err.Error()
		case st.Cached:
			issuer = endpointForDisplay(st.Issuer)
			state = "cached " + st.Fingerprint
			if st.Refreshable {
				state += " (refreshable)"
			}
			if len(st.StepUp) > 0 {
				state += fmt.Sprintf(" (needs login for scopes %q)", strings.Join(st.StepUp, " "))
			}
			if st.Expiry.IsZero() {
				expires = "unknown"
			} else if st.Expiry.After(now) {
				expires = "in " + st.Expiry.Sub(now).Round(time.Second).String()
			} else {
				expires = "expired"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", ls.server.Name, ls.config, issuer, state, expires)
	}
	return tw.Flush()
}

func oauthRevoke(ctx context.Context, cmd *cli.Command) error {
	path, err := configPath(cmd)
	if err != nil {
		return &exitError{exitConfig, err}
	}
	cfg, err := config.Load(path, checkDetectors)
	if err != nil {
		return &exitError{exitConfig, err}
	}
	name := cmd.String("server")
	var errs []error
	found := false
	w := cmd.Root().Writer
	for _, s := range oauthServers(cfg) {
		if s.name != name {
			continue
		}
		found = true
		src, err := oauthx.New(s.name, s.oauth, &oauthx.Options{
			CacheFile: oauthx.CachePath(path),
			Transport: upstream.NewHTTPTransport(cfg.Common.Timeouts.ConnectivityTimeout()),
			CheckURL:  upstream.CheckURL,
			Timeout:   cfg.Common.Timeouts.AuthTimeout(),
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		had, err := src.Revoke(ctx)
		switch {
		case !had:
			fmt.Fprintf(w, "server %q (config %q): no cached token\n", s.name, s.config)
		case errors.Is(err, oauthx.ErrNoRevocationURL):
			fmt.Fprintf(w, "server %q (config %q): token forgotten locally; not revoked at the issuer (no OAUTH_REVOCATION_URL)\n", s.name, s.config)
		case err != nil:
			errs = append(errs, err)
		default:
			fmt.Fprintf(w, "server %q (config %q): token revoked\n", s.name, s.config)
		}
	}
	for _, ls := range loginServers(cfg) {
		if ls.server.Name != name {
			continue
		}
		found = true
		src := oauthx.NewLoginSource(loginTarget(ls.server, ls.config, path), &oauthx.Options{
			CacheFile: oauthx.CachePath(path),
			Transport: upstream.NewHTTPTransport(cfg.Common.Timeouts.ConnectivityTimeout()),
			CheckURL:  upstream.CheckURL,
			Timeout:   cfg.Common.Timeouts.AuthTimeout(),
		})
		had, err := src.Revoke(ctx)
		switch {
		case !had:
			fmt.Fprintf(w, "server %q (config %q): not logged in\n", name, ls.config)
		case errors.Is(err, oauthx.ErrRevocationNotAdvertised):
			fmt.Fprintf(w, "server %q (config %q): login forgotten locally; not revoked at the issuer (it advertises no revocation_endpoint)\n", name, ls.config)
		case err != nil:
			errs = append(errs, err)
		default:
			fmt.Fprintf(w, "server %q (config %q): login revoked at the issuer and forgotten\n", name, ls.config)
		}
	}
	if !found {
		return &exitError{exitUsage, fmt.Errorf("no server named %q has oauth_config.enabled or an \"oauth\" login entry in %s", name, path)}
	}
	return errors.Join(errs...)
}

// endpointForDisplay strips credentials, query and fragment from a URL.
func endpointForDisplay(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	if scheme, rest, ok := strings.Cut(u, "://"); ok {
		if at := strings.LastIndex(rest, "@"); at >= 0 && at < strings.IndexByte(rest+"/", '/') {
			rest = rest[at+1:]
		}
		u = scheme + "://" + rest
	}
	return u
}

// oauthSources builds the token source of every OAuth-enabled server of mc.
// Each token is registered with redactor before anyone can use it, so no
// log line can carry one. A server whose source cannot be built gets an
// error source, so that only its calls fail.
//
// A remote server with an "oauth" login entry gets an oauthx.LoginSource
// reading the token that `oauth login` stored; it never prompts, and
// without a usable token its calls fail with an error naming the login
// command. configPath is the config file.
func oauthSources(mc *config.MCPConfig, cfg *config.Config, configPath string, redactor *secret.Redactor, log *zerolog.Logger) map[string]oauth2.TokenSource {
	cacheFile := oauthx.CachePath(configPath)
	out := map[string]oauth2.TokenSource{}
	for _, s := range mc.Servers {
		if s.OAuthLogin != nil && s.Config.URL != "" {
			redactor.Add(s.OAuthLogin.ClientSecret)
			out[s.Name] = oauthx.NewLoginSource(loginTarget(s, mc.Name, configPath), &oauthx.Options{
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
			e.targets[s.Name] = loginTarget(s, mc.Name, configPath)
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
