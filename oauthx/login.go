package oauthx

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
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
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	sdkoauth "github.com/modelcontextprotocol/go-sdk/oauthex"
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

// discovery is what the discovery steps found.
type discovery struct {
	prm         *sdkoauth.ProtectedResourceMetadata
	asm         *sdkoauth.AuthServerMeta
	challengeSc []string
}

// loginClient returns the HTTP client of the login steps: the transport of
// opts, redirects vetted by the HTTPS rule and Options.CheckURL.
func loginClient(opts *Options) *http.Client {
	var tr *http.Transport
	if opts.Transport != nil {
		tr = opts.Transport.Clone()
	} else {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	return &http.Client{
		Transport: tr,
		Timeout:   opts.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			return vetEndpoint(req.URL, opts.CheckURL)
		},
	}
}

// vetEndpoint refuses an authorization-server endpoint that is not https
// (http is allowed for loopback only) or that check refuses.
func vetEndpoint(u *url.URL, check func(*url.URL) error) error {
	if u.Scheme != "https" && !(u.Scheme == "http" && IsLoopback(u.Hostname())) {
		return fmt.Errorf("%s must use https (http is allowed only for loopback)", logURL(u.String()))
	}
	if check != nil {
		return check(u)
	}
	return nil
}

func vetRaw(raw string, check func(*url.URL) error) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%s is not an absolute URL", logURL(raw))
	}
	return vetEndpoint(u, check)
}

// discover finds the server's authorization server: the 401 challenge's
// resource_metadata (or the well-known locations) gives the protected
// resource metadata (RFC 9728), whose resource must be the server's URL;
// its first authorization server's metadata (RFC 8414 or OpenID discovery)
// must carry that issuer and support PKCE with S256.
func discover(ctx context.Context, t *Target, hc *http.Client, check func(*url.URL) error) (*discovery, error) {
	fail := func(step, problem string, err error) error {
		return &LoginError{Server: t.Server, Step: step, Problem: problem, Err: err}
	}
	su, err := url.Parse(t.URL)
	if err != nil || su.Host == "" {
		return nil, fail("discovery", "the server URL is not an absolute URL", err)
	}
	if err := vetEndpoint(su, check); err != nil {
		return nil, fail("discovery", "the server URL is refused: "+err.Error(), err)
	}
	d := &discovery{}
	var metaURL string
	challenges, err := probe(ctx, hc, t.URL)
	if err != nil {
		return nil, fail("discovery", "the server is unreachable", err)
	}
	for _, c := range challenges {
		if c.Scheme != "bearer" {
			continue
		}
		if metaURL == "" {
			metaURL = c.Params["resource_metadata"]
		}
		if d.challengeSc == nil {
			d.challengeSc = strings.Fields(c.Params["scope"])
		}
	}
	type candidate struct{ meta, resource string }
	var cands []candidate
	if metaURL != "" {
		cands = append(cands, candidate{metaURL, t.URL})
	}
	wk := *su
	wk.RawQuery, wk.Fragment = "", ""
	wk.Path = "/.well-known/oauth-protected-resource/" + strings.TrimLeft(su.Path, "/")
	wk.RawPath = ""
	cands = append(cands, candidate{wk.String(), t.URL})
	wk.Path = "/.well-known/oauth-protected-resource"
	origin := url.URL{Scheme: su.Scheme, Host: su.Host}
	cands = append(cands, candidate{wk.String(), origin.String()})
	var problems []string
	for _, c := range cands {
		if err := vetRaw(c.meta, check); err != nil {
			problems = append(problems, "metadata URL refused: "+err.Error())
			continue
		}
		prm, err := sdkoauth.GetProtectedResourceMetadata(ctx, c.meta, c.resource, hc)
		if err != nil {
			if p := strings.TrimPrefix(err.Error(), fmt.Sprintf("GetProtectedResourceMetadata(%q): ", c.meta)); !slices.Contains(problems, p) {
				problems = append(problems, p)
			}
			continue
		}
		if len(prm.AuthorizationServers) == 0 {
			return nil, fail("metadata", "the protected resource metadata names no authorization server", nil)
		}
		d.prm = prm
		break
	}
	if d.prm == nil {
		return nil, fail("discovery", "no usable protected resource metadata (RFC 9728): "+strings.Join(problems, "; "), nil)
	}
	issuer := d.prm.AuthorizationServers[0]
	if err := vetRaw(issuer, check); err != nil {
		return nil, fail("metadata", "the authorization server is refused: "+err.Error(), err)
	}
	asm, err := auth.GetAuthServerMetadata(ctx, issuer, hc)
	switch {
	case err != nil:
		return nil, fail("metadata", "the authorization server metadata is refused: "+err.Error(), err)
	case asm == nil:
		return nil, fail("metadata", "no authorization server metadata (RFC 8414 or OpenID discovery) at "+logURL(issuer), nil)
	case !slices.Contains(asm.CodeChallengeMethodsSupported, "S256"):
		return nil, fail("metadata", "the authorization server does not support PKCE with S256 (code_challenge_methods_supported); the gateway refuses to log in without it", nil)
	case asm.AuthorizationEndpoint == "" || asm.TokenEndpoint == "":
		return nil, fail("metadata", "the authorization server metadata lacks authorization_endpoint or token_endpoint", nil)
	case len(asm.ResponseTypesSupported) > 0 && !slices.Contains(asm.ResponseTypesSupported, "code"):
		return nil, fail("metadata", "the authorization server does not support response_type code", nil)
	}
	for _, e := range []struct{ name, u string }{
		{"authorization_endpoint", asm.AuthorizationEndpoint}, {"token_endpoint", asm.TokenEndpoint},
		{"registration_endpoint", asm.RegistrationEndpoint}, {"revocation_endpoint", asm.RevocationEndpoint},
	} {
		if e.u == "" {
			continue
		}
		if err := vetRaw(e.u, check); err != nil {
			return nil, fail("metadata", e.name+" is refused: "+err.Error(), err)
		}
	}
	d.asm = asm
	return d, nil
}

