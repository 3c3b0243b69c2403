package admin

import (
	"context"
	"fmt"
	"net/mail"
	"slices"
	"strings"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/internal/secret"
)

// InvalidEmailError is an email field that is not a plain address.
type InvalidEmailError struct {
	Field string `json:"field"`
	Email string `json:"email"`
}

func (e *InvalidEmailError) Error() string {
	return fmt.Sprintf("%s %q is not an email address like name@example.com", e.Field, e.Email)
}

// ValidEmail accepts a plain local@domain.tld address, as the Python
// gateway did: net/mail syntax, no display name, a dot in the domain.
func ValidEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && a.Name == "" && strings.Contains(s[strings.LastIndex(s, "@"):], ".")
}

// checkNewEmail checks that email is well-formed and not taken.
func checkNewEmail(c *config.Config, field, email string) error {
	if email == "" {
		return &RequestError{Fields: []string{field}, Problem: ProblemMissing}
	}
	if !ValidEmail(email) {
		return &InvalidEmailError{Field: field, Email: email}
	}
	if ids := c.UserIDsByEmail(email); len(ids) > 0 {
		return &ConflictError{Kind: "user", Name: email, Detail: fmt.Sprintf("a user with email %s already exists (ID %s)", email, ids[0])}
	}
	return nil
}

// ListUsers returns every user, by email.
func (s *Store) ListUsers(ctx context.Context) ([]UserSummary, error) {
	c, err := s.Load(ctx)
	if err != nil {
		return nil, err
	}
	rows := []UserSummary{}
	for _, id := range SortedIDs(c.Users, func(id string) string { return UserEmail(c, id) }) {
		if c.Users[id] != nil {
			rows = append(rows, UserSummaryOf(c, id))
		}
	}
	return rows, nil
}

// CreateUserRequest creates a user.
type CreateUserRequest struct {
	Email string `json:"email"`
}

// CreateUser creates a user with an email no other user has.
func (s *Store) CreateUser(ctx context.Context, req CreateUserRequest) (UserSummary, error) {
	id := NewUUID()
	err := s.update(ctx, func(c *config.Config) error {
		if err := checkNewEmail(c, "email", req.Email); err != nil {
			return err
		}
		if c.Users == nil {
			c.Users = map[string]*config.User{}
		}
		c.Users[id] = &config.User{Email: req.Email, CreatedAt: Timestamp()}
		return nil
	})
	if err != nil {
		return UserSummary{}, err
	}
	return UserSummary{ID: id, Email: req.Email, Projects: []string{}}, nil
}

// GetUser describes one user; Ref.Name is the email.
func (s *Store) GetUser(ctx context.Context, ref Ref) (UserSummary, error) {
	c, err := s.Load(ctx)
	if err != nil {
		return UserSummary{}, err
	}
	id, _, err := resolveUser(c, ref)
	if err != nil {
		return UserSummary{}, err
	}
	return UserSummaryOf(c, id), nil
}

// UpdateUserRequest changes a user's email.
type UpdateUserRequest struct {
	User     Ref    `json:"user"`
	NewEmail string `json:"new_email"`
}

// UpdateUser changes a user's email and returns the old one.
func (s *Store) UpdateUser(ctx context.Context, req UpdateUserRequest) (string, error) {
	var old string
	err := s.update(ctx, func(c *config.Config) error {
		_, u, err := resolveUser(c, req.User)
		if err != nil {
			return err
		}
		if !strings.EqualFold(u.Email, req.NewEmail) {
			if err := checkNewEmail(c, "new_email", req.NewEmail); err != nil {
				return err
			}
		}
		old, u.Email = u.Email, req.NewEmail
		return nil
	})
	return old, err
}

// DeleteUserRequest deletes a user; with Force also its keys and
// memberships, which otherwise refuse the deletion.
type DeleteUserRequest struct {
	User  Ref  `json:"user"`
	Force bool `json:"force,omitempty"`
}

// DeleteUserResult says what a user deletion did.
type DeleteUserResult struct {
	Email        string `json:"email"`
	DeletedKeys  int    `json:"deleted_keys"`
	LeftProjects int    `json:"left_projects"`
}

