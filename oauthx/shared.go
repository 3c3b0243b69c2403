package oauthx

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/internal/secret"
)

// Defaults of the sharing of client-credentials tokens between replicas.
const (
	// DefaultSharedRecheck is how long a replica uses its copy of a shared
	// token before it reads the shared entry again, so that a revocation
	// or a replacement by another replica reaches it within that time.
	DefaultSharedRecheck = time.Second
	// SharedNoExpiryTTL is how long a token whose endpoint gave no
	// expires_in is kept in the shared store; the next replica to find it
	// gone fetches a new one.
	SharedNoExpiryTTL = time.Hour
)

// SharedTokens is the store through which gateway replicas share
// client-credentials tokens: the Redis the config names (package cache's
// Shared implements it; the caller passes it in, oauthx never imports
// cache). Keys are plain names; values are opaque, already encrypted
// bytes. Every method returns an error when the store cannot be reached,
// and the source then carries on from its local state.
type SharedTokens interface {
	// Get returns the value at key; nil and no error when there is none.
	Get(ctx context.Context, key string) ([]byte, error)
	// Set stores value at key for ttl (zero: no expiry).
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes key; a missing key is no error.
	Delete(ctx context.Context, key string) error
	// Lock takes the lock named key for at most ttl, waiting while another
	// replica holds it until ctx ends, and returns its release.
	Lock(ctx context.Context, key string, ttl time.Duration) (unlock func(), err error)
}

// sharedVersion is the first byte of a shared value: the format of what
// follows (nonce, then AES-256-GCM ciphertext of the JSON cacheEntry).
const sharedVersion = 1

// sharedInfo is the HKDF info of the key that seals shared tokens.
const sharedInfo = "secure-mcp-gateway oauth client-credentials token v1"

// sharedKeyName names a server's token in the shared store by a hash of
// what determines the token (the token endpoint, the client, the requested
// scope, audience, resource and organization) and the server's name. No
// secret goes in: the name is visible to whoever can list Redis keys.
func sharedKeyName(server string, c *sharedIdentity) string {
	h := sha256.New()
	for _, v := range []string{c.tokenURL, c.clientID, c.scope, c.audience, c.resource, c.organization, server} {
		fmt.Fprintf(h, "%d:%s;", len(v), v)
	}
	return "oauth:token:" + hex.EncodeToString(h.Sum(nil)[:16])
}

// sharedIdentity is the non-secret part of an oauth config that names its
// shared token.
type sharedIdentity struct {
	tokenURL, clientID, scope, audience, resource, organization string
}

// newSealer returns the AEAD that seals the shared token named name: AES-
// 256-GCM under a key derived with HKDF-SHA256 from the client secret,
// salted with the name. The key never leaves the process; a replica with
// another secret cannot open the value.
func newSealer(clientSecret, name string) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, []byte(clientSecret), []byte(name), sharedInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("derive shared token key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("shared token cipher: %w", err)
	}
	return cipher.NewGCM(block)
}

// ErrSharedUnreadable marks a shared value that does not open: sealed
// under another client secret (rotated), or corrupt. Replicas treat it as
// a miss and replace it when they need a token.
var ErrSharedUnreadable = errors.New("the shared oauth token does not open with this client secret (rotated?) or is corrupt")

// ErrNotShared is returned by [InspectShared] for a client without a client
// secret (mTLS only): there is nothing to derive the sealing key from, so
// each replica fetches its own token.
var ErrNotShared = errors.New("not shared: the client has no client secret to seal the token under")

// sharedName is the name of the token of the named server with oauth
// config c in the shared store.
func sharedName(server string, c *config.OAuthConfig) string {
	return sharedKeyName(server, &sharedIdentity{tokenURL: c.TokenURL, clientID: c.ClientID, scope: c.Scope,
		audience: c.Audience, resource: c.Resource, organization: c.Organization})
}

// seal encrypts e for the shared store, binding it to the key name.
func (s *Source) seal(e *cacheEntry) ([]byte, error) {
	plain, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode shared token: %w", err)
	}
	out := make([]byte, 1+s.aead.NonceSize(), 1+s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	out[0] = sharedVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("shared token nonce: %w", err)
	}
	return s.aead.Seal(out, out[1:], plain, []byte(s.sharedKey)), nil
}

