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

	"github.com/modelcontextprotocol/go-sdk/auth"
	sdkoauth "github.com/modelcontextprotocol/go-sdk/oauthex"
)

// Discovery for a login: the protected resource's and its authorization
// server's metadata (RFC 9728, RFC 8414), every endpoint vetted.

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
