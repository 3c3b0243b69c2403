package oauthx

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"secure-mcp-gateway/internal/config"
	"slices"
	"time"

	sdkoauth "github.com/modelcontextprotocol/go-sdk/oauthex"

	"golang.org/x/oauth2"
)

// The client a login uses: cached, pre-registered, or registered
// dynamically (RFC 7591).

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