// open decrypts a shared value; ErrSharedUnreadable when it does not open.
func (s *Source) open(b []byte) (*cacheEntry, error) { return openSealed(s.aead, s.sharedKey, b) }

// openSealed decrypts the shared value b stored under name with aead;
// ErrSharedUnreadable when it does not open.
func openSealed(aead cipher.AEAD, name string, b []byte) (*cacheEntry, error) {
	n := aead.NonceSize()
	if len(b) < 1+n || b[0] != sharedVersion {
		return nil, ErrSharedUnreadable
	}
	plain, err := aead.Open(nil, b[1:1+n], b[1+n:], []byte(name))
	if err != nil {
		return nil, ErrSharedUnreadable
	}
	var e cacheEntry
	if json.Unmarshal(plain, &e) != nil || e.AccessToken == "" {
		return nil, ErrSharedUnreadable
	}
	return &e, nil
}

// SharedState describes the token replicas share for one server, without
// revealing it.
type SharedState struct {
	// Found reports whether the shared store holds an entry for the
	// server, readable or not.
	Found bool
	// Fingerprint identifies the shared token (see secret.Fingerprint);
	// empty when there is none or it does not open.
	Fingerprint string
	// Scope is the granted scope, if the token endpoint said.
	Scope string
	// Obtained is when the token was fetched.
	Obtained time.Time
	// Expiry is when the token expires; zero means the endpoint did not
	// say (the entry then lives SharedNoExpiryTTL).
	Expiry time.Time
}

// InspectShared reports the token replicas share through store for the
// named server with oauth config c, as [Inspect] does for the cache file.
// It reads one entry: it never fetches a token, takes no lock and writes
// nothing. A client without a client secret gets ErrNotShared; an entry
// that does not open gets Found and ErrSharedUnreadable; the store's own
// error (unreachable) is returned wrapped.
func InspectShared(ctx context.Context, store SharedTokens, server string, c *config.OAuthConfig) (SharedState, error) {
	if c == nil || c.ClientSecret == "" {
		return SharedState{}, ErrNotShared
	}
	name := sharedName(server, c)
	b, err := store.Get(ctx, name)
	if err != nil {
		return SharedState{}, fmt.Errorf("read the oauth token of server %q shared by replicas: %w", server, err)
	}
	if b == nil {
		return SharedState{}, nil
	}
	st := SharedState{Found: true}
	aead, err := newSealer(c.ClientSecret, name)
	if err != nil {
		return st, err
	}
	e, err := openSealed(aead, name, b)
	if err != nil {
		return st, err
	}
	st.Fingerprint, st.Scope, st.Obtained, st.Expiry = secret.Fingerprint(e.AccessToken), e.Scope, e.Obtained, e.Expiry
	return st, nil
}

// readShared reads the server's shared token. found reports whether there
// is a value at all; e is nil when there is none or it does not open. err
// is the store's error (unreachable).
func (s *Source) readShared(ctx context.Context) (e *cacheEntry, found bool, err error) {
	b, err := s.shared.Get(ctx, s.sharedKey)
	if err != nil {
		return nil, false, err
	}
	if b == nil {
		return nil, false, nil
	}
	e, err = s.open(b)
	if err != nil {
		s.log.Info().Msg("the oauth token shared by replicas does not open (client secret rotated?); it will be replaced when a token is needed")
		return nil, true, nil
	}
	return e, true, nil
}

// writeShared stores e in the shared store until its expiry.
func (s *Source) writeShared(ctx context.Context, e *cacheEntry) error {
	ttl := SharedNoExpiryTTL
	if !e.Expiry.IsZero() {
		ttl = e.Expiry.Sub(s.opts.Now())
		if ttl <= 0 {
			return nil
		}
	}
	b, err := s.seal(e)
	if err != nil {
		return err
	}
	return s.shared.Set(ctx, s.sharedKey, b, ttl)
}

// lockTTL bounds how long a replica holds the fetch lock: one fetch with
// all its attempts and backoffs. A holder that dies frees it after that.
func (s *Source) lockTTL() time.Duration {
	n := time.Duration(s.opts.Attempts)
	return n*s.opts.Timeout + n*s.opts.MaxBackoff
}

