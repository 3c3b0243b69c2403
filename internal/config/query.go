package config

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"strings"
)

// MCPConfigIDsByName returns the IDs of the MCP configs named name, sorted.
func (c *Config) MCPConfigIDsByName(name string) []string {
	var ids []string
	for id, m := range c.MCPConfigs {
		if m != nil && m.Name == name {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// ProjectIDsByName returns the IDs of the projects named name, sorted.
func (c *Config) ProjectIDsByName(name string) []string {
	var ids []string
	for id, p := range c.Projects {
		if p != nil && p.Name == name {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// UserIDsByEmail returns the IDs of the users whose email equals email,
// ignoring letter case, sorted.
func (c *Config) UserIDsByEmail(email string) []string {
	var ids []string
	for id, u := range c.Users {
		if u != nil && strings.EqualFold(u.Email, email) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// ProjectsUsing returns the IDs of the projects assigned the MCP config
// configID, sorted.
func (c *Config) ProjectsUsing(configID string) []string {
	var ids []string
	for id, p := range c.Projects {
		if p != nil && p.MCPConfigID == configID {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// ProjectsOf returns the IDs of the projects that list userID, sorted.
func (c *Config) ProjectsOf(userID string) []string {
	var ids []string
	for id, p := range c.Projects {
		if p != nil && slices.Contains(p.Users, userID) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// APIKeysOf returns the apikeys entries whose record matches userID and
// projectID, sorted; an empty argument matches any value.
func (c *Config) APIKeysOf(userID, projectID string) []string {
	var keys []string
	for k, r := range c.APIKeys {
		if r == nil || userID != "" && r.UserID != userID || projectID != "" && r.ProjectID != projectID {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// KeyFingerprint names an apikeys entry without revealing it: "fp:" and the
// first 8 hex digits of the SHA-256 of the plaintext key, the same for a
// key stored in plain text or hashed. Validation paths use the same name.
func KeyFingerprint(entry string) string { return keyFingerprint(entry) }

// KeyHashed reports whether an apikeys entry is a well-formed "sha256:<hex>"
// digest rather than a legacy plaintext key.
func KeyHashed(entry string) bool {
	h, ok := strings.CutPrefix(entry, hashPrefix)
	return ok && isHexDigest(h)
}

// FindAPIKeys returns the apikeys entries that ref names, sorted: ref may be
// the stored entry itself, a fingerprint "fp:<hex>" (or a longer prefix of
// the digest), or a plaintext key whose digest hashedRef gives. hashedRef is
// authn.HashKey; it is passed in because this package must not import authn.
func (c *Config) FindAPIKeys(ref string, hashedRef func(string) string) []string {
	if ref == "" {
		return nil
	}
	if _, ok := c.APIKeys[ref]; ok {
		return []string{ref}
	}
	if hashedRef != nil {
		// A plaintext key, stored hashed (with either case of hex digits).
		h := strings.ToLower(hashedRef(ref))
		for k := range c.APIKeys {
			if KeyHashed(k) && strings.ToLower(k) == h {
				return []string{k}
			}
		}
	}
	fp, ok := strings.CutPrefix(strings.ToLower(ref), "fp:")
	if !ok || len(fp) < 8 || !isHexPrefix(fp) {
		return nil
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(c.APIKeys)) {
		if strings.HasPrefix(strings.ToLower(digestOf(k)), fp) {
			out = append(out, k)
		}
	}
	return out
}

// digestOf returns the hex SHA-256 an apikeys entry stands for.
func digestOf(entry string) string {
	if KeyHashed(entry) {
		return entry[len(hashPrefix):]
	}
	sum := sha256.Sum256([]byte(entry))
	return hex.EncodeToString(sum[:])
}

func isHexPrefix(s string) bool {
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}
