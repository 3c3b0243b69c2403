package oauthx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/oauth2"

	"secure-mcp-gateway/internal/secret"
)

// LoginSource is the token source of a remote server the user logged in to
// with `oauth login`. It reads the token from the cache file, refreshes it
// with the refresh token before it expires (one refresh per server across
// the gateway processes of the host, under the cache file's lock; a
// rotated refresh token replaces the old one in the same atomic write) and
// never opens a browser: when no usable token is left, every Token call
// fails with a [LoginRequiredError] naming the login command. It
// implements oauth2.TokenSource and is safe for concurrent use.
type LoginSource struct {
	t    Target
	opts Options
	log  zerolog.Logger
	key  string
	hc   *http.Client

	mu       sync.Mutex
	tok      *cacheEntry
	bad      string
	refreshs int
}

var _ oauth2.TokenSource = (*LoginSource)(nil)

// NewLoginSource returns the token source of the login target t. It reads
// nothing yet. Options.CacheFile is required: the token lives there.
func NewLoginSource(t *Target, opts *Options) *LoginSource {
	var o Options
	if opts != nil {
		o = *opts
	}
	fillDefaults(&o)
	s := &LoginSource{t: *t, opts: o, key: loginKey(t.URL), hc: loginClient(&o)}
	s.log = o.Logger.With().Str("server", t.Server).Logger()
	return s
}

// Server returns the name of the server the source serves.
func (s *LoginSource) Server() string { return s.t.Server }

// Token implements oauth2.TokenSource.
func (s *LoginSource) Token() (*oauth2.Token, error) { return s.TokenContext(context.Background()) }

// Refreshes returns how many refresh requests this source has sent.
func (s *LoginSource) Refreshes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshs
}

func (s *LoginSource) required(reason string) error {
	return &LoginRequiredError{Server: s.t.Server, Reason: reason, Command: s.t.command()}
}

// TokenContext returns a usable access token: the one in memory, else the
// one in the cache file, else a refreshed one.
func (s *LoginSource) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fresh(s.tok) {
		return s.tok.token(), nil
	}
	if s.opts.CacheFile == "" {
		return nil, s.required("no token cache file")
	}
	var out *cacheEntry
	var loginErr error
	err := withCache(s.opts.CacheFile, func(f *cacheFile) (bool, error) {
		e := f.Tokens[s.key]
		if e == nil || e.Login == nil || canonicalURL(e.Login.URL) != canonicalURL(s.t.URL) {
			loginErr = s.required("not logged in")
			return false, nil
		}
		if s.fresh(e) {
			out = e
			return false, nil
		}
		if e.RefreshToken == "" {
			loginErr = s.required("the access token expired and the authorization server issued no refresh token")
			return false, nil
		}
		ne, err := s.refresh(ctx, e)
		var re *oauth2.RetrieveError
		switch {
		case errors.As(err, &re) && (re.ErrorCode == "invalid_grant" || re.Response.StatusCode == http.StatusUnauthorized || re.ErrorCode == "invalid_client"):
			// The grant is gone (revoked, expired, or the client was
			// deleted): forget it, so that status shows it and no process
			// tries again.
			delete(f.Tokens, s.key)
			loginErr = s.required("the refresh token was refused: " + tokenProblem(err))
			return true, nil
		case err != nil:
			return false, &TokenError{Server: s.t.Server, Endpoint: logURL(e.Login.TokenURL), Problem: "refresh failed: " + tokenProblem(err), Err: err}
		}
		out = ne
		f.Tokens[s.key] = ne
		return true, nil
	})
	if loginErr != nil {
		s.log.Warn().Err(loginErr).Msg("oauth login needed")
		return nil, loginErr
	}
	if out == nil {
		return nil, err
	}
	if err != nil {
		s.log.Warn().Err(err).Msg("oauth token cache not written; other gateway processes will refresh their own")
	}
	if s.opts.OnToken != nil {
		s.opts.OnToken(out.AccessToken)
	}
	s.tok = out
	return out.token(), nil
}

// fresh reports whether e may be used: not refused by the upstream and not
// within a minute (at most half its lifetime) of its expiry.
func (s *LoginSource) fresh(e *cacheEntry) bool {
	if e == nil || e.AccessToken == "" || e.AccessToken == s.bad {
		return false
	}
	if e.Expiry.IsZero() {
		return true
	}
	buf := time.Minute
	if life := e.Expiry.Sub(e.Obtained); life > 0 && buf > life/2 {
		buf = life / 2
	}
	return s.opts.Now().Before(e.Expiry.Add(-buf))
}