// sharedToken returns a valid token when replicas share tokens: the copy
// in memory while it is fresh and was checked against the shared entry
// within Options.SharedRecheck, else the shared entry, else one fetched
// under the shared lock (so that N replicas make one grant) and stored for
// all. When the store cannot be reached it falls back to localToken. s.mu
// is held.
func (s *Source) sharedToken(ctx context.Context) (*cacheEntry, error) {
	now := s.opts.Now()
	if s.fresh(s.tok) && now.Sub(s.checked) < s.opts.SharedRecheck {
		return s.tok, nil
	}
	e, found, err := s.readShared(ctx)
	switch {
	case err != nil:
		// Unreachable: the cache package warns once per outage.
		s.log.Debug().Err(err).Msg("shared oauth token unreadable; using local state")
		s.checked = now
		return s.localToken(ctx)
	case s.fresh(e):
		s.adopt(e)
		return e, nil
	case found && e == nil && s.fresh(s.tok):
		// Sealed under another secret (a rotation under way): keep ours
		// rather than overwrite the other replicas' token at every check.
		s.checked = now
		return s.tok, nil
	}
	return s.fillShared(ctx)
}

// fillShared puts a fresh token in the shared store under its lock: the
// one another replica stored meanwhile, else ours if it was obtained while
// the store was unreachable, else a new one from the token endpoint. A
// stale, refused or unreadable entry is deleted first. s.mu is held.
func (s *Source) fillShared(ctx context.Context) (*cacheEntry, error) {
	lctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	unlock, err := s.shared.Lock(lctx, s.sharedKey, s.lockTTL())
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil, &TokenError{Server: s.server, Endpoint: logURL(s.cfg.TokenURL), Problem: "the call ended while another replica was fetching the token", Err: ctx.Err()}
		}
		s.log.Debug().Err(err).Msg("shared oauth token lock not taken; using local state")
		return s.localToken(ctx)
	}
	defer unlock()
	e, found, err := s.readShared(ctx)
	if err != nil {
		return s.localToken(ctx)
	}
	if s.fresh(e) {
		s.adopt(e)
		return e, nil
	}
	if found {
		if err := s.shared.Delete(ctx, s.sharedKey); err != nil {
			s.log.Debug().Err(err).Msg("stale shared oauth token not deleted")
		}
	}
	if s.fresh(s.tok) && !s.inShared {
		// Obtained while the store was down: offered to the others
		// rather than a new grant.
		if err := s.writeShared(ctx, s.tok); err == nil {
			s.inShared = true
		}
		s.checked = s.opts.Now()
		return s.tok, nil
	}
	ne, err := s.fetch(ctx)
	if err != nil {
		return nil, err
	}
	s.keep(ne)
	s.saveLocal(ne)
	s.inShared = false
	if err := s.writeShared(ctx, ne); err != nil {
		s.log.Debug().Err(err).Msg("oauth token not shared with other replicas")
	} else {
		s.inShared = true
	}
	s.checked = s.opts.Now()
	return ne, nil
}

// adopt makes e, read from the shared store, the token in memory and in
// the local cache file (the fallback while the store is unreachable).
func (s *Source) adopt(e *cacheEntry) {
	if s.tok == nil || s.tok.AccessToken != e.AccessToken {
		s.keep(e)
		s.saveLocal(e)
	}
	s.inShared = true
	s.checked = s.opts.Now()
}

// keep makes e the token in memory, registering it with Options.OnToken
// first.
func (s *Source) keep(e *cacheEntry) {
	if s.opts.OnToken != nil {
		s.opts.OnToken(e.AccessToken)
	}
	s.tok = e
}

// saveLocal writes e to the cache file, if there is one and it holds
// another token.
func (s *Source) saveLocal(e *cacheEntry) {
	if s.opts.CacheFile == "" {
		return
	}
	err := withCache(s.opts.CacheFile, func(f *cacheFile) (bool, error) {
		if old := f.Tokens[s.key]; old != nil && old.AccessToken == e.AccessToken {
			return false, nil
		}
		f.Tokens[s.key] = e
		return true, nil
	})
	if err != nil {
		s.log.Warn().Err(err).Msg("oauth token cache not written; while Redis is down this process will fetch its own")
	}
}
