package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"
)

// maxRedirects bounds the redirects a remote upstream may send.
const maxRedirects = 5

// metadataAddrs are cloud instance-metadata endpoints outside the
// link-local ranges, refused like them.
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("fd00:ec2::254"),   // AWS IMDS over IPv6
	netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
	netip.MustParseAddr("168.63.129.16"),   // Azure WireServer
	netip.MustParseAddr("192.0.0.192"),     // Oracle Cloud
}

// ErrRefusedAddress is wrapped by the errors of CheckURL and of the dialer of
// NewHTTPTransport for a destination the gateway never connects to.
var ErrRefusedAddress = errors.New("address refused")

// CheckURL vets a remote endpoint (an upstream URL, a token URL, a redirect
// target) before any request: the scheme must be https, or http for a
// loopback host; a literal IP must not be link-local, unspecified,
// multicast or a cloud metadata address. Host names are vetted again after
// resolution by the dialer of NewHTTPTransport.
func CheckURL(u *url.URL) error {
	host := u.Hostname()
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%w: scheme %q is not http or https", ErrRefusedAddress, u.Scheme)
	case host == "":
		return fmt.Errorf("%w: URL has no host", ErrRefusedAddress)
	case u.Scheme == "http" && !isLoopbackHost(host):
		return fmt.Errorf("%w: http is allowed only for loopback hosts; use https for %s", ErrRefusedAddress, host)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return checkAddr(ip)
	}
	return nil
}

// isLoopbackHost reports whether host is localhost or a loopback literal.
func isLoopbackHost(host string) bool {
	h := strings.ToLower(host)
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// checkAddr refuses addresses a remote upstream must never reach.
func checkAddr(ip netip.Addr) error {
	ip = ip.Unmap()
	switch {
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return fmt.Errorf("%w: %s is link-local (cloud metadata lives there)", ErrRefusedAddress, ip)
	case ip.IsUnspecified(), ip.IsMulticast():
		return fmt.Errorf("%w: %s is not a unicast address", ErrRefusedAddress, ip)
	}
	for _, m := range metadataAddrs {
		if ip == m {
			return fmt.Errorf("%w: %s is a cloud metadata address", ErrRefusedAddress, ip)
		}
	}
	return nil
}

// DefaultDialTimeout bounds connecting to a remote upstream or a token
// endpoint when no connectivity timeout is configured.
const DefaultDialTimeout = 30 * time.Second

// NewHTTPTransport returns a clone of http.DefaultTransport whose dialer
// checks every resolved address with the rules of CheckURL, so that neither
// a host name that resolves to a metadata address nor a redirect can reach
// one, and gives up connecting after dialTimeout (zero means
// DefaultDialTimeout). The OAuth token client is built on it too.
func NewHTTPTransport(dialTimeout time.Duration) *http.Transport {
	if dialTimeout <= 0 {
		dialTimeout = DefaultDialTimeout
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	d := &net.Dialer{
		Timeout:   dialTimeout,
		KeepAlive: 30 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: cannot parse dialled address %q", ErrRefusedAddress, address)
			}
			return checkAddr(ap.Addr())
		},
	}
	t.DialContext = d.DialContext
	return t
}

// httpClient returns the client for a remote spec: SSRF-checked dialing and
// redirects, the spec's headers and bearer token sent to the spec's own
// origin only.
func (s *server) httpClient(origin *url.URL) *http.Client {
	s.mu.Lock()
	if s.httpT == nil {
		s.httpT = NewHTTPTransport(s.pool.opts.DialTimeout)
	}
	base := s.httpT
	s.mu.Unlock()
	var rt http.RoundTripper = &headerTransport{base: base, headers: s.spec.Headers, origin: origin}
	if s.spec.TokenSource != nil {
		rt = &bearerTransport{base: rt, src: s.spec.TokenSource, origin: origin}
	}
	return &http.Client{
		Transport: rt,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return errors.New("too many redirects")
			}
			return CheckURL(req.URL)
		},
	}
}

// connectRemote connects to a streamable-HTTP upstream, falling back to the
// older HTTP+SSE transport when the endpoint refuses the initialize POST with
// 404 or 405. A token source is asked for a token first, so that a token
// failure is reported as such rather than as a connection error.
func (s *server) connectRemote(ctx context.Context, client *mcp.Client, sopts *mcp.ClientSessionOptions) (*mcp.ClientSession, error) {
	u, err := url.Parse(s.spec.URL)
	if err != nil {
		return nil, errors.New("remote URL does not parse")
	}
	if err := CheckURL(u); err != nil {
		return nil, fmt.Errorf("remote URL %s: %w", logURL(s.spec.URL), err)
	}
	if s.spec.TokenSource != nil {
		if _, err := tokenCtx(ctx, s.spec.TokenSource); err != nil {
			return nil, err
		}
	}
	s.log.Debug().Str("url", s.pool.redact(logURL(s.spec.URL))).Msg("connecting to upstream")
	hc := s.httpClient(u)
	rec := &statusRecorder{base: hc.Transport}
	hc.Transport = rec
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: s.spec.URL, HTTPClient: hc}, sopts)
	if err == nil {
		return cs, nil
	}
	if st := rec.firstPOST(); ctx.Err() != nil || (st != http.StatusNotFound && st != http.StatusMethodNotAllowed) {
		return nil, s.connectErr(ctx, err)
	}
	s.log.Info().Msg("upstream refused streamable HTTP; trying HTTP+SSE")
	sse := &detachedTransport{Transport: &mcp.SSEClientTransport{Endpoint: s.spec.URL, HTTPClient: s.httpClient(u)}, parent: s.pool.ctx}
	cs, sseErr := client.Connect(ctx, sse, sopts)
	if sseErr != nil {
		return nil, s.connectErr(ctx, fmt.Errorf("streamable HTTP: %w; HTTP+SSE: %w", err, sseErr))
	}
	return cs, nil
}