// DeleteUser deletes a user.
func (s *Store) DeleteUser(ctx context.Context, req DeleteUserRequest) (DeleteUserResult, error) {
	var res DeleteUserResult
	err := s.update(ctx, func(c *config.Config) error {
		id, u, err := resolveUser(c, req.User)
		if err != nil {
			return err
		}
		k, p := c.APIKeysOf(id, ""), c.ProjectsOf(id)
		if (len(k) > 0 || len(p) > 0) && !req.Force {
			return &ConflictError{Kind: "user", Name: u.Email, Detail: fmt.Sprintf(
				"user %s has %d gateway key(s) and is in %d project(s); pass --force to delete the keys and leave the projects too",
				u.Email, len(k), len(p))}
		}
		for _, key := range k {
			delete(c.APIKeys, key)
		}
		for _, pid := range p {
			c.Projects[pid].Users = slices.DeleteFunc(c.Projects[pid].Users, func(u string) bool { return u == id })
		}
		res = DeleteUserResult{Email: u.Email, DeletedKeys: len(k), LeftProjects: len(p)}
		delete(c.Users, id)
		return nil
	})
	return res, err
}

// UserProjects lists the projects of a user, by name.
func (s *Store) UserProjects(ctx context.Context, ref Ref) ([]ProjectSummary, error) {
	c, err := s.Load(ctx)
	if err != nil {
		return nil, err
	}
	id, _, err := resolveUser(c, ref)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, p := range c.ProjectsOf(id) {
		set[p] = true
	}
	rows := []ProjectSummary{}
	for _, p := range SortedIDs(set, func(id string) string { return ProjectName(c, id) }) {
		rows = append(rows, ProjectSummaryOf(c, p))
	}
	return rows, nil
}

// SearchUsers finds users by email or ID prefix, case-insensitively.
func (s *Store) SearchUsers(ctx context.Context, term string) ([]SearchHit, error) {
	term = strings.ToLower(strings.TrimSpace(term))
	if term == "" {
		return nil, &RequestError{Fields: []string{"search_term"}, Problem: ProblemMissing}
	}
	c, err := s.Load(ctx)
	if err != nil {
		return nil, err
	}
	hits := []SearchHit{}
	for _, id := range SortedIDs(c.Users, func(id string) string { return UserEmail(c, id) }) {
		u := c.Users[id]
		switch {
		case u == nil:
		case strings.Contains(strings.ToLower(u.Email), term):
			hits = append(hits, SearchHit{"user", id, u.Email, "email"})
		case strings.HasPrefix(id, term):
			hits = append(hits, SearchHit{"user", id, u.Email, "id"})
		}
	}
	return hits, nil
}

// KeyNotFoundError says that no gateway key matches; Ref is the reference
// as it may be shown (a fingerprint, never a key).
type KeyNotFoundError struct {
	Ref string `json:"ref"`
}

func (e *KeyNotFoundError) Error() string { return "gateway key " + e.Ref + " not found" }

// ShownKeyRef names a key reference in messages without echoing a key.
func ShownKeyRef(ref string) string {
	if strings.HasPrefix(strings.ToLower(ref), "fp:") || config.KeyHashed(ref) {
		return config.KeyFingerprint(ref)
	}
	return "fp:" + secret.Fingerprint(ref)
}

// resolveKey finds the one apikeys entry ref names: the key itself, its
// stored "sha256:" form, or its fingerprint "fp:xxxxxxxx".
func resolveKey(c *config.Config, ref string) (string, *config.APIKey, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return "", nil, &RequestError{Fields: []string{"api_key"}, Problem: ProblemMissing}
	}
	keys := c.FindAPIKeys(ref, authn.HashKey)
	switch len(keys) {
	case 0:
		return "", nil, &KeyNotFoundError{Ref: ShownKeyRef(ref)}
	case 1:
		return keys[0], c.APIKeys[keys[0]], nil
	}
	return "", nil, &RefusedError{Detail: fmt.Sprintf("fingerprint %s matches %d keys; give more hex digits", ref, len(keys))}
}

