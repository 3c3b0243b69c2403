// Package oauthxtest runs, on 127.0.0.1, an OAuth authorization server and
// protected streamable-HTTP MCP servers that speak the real wire formats of
// the MCP authorization spec: protected resource metadata (RFC 9728),
// authorization server metadata (RFC 8414), dynamic client registration
// (RFC 7591), /authorize checking the PKCE S256 challenge, the redirect
// URI and the resource indicator (RFC 8707), /token checking the verifier,
// the client, the resource and one use of each code, refresh with rotation,
// and revocation (RFC 7009). Tests of oauthx and the e2e tests of the
// gateway binary log in against it. It is for tests only.
package oauthxtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Knobs change what the authorization server says, for negative tests.
// The zero value is a well-behaved server.
type Knobs struct {
	// Issuer, if set, is the issuer the metadata claims (a mismatch).
	Issuer string
	// ChallengeMethods, if set, replaces code_challenge_methods_supported.
	ChallengeMethods []string
	// RegisteredRedirect, if set, is the redirect URI the registration
	// response claims instead of the requested one.
	RegisteredRedirect string
	// NoRegistration hides the registration endpoint.
	NoRegistration bool
	// NoRevocation hides the revocation endpoint.
	NoRevocation bool
	// NoRefresh issues no refresh tokens.
	NoRefresh bool
	// WrongState makes /authorize redirect with another state.
	WrongState bool
	// ExpiresIn is the access tokens' lifetime in seconds; 0 means 3600.
	ExpiresIn int
}

// AuthServer is the test authorization server.
type AuthServer struct {
	*httptest.Server
	Knobs Knobs

	mu       sync.Mutex
	clients  map[string]client
	codes    map[string]*grant
	access   map[string]*grant
	refresh  map[string]*grant
	calls    map[string]int
	grants   map[string]int // grant_type → count at /token
	problems []string
}

type client struct {
	redirects []string
	secret    string
}

type grant struct {
	client, redirect, challenge, resource, scope string
	used, revoked                                bool
	expiry                                       time.Time
}

// NewAuthServer starts an authorization server on 127.0.0.1; Close stops it.
func NewAuthServer() *AuthServer {
	a := &AuthServer{clients: map[string]client{}, codes: map[string]*grant{}, access: map[string]*grant{},
		refresh: map[string]*grant{}, calls: map[string]int{}, grants: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/oauth-authorization-server", a.metadata)
	mux.HandleFunc("/register", a.register)
	mux.HandleFunc("/authorize", a.authorize)
	mux.HandleFunc("/token", a.token)
	mux.HandleFunc("/revoke", a.revoke)
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.calls[r.URL.Path]++
		a.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	return a
}

// AddClient registers a client in advance (for a configured client_id).
func (a *AuthServer) AddClient(id, secret string, redirects ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.clients[id] = client{redirects: redirects, secret: secret}
}

// Calls returns how many requests reached path.
func (a *AuthServer) Calls(path string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[path]
}

// Grants returns how many token requests of grant type gt succeeded.
func (a *AuthServer) Grants(gt string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.grants[gt]
}

// Problems returns the protocol violations the server saw in requests
// (a missing PKCE challenge, a wrong verifier, a reused code…).
func (a *AuthServer) Problems() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.problems)
}

// Tokens returns every access and refresh token issued, for canary checks.
func (a *AuthServer) Tokens() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for t := range a.access {
		out = append(out, t)
	}
	for t := range a.refresh {
		out = append(out, t)
	}
	return out
}

// ExpireAccessTokens makes every access token issued so far invalid, as if
// they had expired; refresh tokens stay valid.
func (a *AuthServer) ExpireAccessTokens() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, g := range a.access {
		g.expiry = time.Unix(1, 0)
	}
}

// RevokeAll revokes every access and refresh token issued so far.
func (a *AuthServer) RevokeAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, g := range a.access {
		g.revoked = true
	}
	for _, g := range a.refresh {
		g.revoked = true
	}
}

