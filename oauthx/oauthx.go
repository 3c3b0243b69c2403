// Package oauthx supplies OAuth access tokens to upstream MCP servers: the
// client-credentials grant (client_secret_basic or client_secret_post, scope,
// audience, RFC 8707 resource, extra parameters and headers, RFC 8705 mTLS),
// proactive refresh before expiry, single-flight fetching, a token cache file
// shared by every gateway process on the host, tokens shared by replicas
// through a store the caller supplies (encrypted under the client secret),
// bounded retries, scope checks, and RFC 7009 revocation.
//
// The package never touches stdin or stdout (the MCP channel) and never puts
// a client secret or an access token in a log line or an error message.
// It must not import proxy, upstream, guard, authn or cache: callers hand a
// [Source] to upstream as an oauth2.TokenSource.
package oauthx

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/internal/secret"
)

// Defaults for the zero fields of [Options].
const (
	// DefaultTimeout bounds one request to the token endpoint.
	DefaultTimeout = 30 * time.Second
	// DefaultAttempts is how many times a token request is tried when the
	// endpoint is unreachable or answers 5xx or 429.
	DefaultAttempts = 3
	// DefaultMinBackoff is the delay before the first retry; it doubles at
	// each further retry.
	DefaultMinBackoff = 500 * time.Millisecond
	// DefaultMaxBackoff caps the retry delay.
	DefaultMaxBackoff = 10 * time.Second
)

// Options configures a [Source]. The zero value is ready to use.
type Options struct {
	// Logger receives the source's logs, which never carry a secret or a
	// token. Nil means zerolog.Nop().
	Logger *zerolog.Logger
	// Transport is the base HTTP transport for the token and revocation
	// endpoints; it is cloned, and the clone gets the mTLS certificate and
	// CA bundle when configured. Nil means a clone of http.DefaultTransport.
	Transport *http.Transport
	// CheckURL, if set, vets the token and revocation URLs and every
	// redirect target before a request is sent (an SSRF check). Nil means
	// only the OAuth 2.1 HTTPS rule is applied.
	CheckURL func(*url.URL) error
	// CacheFile is the token cache shared by the gateway processes of the
	// host, guarded by a lock file beside it (see CachePath). Empty means
	// tokens are cached in memory only.
	CacheFile string
	// Timeout bounds one token request. Zero means DefaultTimeout.
	Timeout time.Duration
	// Attempts bounds the tries of one token fetch. Zero means
	// DefaultAttempts.
	Attempts int
	// MinBackoff is the delay before the first retry. Zero means
	// DefaultMinBackoff.
	MinBackoff time.Duration
	// MaxBackoff caps the retry delay. Zero means DefaultMaxBackoff.
	MaxBackoff time.Duration
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Sleep waits d or until ctx ends. Nil means a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// OnToken is called with every access token the source obtains (fetched
	// or read from the cache file or the shared store) before anyone can
	// use it, so that the caller can register it with its log redactor.
	// Nil means nothing.
	OnToken func(token string)
	// Shared is the store through which replicas share client-credentials
	// tokens (see [SharedTokens]): one grant per upstream for all of them,
	// sealed with AES-256-GCM under a key derived from the client secret.
	// A server without a client secret (mTLS only) is not shared, and
	// login sources ignore it. Nil means tokens are shared by the
	// processes of this host only, through CacheFile.
	Shared SharedTokens
	// SharedRecheck is how long a token read from Shared is used before
	// the shared entry is read again (a revocation reaches every replica
	// within it). Zero means DefaultSharedRecheck.
	SharedRecheck time.Duration
}