// refresh exchanges e's refresh token for a new token with the stored
// client, bound to the same resource. A refresh token the server did not
// rotate is kept.
func (s *LoginSource) refresh(ctx context.Context, e *cacheEntry) (*cacheEntry, error) {
	ls := e.Login
	oc := &oauth2.Config{
		ClientID:     ls.ClientID,
		ClientSecret: s.clientSecret(ls),
		Endpoint:     oauth2.Endpoint{TokenURL: ls.TokenURL, AuthStyle: ls.AuthStyle},
	}
	hc := *s.hc
	hc.Transport = &resourceTransport{base: s.hc.Transport, tokenURL: ls.TokenURL, resource: ls.Resource}
	var last error
	delay := s.opts.MinBackoff
	for attempt := 1; ; attempt++ {
		s.refreshs++
		rctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
		rctx = context.WithValue(rctx, oauth2.HTTPClient, &hc)
		obtained := s.opts.Now()
		// An expired token with the refresh token makes oauth2 refresh.
		tok, err := oc.TokenSource(rctx, &oauth2.Token{RefreshToken: e.RefreshToken, Expiry: time.Unix(1, 0)}).Token()
		cancel()
		if err == nil {
			ne, err := loginEntry(s.t.Server, tok, obtained)
			if err != nil {
				return nil, err
			}
			if ne.RefreshToken == "" {
				ne.RefreshToken = e.RefreshToken
			}
			if ne.Scope == "" {
				ne.Scope = e.Scope
			}
			ne.Login = e.Login
			s.log.Info().Str("token", secret.Fingerprint(ne.AccessToken)).Time("expiry", ne.Expiry).
				Bool("rotated", ne.RefreshToken != e.RefreshToken).Msg("oauth token refreshed")
			return ne, nil
		}
		last = err
		var re *oauth2.RetrieveError
		retry := ctx.Err() == nil
		if errors.As(err, &re) {
			retry = retry && (re.Response.StatusCode >= 500 || re.Response.StatusCode == http.StatusTooManyRequests)
		}
		if !retry || attempt >= s.opts.Attempts {
			return nil, last
		}
		if err := s.opts.Sleep(ctx, delay); err != nil {
			return nil, last
		}
		delay = min(2*delay, s.opts.MaxBackoff)
	}
}

// Invalidate tells the source that the upstream refused token (401): the
// next Token call refreshes.
func (s *LoginSource) Invalidate(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bad = token
	if s.tok != nil && s.tok.AccessToken == token {
		s.tok = nil
	}
	s.log.Info().Str("token", secret.Fingerprint(token)).Msg("oauth token refused by upstream; it will be refreshed")
}

// StepUp records that the upstream refused a call for lack of scopes
// (403 insufficient_scope): the next login requests them along with the
// earlier ones. It returns the LoginRequiredError to report; a login is the
// only way to get a token with more scopes.
func (s *LoginSource) StepUp(scopes []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tok = nil // read the cache file again: a new login will put a better token there
	if s.opts.CacheFile != "" && len(scopes) > 0 {
		err := withCache(s.opts.CacheFile, func(f *cacheFile) (bool, error) {
			e := f.Tokens[s.key]
			if e == nil || e.Login == nil {
				return false, nil
			}
			before := len(e.Login.StepUp)
			e.Login.StepUp = uniq(append(e.Login.StepUp, scopes...))
			return len(e.Login.StepUp) != before, nil
		})
		if err != nil {
			s.log.Warn().Err(err).Msg("step-up scopes not recorded")
		}
	}
	reason := "the server needs more scopes (insufficient_scope)"
	if len(scopes) > 0 {
		reason = fmt.Sprintf("the server needs the scopes %q (insufficient_scope)", strings.Join(scopes, " "))
	}
	return s.required(reason)
}

// ErrRevocationNotAdvertised is returned by [LoginSource.Revoke] when the
// authorization server advertises no revocation endpoint; the token is
// forgotten locally anyway.
var ErrRevocationNotAdvertised = errors.New("the authorization server advertises no revocation_endpoint (RFC 7009)")

