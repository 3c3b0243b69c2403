package admin

import (
	"context"
	"errors"
	"strings"
	"time"

	"secure-mcp-gateway/guard"
	"secure-mcp-gateway/internal/config"
)

// Runtime reaches what a config file describes but does not hold: the
// discovery cache and the OAuth token cache beside it, and the upstream
// servers it names. Package admin may not import the packages that own
// them (cache, oauthx, upstream: ARCHITECTURE.md keeps admin to config
// edits), so it declares what its operations need and main implements it
// over those packages. The operations themselves (which servers, which
// filter, what the result says) live here, once, for the CLI and the API.
// A nil part makes the operations that need it fail with
// *UnavailableError.
type Runtime struct {
	// Cache opens the discovery cache of the config.
	Cache CacheOpener
	// Tokens reads and revokes cached OAuth tokens.
	Tokens TokenKeeper
	// SharedTokens reads the client-credentials tokens replicas share
	// through the Redis the config names, which OAuthTokens lists beside
	// the local copies. Nil: only the token cache beside the config file
	// is listed.
	SharedTokens SharedTokenReader
	// Probe checks that an upstream server can be reached.
	Probe Prober
	// Pins opens the tool pin state a config describes. Nil: the pin file
	// beside the config.
	Pins PinOpener
	// Keys shares key revocations with replicas that serve other copies of
	// the config. Nil: a revocation reaches the replicas that read this
	// file only.
	Keys KeyRevoker
	// AuditLog is this process's own audit log, when it writes one; Health
	// reports its counters. Nil: the process writes none.
	AuditLog AuditCounters
}

// OpenWith returns a Store for the config file at path whose runtime
// operations (cache, OAuth tokens, health probes) use rt.
func OpenWith(path string, rt Runtime) *Store { return &Store{path: path, rt: rt} }

// KeyRevoker shares which keys a config write revoked or made usable
// again (stored forms, as authn.HashKey) through the state replicas share,
// when the config names it. The config file is already saved when it is
// called, so an error means only that replicas serving other copies of the
// config have not been told; the operation returns it for the operator.
type KeyRevoker interface {
	ShareRevocations(ctx context.Context, c *config.Config, revoke, restore []string) error
}

// PinOpener opens the tool pin state a config describes: the file beside
// it, or the state replicas share in the Redis it names.
type PinOpener interface {
	OpenPins(ctx context.Context, c *config.Config) (store guard.PinStore, closer func(), err error)
}

// CacheOpener opens the discovery cache a config describes (its persistent
// store beside the config file, and Redis when the config says so).
type CacheOpener interface {
	OpenCache(ctx context.Context, c *config.Config) (ToolCache, error)
}

// ToolCache is an open discovery cache.
type ToolCache interface {
	// Tiers lists the tiers in use, fastest first; "memory" is this
	// process's own, empty in a process that discovers nothing.
	Tiers() []string
	// Inspect returns every tier's copy of the tool list of server s of
	// the MCP config configID, fastest first, copying nothing.
	Inspect(ctx context.Context, configID string, s *config.Server) []CachedCopy
	// Clear removes the entries of the servers named server in every MCP
	// config, or every entry when server is empty, and says how many it
	// removed from the shared tiers.
	Clear(ctx context.Context, server string) (int, error)
	// ClearServer removes the entry of server s of MCP config configID
	// only, and says whether one was there.
	ClearServer(ctx context.Context, configID string, s *config.Server) (bool, error)
	// Close releases the cache's connections.
	Close() error
}

// MemoryTier is the tier a ToolCache keeps in its own process: a cache
// opened by an admin operation never holds anything there, and running
// gateways' own memory tiers are out of any operation's reach.
const MemoryTier = "memory"

// CachedCopy is one tier's copy of a server's tool list.
type CachedCopy struct {
	Tier      string
	StoredAt  time.Time
	ExpiresAt time.Time
	// Tools is the number of tools listed; -1 when the list is unreadable.
	Tools int
	// Usable is false for a copy too old to be served.
	Usable bool
}

