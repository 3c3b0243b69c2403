package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"

	"secure-mcp-gateway/internal/config"
)

// keyVersion changes whenever the key derivation or the entry format
// changes, so that old entries simply miss.
const keyVersion = 1

// identity is everything that defines an upstream server as far as its tool
// list is concerned. Secret values appear only as SHA-256 digests, and the
// whole identity is hashed again before it is used as a key.
type identity struct {
	V        int                        `json:"v"`
	ConfigID string                     `json:"config_id"`
	Name     string                     `json:"name"`
	Command  string                     `json:"command,omitempty"`
	Args     []string                   `json:"args,omitempty"`
	Env      [][2]string                `json:"env,omitempty"` // name, sha256(value)
	URL      string                     `json:"url,omitempty"`
	Headers  [][2]string                `json:"headers,omitempty"` // name, sha256(value)
	Tools    map[string]json.RawMessage `json:"tools,omitempty"`
	Prefix   string                     `json:"prefix"`
}

// Key returns the cache key of server s in the MCP config configID: 64 hex
// digits of a SHA-256 over the server's definition. It contains no secret:
// env and header values enter it only through their own SHA-256 digests.
func Key(configID string, s *config.Server) string {
	id := identity{
		V:        keyVersion,
		ConfigID: configID,
		Name:     s.Name,
		Command:  s.Config.Command,
		Args:     s.Config.Args,
		Env:      hashedPairs(s.Config.Env),
		URL:      s.Config.URL,
		Headers:  hashedPairs(s.Config.Headers),
		Tools:    s.Tools,
		Prefix:   s.Prefix(),
	}
	b, err := json.Marshal(id)
	if err != nil {
		// Only an allow-list value that is not valid JSON can fail here; the
		// config loader rejects those, and a panic would be a bug.
		panic("cache: encode server identity: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// hashedPairs returns m's names, sorted, each with the SHA-256 of its value.
func hashedPairs(m map[string]string) [][2]string {
	if len(m) == 0 {
		return nil
	}
	out := make([][2]string, 0, len(m))
	for k, v := range m {
		sum := sha256.Sum256([]byte(v))
		out = append(out, [2]string{k, hex.EncodeToString(sum[:])})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}