// contextTokenSource is implemented by token sources that can be bounded by
// a context (oauthx.Source is one).
type contextTokenSource interface {
	TokenContext(ctx context.Context) (*oauth2.Token, error)
}

// invalidator is implemented by token sources that can be told that the
// upstream refused a token, so that the next Token call fetches a new one.
type invalidator interface {
	Invalidate(token string)
}

func tokenCtx(ctx context.Context, src oauth2.TokenSource) (*oauth2.Token, error) {
	if cs, ok := src.(contextTokenSource); ok {
		return cs.TokenContext(ctx)
	}
	return src.Token()
}

// stepUpper is implemented by token sources that can record scopes the
// upstream asked for in a 403 insufficient_scope (oauthx.LoginSource is
// one). StepUp returns the error that the request fails with, which says
// how to get a token with those scopes.
type stepUpper interface {
	StepUp(scopes []string) error
}

// insufficientScope returns the scopes of a Bearer insufficient_scope
// challenge (RFC 6750 §3.1) in h, and whether there is one.
func insufficientScope(h http.Header) ([]string, bool) {
	cs, err := oauthex.ParseWWWAuthenticate(h.Values("WWW-Authenticate"))
	if err != nil {
		return nil, false
	}
	for _, c := range cs {
		if c.Scheme == "bearer" && c.Params["error"] == "insufficient_scope" {
			return strings.Fields(c.Params["scope"]), true
		}
	}
	return nil, false
}

// bearerTransport sets Authorization: Bearer on requests to origin. When
// the upstream answers 401 it tells the token source, gets a new token and
// retries the request once; a second 401 is returned as it is, and a
// token source that can give no new token fails the request with its
// error (which may name the login command). A 403 insufficient_scope is
// reported to a source that does step-up, and fails the request with its
// error.
type bearerTransport struct {
	base   http.RoundTripper
	src    oauth2.TokenSource
	origin *url.URL
}

// RoundTrip implements http.RoundTripper.
func (t *bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !sameOrigin(req.URL, t.origin) {
		return t.base.RoundTrip(req) // a token for this server goes nowhere else
	}
	tok, err := tokenCtx(req.Context(), t.src)
	if err != nil {
		return nil, err
	}
	resp, err := t.base.RoundTrip(withBearer(req, tok.AccessToken))
	if err != nil {
		return resp, err
	}
	if resp.StatusCode == http.StatusForbidden {
		if su, ok := t.src.(stepUpper); ok {
			if scopes, ok := insufficientScope(resp.Header); ok {
				drain(resp)
				return nil, su.StepUp(scopes)
			}
		}
		return resp, nil
	}
	if resp.StatusCode != http.StatusUnauthorized {
		return resp, nil
	}
	inv, ok := t.src.(invalidator)
	if !ok || (req.Body != nil && req.GetBody == nil) {
		return resp, nil
	}
	inv.Invalidate(tok.AccessToken)
	fresh, err := tokenCtx(req.Context(), t.src)
	if err != nil {
		drain(resp)
		return nil, err
	}
	if fresh.AccessToken == tok.AccessToken {
		return resp, nil // no better token: the 401 stands
	}
	retry := req.Clone(req.Context())
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return resp, nil
		}
		retry.Body = body
	}
	drain(resp)
	return t.base.RoundTrip(withBearer(retry, fresh.AccessToken))
}

// drain reads a little of resp's body, so that the connection can be
// reused, and closes it.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

func withBearer(req *http.Request, token string) *http.Request {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}

// sameOrigin reports whether u has the scheme and host of origin.
func sameOrigin(u, origin *url.URL) bool {
	return origin == nil || (strings.EqualFold(u.Scheme, origin.Scheme) && strings.EqualFold(u.Host, origin.Host))
}

// statusRecorder remembers the status of the first POST, which carries
// initialize, to decide on the SSE fallback.
type statusRecorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	post int
}

// RoundTrip implements http.RoundTripper.
func (r *statusRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	if err == nil && req.Method == http.MethodPost {
		r.mu.Lock()
		if r.post == 0 {
			r.post = resp.StatusCode
		}
		r.mu.Unlock()
	}
	return resp, err
}

func (r *statusRecorder) firstPOST() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.post
}

// detachedTransport connects with a context that outlives the connect
// deadline (the SSE client ties its event stream to the context of Connect)
// but still ends when the connect context ends before the connection is
// made, when parent ends, or when the connection is closed.
type detachedTransport struct {
	mcp.Transport
	parent context.Context
}

// Connect implements mcp.Transport.
func (t *detachedTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	lctx, cancel := context.WithCancel(t.parent)
	stop := context.AfterFunc(ctx, cancel)
	conn, err := t.Transport.Connect(lctx)
	if !stop() {
		cancel()
		if err == nil {
			_ = conn.Close()
		}
		return nil, ctx.Err()
	}
	if err != nil {
		cancel()
		return nil, err
	}
	return &cancelConn{Connection: conn, cancel: cancel}, nil
}

// cancelConn cancels its context when closed.
type cancelConn struct {
	mcp.Connection
	cancel context.CancelFunc
}

// Close implements mcp.Connection.
func (c *cancelConn) Close() error {
	err := c.Connection.Close()
	c.cancel()
	return err
}

// closeIdle closes the idle connections of the server's HTTP transport.
func (s *server) closeIdle() {
	s.mu.Lock()
	t := s.httpT
	s.mu.Unlock()
	if t != nil {
		t.CloseIdleConnections()
	}
}
