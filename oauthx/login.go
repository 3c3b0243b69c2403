package oauthx

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/internal/secret"
)

// DefaultLoginWait bounds how long `oauth login` waits for the browser to
// come back to the loopback redirect listener.
const DefaultLoginWait = 5 * time.Minute

// redirectPath is the path of the loopback redirect URI.
const redirectPath = "/callback"

// Target is a remote server that the user logs in to with the
// authorization code flow: the server's name, where it is configured, its
// MCP endpoint and its "oauth" entry.
type Target struct {
	// Server is the server's name.
	Server string
	// ConfigName is the name of the MCP config that holds the server.
	ConfigName string
	// URL is the server's MCP endpoint; the token is bound to it.
	URL string
	// Login is the server's "oauth" entry.
	Login *config.OAuthLogin
	// Command is the command that logs in to the server, shown in every
	// error that asks for a login. Empty means LoginCommand(Server,
	// ConfigName, "").
	Command string
}

// LoginCommand returns the command that logs in to server of MCP config
// configName; configPath is added as --config when it is not empty.
func LoginCommand(server, configName, configPath string) string {
	c := "secure-mcp-gateway"
	if configPath != "" {
		c += " --config " + shellQuote(configPath)
	}
	c += " oauth login " + shellQuote(server)
	if configName != "" {
		c += " --config-name " + shellQuote(configName)
	}
	return c
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '-' || r == '_' || r == '.' || r == '/' || r == ':' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func (t *Target) command() string {
	if t.Command != "" {
		return t.Command
	}
	return LoginCommand(t.Server, t.ConfigName, "")
}

// LoginOptions configures [Login].
type LoginOptions struct {
	// Options holds the HTTP transport, URL check, token cache file and
	// timeouts, as for a token source. Its CacheFile is where the token
	// and the dynamic client registration are stored; empty means nothing
	// is stored, which only a test wants.
	Options
	// Prompt receives the authorization URL, alone on its own line, and a
	// line saying what to do with it. It must be stderr or a file, never
	// the MCP channel. Nil means io.Discard.
	Prompt io.Writer
	// OpenBrowser, if set, is asked to open the authorization URL; a
	// failure is reported on Prompt and the login goes on (the URL was
	// printed). Nil means no browser is opened.
	OpenBrowser func(url string) error
	// Wait bounds the wait for the redirect back from the browser. Zero
	// means DefaultLoginWait.
	Wait time.Duration
	// NewClient registers a new client even when one registered earlier
	// with the authorization server is remembered (for a server that has
	// forgotten it). False means the remembered client is reused.
	NewClient bool
}

// LoginResult describes a completed login, without the tokens.
type LoginResult struct {
	// Issuer is the authorization server.
	Issuer string
	// Resource is the resource indicator the token is bound to.
	Resource string
	// Scopes are the scopes requested.
	Scopes []string
	// Granted is the scope the authorization server granted, if it said.
	Granted string
	// Fingerprint identifies the access token (see secret.Fingerprint).
	Fingerprint string
	// Expiry is when the access token expires; zero means unknown.
	Expiry time.Time
	// Refreshable reports whether a refresh token was issued.
	Refreshable bool
	// Registered reports whether a client was registered dynamically during
	// this login (rather than reused or configured).
	Registered bool
}

// LoginError reports why a login could not be done or a login token cannot
// be used. Its message names the server, the step and the problem; it never
// carries a token, a client secret or a response body.
type LoginError struct {
	// Server is the server's name.
	Server string
	// Step is the step that failed: "discovery", "metadata",
	// "registration", "authorization", "redirect" or "token".
	Step string
	// Problem says what went wrong.
	Problem string
	// Err is the cause, if any; it is not shown.
	Err error
}

// Error implements error.
func (e *LoginError) Error() string {
	return fmt.Sprintf("oauth login to server %q: %s: %s", e.Server, e.Step, e.Problem)
}

// Unwrap returns the cause.
func (e *LoginError) Unwrap() error { return e.Err }

// LoginRequiredError reports that a server needs a (new) browser login
// before it can be used: no token was ever obtained, the refresh token was
// refused, or the server asked for more scopes. Its message names the
// exact command to run.
type LoginRequiredError struct {
	// Server is the server's name.
	Server string
	// Reason says why a login is needed.
	Reason string
	// Command logs in to the server.
	Command string
}

// Error implements error.
func (e *LoginRequiredError) Error() string {
	return fmt.Sprintf("server %q needs an OAuth login (%s); run: %s", e.Server, e.Reason, e.Command)
}

// loginState is what a login token needs besides the token itself: where
// to refresh and revoke it, with which client, bound to which resource.
type loginState struct {
	URL           string           `json:"url"`
	Resource      string           `json:"resource"`
	Issuer        string           `json:"issuer"`
	TokenURL      string           `json:"token_url"`
	RevocationURL string           `json:"revocation_url,omitempty"`
	ClientID      string           `json:"client_id"`
	ClientSecret  string           `json:"client_secret,omitempty"`
	AuthStyle     oauth2.AuthStyle `json:"auth_style"`
	Scopes        []string         `json:"scopes,omitzero"`
	// StepUp are scopes the server asked for (insufficient_scope) that the
	// token lacks; the next login requests them too.
	StepUp []string `json:"step_up,omitzero"`
}

// clientEntry is a client registered dynamically with an authorization
// server, reused by every later login to any server it protects.
type clientEntry struct {
	Issuer       string    `json:"issuer"`
	ClientID     string    `json:"client_id"`
	ClientSecret string    `json:"client_secret,omitempty"`
	AuthMethod   string    `json:"token_endpoint_auth_method,omitempty"`
	RedirectURI  string    `json:"redirect_uri"`
	Registered   time.Time `json:"registered"`
}

// loginKey is the cache key of the login token of the server at rawURL:
// the token is bound to that URL and used for no other.
func loginKey(rawURL string) string {
	sum := sha256.Sum256([]byte(canonicalURL(rawURL)))
	return "login:" + hex.EncodeToString(sum[:16])
}

// canonicalURL lower-cases the scheme and host and drops the fragment.
func canonicalURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}

