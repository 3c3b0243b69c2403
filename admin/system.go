package admin

import (
	"context"
	"maps"
	"slices"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/internal/config"
)

// Backup returns the whole config, secrets and key hashes included, for a
// backup file.
func (s *Store) Backup(ctx context.Context) (*config.Config, error) { return s.Load(ctx) }

// Restore replaces the config file with c, which must be valid; the old
// file is backed up beside it.
func (s *Store) Restore(ctx context.Context, c *config.Config) error {
	if c == nil {
		return &RequestError{Fields: []string{"config"}, Problem: ProblemMissing}
	}
	if err := c.Validate(checkDetectors); err != nil {
		return &InvalidError{Field: "config", Err: err}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return config.Save(s.path, c, checkDetectors)
}

// Reset deletes every MCP config, project, user and key, keeping the
// settings; the old file is backed up.
func (s *Store) Reset(ctx context.Context) error {
	return s.update(ctx, func(c *config.Config) error {
		c.MCPConfigs = map[string]*config.MCPConfig{}
		c.Projects = map[string]*config.Project{}
		c.Users = map[string]*config.User{}
		c.APIKeys = map[string]*config.APIKey{}
		return nil
	})
}

// HashKeys replaces every plaintext key entry with its hash and returns how
// many it hashed; clients keep using the same keys.
func (s *Store) HashKeys(ctx context.Context) (int, error) {
	var n int
	err := s.update(ctx, func(c *config.Config) error {
		for _, k := range slices.Sorted(maps.Keys(c.APIKeys)) {
			if config.KeyHashed(k) {
				continue
			}
			h := authn.HashKey(k)
			if _, dup := c.APIKeys[h]; !dup { // a hashed record of the same key wins, as in authn
				c.APIKeys[h] = c.APIKeys[k]
			}
			delete(c.APIKeys, k)
			n++
		}
		return nil
	})
	return n, err
}

// RotateAdminKey replaces the REST admin API's key (admin_apikey) with a
// new one, stored hashed like gateway keys, and returns the new key, which
// is shown once. The old key is refused from the next request on.
func (s *Store) RotateAdminKey(ctx context.Context) (string, error) {
	key, stored, err := authn.NewKey()
	if err != nil {
		return "", err
	}
	if err := s.update(ctx, func(c *config.Config) error {
		c.AdminAPIKey = stored
		return nil
	}); err != nil {
		return "", err
	}
	return key.Reveal(), nil
}
