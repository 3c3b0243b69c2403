package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v3"
	"golang.org/x/oauth2"

	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/internal/secret"
	"secure-mcp-gateway/oauthx"
	"secure-mcp-gateway/upstream"
)

// oauthCommand is `oauth status` and `oauth revoke --server S`.
func oauthCommand() *cli.Command {
	return &cli.Command{
		Name:  "oauth",
		Usage: "inspect and revoke the OAuth tokens the gateway holds for upstream servers",
		Commands: []*cli.Command{
			{
				Name:   "status",
				Usage:  "show each OAuth-enabled server's cached token (masked: a fingerprint, never the token)",
				Action: oauthStatus,
			},
			{
				Name:  "revoke",
				Usage: "revoke a server's cached token at its OAUTH_REVOCATION_URL (RFC 7009) and forget it",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "server", Usage: "server name (as in server_name)", Required: true},
				},
				Action: oauthRevoke,
			},
		},
	}
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
	cfg, err := config.Load(path)
	if err != nil {
		return &exitError{exitConfig, err}
	}
	servers := oauthServers(cfg)
	w := cmd.Root().Writer
	if len(servers) == 0 {
		fmt.Fprintln(w, "no server has oauth_config.enabled")
		return nil
	}
	cache := oauthx.CachePath(path)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tCONFIG\tTOKEN ENDPOINT\tTOKEN\tEXPIRES")
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
	return tw.Flush()
}

func oauthRevoke(ctx context.Context, cmd *cli.Command) error {
	path, err := configPath(cmd)
	if err != nil {
		return &exitError{exitConfig, err}
	}
	cfg, err := config.Load(path)
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
	if !found {
		return &exitError{exitUsage, fmt.Errorf("no server named %q has oauth_config.enabled in %s", name, path)}
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
func oauthSources(mc *config.MCPConfig, cfg *config.Config, cacheFile string, redactor *secret.Redactor, log *zerolog.Logger) map[string]oauth2.TokenSource {
	out := map[string]oauth2.TokenSource{}
	for _, s := range mc.Servers {
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