// TokenKind is how the gateway gets a server's OAuth token.
type TokenKind string

// Token kinds.
const (
	// TokenClientCredentials: oauth_config.enabled, the client credentials
	// grant the gateway runs itself.
	TokenClientCredentials TokenKind = "client_credentials"
	// TokenLogin: the server's "oauth" entry, an authorization code login
	// a person ran with `oauth login`.
	TokenLogin TokenKind = "login"
)

// TokenKeeper reads and revokes the OAuth tokens cached beside the config
// file. Neither method ever returns a token.
type TokenKeeper interface {
	// Token describes the token of kind cached for server s of the MCP
	// config named configName.
	Token(ctx context.Context, kind TokenKind, configName string, s *config.Server) (TokenState, error)
	// Revoke forgets that token and revokes it at its issuer (RFC 7009),
	// reporting whether there was one. When the issuer offers no
	// revocation endpoint the token is forgotten only, and the error
	// wraps ErrNotRevocable.
	Revoke(ctx context.Context, c *config.Config, kind TokenKind, configName string, s *config.Server) (bool, error)
}

// ErrNotRevocable is wrapped by TokenKeeper.Revoke when a token was
// forgotten locally but its issuer offers no revocation endpoint.
var ErrNotRevocable = errors.New("the issuer offers no revocation endpoint")

// TokenState describes a cached OAuth token without revealing it.
type TokenState struct {
	Cached bool
	// Fingerprint identifies the token (secret.Fingerprint).
	Fingerprint string
	Scope       string
	Obtained    time.Time
	// Expiry is zero when the issuer did not say.
	Expiry time.Time
	// Issuer is the login's authorization server.
	Issuer string
	// Refreshable: a refresh token is held.
	Refreshable bool
	// StepUp are scopes the server asked for that the next login requests.
	StepUp []string
	// LoginCommand is the command that logs in (TokenLogin).
	LoginCommand string
}

// SharedTokenReader reads the client-credentials tokens gateway replicas
// share through the store a config names (its Redis). It never returns a
// token.
type SharedTokenReader interface {
	// SharedToken describes the token replicas share for server s of c,
	// whose oauth_config is enabled. ok is false when c names no shared
	// store. An error wrapping ErrSharedUnreachable says the store could
	// not be reached; st.Store is set all the same.
	SharedToken(ctx context.Context, c *config.Config, s *config.Server) (st SharedTokenState, ok bool, err error)
}

// ErrSharedUnreachable is wrapped by SharedTokenReader.SharedToken when
// the shared store cannot be reached.
var ErrSharedUnreachable = errors.New("shared store unreachable")

// SharedTokenState describes the token replicas share for a server
// without revealing it.
type SharedTokenState struct {
	// Store names the shared store for people: its address.
	Store string
	// NotShared: the server's tokens are not shared (no client secret to
	// seal them under); each replica fetches its own.
	NotShared bool
	// Found: the store holds an entry for the server.
	Found bool
	// Unreadable: the entry does not open with the config's client secret
	// (rotated, or corrupt); the fields below are empty.
	Unreadable bool
	// Fingerprint identifies the token (secret.Fingerprint).
	Fingerprint string
	Scope       string
	Obtained    time.Time
	// Expiry is zero when the issuer did not say.
	Expiry time.Time
}

// Prober checks that an upstream server can be reached, within ctx's
// deadline, without running a session. detail says what answered; neither
// detail nor the error may carry a secret (header, env value, URL
// credentials or query).
type Prober interface {
	Probe(ctx context.Context, c *config.Config, s *config.Server) (detail string, err error)
}

// AuditCounters is a running audit log's state (*audit.Log has it).
type AuditCounters interface {
	Written() uint64
	Dropped() uint64
	Err() error
}

// UnavailableError says that an operation needs a part of the Runtime
// this Store was opened without.
type UnavailableError struct {
	What string `json:"what"`
}

func (e *UnavailableError) Error() string {
	return e.What + " is not available here"
}

// ShownEndpoint is an endpoint URL safe to show: without credentials,
// query or fragment.
func ShownEndpoint(u string) string {
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
