package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v3"

	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/oauthx"
	"secure-mcp-gateway/serve"
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

func oauthLogin(ctx context.Context, cmd *cli.Command) error {
	cfg, path, err := loadAdminConfig(cmd)
	if err != nil {
		return err
	}
	name := cmd.Args().First()
	if name == "" || cmd.Args().Len() > 1 {
		return cli.Exit(errors.New("usage: oauth login SERVER [--config-name NAME] [--no-browser] [--new-client]"), exitUsage)
	}
	var match []loginServer
	for _, ls := range loginServers(cfg) {
		if ls.server.Name == name && (cmd.String("config-name") == "" || cmd.String("config-name") == ls.config) {
			match = append(match, ls)
		}
	}
	switch len(match) {
	case 0:
		return cli.Exit(fmt.Errorf("no remote server named %q has an \"oauth\" entry in %s", name, path), exitUsage)
	case 1:
	default:
		var names []string
		for _, m := range match {
			names = append(names, strconv.Quote(m.config))
		}
		return cli.Exit(fmt.Errorf("server %q is in several MCP configs (%s); choose one with --config-name", name, strings.Join(names, ", ")), exitUsage)
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
	res, err := oauthx.Login(ctx, serve.LoginTarget(ls.server, ls.config, path), opts)
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
	cfg, path, err := loadAdminConfig(cmd)
	if err != nil {
		return err
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
		issuer, state, expires := "-", "not logged in: run "+serve.LoginTarget(ls.server, ls.config, path).Command, "-"
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
	cfg, path, err := loadAdminConfig(cmd)
	if err != nil {
		return err
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
		src := oauthx.NewLoginSource(serve.LoginTarget(ls.server, ls.config, path), &oauthx.Options{
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
		return cli.Exit(fmt.Errorf("no server named %q has oauth_config.enabled or an \"oauth\" login entry in %s", name, path), exitUsage)
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
