package admin

import (
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/guard"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/internal/secret"
)

// checkDetectors makes every load, validation and save of the store check
// block lists against guard's detector Registry, as the gateway does.
var checkDetectors = config.WithDetectors(&config.Detectors{Offline: guard.OfflineDetectors, Model: guard.ModelDetectors})

// Store runs admin operations on one config file.
type Store struct {
	path string
	rt   Runtime
}

// Open returns a Store for the config file at path. The file is read by
// each operation, not here.
func Open(path string) *Store { return &Store{path: path} }

// Path is the config file the store works on.
func (s *Store) Path() string { return s.path }

// Load reads and validates the config file; see config.Load.
func (s *Store) Load(ctx context.Context) (*config.Config, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return config.Load(s.path, checkDetectors)
}

// update changes the file under its lock (config.Update). An error fn
// returns comes back unwrapped, so that its type is the caller's to test;
// file and validation problems come back as config's *FileError.
func (s *Store) update(ctx context.Context, fn func(*config.Config) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var (
		fnErr         error
		before, after map[string]bool
		saved         *config.Config
	)
	err := config.Update(s.path, func(c *config.Config) error {
		before = authn.LiveKeys(c)
		if fnErr = fn(c); fnErr != nil {
			return fnErr
		}
		after, saved = authn.LiveKeys(c), c
		return nil
	}, checkDetectors)
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return err
	}
	return s.shareRevocations(ctx, saved, before, after)
}

// shareRevocations tells the replicas that serve other copies of the config
// (through Runtime.Keys) which keys this write revoked (disabled or
// removed) and which it made usable again.
func (s *Store) shareRevocations(ctx context.Context, c *config.Config, before, after map[string]bool) error {
	if s.rt.Keys == nil {
		return nil
	}
	var revoke, restore []string
	for h := range before {
		if !after[h] {
			revoke = append(revoke, h)
		}
	}
	for h := range after {
		if !before[h] {
			restore = append(restore, h)
		}
	}
	if len(revoke) == 0 && len(restore) == 0 {
		return nil
	}
	return s.rt.Keys.ShareRevocations(ctx, c, revoke, restore)
}

// Ref names an entity by ID or by name; exactly one must be set.
// IDOrName, set alone, is an ID when one exists and a name otherwise, as the
// REST API's path parameters are.
type Ref struct {
	ID       string `json:"id,omitempty"`
	Name     string `json:"name,omitempty"`
	IDOrName string `json:"-"`
}

// RefOf returns the Ref of s, an ID or a name.
func RefOf(s string) Ref { return Ref{IDOrName: s} }

// resolve finds an entity by ID or by name. fields are the request's field
// names for the name and the ID, for a RequestError.
func resolve(kind string, fields [2]string, r Ref, byName func(string) []string, exists func(string) bool, all func() []string) (string, error) {
	if r.IDOrName != "" {
		if r.Name != "" || r.ID != "" {
			return "", &RequestError{Fields: fields[:], Problem: ProblemExclusive}
		}
		if exists(r.IDOrName) {
			return r.IDOrName, nil
		}
		r = Ref{Name: r.IDOrName}
	}
	switch {
	case r.Name == "" && r.ID == "":
		return "", &RequestError{Fields: fields[:], Problem: ProblemMissing}
	case r.Name != "" && r.ID != "":
		return "", &RequestError{Fields: fields[:], Problem: ProblemExclusive}
	case r.ID != "":
		if !exists(r.ID) {
			return "", &NotFoundError{Kind: kind, Name: r.ID}
		}
		return r.ID, nil
	}
	ids := byName(r.Name)
	switch len(ids) {
	case 0:
		return "", &NotFoundError{Kind: kind, Name: r.Name, DidYouMean: config.Suggest(r.Name, all())}
	case 1:
		return ids[0], nil
	}
	return "", &AmbiguousError{Kind: kind, Name: r.Name, IDs: ids}
}

// Field names of config references, as a RequestError reports them.
var (
	configFields = [2]string{"config_name", "config_id"}
)

func resolveConfig(c *config.Config, r Ref) (string, *config.MCPConfig, error) {
	id, err := resolve("config", configFields, r, c.MCPConfigIDsByName,
		func(id string) bool { _, ok := c.MCPConfigByID(id); return ok },
		func() []string { return configNames(c) })
	if err != nil {
		return "", nil, err
	}
	return id, c.MCPConfigs[id], nil
}

func configNames(c *config.Config) []string {
	var out []string
	for _, m := range c.MCPConfigs {
		if m != nil {
			out = append(out, m.Name)
		}
	}
	return out
}

// findServer returns the index of the server named name in m.
func findServer(m *config.MCPConfig, name string) (int, error) {
	if name == "" {
		return 0, &RequestError{Fields: []string{"server_name"}, Problem: ProblemMissing}
	}
	var all []string
	for i, s := range m.Servers {
		if s != nil && s.Name == name {
			return i, nil
		}
		if s != nil {
			all = append(all, s.Name)
		}
	}
	return 0, &NotFoundError{Kind: "server", Name: name, In: fmt.Sprintf("MCP config %q", m.Name), DidYouMean: config.Suggest(name, all)}
}

// ShownServer returns a copy of s that is safe to print or return: env and
// header values and OAuth secrets are masked. Every server an operation
// returns for display goes through here.
func ShownServer(s *config.Server) *config.Server {
	cp := *s
	cp.Config.Env = maskMap(s.Config.Env)
	cp.Config.Headers = maskMap(s.Config.Headers)
	cp.OAuth = s.OAuth.Redacted()
	cp.OAuthLogin = s.OAuthLogin.Redacted()
	return &cp
}

func maskMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k := range m {
		out[k] = secret.Masked
	}
	return out
}

// Timestamp is the created_at/updated_at format, the Python gateway's
// datetime.isoformat() of UTC.
func Timestamp() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000000") }

// NewUUID returns a random (version 4) UUID, as the Python gateway uses for
// config, project and user ids.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// ProjectName and friends give a display name for an ID, or the ID in
// angle brackets when it does not exist.
func ProjectName(c *config.Config, id string) string {
	if p := c.Projects[id]; p != nil {
		return p.Name
	}
	return "<missing " + id + ">"
}

// ConfigName is the name of MCP config id, "-" for none.
func ConfigName(c *config.Config, id string) string {
	if id == "" {
		return "-"
	}
	if m, ok := c.MCPConfigByID(id); ok {
		return m.Name
	}
	return "<missing " + id + ">"
}

// SortedIDs returns the IDs of m ordered by the name label gives, then ID,
// so that listings are stable.
func SortedIDs[V any](m map[string]V, label func(string) string) []string {
	ids := slices.Collect(maps.Keys(m))
	slices.SortFunc(ids, func(a, b string) int {
		if c := strings.Compare(label(a), label(b)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return ids
}
