package oauthx

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"secure-mcp-gateway/internal/atomicfile"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/internal/secret"
)

// CacheFileName is the name of the token cache file that the gateway keeps
// beside its config file.
const CacheFileName = "oauth_tokens.json"

// CachePath returns the token cache file for the config file at configPath.
func CachePath(configPath string) string {
	return filepath.Join(filepath.Dir(configPath), CacheFileName)
}

// cacheVersion is the format version of the cache file.
const cacheVersion = 1

// cacheFile is the JSON layout of the token cache. Access tokens are stored
// in plain text, which is unavoidable for sharing them across processes; the
// file is created 0600 and its content is never logged.
type cacheFile struct {
	Version int                    `json:"version"`
	Tokens  map[string]*cacheEntry `json:"tokens"`
	// Clients are the clients registered dynamically, by issuer.
	Clients map[string]*clientEntry `json:"clients,omitempty"`
}

// cacheEntry is one cached token.
type cacheEntry struct {
	Server      string    `json:"server"`
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type,omitempty"`
	Scope       string    `json:"scope,omitempty"`
	Expiry      time.Time `json:"expiry,omitzero"`
	Obtained    time.Time `json:"obtained"`
	// RefreshToken and Login are set for a login (authorization code)
	// token only.
	RefreshToken string      `json:"refresh_token,omitempty"`
	Login        *loginState `json:"login,omitempty"`
}

func (e *cacheEntry) token() *oauth2.Token {
	t := &oauth2.Token{AccessToken: e.AccessToken, TokenType: e.TokenType, Expiry: e.Expiry}
	if e.Scope != "" {
		t = t.WithExtra(map[string]any{"scope": e.Scope})
	}
	return t
}

// cacheKey identifies a token by everything that determines what it grants:
// the token endpoint, the client, and the requested scope, audience and
// resource. The client secret is mixed in through its hash, so that a
// rotated secret does not reuse a token obtained with the old one.
func cacheKey(c *config.OAuthConfig) string {
	h := sha256.New()
	for _, v := range []string{c.TokenURL, c.ClientID, c.ClientSecret, c.Scope, c.Audience, c.Resource, c.Organization} {
		fmt.Fprintf(h, "%d:%s;", len(v), v)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// withCache runs fn on the cache file's content under the file's lock and
// writes the content back if fn reports a change. A missing or unreadable
// file is an empty cache (an unreadable one is replaced on write).
func withCache(path string, fn func(*cacheFile) (changed bool, err error)) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create token cache directory: %w", err)
	}
	unlock, err := atomicfile.Lock(path + ".lock")
	if err != nil {
		return fmt.Errorf("lock token cache: %w", err)
	}
	defer unlock()
	c := readCache(path)
	changed, err := fn(c)
	if err != nil || !changed {
		return err
	}
	return writeCache(path, c)
}

// readCache returns the cache file's content; a missing, unreadable or
// corrupt file reads as empty.
func readCache(path string) *cacheFile {
	c := &cacheFile{Version: cacheVersion, Tokens: map[string]*cacheEntry{}}
	b, err := os.ReadFile(path)
	if err != nil {
		return c
	}
	var onDisk cacheFile
	if json.Unmarshal(b, &onDisk) != nil || onDisk.Version != cacheVersion {
		return c
	}
	for k, e := range onDisk.Tokens {
		if e != nil && e.AccessToken != "" {
			c.Tokens[k] = e
		}
	}
	for k, e := range onDisk.Clients {
		if e != nil && e.ClientID != "" {
			if c.Clients == nil {
				c.Clients = map[string]*clientEntry{}
			}
			c.Clients[k] = e
		}
	}
	return c
}

// writeCache replaces the file atomically with a 0600 file.
func writeCache(path string, c *cacheFile) error {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode token cache: %w", err)
	}
	if err := atomicfile.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("write token cache: %w", err)
	}
	return nil
}

// TokenState describes a server's cached token without revealing it.
type TokenState struct {
	// Server is the server's name.
	Server string
	// Cached reports whether a token is cached for the server.
	Cached bool
	// Fingerprint identifies the cached token (see secret.Fingerprint);
	// empty without a token.
	Fingerprint string
	// Scope is the granted scope, if the token endpoint said.
	Scope string
	// Obtained is when the token was fetched.
	Obtained time.Time
	// Expiry is when the token expires; zero means the endpoint did not say.
	Expiry time.Time
}

// Inspect reports the state of the token cached in the file at cachePath
// for a server with oauth config c. It never fetches a token.
func Inspect(cachePath, server string, c *config.OAuthConfig) (TokenState, error) {
	st := TokenState{Server: server}
	if _, err := os.Stat(cachePath); errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	err := withCache(cachePath, func(f *cacheFile) (bool, error) {
		if e := f.Tokens[cacheKey(c)]; e != nil {
			st.Cached = true
			st.Fingerprint = secret.Fingerprint(e.AccessToken)
			st.Scope = e.Scope
			st.Obtained = e.Obtained
			st.Expiry = e.Expiry
		}
		return false, nil
	})
	return st, err
}

// scopeSet splits a space-separated scope list.
func scopeSet(s string) map[string]bool {
	m := map[string]bool{}
	for _, f := range strings.Fields(s) {
		m[f] = true
	}
	return m
}
