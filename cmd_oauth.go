package main

import (
	"context"
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
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v3"

	"secure-mcp-gateway/admin"
	"secure-mcp-gateway/internal/config"
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
				Usage:   "show each OAuth server's cached token, and with Redis the one replicas share (masked: a fingerprint, never the token)",
				Flags:   []cli.Flag{jsonFlag},
				Action:  oauthStatus,
			},
			{
				Name:  "revoke",
				Usage: "revoke a server's cached token (RFC 7009: OAUTH_REVOCATION_URL, or the login's revocation_endpoint) and forget it",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "server", Usage: "server name (as in server_name)", Required: true},
					&cli.StringFlag{Name: "config-name", Usage: "only the server of this MCP config (default: every MCP config with a server of that name)"},
					&cli.StringFlag{Name: "config-id", Usage: "only the server of the MCP config with this ID"},
					jsonFlag,
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
	res, err := oauthx.Login(ctx, oauthx.LoginTarget(ls.server, ls.config, path), opts)
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
		ls.server.Name, ls.config, admin.ShownEndpoint(res.Issuer), res.Fingerprint, expires, refresh)
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

func oauthStatus(ctx context.Context, cmd *cli.Command) error {
	st, err := runtimeStore(cmd)
	if err != nil {
		return err
	}
	tokens, err := st.OAuthTokens(ctx)
	if err != nil {
		return cliError(err)
	}
	return out(cmd, tokens, func(w io.Writer) error {
		if len(tokens) == 0 {
			fmt.Fprintln(w, "no server has oauth_config.enabled or an \"oauth\" login entry")
			return nil
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		shared := slices.ContainsFunc(tokens, func(t admin.OAuthToken) bool { return t.Shared != nil })
		head := "SERVER\tCONFIG\tTOKEN ENDPOINT / ISSUER\tTOKEN\tEXPIRES"
		if shared {
			head += "\tSHARED (REPLICAS)"
		}
		fmt.Fprintln(tw, head)
		now := time.Now()
		for _, t := range tokens {
			endpoint, state, expires := t.Endpoint, "none cached", "-"
			if t.Kind == admin.TokenLogin {
				state = "not logged in: run " + t.LoginCommand
			}
			switch {
			case t.Problem != "":
				state = t.Problem
			case t.Cached:
				state = "cached " + t.Fingerprint
				if t.Refreshable {
					state += " (refreshable)"
				}
				if len(t.StepUpScopes) > 0 {
					state += fmt.Sprintf(" (needs login for scopes %q)", strings.Join(t.StepUpScopes, " "))
				}
				switch {
				case t.ExpiresAt == nil:
					expires = "unknown"
				case t.Expired:
					expires = "expired"
				default:
					expires = "in " + t.ExpiresAt.Sub(now).Round(time.Second).String()
				}
			}
			if endpoint == "" {
				endpoint = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s", t.Server, t.ConfigName, endpoint, state, expires)
			if shared {
				fmt.Fprintf(tw, "\t%s", sharedCell(t.Shared, now))
			}
			fmt.Fprintln(tw)
		}
		return tw.Flush()
	})
}

// sharedCell says what `oauth status` shows of the token replicas share:
// its fingerprint and expiry, none, or why it could not be read.
func sharedCell(s *admin.SharedOAuthToken, now time.Time) string {
	switch {
	case s == nil:
		return "-"
	case s.Problem != "":
		return s.Problem
	case s.NotShared:
		return "not shared (no client secret)"
	case !s.Cached:
		return "none"
	case s.ExpiresAt == nil:
		return s.Fingerprint + ", no expiry given"
	case s.Expired:
		return s.Fingerprint + ", expired"
	}
	return s.Fingerprint + ", expires in " + s.ExpiresAt.Sub(now).Round(time.Second).String()
}

func oauthRevoke(ctx context.Context, cmd *cli.Command) error {
	st, err := runtimeStore(cmd)
	if err != nil {
		return err
	}
	res, err := st.RevokeOAuthToken(ctx, admin.RevokeTokenRequest{ServerName: cmd.String("server"), Config: configRef(cmd)})
	var re *admin.RevokeError
	if err != nil && !errors.As(err, &re) {
		return cliError(err)
	}
	if perr := out(cmd, res, func(w io.Writer) error {
		for _, r := range res {
			login := r.Kind == admin.TokenLogin
			var msg string
			switch r.Outcome {
			case admin.RevokeNoToken:
				msg = "no cached token"
				if login {
					msg = "not logged in"
				}
			case admin.RevokeForgotten:
				msg = "token forgotten locally; not revoked at the issuer (no OAUTH_REVOCATION_URL)"
				if login {
					msg = "login forgotten locally; not revoked at the issuer (it advertises no revocation_endpoint)"
				}
			case admin.RevokeRevoked:
				msg = "token revoked"
				if login {
					msg = "login revoked at the issuer and forgotten"
				}
			default:
				msg = "revocation failed: " + r.Problem
			}
			fmt.Fprintf(w, "server %q (config %q): %s\n", r.Server, r.ConfigName, msg)
		}
		return nil
	}); perr != nil {
		return perr
	}
	if re != nil {
		return cli.Exit(re, 1)
	}
	return nil
}