// KeySummary is a gateway key in listings: never the key itself.
type KeySummary struct {
	Fingerprint string `json:"fingerprint"`
	Hashed      bool   `json:"hashed"`
	Email       string `json:"email"`
	UserID      string `json:"user_id"`
	Project     string `json:"project_name"`
	ProjectID   string `json:"project_id"`
	Disabled    bool   `json:"disabled"`
	DisabledAt  string `json:"disabled_at,omitempty"`
	CreatedAt   string `json:"created_at,omitempty"`
	RotatedFrom string `json:"rotated_from,omitempty"`
}

func keySummaries(c *config.Config, entries []string) []KeySummary {
	rows := []KeySummary{}
	for _, entry := range entries {
		r := c.APIKeys[entry]
		if r == nil {
			r = &config.APIKey{}
		}
		rows = append(rows, KeySummary{Fingerprint: config.KeyFingerprint(entry), Hashed: config.KeyHashed(entry),
			Email: UserEmail(c, r.UserID), UserID: r.UserID, Project: ProjectName(c, r.ProjectID), ProjectID: r.ProjectID,
			Disabled: r.Disabled, DisabledAt: r.DisabledAt, CreatedAt: r.CreatedAt, RotatedFrom: r.RotatedFrom})
	}
	slices.SortStableFunc(rows, func(a, b KeySummary) int {
		return strings.Compare(a.Email+"\x00"+a.Project+"\x00"+a.CreatedAt, b.Email+"\x00"+b.Project+"\x00"+b.CreatedAt)
	})
	return rows
}

// GetKey describes the key ref names.
func (s *Store) GetKey(ctx context.Context, ref string) ([]KeySummary, error) {
	c, err := s.Load(ctx)
	if err != nil {
		return nil, err
	}
	entry, _, err := resolveKey(c, ref)
	if err != nil {
		return nil, err
	}
	return keySummaries(c, []string{entry}), nil
}

// ListKeysRequest lists a user's keys, of one project when Project is set.
type ListKeysRequest struct {
	User    Ref `json:"user"`
	Project Ref `json:"project"`
}

// ListKeys lists a user's keys.
func (s *Store) ListKeys(ctx context.Context, req ListKeysRequest) ([]KeySummary, error) {
	c, err := s.Load(ctx)
	if err != nil {
		return nil, err
	}
	uid, _, err := resolveUser(c, req.User)
	if err != nil {
		return nil, err
	}
	pid := ""
	if req.Project != (Ref{}) {
		if pid, _, err = resolveProject(c, req.Project); err != nil {
			return nil, err
		}
	}
	return keySummaries(c, c.APIKeysOf(uid, pid)), nil
}

// ListAllKeys lists every key.
func (s *Store) ListAllKeys(ctx context.Context) ([]KeySummary, error) {
	c, err := s.Load(ctx)
	if err != nil {
		return nil, err
	}
	var all []string
	for k := range c.APIKeys {
		all = append(all, k)
	}
	slices.Sort(all)
	return keySummaries(c, all), nil
}

// IssuedKey is a new gateway key, shown once: only its hash is stored.
type IssuedKey struct {
	APIKey      string `json:"api_key"`
	Fingerprint string `json:"fingerprint"`
	ProjectID   string `json:"project_id"`
	UserID      string `json:"user_id"`
	ProjectName string `json:"project_name"`
	Email       string `json:"email"`
	RotatedFrom string `json:"rotated_from,omitempty"`
	// NoConfig says the project has no MCP config yet, so the key is
	// refused until one is assigned.
	NoConfig bool `json:"-"`
}