// Revoke forgets the server's login token and revokes its refresh token
// (which ends the grant) and its access token at the authorization
// server's revocation endpoint (RFC 7009) when it advertises one. It
// reports whether there was a token.
func (s *LoginSource) Revoke(ctx context.Context) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var e *cacheEntry
	if err := withCache(s.opts.CacheFile, func(f *cacheFile) (bool, error) {
		e = f.Tokens[s.key]
		if e == nil {
			return false, nil
		}
		delete(f.Tokens, s.key)
		return true, nil
	}); err != nil {
		return false, fmt.Errorf("revoke oauth login of server %q: %w", s.t.Server, err)
	}
	s.tok = nil
	if e == nil || e.Login == nil {
		return false, nil
	}
	ls := e.Login
	if ls.RevocationURL == "" {
		return true, fmt.Errorf("revoke oauth login of server %q: %w", s.t.Server, ErrRevocationNotAdvertised)
	}
	var errs []error
	for _, tk := range []struct{ token, hint string }{{e.RefreshToken, "refresh_token"}, {e.AccessToken, "access_token"}} {
		if tk.token == "" {
			continue
		}
		if err := s.revokeOne(ctx, ls, tk.token, tk.hint); err != nil {
			errs = append(errs, err)
		}
	}
	return true, errors.Join(errs...)
}

// clientSecret returns the client secret of a login: the registered
// client's, stored with the token, or the configured one, which is never
// copied into the cache file.
func (s *LoginSource) clientSecret(ls *loginState) string {
	if ls.ClientSecret == "" && s.t.Login != nil && s.t.Login.ClientID == ls.ClientID {
		return s.t.Login.ClientSecret
	}
	return ls.ClientSecret
}

func (s *LoginSource) revokeOne(ctx context.Context, ls *loginState, token, hint string) error {
	form := url.Values{"token": {token}, "token_type_hint": {hint}}
	cs := s.clientSecret(ls)
	if ls.AuthStyle != oauth2.AuthStyleInHeader || cs == "" {
		form.Set("client_id", ls.ClientID)
		if cs != "" {
			form.Set("client_secret", cs)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ls.RevocationURL, strings.NewReader(form.Encode()))
	if err != nil {
		return &TokenError{Server: s.t.Server, Endpoint: logURL(ls.RevocationURL), Problem: "bad revocation URL"}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if ls.AuthStyle == oauth2.AuthStyleInHeader && cs != "" {
		req.SetBasicAuth(url.QueryEscape(ls.ClientID), url.QueryEscape(cs))
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return &TokenError{Server: s.t.Server, Endpoint: logURL(ls.RevocationURL), Problem: "the revocation endpoint is unreachable", Err: err}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return &TokenError{Server: s.t.Server, Endpoint: logURL(ls.RevocationURL), Status: resp.StatusCode,
			Problem: "the revocation endpoint answered " + resp.Status}
	}
	s.log.Info().Str("token", secret.Fingerprint(token)).Str("hint", hint).Msg("oauth token revoked")
	return nil
}

// LoginState describes a server's login token without revealing it.
type LoginState struct {
	TokenState
	// Issuer is the authorization server.
	Issuer string
	// Refreshable reports whether a refresh token is held.
	Refreshable bool
	// StepUp are scopes the server asked for that the next login requests.
	StepUp []string
}

// InspectLogin reports the login token cached in the file at cachePath for
// the server at serverURL. It never fetches a token.
func InspectLogin(cachePath, server, serverURL string) (LoginState, error) {
	st := LoginState{TokenState: TokenState{Server: server}}
	err := withCache(cachePath, func(f *cacheFile) (bool, error) {
		if e := f.Tokens[loginKey(serverURL)]; e != nil && e.Login != nil {
			st.Cached = true
			st.Fingerprint = secret.Fingerprint(e.AccessToken)
			st.Scope, st.Obtained, st.Expiry = e.Scope, e.Obtained, e.Expiry
			st.Issuer, st.Refreshable, st.StepUp = e.Login.Issuer, e.RefreshToken != "", slices.Clone(e.Login.StepUp)
		}
		return false, nil
	})
	return st, err
}

// resourceTransport adds the RFC 8707 resource indicator to refresh
// requests sent to the token endpoint (oauth2 sends only grant_type and
// refresh_token), so that a refreshed token stays bound to the server.
type resourceTransport struct {
	base     http.RoundTripper
	tokenURL string
	resource string
}

// RoundTrip implements http.RoundTripper.
func (t *resourceTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPost || req.URL.String() != t.tokenURL || req.Body == nil || t.resource == "" {
		return t.base.RoundTrip(req)
	}
	b, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(b))
	if err == nil && form.Get("grant_type") == "refresh_token" && form.Get("resource") == "" {
		form.Set("resource", t.resource)
		b = []byte(form.Encode())
	}
	r := req.Clone(req.Context())
	r.Body = io.NopCloser(strings.NewReader(string(b)))
	r.ContentLength = int64(len(b))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(string(b))), nil }
	return t.base.RoundTrip(r)
}