// fillDefaults fills the zero fields of o with their defaults.
func fillDefaults(o *Options) {
	if o.Logger == nil {
		nop := zerolog.Nop()
		o.Logger = &nop
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Attempts <= 0 {
		o.Attempts = DefaultAttempts
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.SharedRecheck <= 0 {
		o.SharedRecheck = DefaultSharedRecheck
	}
}

// Source is the token source of one upstream server. It implements
// oauth2.TokenSource and is safe for concurrent use: concurrent callers
// share one fetch.
type Source struct {
	server string
	cfg    config.OAuthConfig
	opts   Options
	log    zerolog.Logger
	client *http.Client
	cc     clientcredentials.Config
	key    string
	buffer time.Duration

	mu       sync.Mutex // held during a fetch: single flight
	tok      *cacheEntry
	bad      string // a token the upstream refused; never reused
	fetches  int
	setupErr error // a configuration problem found by New, reported per call

	// Sharing with other replicas, when Options.Shared is set and the
	// client has a secret to derive the sealing key from.
	shared    SharedTokens
	sharedKey string      // the token's name in shared
	aead      cipher.AEAD // seals the shared value
	checked   time.Time   // when tok was last compared with the shared entry
	inShared  bool        // tok was read from or written to shared
}

var _ oauth2.TokenSource = (*Source)(nil)

// New returns the token source for the named server's oauth config c. It
// fetches nothing. Problems that only show when a token is needed (a client
// certificate that does not load, an http token URL under OAuth 2.1) are
// reported by every Token call, so that they cost only this server's calls.
// New returns an error only for a grant type it does not support.
func New(server string, c *config.OAuthConfig, opts *Options) (*Source, error) {
	if c == nil {
		return nil, errors.New("new oauth source: nil config")
	}
	switch c.GrantType {
	case "", "client_credentials":
	default:
		return nil, fmt.Errorf("oauth for server %q: grant type %q is not supported by the gateway (use client_credentials)", server, c.GrantType)
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	fillDefaults(&o)
	s := &Source{
		server: server,
		cfg:    *c,
		opts:   o,
		log:    o.Logger.With().Str("server", server).Logger(),
		key:    cacheKey(c),
		buffer: c.ExpiryBuffer(),
	}
	s.cfg.AdditionalParams = maps.Clone(c.AdditionalParams)
	s.cfg.CustomHeaders = maps.Clone(c.CustomHeaders)
	s.setupErr = s.setup()
	if o.Shared != nil && c.ClientSecret != "" {
		s.sharedKey = sharedName(server, c)
		aead, err := newSealer(c.ClientSecret, s.sharedKey)
		if err != nil {
			return nil, fmt.Errorf("oauth for server %q: %w", server, err)
		}
		s.shared, s.aead = o.Shared, aead
	}
	return s, nil
}

// setup builds the HTTP client and the client-credentials config.
func (s *Source) setup() error {
	c := &s.cfg
	if err := s.checkURL(c.TokenURL, "OAUTH_TOKEN_URL"); err != nil {
		return err
	}
	if c.RevocationURL != "" {
		if err := s.checkURL(c.RevocationURL, "OAUTH_REVOCATION_URL"); err != nil {
			return err
		}
	}
	var tr *http.Transport
	if s.opts.Transport != nil {
		tr = s.opts.Transport.Clone()
	} else {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	if c.UseMTLS || c.CABundlePath != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if tr.TLSClientConfig != nil {
			tc = tr.TLSClientConfig.Clone()
		}
		if c.UseMTLS {
			cert, err := tls.LoadX509KeyPair(c.ClientCertPath, c.ClientKeyPath)
			if err != nil {
				return &TokenError{Server: s.server, Endpoint: logURL(c.TokenURL), Problem: "the mTLS client certificate or key does not load", Err: err}
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		if c.CABundlePath != "" {
			pem, err := os.ReadFile(c.CABundlePath)
			if err != nil {
				return &TokenError{Server: s.server, Endpoint: logURL(c.TokenURL), Problem: "the CA bundle does not load", Err: err}
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return &TokenError{Server: s.server, Endpoint: logURL(c.TokenURL), Problem: "the CA bundle holds no PEM certificate"}
			}
			tc.RootCAs = pool
		}
		tr.TLSClientConfig = tc
	}
	s.client = &http.Client{
		Transport: &headerTransport{base: tr, headers: c.CustomHeaders},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			if err := s.vet(req.URL); err != nil {
				return &refusedError{err}
			}
			return nil
		},
	}
	params := url.Values{}
	for k, v := range c.AdditionalParams {
		params.Set(k, v)
	}
	if c.Audience != "" {
		params.Set("audience", c.Audience)
	}
	if c.Organization != "" {
		params.Set("organization", c.Organization)
	}
	if c.Resource != "" {
		params.Set("resource", c.Resource) // RFC 8707, whatever the version
	}
	style := oauth2.AuthStyleInParams
	if c.BasicAuth() {
		style = oauth2.AuthStyleInHeader
	}
	s.cc = clientcredentials.Config{
		ClientID:       c.ClientID,
		ClientSecret:   c.ClientSecret,
		TokenURL:       c.TokenURL,
		Scopes:         strings.Fields(c.Scope),
		EndpointParams: params,
		AuthStyle:      style,
	}
	return nil
}

// checkURL applies the static URL rules to a configured endpoint.
func (s *Source) checkURL(raw, field string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return &TokenError{Server: s.server, Endpoint: logURL(raw), Problem: field + " is not an absolute http(s) URL"}
	}
	if err := s.vet(u); err != nil {
		return &TokenError{Server: s.server, Endpoint: logURL(raw), Problem: field + " is refused: " + err.Error(), Err: err}
	}
	return nil
}

// vet applies the OAuth 2.1 HTTPS rule and Options.CheckURL to u.
func (s *Source) vet(u *url.URL) error {
	if s.cfg.HTTPSRequired() && u.Scheme != "https" && !IsLoopback(u.Hostname()) {
		return fmt.Errorf("%s must use https (OAuth 2.1 allows http only for loopback)", logURL(u.String()))
	}
	if s.opts.CheckURL != nil {
		return s.opts.CheckURL(u)
	}
	return nil
}

// IsLoopback reports whether host (a name or an IP literal, without port)
// is localhost or a loopback address.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// Server returns the name of the server the source serves.
func (s *Source) Server() string { return s.server }

// Token returns a valid access token, fetching one if needed, bounded by
// Options.Timeout per attempt. It implements oauth2.TokenSource.
func (s *Source) Token() (*oauth2.Token, error) {
	return s.TokenContext(context.Background())
}

// TokenContext returns a valid access token: the one in memory unless it is
// within the expiry buffer of its expiry, else a fresher one from the cache
// file, else a new one from the token endpoint. Concurrent callers in this
// process share one fetch; across processes the cache file's lock lets one
// fetch at a time. With Options.Shared, replicas share the token through
// that store first (see sharedToken) and use the cache file while it is
// unreachable.
func (s *Source) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	if s.setupErr != nil {
		return nil, s.setupErr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	get := s.localToken
	if s.shared != nil {
		get = s.sharedToken
	}
	e, err := get(ctx)
	if err != nil {
		return nil, err
	}
	return e.token(), nil
}

// localToken returns the token in memory while it is fresh, else the one
// in the cache file, else a new one (written to the file). s.mu is held.
func (s *Source) localToken(ctx context.Context) (*cacheEntry, error) {
	if s.fresh(s.tok) {
		return s.tok, nil
	}
	if s.opts.CacheFile == "" {
		e, err := s.fetch(ctx)
		if err != nil {
			return nil, err
		}
		s.keep(e)
		s.inShared = false
		return e, nil
	}
	var out *cacheEntry
	err := withCache(s.opts.CacheFile, func(f *cacheFile) (bool, error) {
		if e := f.Tokens[s.key]; s.fresh(e) {
			out = e
			return false, nil
		}
		e, err := s.fetch(ctx)
		if err != nil {
			return false, err
		}
		out = e
		f.Tokens[s.key] = e
		return true, nil
	})
	if out == nil {
		return nil, err
	}
	if err != nil { // fetched, but the cache file could not be written
		s.log.Warn().Err(err).Msg("oauth token cache not written; other gateway processes will fetch their own")
	}
	s.keep(out)
	s.inShared = false
	return out, nil
}

// fresh reports whether e may still be used: it is not the token the
// upstream refused and it is not within the expiry buffer of its expiry.
// The buffer is capped at half the token's lifetime, so that a short-lived
// token is still used for a while instead of being refetched at every call.
func (s *Source) fresh(e *cacheEntry) bool {
	if e == nil || e.AccessToken == "" || e.AccessToken == s.bad {
		return false
	}
	if e.Expiry.IsZero() {
		return true // no expires_in: used until the upstream refuses it
	}
	buf := s.buffer
	if life := e.Expiry.Sub(e.Obtained); life > 0 && buf > life/2 {
		buf = life / 2
	}
	return s.opts.Now().Before(e.Expiry.Add(-buf))
}

// Invalidate tells the source that the upstream refused token (HTTP 401):
// the next Token call fetches a new one. Concurrent refusals of the same
// token cause one fetch; a stale token's refusal changes nothing.
func (s *Source) Invalidate(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bad = token
	if s.tok != nil && s.tok.AccessToken == token {
		s.tok = nil
	}
	s.log.Info().Str("token", secret.Fingerprint(token)).Msg("oauth token refused by upstream; it will be replaced")
}

// Fetches returns how many tokens this source has fetched from the token
// endpoint (not counting cache hits).
func (s *Source) Fetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

// fetch gets a new token from the token endpoint, retrying network errors,
// timeouts, 5xx and 429 with exponential backoff. s.mu is held.
func (s *Source) fetch(ctx context.Context) (*cacheEntry, error) {
	var last error
	delay := s.opts.MinBackoff
	for attempt := 1; ; attempt++ {
		e, err := s.fetchOnce(ctx)
		if err == nil {
			return e, nil
		}
		last = err
		var te *TokenError
		retry := errors.As(err, &te) && te.retryable && ctx.Err() == nil
		if !retry || attempt >= s.opts.Attempts {
			break
		}
		s.log.Warn().Err(err).Int("attempt", attempt).Dur("retry_in", delay).Msg("oauth token request failed; retrying")
		if err := s.opts.Sleep(ctx, delay); err != nil {
			break
		}
		delay = min(2*delay, s.opts.MaxBackoff)
	}
	s.log.Error().Err(last).Msg("oauth token request failed")
	return nil, last
}

// fetchOnce makes one token request.
func (s *Source) fetchOnce(ctx context.Context) (*cacheEntry, error) {
	s.fetches++
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, s.client)
	obtained := s.opts.Now()
	tok, err := s.cc.Token(ctx)
	if err != nil {
		return nil, s.classify(ctx, err)
	}
	if !strings.EqualFold(tok.TokenType, "bearer") && tok.TokenType != "" {
		return nil, &TokenError{Server: s.server, Endpoint: logURL(s.cfg.TokenURL), Problem: fmt.Sprintf("token type %q is not Bearer", tok.TokenType)}
	}
	e := &cacheEntry{Server: s.server, AccessToken: tok.AccessToken, TokenType: "Bearer", Obtained: obtained}
	if secs := expiresIn(tok); secs > 0 {
		e.Expiry = obtained.Add(time.Duration(secs) * time.Second)
	}
	if sc, _ := tok.Extra("scope").(string); sc != "" {
		e.Scope = sc
	}
	if err := s.checkScopes(e.Scope); err != nil {
		return nil, err
	}
	s.log.Info().Str("token", secret.Fingerprint(e.AccessToken)).Time("expiry", e.Expiry).Msg("oauth token obtained")
	return e, nil
}

// expiresIn returns the response's expires_in in seconds, or 0. It is read
// from the raw response so that the expiry follows Options.Now.
func expiresIn(tok *oauth2.Token) int64 {
	switch v := tok.Extra("expires_in").(type) {
	case float64:
		return int64(v)
	case string:
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	if !tok.Expiry.IsZero() {
		return int64(time.Until(tok.Expiry).Seconds())
	}
	return 0
}

// checkScopes compares the granted scopes with the requested ones. An
// absent scope in the response means the requested scope was granted (RFC
// 6749 §5.1). A missing scope fails the fetch when OAUTH_VALIDATE_SCOPES is
// true (the default) and is a warning when it is false.
func (s *Source) checkScopes(granted string) error {
	if granted == "" || s.cfg.Scope == "" {
		return nil
	}
	have := scopeSet(granted)
	var missing []string
	for sc := range scopeSet(s.cfg.Scope) {
		if !have[sc] {
			missing = append(missing, sc)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	slices.Sort(missing)
	if s.cfg.ScopesValidated() {
		return &TokenError{Server: s.server, Endpoint: logURL(s.cfg.TokenURL),
			Problem: fmt.Sprintf("the token endpoint did not grant the requested scopes %q (OAUTH_VALIDATE_SCOPES)", strings.Join(missing, " "))}
	}
	s.log.Warn().Strs("missing_scopes", missing).Msg("oauth token lacks requested scopes")
	return nil
}

// classify turns a token request error into a TokenError whose message
// carries no response body (which might echo a credential).
func (s *Source) classify(ctx context.Context, err error) error {
	te := &TokenError{Server: s.server, Endpoint: logURL(s.cfg.TokenURL), Err: err}
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re):
		te.Status = re.Response.StatusCode
		te.Code = re.ErrorCode
		te.Problem = "the token endpoint answered " + re.Response.Status
		if te.Code != "" {
			te.Problem += " (" + te.Code + ")"
		}
		te.retryable = te.Status >= 500 || te.Status == http.StatusTooManyRequests
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		te.Problem = fmt.Sprintf("the token endpoint did not answer within %v", s.opts.Timeout)
		te.retryable = true
	case strings.Contains(err.Error(), "missing access_token"):
		te.Problem = "the token endpoint's response has no access_token"
	case strings.Contains(err.Error(), "cannot parse"):
		te.Problem = "the token endpoint's response is not a valid token response"
	default:
		var ue *url.Error
		if errors.As(err, &ue) {
			te.Problem = "the token endpoint is unreachable"
			te.retryable = ue.Timeout() || !errors.Is(ue.Err, errRefusedURL)
			var rf *refusedError
			if errors.As(err, &rf) {
				te.Problem = "the token endpoint is refused: " + rf.Error()
				te.retryable = false
			}
		} else {
			te.Problem = "the token request failed"
		}
	}
	return te
}

// TokenError reports that no token could be obtained for a server. Its
// message names the server, the token endpoint (without query or user
// info) and the problem, such as the HTTP status; it never carries the
// client secret, a token or a response body.
type TokenError struct {
	// Server is the upstream server's name.
	Server string
	// Endpoint is the token endpoint, stripped of credentials.
	Endpoint string
	// Status is the token endpoint's HTTP status, or 0.
	Status int
	// Code is the OAuth error code of the response (invalid_client…), if any.
	Code string
	// Problem says what went wrong, in a phrase.
	Problem string
	// Err is the cause; its message may be more detailed and is not shown.
	Err error

	retryable bool
}

// Error implements error.
func (e *TokenError) Error() string {
	return fmt.Sprintf("oauth token for server %q from %s: %s", e.Server, e.Endpoint, e.Problem)
}

// Unwrap returns the cause.
func (e *TokenError) Unwrap() error { return e.Err }

// errRefusedURL marks a redirect or request refused by the URL check.
var errRefusedURL = errors.New("url refused")

type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return errRefusedURL }

// headerTransport adds the custom headers and a request ID to every request.
type headerTransport struct {
	base    http.RoundTripper
	headers map[string]string
}

// RoundTrip implements http.RoundTripper.
func (t *headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	for k, v := range t.headers {
		req.Header.Set(k, v)
	}
	if req.Header.Get("X-Request-ID") == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		req.Header.Set("X-Request-ID", id)
		req.Header.Set("X-Correlation-ID", id)
	}
	return t.base.RoundTrip(req)
}

// logURL returns u without user info, query or fragment.
func logURL(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	parsed.User, parsed.RawQuery, parsed.Fragment, parsed.RawFragment = nil, "", "", ""
	return parsed.String()
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
