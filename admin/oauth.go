package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"secure-mcp-gateway/internal/config"
)

// OAuthToken is the OAuth token the gateway holds, or would hold, for one
// server: a fingerprint, never the token.
type OAuthToken struct {
	Server     string    `json:"server_name"`
	ConfigID   string    `json:"mcp_config_id"`
	ConfigName string    `json:"mcp_config_name"`
	Kind       TokenKind `json:"kind" enum:"client_credentials,login" doc:"client_credentials (oauth_config) or login (the server's \"oauth\" entry)"`
	// Endpoint is the token endpoint (client_credentials) or the issuer
	// (login), without credentials or query.
	Endpoint     string     `json:"endpoint,omitempty" doc:"the token endpoint or the issuer, without credentials or query"`
	Cached       bool       `json:"cached"`
	Fingerprint  string     `json:"fingerprint,omitempty" doc:"identifies the cached token; never the token"`
	Scope        string     `json:"scope,omitempty"`
	ObtainedAt   *time.Time `json:"obtained_at,omitempty"`
	ExpiresAt    *time.Time `json:"expires_at,omitempty" doc:"absent when the issuer did not say"`
	Expired      bool       `json:"expired,omitempty"`
	Refreshable  bool       `json:"refreshable,omitempty" doc:"a refresh token is held"`
	StepUpScopes []string   `json:"step_up_scopes,omitempty" doc:"scopes the server asked for that the next login requests"`
	LoginCommand string     `json:"login_command,omitempty" doc:"the command that logs in, for a login without a token"`
	Problem      string     `json:"problem,omitempty" doc:"why the token cache could not be read"`
	// Shared is the token replicas share (client_credentials, when the
	// config names a Redis); nil otherwise.
	Shared *SharedOAuthToken `json:"shared,omitempty" doc:"the token replicas share through the config's Redis (client_credentials only; absent without Redis)"`
}

// SharedOAuthToken is the client-credentials token gateway replicas share
// through the Redis the config names: the one they actually use. A
// fingerprint, never the token.
type SharedOAuthToken struct {
	Store       string     `json:"store" doc:"the shared store's address (host:port)"`
	NotShared   bool       `json:"not_shared,omitempty" doc:"the server has no client secret to seal a shared token under: each replica fetches its own"`
	Cached      bool       `json:"cached" doc:"the shared store holds a readable token for the server"`
	Fingerprint string     `json:"fingerprint,omitempty" doc:"identifies the shared token; never the token"`
	Scope       string     `json:"scope,omitempty"`
	ObtainedAt  *time.Time `json:"obtained_at,omitempty"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty" doc:"absent when the issuer did not say"`
	Expired     bool       `json:"expired,omitempty"`
	Problem     string     `json:"problem,omitempty" doc:"shared store unreachable, or why the shared entry could not be read"`
}

// Problems of a shared token, as SharedOAuthToken.Problem says them.
const (
	// SharedUnreachable: the shared store could not be reached.
	SharedUnreachable = "shared store unreachable"
	// SharedUnreadable: the entry does not open with this config's client
	// secret.
	SharedUnreadable = "the shared token does not open with this config's client secret (rotated?); a replica replaces it when it needs a token"
)

// oauthServer is one server entry that gets an OAuth token.
type oauthServer struct {
	configID string
	mc       *config.MCPConfig
	server   *config.Server
	kind     TokenKind
}

// oauthServers lists the OAuth servers of c, MCP configs by name, servers
// in config order, client credentials before login for a server with both.
func oauthServers(c *config.Config) []oauthServer {
	var out []oauthServer
	for _, id := range SortedIDs(c.MCPConfigs, func(id string) string { return ConfigName(c, id) }) {
		mc := c.MCPConfigs[id]
		if mc == nil {
			continue
		}
		for _, s := range mc.Servers {
			if s == nil {
				continue
			}
			if s.OAuth != nil && s.OAuth.Enabled {
				out = append(out, oauthServer{id, mc, s, TokenClientCredentials})
			}
			if s.OAuthLogin != nil && s.Config.URL != "" {
				out = append(out, oauthServer{id, mc, s, TokenLogin})
			}
		}
	}
	return out
}

func (s *Store) tokens(ctx context.Context) (*config.Config, error) {
	if s.rt.Tokens == nil {
		return nil, &UnavailableError{What: "the OAuth token cache"}
	}
	return s.Load(ctx)
}