// IssueKey adds a new hashed key for user uid in project pid to c, which
// the caller saves, and returns the key and its apikeys entry. The user must
// be in the project. Operations that run under the file lock use it.
func IssueKey(c *config.Config, uid, pid, rotatedFrom string) (IssuedKey, string, error) {
	p := c.Projects[pid]
	if !slices.Contains(p.Users, uid) {
		return IssuedKey{}, "", &RefusedError{Detail: fmt.Sprintf("user %s is not in project %q\nhint: run \"secure-mcp-gateway project add-user --project-name %s --email %s\" first",
			UserEmail(c, uid), p.Name, p.Name, UserEmail(c, uid))}
	}
	key, stored, err := authn.NewKey()
	if err != nil {
		return IssuedKey{}, "", err
	}
	if c.APIKeys == nil {
		c.APIKeys = map[string]*config.APIKey{}
	}
	c.APIKeys[stored] = &config.APIKey{ProjectID: pid, UserID: uid, CreatedAt: Timestamp(), RotatedFrom: rotatedFrom}
	return IssuedKey{APIKey: key.Reveal(), Fingerprint: config.KeyFingerprint(stored), ProjectID: pid, UserID: uid,
		ProjectName: p.Name, Email: UserEmail(c, uid), RotatedFrom: rotatedFrom, NoConfig: p.MCPConfigID == ""}, stored, nil
}

// GenerateKeyRequest issues a key for a user in a project.
type GenerateKeyRequest struct {
	User    Ref `json:"user"`
	Project Ref `json:"project"`
}

// GenerateKey issues a new key for a member of a project.
func (s *Store) GenerateKey(ctx context.Context, req GenerateKeyRequest) (IssuedKey, error) {
	var res IssuedKey
	err := s.update(ctx, func(c *config.Config) error {
		uid, _, err := resolveUser(c, req.User)
		if err != nil {
			return err
		}
		pid, _, err := resolveProject(c, req.Project)
		if err != nil {
			return err
		}
		res, _, err = IssueKey(c, uid, pid, "")
		return err
	})
	return res, err
}

// RotateKey replaces the key ref names with a new one for the same user
// and project; the old one is refused at once.
func (s *Store) RotateKey(ctx context.Context, ref string) (IssuedKey, error) {
	var res IssuedKey
	err := s.update(ctx, func(c *config.Config) error {
		entry, rec, err := resolveKey(c, ref)
		if err != nil {
			return err
		}
		oldFP := config.KeyFingerprint(entry)
		if c.Users[rec.UserID] == nil || c.Projects[rec.ProjectID] == nil {
			return &RefusedError{Detail: fmt.Sprintf("gateway key %s belongs to a missing user or project; delete it instead", oldFP)}
		}
		delete(c.APIKeys, entry)
		res, _, err = IssueKey(c, rec.UserID, rec.ProjectID, oldFP)
		return err
	})
	return res, err
}

// SetKeyDisabled disables or enables the key ref names and returns its
// fingerprint.
func (s *Store) SetKeyDisabled(ctx context.Context, ref string, disabled bool) (string, error) {
	var fp string
	err := s.update(ctx, func(c *config.Config) error {
		entry, rec, err := resolveKey(c, ref)
		if err != nil {
			return err
		}
		fp = config.KeyFingerprint(entry)
		rec.Disabled, rec.DisabledAt = disabled, ""
		if disabled {
			rec.DisabledAt = Timestamp()
		}
		return nil
	})
	return fp, err
}

// DeleteKey deletes the key ref names and returns its fingerprint.
func (s *Store) DeleteKey(ctx context.Context, ref string) (string, error) {
	var fp string
	err := s.update(ctx, func(c *config.Config) error {
		entry, _, err := resolveKey(c, ref)
		if err != nil {
			return err
		}
		fp = config.KeyFingerprint(entry)
		delete(c.APIKeys, entry)
		return nil
	})
	return fp, err
}

// DeleteAllKeys deletes every key of a user and returns the user's email
// and how many keys went.
func (s *Store) DeleteAllKeys(ctx context.Context, ref Ref) (string, int, error) {
	var email string
	var n int
	err := s.update(ctx, func(c *config.Config) error {
		id, u, err := resolveUser(c, ref)
		if err != nil {
			return err
		}
		keys := c.APIKeysOf(id, "")
		for _, k := range keys {
			delete(c.APIKeys, k)
		}
		email, n = u.Email, len(keys)
		return nil
	})
	return email, n, err
}