// probe sends an unauthenticated initialize to the server and returns the
// challenges of its WWW-Authenticate header (none when it did not ask).
func probe(ctx context.Context, hc *http.Client, serverURL string) ([]sdkoauth.Challenge, error) {
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"secure-mcp-gateway","version":"login"}}}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, serverURL, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
		return nil, nil
	}
	cs, err := sdkoauth.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
	if err != nil {
		return nil, nil // an unparsable challenge: fall back to the well-known locations
	}
	return cs, nil
}

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

// resolvedClient is the client a login uses.
type resolvedClient struct {
	entry      *clientEntry
	style      oauth2.AuthStyle
	registered bool
}

// resolveClient picks the configured client, the cached registration, or
// registers a new public client whose only redirect URI is redirect.
func resolveClient(ctx context.Context, t *Target, lc *config.OAuthLogin, asm *sdkoauth.AuthServerMeta, cached *clientEntry, redirect string, hc *http.Client, now time.Time) (*resolvedClient, error) {
	if lc.ClientID != "" {
		style := oauth2.AuthStyleInParams // public client: client_id in the body
		if lc.ClientSecret != "" {
			style = oauth2.AuthStyleInHeader
			if len(asm.TokenEndpointAuthMethodsSupported) > 0 && !slices.Contains(asm.TokenEndpointAuthMethodsSupported, "client_secret_basic") &&
				slices.Contains(asm.TokenEndpointAuthMethodsSupported, "client_secret_post") {
				style = oauth2.AuthStyleInParams
			}
		}
		return &resolvedClient{entry: &clientEntry{Issuer: asm.Issuer, ClientID: lc.ClientID, ClientSecret: lc.ClientSecret, RedirectURI: redirect}, style: style}, nil
	}
	if cached != nil && cached.RedirectURI == redirect {
		return &resolvedClient{entry: cached, style: authStyle(cached.AuthMethod)}, nil
	}
	if asm.RegistrationEndpoint == "" {
		return nil, &LoginError{Server: t.Server, Step: "registration",
			Problem: "the authorization server offers no dynamic client registration; register a client with it and set oauth.client_id (and oauth.redirect_port) for this server"}
	}
	meta := &sdkoauth.ClientRegistrationMetadata{
		RedirectURIs:            []string{redirect},
		TokenEndpointAuthMethod: "none",
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
		ClientName:              "secure-mcp-gateway",
		ApplicationType:         "native",
	}
	resp, err := sdkoauth.RegisterClient(ctx, asm.RegistrationEndpoint, meta, hc)
	if err != nil {
		return nil, &LoginError{Server: t.Server, Step: "registration", Problem: "dynamic client registration failed: " + registrationProblem(err), Err: err}
	}
	if len(resp.RedirectURIs) > 0 && (len(resp.RedirectURIs) != 1 || resp.RedirectURIs[0] != redirect) {
		return nil, &LoginError{Server: t.Server, Step: "registration",
			Problem: "the authorization server registered other redirect URIs than the gateway's loopback listener; refused"}
	}
	e := &clientEntry{Issuer: asm.Issuer, ClientID: resp.ClientID, ClientSecret: resp.ClientSecret,
		AuthMethod: resp.TokenEndpointAuthMethod, RedirectURI: redirect, Registered: now}
	return &resolvedClient{entry: e, style: authStyle(e.AuthMethod), registered: true}, nil
}