// OAuthTokens lists every server with oauth_config.enabled or an "oauth"
// login entry, and the token cached for it; for client credentials, when
// the config names a shared store (Runtime.SharedTokens), also the token
// the replicas share.
func (s *Store) OAuthTokens(ctx context.Context) ([]OAuthToken, error) {
	c, err := s.tokens(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := []OAuthToken{}
	for _, o := range oauthServers(c) {
		t := OAuthToken{Server: o.server.Name, ConfigID: o.configID, ConfigName: o.mc.Name, Kind: o.kind}
		if o.kind == TokenClientCredentials {
			t.Endpoint = ShownEndpoint(o.server.OAuth.TokenURL)
		}
		if o.kind == TokenClientCredentials && s.rt.SharedTokens != nil {
			t.Shared = s.sharedToken(ctx, c, o.server, now)
		}
		st, err := s.rt.Tokens.Token(ctx, o.kind, o.mc.Name, o.server)
		if err != nil {
			t.Problem = "unreadable token cache: " + err.Error()
			out = append(out, t)
			continue
		}
		if o.kind == TokenLogin {
			t.Endpoint = ShownEndpoint(st.Issuer)
			if !st.Cached {
				t.LoginCommand = st.LoginCommand
			}
		}
		if st.Cached {
			t.Cached, t.Fingerprint, t.Scope = true, st.Fingerprint, st.Scope
			t.Refreshable, t.StepUpScopes = st.Refreshable, st.StepUp
			t.ObtainedAt, t.ExpiresAt, t.Expired = tokenTimes(st.Obtained, st.Expiry, now)
		}
		out = append(out, t)
	}
	return out, nil
}

// sharedToken describes the token replicas share for server sv of c; nil
// when c names no shared store. A store that cannot be reached, or an
// entry that does not open, is the row's problem, never the listing's.
func (s *Store) sharedToken(ctx context.Context, c *config.Config, sv *config.Server, now time.Time) *SharedOAuthToken {
	st, ok, err := s.rt.SharedTokens.SharedToken(ctx, c, sv)
	if !ok {
		return nil
	}
	t := &SharedOAuthToken{Store: st.Store, NotShared: st.NotShared}
	switch {
	case errors.Is(err, ErrSharedUnreachable):
		t.Problem = SharedUnreachable
	case err != nil:
		t.Problem = "unreadable shared token: " + err.Error()
	case st.Unreadable:
		t.Problem = SharedUnreadable
	case st.Found:
		t.Cached, t.Fingerprint, t.Scope = true, st.Fingerprint, st.Scope
		t.ObtainedAt, t.ExpiresAt, t.Expired = tokenTimes(st.Obtained, st.Expiry, now)
	}
	return t
}

// tokenTimes returns a token's obtained and expiry times as the listing
// shows them (nil when unknown), and whether it had expired at now.
func tokenTimes(obtained, expiry, now time.Time) (obtainedAt, expiresAt *time.Time, expired bool) {
	if !obtained.IsZero() {
		obtainedAt = &obtained
	}
	if !expiry.IsZero() {
		expiresAt, expired = &expiry, !expiry.After(now)
	}
	return obtainedAt, expiresAt, expired
}

// RevokeTokenRequest names the server whose OAuth tokens to revoke.
type RevokeTokenRequest struct {
	ServerName string `json:"server_name"`
	// Config limits the revocation to one MCP config; empty: the servers
	// of that name in every MCP config.
	Config Ref `json:"-"`
}

// Revocation outcomes.
const (
	// RevokeNoToken: nothing was cached.
	RevokeNoToken = "no_token"
	// RevokeForgotten: forgotten locally; the issuer offers no revocation
	// endpoint.
	RevokeForgotten = "forgotten"
	// RevokeRevoked: revoked at the issuer and forgotten.
	RevokeRevoked = "revoked"
	// RevokeFailed: the revocation failed (see Problem); a token that was
	// cached is forgotten all the same.
	RevokeFailed = "failed"
)

// TokenRevocation is the outcome for one server entry.
type TokenRevocation struct {
	Server     string    `json:"server_name"`
	ConfigName string    `json:"mcp_config_name"`
	Kind       TokenKind `json:"kind"`
	Outcome    string    `json:"outcome" enum:"no_token,forgotten,revoked,failed"`
	Problem    string    `json:"problem,omitempty"`
}

// RevokeError says that at least one revocation failed; Results hold
// every outcome.
type RevokeError struct {
	Results []TokenRevocation
}

func (e *RevokeError) Error() string {
	var parts []string
	for _, r := range e.Results {
		if r.Outcome == RevokeFailed {
			parts = append(parts, fmt.Sprintf("server %q (config %q): %s", r.Server, r.ConfigName, r.Problem))
		}
	}
	return "revocation failed: " + strings.Join(parts, "; ")
}

// RevokeOAuthToken forgets the tokens cached for the servers named
// req.ServerName and revokes them at their issuers (RFC 7009). A server
// name with no OAuth entry is a NotFoundError; a failed revocation is a
// *RevokeError carrying every outcome, which are returned too.
func (s *Store) RevokeOAuthToken(ctx context.Context, req RevokeTokenRequest) ([]TokenRevocation, error) {
	if req.ServerName == "" {
		return nil, &RequestError{Fields: []string{"server_name"}, Problem: ProblemMissing}
	}
	c, err := s.tokens(ctx)
	if err != nil {
		return nil, err
	}
	only := ""
	if req.Config != (Ref{}) {
		if only, _, err = resolveConfig(c, req.Config); err != nil {
			return nil, err
		}
	}
	var names []string
	out := []TokenRevocation{}
	failed := false
	for _, o := range oauthServers(c) {
		if only != "" && o.configID != only {
			continue
		}
		names = append(names, o.server.Name)
		if o.server.Name != req.ServerName {
			continue
		}
		r := TokenRevocation{Server: o.server.Name, ConfigName: o.mc.Name, Kind: o.kind}
		had, err := s.rt.Tokens.Revoke(ctx, c, o.kind, o.mc.Name, o.server)
		switch {
		case errors.Is(err, ErrNotRevocable):
			r.Outcome = RevokeForgotten
		case err != nil:
			r.Outcome, r.Problem, failed = RevokeFailed, err.Error(), true
		case !had:
			r.Outcome = RevokeNoToken
		default:
			r.Outcome = RevokeRevoked
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		in := "any MCP config"
		if only != "" {
			in = fmt.Sprintf("MCP config %q", ConfigName(c, only))
		}
		return nil, &NotFoundError{Kind: "server with oauth_config.enabled or an \"oauth\" login entry", Name: req.ServerName, In: in,
			DidYouMean: config.Suggest(req.ServerName, names)}
	}
	if failed {
		return out, &RevokeError{Results: out}
	}
	return out, nil
}
