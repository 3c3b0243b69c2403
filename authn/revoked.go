package authn

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"secure-mcp-gateway/internal/config"
)

// RevocationsKey names the shared document (in the Redis replicas share)
// that lists revoked keys, so that a key disabled or removed through one
// copy of the config is refused by replicas serving another copy.
const RevocationsKey = "revoked-keys"

// Revocations is the shared list of revoked keys: stored form
// ("sha256:<hex>", as HashKey) to when it was revoked. It holds hashes
// only, never a key.
type Revocations struct {
	Keys map[string]string `json:"keys"`
}

// DecodeRevocations reads the shared document; nil or empty is none.
func DecodeRevocations(b []byte) (*Revocations, error) {
	r := &Revocations{Keys: map[string]string{}}
	if len(b) == 0 {
		return r, nil
	}
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("parse the shared list of revoked keys: %w", err)
	}
	if r.Keys == nil {
		r.Keys = map[string]string{}
	}
	return r, nil
}

// Apply records revoke as revoked at now and forgets restore, and reports
// whether anything changed.
func (r *Revocations) Apply(revoke, restore []string, now time.Time) bool {
	changed := false
	for _, h := range revoke {
		if _, ok := r.Keys[h]; !ok {
			r.Keys[h] = now.UTC().Format(time.RFC3339)
			changed = true
		}
	}
	for _, h := range restore {
		if _, ok := r.Keys[h]; ok {
			delete(r.Keys, h)
			changed = true
		}
	}
	return changed
}

// Revoked reports when the key with stored form hash was revoked, if it was.
func (r *Revocations) Revoked(hash string) (string, bool) {
	if r == nil {
		return "", false
	}
	at, ok := r.Keys[hash]
	return at, ok
}

// LiveKeys returns the stored form (HashKey) of every key of c that
// authenticates: present, with a record, and not disabled. Plain-text
// entries of older configs are hashed; malformed ones are left out.
func LiveKeys(c *config.Config) map[string]bool {
	out := map[string]bool{}
	for entry, rec := range c.APIKeys {
		digest, _, ok := entryDigest(entry)
		if !ok || rec == nil || rec.Disabled {
			continue
		}
		out[hashPrefix+hex.EncodeToString(digest[:])] = true
	}
	return out
}
