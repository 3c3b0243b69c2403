// Package authn turns a gateway key into a Principal: the project, user and
// MCP config the key belongs to.
//
// Keys are stored in the config's apikeys map either as "sha256:<hex>"
// digests (what this gateway writes) or as legacy plaintext keys (what the
// Python gateway wrote). Every lookup compares the candidate against every
// entry in constant time, refuses disabled keys (which the Python gateway
// accepted), and reports failures with sentinel errors whose text never
// contains the key.
//
// This package must never spawn or forward to an upstream server, and must
// never log or return a secret: a key appears only as its fingerprint.
package authn

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/internal/secret"
)

// Environment variables that carry credentials in stdio mode, as in the
// Python gateway.
const (
	EnvKey       = "ENKRYPT_GATEWAY_KEY"
	EnvProjectID = "ENKRYPT_PROJECT_ID"
	EnvUserID    = "ENKRYPT_USER_ID"
)

// HTTP headers that carry credentials in HTTP mode, as in the Python gateway.
const (
	HeaderKey       = "apikey"
	HeaderProjectID = "project_id"
	HeaderUserID    = "user_id"
)

// hashPrefix marks an apikeys entry stored as a SHA-256 digest.
const hashPrefix = "sha256:"

// keyBytes is the entropy of a key made by NewKey.
const keyBytes = 32

// Errors returned by Authenticate, wrapped with detail; test with errors.Is.
var (
	// ErrMissingKey means no gateway key was supplied.
	ErrMissingKey = errors.New("no gateway key supplied")
	// ErrUnknownKey means the key matches no entry of apikeys.
	ErrUnknownKey = errors.New("unknown gateway key")
	// ErrDisabledKey means the key's record is marked disabled.
	ErrDisabledKey = errors.New("gateway key is disabled")
	// ErrMismatch means a supplied project or user ID differs from the key's.
	ErrMismatch = errors.New("credentials do not match the gateway key")
	// ErrIncomplete means the key's project, user or MCP config is missing.
	ErrIncomplete = errors.New("gateway key is not fully configured")
)

// Principal is who a gateway key belongs to.
type Principal struct {
	// KeyFingerprint identifies the key in logs and audit records: the first
	// 8 hex digits of its SHA-256 (secret.Fingerprint).
	KeyFingerprint string
	ProjectID      string
	ProjectName    string
	UserID         string
	Email          string
	MCPConfigID    string
	// MCPConfig is the project's MCP config, shared with the loaded config;
	// treat it as read-only.
	MCPConfig *config.MCPConfig
}

// Credentials are what a client presents. Empty ProjectID and UserID are
// filled from the key's record; non-empty ones must match it.
type Credentials struct {
	Key       secret.String
	ProjectID string
	UserID    string
}

// FromEnv reads credentials from ENKRYPT_GATEWAY_KEY, ENKRYPT_PROJECT_ID and
// ENKRYPT_USER_ID through getenv (os.Getenv in production), trimming spaces.
func FromEnv(getenv func(string) string) Credentials {
	return Credentials{
		Key:       secret.String(strings.TrimSpace(getenv(EnvKey))),
		ProjectID: strings.TrimSpace(getenv(EnvProjectID)),
		UserID:    strings.TrimSpace(getenv(EnvUserID)),
	}
}

// FromHeader reads credentials from an HTTP request's headers: the key from
// "apikey", else "ENKRYPT_GATEWAY_KEY", else "Authorization: Bearer <key>";
// the IDs from "project_id" and "user_id". It never falls back to the
// environment, so a request without a key stays unauthenticated. (The Python
// gateway fell back to the server's own key.)
func FromHeader(h http.Header) Credentials {
	key := strings.TrimSpace(h.Get(HeaderKey))
	if key == "" {
		key = strings.TrimSpace(h.Get(EnvKey))
	}
	if key == "" {
		scheme, tok, ok := strings.Cut(strings.TrimSpace(h.Get("Authorization")), " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			key = strings.TrimSpace(tok)
		}
	}
	return Credentials{
		Key:       secret.String(key),
		ProjectID: strings.TrimSpace(h.Get(HeaderProjectID)),
		UserID:    strings.TrimSpace(h.Get(HeaderUserID)),
	}
}