// registrationProblem describes a registration failure without echoing
// the response body.
func registrationProblem(err error) string {
	var re *sdkoauth.ClientRegistrationError
	if errors.As(err, &re) && re.ErrorCode != "" {
		return re.ErrorCode
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return "the registration endpoint is unreachable"
	}
	return "the registration endpoint refused the request"
}

// authStyle maps a token_endpoint_auth_method to the oauth2 style.
func authStyle(method string) oauth2.AuthStyle {
	switch method {
	case "", "none", "client_secret_post":
		return oauth2.AuthStyleInParams
	default:
		return oauth2.AuthStyleInHeader
	}
}

func uniq(in []string) []string {
	var out []string
	for _, s := range in {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// callback is the loopback redirect handler. It accepts exactly one
// request to the redirect path; its state must match, and its iss must
// match the issuer when the server sends one (RFC 9207).
type callback struct {
	state, issuer string
	issRequired   bool
	result        chan callbackResult
	mu            sync.Mutex
	used          bool
}

type callbackResult struct {
	code string
	err  error
}

func newCallback(state, issuer string, issRequired bool) *callback {
	return &callback{state: state, issuer: issuer, issRequired: issRequired, result: make(chan callbackResult, 1)}
}

// ServeHTTP implements http.Handler.
func (c *callback) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != redirectPath || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	c.mu.Lock()
	used := c.used
	c.used = true
	c.mu.Unlock()
	if used {
		http.Error(w, "This login link was already used.", http.StatusBadRequest)
		return
	}
	q := r.URL.Query()
	var res callbackResult
	switch {
	case subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(c.state)) != 1:
		res.err = errors.New("the redirect's state does not match the request (a forged or stale redirect); refused")
	case q.Get("error") != "":
		res.err = fmt.Errorf("the authorization server refused: %s", printable(q.Get("error"), 64))
	case q.Get("iss") != "" && strings.TrimSuffix(q.Get("iss"), "/") != strings.TrimSuffix(c.issuer, "/"):
		res.err = errors.New("the redirect's iss is not the authorization server's issuer (RFC 9207, a mix-up attack); refused")
	case q.Get("iss") == "" && c.issRequired:
		res.err = errors.New("the redirect lacks the iss the authorization server promised (RFC 9207); refused")
	case q.Get("code") == "":
		res.err = errors.New("the redirect carries no authorization code")
	default:
		res.code = q.Get("code")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if res.err != nil {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintln(w, "Login failed: "+res.err.Error())
	} else {
		fmt.Fprintln(w, "Login complete. You can close this tab and return to the terminal.")
	}
	c.result <- res
}

// printable keeps the first n printable ASCII characters of s.
func printable(s string, n int) string {
	var b bytes.Buffer
	for _, r := range s {
		if b.Len() >= n {
			break
		}
		if r >= 0x20 && r < 0x7f {
			b.WriteRune(r)
		}
	}
	return b.String()
}