// Revoked reports whether token was revoked.
func (a *AuthServer) Revoked(token string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if g := a.refresh[token]; g != nil {
		return g.revoked
	}
	if g := a.access[token]; g != nil {
		return g.revoked
	}
	return false
}

// Verify returns the scopes of a valid access token bound to resource.
func (a *AuthServer) Verify(token, resource string) ([]string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	g := a.access[token]
	if g == nil || g.revoked || time.Now().After(g.expiry) || g.resource != resource {
		return nil, false
	}
	return strings.Fields(g.scope), true
}

func (a *AuthServer) problem(format string, args ...any) {
	a.mu.Lock()
	a.problems = append(a.problems, fmt.Sprintf(format, args...))
	a.mu.Unlock()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func oauthError(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]string{"error": code})
}

func (a *AuthServer) metadata(w http.ResponseWriter, _ *http.Request) {
	iss := a.URL
	if a.Knobs.Issuer != "" {
		iss = a.Knobs.Issuer
	}
	methods := []string{"S256"}
	if a.Knobs.ChallengeMethods != nil {
		methods = a.Knobs.ChallengeMethods
	}
	m := map[string]any{
		"issuer":                                iss,
		"authorization_endpoint":                a.URL + "/authorize",
		"token_endpoint":                        a.URL + "/token",
		"response_types_supported":              []string{"code"},
		"grant_types_supported":                 []string{"authorization_code", "refresh_token"},
		"code_challenge_methods_supported":      methods,
		"token_endpoint_auth_methods_supported": []string{"none", "client_secret_basic", "client_secret_post"},
		"scopes_supported":                      []string{"mcp", "admin", "offline_access"},
	}
	if !a.Knobs.NoRegistration {
		m["registration_endpoint"] = a.URL + "/register"
	}
	if !a.Knobs.NoRevocation {
		m["revocation_endpoint"] = a.URL + "/revoke"
	}
	writeJSON(w, http.StatusOK, m)
}

func (a *AuthServer) register(w http.ResponseWriter, r *http.Request) {
	var req struct {
		RedirectURIs []string `json:"redirect_uris"`
		AuthMethod   string   `json:"token_endpoint_auth_method"`
	}
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&req) != nil || len(req.RedirectURIs) == 0 {
		oauthError(w, http.StatusBadRequest, "invalid_client_metadata")
		return
	}
	for _, u := range req.RedirectURIs {
		pu, err := url.Parse(u)
		if err != nil || pu.Scheme != "http" || pu.Hostname() != "127.0.0.1" {
			oauthError(w, http.StatusBadRequest, "invalid_redirect_uri")
			return
		}
	}
	id := "client-" + rand.Text()[:10]
	a.mu.Lock()
	a.clients[id] = client{redirects: req.RedirectURIs}
	a.mu.Unlock()
	redirects := req.RedirectURIs
	if a.Knobs.RegisteredRedirect != "" {
		redirects = []string{a.Knobs.RegisteredRedirect}
	}
	writeJSON(w, http.StatusCreated, map[string]any{"client_id": id, "redirect_uris": redirects,
		"token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code", "refresh_token"}})
}

// authorize approves at once (the user said yes) and redirects to the
// registered loopback redirect URI with a code, the state and iss.
func (a *AuthServer) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	a.mu.Lock()
	c, ok := a.clients[q.Get("client_id")]
	a.mu.Unlock()
	redirect := q.Get("redirect_uri")
	switch {
	case !ok:
		a.problem("authorize: unknown client")
		http.Error(w, "unknown client", http.StatusBadRequest)
		return
	case !slices.Contains(c.redirects, redirect):
		a.problem("authorize: redirect_uri %q not registered", redirect)
		http.Error(w, "redirect_uri not registered", http.StatusBadRequest)
		return
	}
	fail := func(code string) {
		a.problem("authorize: %s", code)
		http.Redirect(w, r, redirect+"?error="+code+"&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
	}
	switch {
	case q.Get("response_type") != "code":
		fail("unsupported_response_type")
		return
	case q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43:
		fail("invalid_request")
		return
	case q.Get("resource") == "":
		fail("invalid_target")
		return
	}
	code := "code-" + rand.Text()
	a.mu.Lock()
	a.codes[code] = &grant{client: q.Get("client_id"), redirect: redirect, challenge: q.Get("code_challenge"),
		resource: q.Get("resource"), scope: q.Get("scope")}
	a.mu.Unlock()
	state := q.Get("state")
	if a.Knobs.WrongState {
		state = "forged"
	}
	http.Redirect(w, r, redirect+"?"+url.Values{"code": {code}, "state": {state}, "iss": {a.URL}}.Encode(), http.StatusFound)
}