// clientKey is the cache key of a client registered with issuer.
func clientKey(issuer string) string { return strings.TrimSuffix(issuer, "/") }

// Login runs the whole login to t: discovery, client registration
// (configured client_id, else a client registered earlier with the same
// authorization server, else RFC 7591 dynamic registration), the
// authorization code flow with PKCE S256 and the resource indicator
// (RFC 8707) through a one-use loopback redirect on 127.0.0.1, and the
// token exchange. The token is stored in the cache file for the serving
// gateways. Login prints the authorization URL on opts.Prompt and never
// writes anywhere else.
func Login(ctx context.Context, t *Target, opts *LoginOptions) (*LoginResult, error) {
	var o LoginOptions
	if opts != nil {
		o = *opts
	}
	fillDefaults(&o.Options)
	if o.Prompt == nil {
		o.Prompt = io.Discard
	}
	if o.Wait <= 0 {
		o.Wait = DefaultLoginWait
	}
	lc := t.Login
	if lc == nil {
		lc = &config.OAuthLogin{}
	}
	if lc.Flow != "" && lc.Flow != config.FlowAuthorizationCode {
		return nil, &LoginError{Server: t.Server, Step: "discovery", Problem: fmt.Sprintf("flow %q is not supported (use authorization_code)", lc.Flow)}
	}
	hc := loginClient(&o.Options)
	defer hc.CloseIdleConnections()
	d, err := discover(ctx, t, hc, o.CheckURL)
	if err != nil {
		return nil, err
	}
	issuer := d.asm.Issuer
	key := loginKey(t.URL)
	var prev *cacheEntry
	var cached *clientEntry
	if o.CacheFile != "" {
		if err := withCache(o.CacheFile, func(f *cacheFile) (bool, error) {
			prev = f.Tokens[key]
			if !o.NewClient {
				cached = f.Clients[clientKey(issuer)]
			}
			return false, nil
		}); err != nil {
			return nil, fmt.Errorf("oauth login to server %q: %w", t.Server, err)
		}
	}

	// The redirect listener: the configured port, else the port of the
	// registered client's redirect URI, else any free port.
	port := lc.RedirectPort
	if port == 0 && lc.ClientID == "" && cached != nil {
		if u, err := url.Parse(cached.RedirectURI); err == nil {
			port, _ = strconv.Atoi(u.Port())
		}
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil && lc.RedirectPort == 0 && port != 0 {
		cached = nil // the registered port is taken: register a new client
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		return nil, &LoginError{Server: t.Server, Step: "redirect", Problem: "cannot listen on 127.0.0.1 for the redirect", Err: err}
	}
	defer ln.Close()
	redirect := fmt.Sprintf("http://127.0.0.1:%d%s", ln.Addr().(*net.TCPAddr).Port, redirectPath)

	res := &LoginResult{Issuer: issuer, Resource: d.prm.Resource}
	client, err := resolveClient(ctx, t, lc, d.asm, cached, redirect, hc, o.Now())
	if err != nil {
		return nil, err
	}
	if client.registered && o.CacheFile != "" {
		res.Registered = true
		if err := withCache(o.CacheFile, func(f *cacheFile) (bool, error) {
			if f.Clients == nil {
				f.Clients = map[string]*clientEntry{}
			}
			f.Clients[clientKey(issuer)] = client.entry
			return true, nil
		}); err != nil {
			return nil, fmt.Errorf("oauth login to server %q: remember the registered client: %w", t.Server, err)
		}
	}

	scopes := slices.Clone(lc.Scopes)
	switch {
	case len(d.challengeSc) > 0:
		scopes = append(scopes, d.challengeSc...)
	case len(scopes) == 0:
		scopes = append(scopes, d.prm.ScopesSupported...)
	}
	if prev != nil && prev.Login != nil {
		scopes = append(scopes, prev.Login.Scopes...)
		scopes = append(scopes, prev.Login.StepUp...)
	}
	if slices.Contains(d.asm.ScopesSupported, "offline_access") {
		scopes = append(scopes, "offline_access")
	}
	scopes = uniq(scopes)
	res.Scopes = scopes

	oc := &oauth2.Config{
		ClientID:     client.entry.ClientID,
		ClientSecret: client.entry.ClientSecret,
		Endpoint:     oauth2.Endpoint{AuthURL: d.asm.AuthorizationEndpoint, TokenURL: d.asm.TokenEndpoint, AuthStyle: client.style},
		RedirectURL:  redirect,
		Scopes:       scopes,
	}
	state := rand.Text()
	verifier := oauth2.GenerateVerifier()
	authURL := oc.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", d.prm.Resource))

	cb := newCallback(state, issuer, d.asm.AuthorizationResponseIssParameterSupported)
	srv := &http.Server{Handler: cb, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	fmt.Fprintf(o.Prompt, "To log in to server %q, open this URL in a browser (it is valid for %v):\n%s\n", t.Server, o.Wait, authURL)
	if o.OpenBrowser != nil {
		if err := o.OpenBrowser(authURL); err != nil {
			fmt.Fprintf(o.Prompt, "Could not open a browser (%v); open the URL above yourself.\n", err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, o.Wait)
	defer cancel()
	var code string
	select {
	case r := <-cb.result:
		if r.err != nil {
			return nil, &LoginError{Server: t.Server, Step: "authorization", Problem: r.err.Error(), Err: r.err}
		}
		code = r.code
	case <-wctx.Done():
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &LoginError{Server: t.Server, Step: "redirect", Problem: fmt.Sprintf("the browser did not come back within %v", o.Wait), Err: wctx.Err()}
	}

	xctx, xcancel := context.WithTimeout(ctx, o.Timeout)
	defer xcancel()
	xctx = context.WithValue(xctx, oauth2.HTTPClient, hc)
	obtained := o.Now()
	tok, err := oc.Exchange(xctx, code, oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", d.prm.Resource))
	if err != nil {
		return nil, &LoginError{Server: t.Server, Step: "token", Problem: tokenProblem(err), Err: err}
	}
	e, err := loginEntry(t.Server, tok, obtained)
	if err != nil {
		return nil, err
	}
	e.Login = &loginState{
		URL: canonicalURL(t.URL), Resource: d.prm.Resource, Issuer: issuer, TokenURL: d.asm.TokenEndpoint,
		RevocationURL: d.asm.RevocationEndpoint, ClientID: client.entry.ClientID, ClientSecret: client.entry.ClientSecret,
		AuthStyle: client.style, Scopes: scopes,
	}
	if lc.ClientID != "" {
		e.Login.ClientSecret = "" // a configured secret stays in the config file only
	}
	if o.CacheFile != "" {
		if err := withCache(o.CacheFile, func(f *cacheFile) (bool, error) {
			f.Tokens[key] = e
			return true, nil
		}); err != nil {
			return nil, fmt.Errorf("oauth login to server %q: store the token: %w", t.Server, err)
		}
	}
	if o.OnToken != nil {
		o.OnToken(e.AccessToken)
	}
	res.Granted, res.Expiry, res.Refreshable = e.Scope, e.Expiry, e.RefreshToken != ""
	res.Fingerprint = secret.Fingerprint(e.AccessToken)
	return res, nil
}

// loginEntry turns a token response into a cache entry.
func loginEntry(server string, tok *oauth2.Token, obtained time.Time) (*cacheEntry, error) {
	if !strings.EqualFold(tok.TokenType, "bearer") && tok.TokenType != "" {
		return nil, &LoginError{Server: server, Step: "token", Problem: fmt.Sprintf("token type %q is not Bearer", tok.TokenType)}
	}
	e := &cacheEntry{Server: server, AccessToken: tok.AccessToken, TokenType: "Bearer", RefreshToken: tok.RefreshToken, Obtained: obtained}
	if secs := expiresIn(tok); secs > 0 {
		e.Expiry = obtained.Add(time.Duration(secs) * time.Second)
	}
	if sc, _ := tok.Extra("scope").(string); sc != "" {
		e.Scope = sc
	}
	return e, nil
}

// tokenProblem describes a token request failure without its body.
func tokenProblem(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		p := "the token endpoint answered " + re.Response.Status
		if re.ErrorCode != "" {
			p += " (" + re.ErrorCode + ")"
		}
		return p
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return "the token endpoint is unreachable"
	}
	return "the token request failed"
}