// NewKey returns a fresh gateway key (32 random bytes, unpadded base64url,
// 43 characters) and the form to store in apikeys, HashKey(key).
func NewKey() (key secret.String, stored string, err error) {
	b := make([]byte, keyBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("generate gateway key: %w", err)
	}
	k := base64.RawURLEncoding.EncodeToString(b)
	return secret.String(k), HashKey(k), nil
}

// HashKey returns the stored form of a gateway key: "sha256:" followed by
// the lower-case hex SHA-256 of the key.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hashPrefix + hex.EncodeToString(sum[:])
}

// entryDigest returns the SHA-256 that an apikeys entry stands for, and
// whether the entry is a well-formed hashed entry.
func entryDigest(entry string) (digest [sha256.Size]byte, hashed, ok bool) {
	if h, found := strings.CutPrefix(entry, hashPrefix); found {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != sha256.Size {
			return digest, true, false
		}
		copy(digest[:], b)
		return digest, true, true
	}
	return sha256.Sum256([]byte(entry)), false, true
}

// Authenticate finds the record of cred.Key in cfg.APIKeys and returns the
// Principal it belongs to. It hashes the key once and compares the digest
// with every entry's in constant time, without stopping at a match, so the
// time taken does not depend on which entry matched. If a key is stored both
// hashed and in plain text, the hashed record wins.
func Authenticate(cfg *config.Config, cred Credentials) (*Principal, error) {
	key := cred.Key.Reveal()
	if key == "" {
		return nil, ErrMissingKey
	}
	fp := secret.Fingerprint(key)
	if cfg == nil {
		return nil, fmt.Errorf("%w: key %s (no config loaded)", ErrUnknownKey, fp)
	}
	cand := sha256.Sum256([]byte(key))
	var (
		rec         *config.APIKey
		found       bool
		foundHashed bool
	)
	for entry, r := range cfg.APIKeys {
		digest, hashed, ok := entryDigest(entry)
		if subtle.ConstantTimeCompare(digest[:], cand[:]) == 1 && ok && (!found || hashed && !foundHashed) {
			rec, found, foundHashed = r, true, hashed
		}
	}
	if !found {
		return nil, fmt.Errorf("%w: key %s", ErrUnknownKey, fp)
	}
	if rec == nil {
		return nil, fmt.Errorf("%w: key %s has an empty record", ErrIncomplete, fp)
	}
	if rec.Disabled {
		if rec.DisabledAt != "" {
			return nil, fmt.Errorf("%w: key %s was disabled at %s", ErrDisabledKey, fp, rec.DisabledAt)
		}
		return nil, fmt.Errorf("%w: key %s", ErrDisabledKey, fp)
	}
	if cred.ProjectID != "" && cred.ProjectID != rec.ProjectID {
		return nil, fmt.Errorf("%w: project %q supplied, but key %s belongs to another project",
			ErrMismatch, cred.ProjectID, fp)
	}
	if cred.UserID != "" && cred.UserID != rec.UserID {
		return nil, fmt.Errorf("%w: user %q supplied, but key %s belongs to another user",
			ErrMismatch, cred.UserID, fp)
	}
	if rec.ProjectID == "" {
		return nil, fmt.Errorf("%w: key %s has no project_id", ErrIncomplete, fp)
	}
	if rec.UserID == "" {
		return nil, fmt.Errorf("%w: key %s has no user_id", ErrIncomplete, fp)
	}
	project := cfg.Projects[rec.ProjectID]
	if project == nil {
		return nil, fmt.Errorf("%w: project %q referenced by key %s does not exist", ErrIncomplete, rec.ProjectID, fp)
	}
	user := cfg.Users[rec.UserID]
	if user == nil {
		return nil, fmt.Errorf("%w: user %q referenced by key %s does not exist", ErrIncomplete, rec.UserID, fp)
	}
	if project.MCPConfigID == "" {
		return nil, fmt.Errorf("%w: project %q has no mcp_config_id", ErrIncomplete, rec.ProjectID)
	}
	mc, ok := cfg.MCPConfigByID(project.MCPConfigID)
	if !ok {
		return nil, fmt.Errorf("%w: mcp config %q of project %q does not exist",
			ErrIncomplete, project.MCPConfigID, rec.ProjectID)
	}
	return &Principal{
		KeyFingerprint: fp,
		ProjectID:      rec.ProjectID,
		ProjectName:    project.Name,
		UserID:         rec.UserID,
		Email:          user.Email,
		MCPConfigID:    project.MCPConfigID,
		MCPConfig:      mc,
	}, nil
}