func (a *AuthServer) clientOK(r *http.Request, id string) bool {
	a.mu.Lock()
	c, ok := a.clients[id]
	a.mu.Unlock()
	if !ok {
		return false
	}
	if c.secret == "" {
		return true
	}
	if u, p, ok := r.BasicAuth(); ok {
		return u == id && p == c.secret
	}
	return r.PostForm.Get("client_secret") == c.secret
}

func (a *AuthServer) token(w http.ResponseWriter, r *http.Request) {
	if r.ParseForm() != nil || r.Method != http.MethodPost {
		oauthError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	f := r.PostForm
	id := f.Get("client_id")
	if u, _, ok := r.BasicAuth(); ok {
		id = u
	}
	if !a.clientOK(r, id) {
		a.problem("token: bad client")
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var g *grant
	switch f.Get("grant_type") {
	case "authorization_code":
		g = a.codes[f.Get("code")]
		sum := sha256.Sum256([]byte(f.Get("code_verifier")))
		switch {
		case g == nil:
			a.problems = append(a.problems, "token: unknown code")
			oauthError(w, http.StatusBadRequest, "invalid_grant")
			return
		case g.used:
			a.problems = append(a.problems, "token: code reused")
			oauthError(w, http.StatusBadRequest, "invalid_grant")
			return
		case base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
			a.problems = append(a.problems, "token: PKCE verifier does not match")
			oauthError(w, http.StatusBadRequest, "invalid_grant")
			return
		case g.client != id || g.redirect != f.Get("redirect_uri"):
			a.problems = append(a.problems, "token: client or redirect_uri differs from /authorize")
			oauthError(w, http.StatusBadRequest, "invalid_grant")
			return
		case f.Get("resource") != g.resource:
			a.problems = append(a.problems, "token: resource differs from /authorize")
			oauthError(w, http.StatusBadRequest, "invalid_target")
			return
		}
		g.used = true
	case "refresh_token":
		g = a.refresh[f.Get("refresh_token")]
		switch {
		case g == nil || g.revoked:
			oauthError(w, http.StatusBadRequest, "invalid_grant")
			return
		case g.client != id:
			a.problems = append(a.problems, "token: refresh by another client")
			oauthError(w, http.StatusBadRequest, "invalid_grant")
			return
		case f.Get("resource") != g.resource:
			a.problems = append(a.problems, "token: refresh without the resource")
			oauthError(w, http.StatusBadRequest, "invalid_target")
			return
		}
		g.revoked = true // rotation: a refresh token is used once
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	a.grants[f.Get("grant_type")]++
	life := a.Knobs.ExpiresIn
	if life == 0 {
		life = 3600
	}
	at := "at-" + rand.Text()
	a.access[at] = &grant{client: id, resource: g.resource, scope: g.scope, expiry: time.Now().Add(time.Duration(life) * time.Second)}
	resp := map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": life, "scope": g.scope}
	if !a.Knobs.NoRefresh {
		rt := "rt-" + rand.Text()
		a.refresh[rt] = &grant{client: id, resource: g.resource, scope: g.scope}
		resp["refresh_token"] = rt
	}
	writeJSON(w, http.StatusOK, resp)
}

func (a *AuthServer) revoke(w http.ResponseWriter, r *http.Request) {
	if r.ParseForm() != nil || r.Method != http.MethodPost {
		oauthError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	tok := r.PostForm.Get("token")
	if g := a.refresh[tok]; g != nil {
		g.revoked = true
		for _, ag := range a.access { // revoking the refresh token ends the grant
			if ag.client == g.client && ag.resource == g.resource {
				ag.revoked = true
			}
		}
	}
	if g := a.access[tok]; g != nil {
		g.revoked = true
	}
	w.WriteHeader(http.StatusOK)
}

// Upstream is a protected streamable-HTTP MCP server at URL (path /mcp).
type Upstream struct {
	*httptest.Server
	// URL is the MCP endpoint (the server's root URL + "/mcp").
	URL string

	mu     sync.Mutex
	seen   map[string]int // bearer tokens presented
	scopes []string
}

// SetScopes changes the scopes a token needs.
func (u *Upstream) SetScopes(scopes ...string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.scopes = scopes
}

func (u *Upstream) needed() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.scopes)
}

// UpstreamOptions configure NewUpstream.
type UpstreamOptions struct {
	// Scopes the token needs; a token without them gets 403
	// insufficient_scope. Empty means "mcp".
	Scopes []string
	// AuthServer, if set, replaces the authorization server named in the
	// protected resource metadata.
	AuthServer string
	// Resource, if set, replaces the resource in the metadata.
	Resource string
}

// NewUpstream starts a protected MCP server whose tokens a verifies. Its
// one tool, "whoami", answers "authenticated".
func NewUpstream(a *AuthServer, opts *UpstreamOptions) *Upstream {
	var o UpstreamOptions
	if opts != nil {
		o = *opts
	}
	if len(o.Scopes) == 0 {
		o.Scopes = []string{"mcp"}
	}
	u := &Upstream{seen: map[string]int{}, scopes: o.Scopes}
	srv := mcp.NewServer(&mcp.Implementation{Name: "protected", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "whoami", Description: "Says which scopes the caller has."},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "authenticated"}}}, nil, nil
		})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	mux := http.NewServeMux()
	u.Server = httptest.NewServer(mux)
	u.URL = u.Server.URL + "/mcp"
	prmURL := u.Server.URL + "/.well-known/oauth-protected-resource/mcp"
	mux.HandleFunc("/.well-known/oauth-protected-resource/mcp", func(w http.ResponseWriter, _ *http.Request) {
		as, res := a.URL, u.URL
		if o.AuthServer != "" {
			as = o.AuthServer
		}
		if o.Resource != "" {
			res = o.Resource
		}
		writeJSON(w, http.StatusOK, map[string]any{"resource": res, "authorization_servers": []string{as},
			"scopes_supported": u.needed(), "bearer_methods_supported": []string{"header"}})
	})
	mux.HandleFunc("/mcp", func(w http.ResponseWriter, r *http.Request) {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if tok != "" {
			u.mu.Lock()
			u.seen[tok]++
			u.mu.Unlock()
		}
		need := u.needed()
		scopes, ok := a.Verify(tok, u.URL)
		if !ok {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer resource_metadata=%q, scope=%q`, prmURL, strings.Join(need, " ")))
			http.Error(w, "invalid token", http.StatusUnauthorized)
			return
		}
		for _, s := range need {
			if !slices.Contains(scopes, s) {
				w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer error="insufficient_scope", scope=%q, resource_metadata=%q`, strings.Join(need, " "), prmURL))
				http.Error(w, "insufficient scope", http.StatusForbidden)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
	return u
}

// Saw reports how many requests presented token.
func (u *Upstream) Saw(token string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.seen[token]
}

// FollowLogin plays the user's browser: it gets the authorization URL and
// follows the redirect to the loopback listener, returning the status and
// body of the listener's page.
func FollowLogin(ctx context.Context, authURL string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return 0, "", err
	}
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String(), nil
}
