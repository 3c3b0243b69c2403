package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/urfave/cli/v3"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/internal/config"
)

// userCommand is the "user" group: users and their gateway keys.
func userCommand() *cli.Command {
	withRef := func(flags ...cli.Flag) []cli.Flag {
		return append(append(userRefFlags(), jsonFlag), flags...)
	}
	keyFlag := &cli.StringFlag{Name: "api-key", Usage: "the gateway key, its stored sha256: entry, or its fingerprint fp:xxxxxxxx"}
	keyCmd := func(name, usage string, action cli.ActionFunc) *cli.Command {
		return &cli.Command{Name: name, Usage: usage, Flags: []cli.Flag{jsonFlag, keyFlag}, Action: action}
	}
	return &cli.Command{
		Name:  "user",
		Usage: "manage users and their gateway keys",
		Commands: []*cli.Command{
			{Name: "list", Usage: "list users", Flags: []cli.Flag{jsonFlag}, Action: userList},
			{Name: "create", Usage: "create a user", Flags: []cli.Flag{jsonFlag,
				&cli.StringFlag{Name: "email", Usage: "the new user's email (unique)"}}, Action: userCreate},
			{Name: "get", Usage: "show a user", Flags: withRef(), Action: userGet},
			{Name: "update", Usage: "change a user's email", Flags: withRef(
				&cli.StringFlag{Name: "new-email", Usage: "the new email"}), Action: userUpdate},
			{Name: "delete", Usage: "delete a user that has no keys and no projects", Flags: withRef(
				&cli.BoolFlag{Name: "force", Usage: "also delete the user's keys and remove them from projects"}), Action: userDelete},
			{Name: "list-projects", Usage: "list a user's projects", Flags: withRef(), Action: userListProjects},
			{Name: "generate-api-key", Usage: "make a gateway key for a user in a project (shown once)",
				Flags: withRef(projectRefFlags()...), Action: userGenerateKey},
			keyCmd("get-api-key", "show whom a gateway key belongs to", userGetKey),
			keyCmd("rotate-api-key", "replace a gateway key with a new one (the old one is refused at once)", userRotateKey),
			keyCmd("disable-api-key", "refuse a gateway key until it is enabled again", userSetKeyDisabled(true)),
			keyCmd("enable-api-key", "accept a disabled gateway key again", userSetKeyDisabled(false)),
			keyCmd("delete-api-key", "delete a gateway key", userDeleteKey),
			{Name: "delete-all-api-keys", Usage: "delete every gateway key of a user", Flags: withRef(), Action: userDeleteAllKeys},
			{Name: "list-api-keys", Usage: "list a user's gateway keys (fingerprints only)", Flags: withRef(projectRefFlags()...), Action: userListKeys},
			{Name: "list-all-api-keys", Usage: "list every gateway key (fingerprints only)", Flags: []cli.Flag{jsonFlag}, Action: userListAllKeys},
			{Name: "search", Usage: "find users by email or ID", Flags: []cli.Flag{jsonFlag,
				&cli.StringFlag{Name: "search-term", Usage: "text to look for (case-insensitive)"}}, Action: userSearch},
		},
	}
}

func userList(_ context.Context, cmd *cli.Command) error {
	c, _, err := loadAdminConfig(cmd)
	if err != nil {
		return err
	}
	rows := []userRow{}
	for _, id := range sortedIDs(c.Users, func(id string) string { return userEmail(c, id) }) {
		if c.Users[id] != nil {
			rows = append(rows, userRowOf(c, id))
		}
	}
	return out(cmd, rows, func(w io.Writer) error { return userTable(w, rows) })
}

// checkNewEmail checks that email is well-formed and not taken.
func checkNewEmail(c *config.Config, flag, email string) error {
	if email == "" {
		return usageError("--%s is required", flag)
	}
	if !validEmail(email) {
		return usageError("--%s %q is not an email address like name@example.com", flag, email)
	}
	if ids := c.UserIDsByEmail(email); len(ids) > 0 {
		return adminError("a user with email %s already exists (ID %s)", email, ids[0])
	}
	return nil
}

func userCreate(_ context.Context, cmd *cli.Command) error {
	email, id := cmd.String("email"), newUUID()
	err := updateAdminConfig(cmd, func(c *config.Config) error {
		if err := checkNewEmail(c, "email", email); err != nil {
			return err
		}
		if c.Users == nil {
			c.Users = map[string]*config.User{}
		}
		c.Users[id] = &config.User{Email: email, CreatedAt: timestamp()}
		return nil
	})
	if err != nil {
		return err
	}
	return done(cmd, fmt.Sprintf("Created user %s (ID %s); next: project add-user, user generate-api-key", email, id),
		map[string]any{"id": id, "email": email})
}

func userGet(_ context.Context, cmd *cli.Command) error {
	c, _, err := loadAdminConfig(cmd)
	if err != nil {
		return err
	}
	id, _, err := resolveUser(cmd, c)
	if err != nil {
		return err
	}
	r := userRowOf(c, id)
	return out(cmd, r, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "Email:     %s\nID:        %s\nProjects:  %s\nKeys:      %d\nCreated:   %s\n",
			r.Email, r.ID, orDash(strings.Join(r.Projects, ", ")), r.Keys, orDash(r.CreatedAt))
		return err
	})
}

func userUpdate(_ context.Context, cmd *cli.Command) error {
	newEmail := cmd.String("new-email")
	var old string
	err := updateAdminConfig(cmd, func(c *config.Config) error {
		_, u, err := resolveUser(cmd, c)
		if err != nil {
			return err
		}
		if !strings.EqualFold(u.Email, newEmail) {
			if err := checkNewEmail(c, "new-email", newEmail); err != nil {
				return err
			}
		}
		old, u.Email = u.Email, newEmail
		return nil
	})
	if err != nil {
		return err
	}
	return done(cmd, fmt.Sprintf("Changed email %s to %s", old, newEmail), nil)
}

func userDelete(_ context.Context, cmd *cli.Command) error {
	var email string
	var keys, projects int
	err := updateAdminConfig(cmd, func(c *config.Config) error {
		id, u, err := resolveUser(cmd, c)
		if err != nil {
			return err
		}
		email = u.Email
		k, p := c.APIKeysOf(id, ""), c.ProjectsOf(id)
		if (len(k) > 0 || len(p) > 0) && !cmd.Bool("force") {
			return adminError("user %s has %d gateway key(s) and is in %d project(s); pass --force to delete the keys and leave the projects too",
				email, len(k), len(p))
		}
		for _, key := range k {
			delete(c.APIKeys, key)
		}
		for _, pid := range p {
			c.Projects[pid].Users = slices.DeleteFunc(c.Projects[pid].Users, func(u string) bool { return u == id })
		}
		keys, projects = len(k), len(p)
		delete(c.Users, id)
		return nil
	})
	if err != nil {
		return err
	}
	return done(cmd, fmt.Sprintf("Deleted user %s (%d key(s) deleted, removed from %d project(s))", email, keys, projects),
		map[string]any{"deleted_keys": keys, "left_projects": projects})
}

func userListProjects(_ context.Context, cmd *cli.Command) error {
	c, _, err := loadAdminConfig(cmd)
	if err != nil {
		return err
	}
	id, _, err := resolveUser(cmd, c)
	if err != nil {
		return err
	}
	rows := []projectRow{}
	for _, p := range sortedIDs(sliceSet(c.ProjectsOf(id)), func(id string) string { return projectName(c, id) }) {
		rows = append(rows, projectRowOf(c, p))
	}
	return out(cmd, rows, func(w io.Writer) error { return projectTable(w, rows) })
}

// issueKey adds a new hashed key for user uid in project pid and returns
// the key. The user must be in the project.
func issueKey(c *config.Config, uid, pid, rotatedFrom string) (string, string, error) {
	p := c.Projects[pid]
	if !slices.Contains(p.Users, uid) {
		return "", "", adminError("user %s is not in project %q\nhint: run \"secure-mcp-gateway project add-user --project-name %s --email %s\" first", userEmail(c, uid), p.Name, p.Name, userEmail(c, uid))
	}
	key, stored, err := authn.NewKey()
	if err != nil {
		return "", "", err
	}
	if c.APIKeys == nil {
		c.APIKeys = map[string]*config.APIKey{}
	}
	c.APIKeys[stored] = &config.APIKey{ProjectID: pid, UserID: uid, CreatedAt: timestamp(), RotatedFrom: rotatedFrom}
	return key.Reveal(), stored, nil
}

// keyIssued prints a new key once, with what it is for.
func keyIssued(cmd *cli.Command, c *config.Config, verb, key, stored string) error {
	rec := c.APIKeys[stored]
	fp := config.KeyFingerprint(stored)
	v := map[string]any{"api_key": key, "fingerprint": fp, "project_id": rec.ProjectID, "user_id": rec.UserID,
		"project_name": projectName(c, rec.ProjectID), "email": userEmail(c, rec.UserID)}
	if rec.RotatedFrom != "" {
		v["rotated_from"] = rec.RotatedFrom
	}
	return out(cmd, v, func(w io.Writer) error {
		note := ""
		if p := c.Projects[rec.ProjectID]; p != nil && p.MCPConfigID == "" {
			note = "\nNote: the project has no MCP config yet; the key is refused until \"project assign-config\".\n"
		}
		_, err := fmt.Fprintf(w, "%s gateway key %s for %s in project %q.\nKey (shown once; only its hash is stored):\n  %s\n%s",
			verb, fp, userEmail(c, rec.UserID), projectName(c, rec.ProjectID), key, note)
		return err
	})
}

func userGenerateKey(_ context.Context, cmd *cli.Command) error {
	var key, stored string
	var snapshot *config.Config
	err := updateAdminConfig(cmd, func(c *config.Config) error {
		uid, _, err := resolveUser(cmd, c)
		if err != nil {
			return err
		}
		pid, _, err := resolveProject(cmd, c)
		if err != nil {
			return err
		}
		key, stored, err = issueKey(c, uid, pid, "")
		snapshot = c
		return err
	})
	if err != nil {
		return err
	}
	return keyIssued(cmd, snapshot, "Generated", key, stored)
}

// keyRow is the JSON form of a gateway key: never the key itself.
type keyRow struct {
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

func keyRowOf(c *config.Config, entry string) keyRow {
	r := c.APIKeys[entry]
	if r == nil {
		r = &config.APIKey{}
	}
	return keyRow{Fingerprint: config.KeyFingerprint(entry), Hashed: config.KeyHashed(entry),
		Email: userEmail(c, r.UserID), UserID: r.UserID, Project: projectName(c, r.ProjectID), ProjectID: r.ProjectID,
		Disabled: r.Disabled, DisabledAt: r.DisabledAt, CreatedAt: r.CreatedAt, RotatedFrom: r.RotatedFrom}
}

func keyTable(cmd *cli.Command, c *config.Config, entries []string) error {
	rows := []keyRow{}
	for _, e := range entries {
		rows = append(rows, keyRowOf(c, e))
	}
	slices.SortStableFunc(rows, func(a, b keyRow) int {
		return strings.Compare(a.Email+"\x00"+a.Project+"\x00"+a.CreatedAt, b.Email+"\x00"+b.Project+"\x00"+b.CreatedAt)
	})
	return out(cmd, rows, func(w io.Writer) error {
		var t [][]string
		for _, r := range rows {
			status, stored := "active", "hashed"
			if r.Disabled {
				status = "disabled"
			}
			if !r.Hashed {
				stored = "plaintext (run system hash-keys)"
			}
			t = append(t, []string{r.Fingerprint, r.Email, r.Project, status, orDash(r.CreatedAt), stored})
		}
		return printTable(w, []string{"KEY", "USER", "PROJECT", "STATUS", "CREATED", "STORED"}, t)
	})
}

func userGetKey(_ context.Context, cmd *cli.Command) error {
	c, _, err := loadAdminConfig(cmd)
	if err != nil {
		return err
	}
	entry, _, err := resolveKey(cmd, c)
	if err != nil {
		return err
	}
	return keyTable(cmd, c, []string{entry})
}

func userRotateKey(_ context.Context, cmd *cli.Command) error {
	var key, stored, oldFP string
	var snapshot *config.Config
	err := updateAdminConfig(cmd, func(c *config.Config) error {
		entry, rec, err := resolveKey(cmd, c)
		if err != nil {
			return err
		}
		oldFP = config.KeyFingerprint(entry)
		if c.Users[rec.UserID] == nil || c.Projects[rec.ProjectID] == nil {
			return adminError("gateway key %s belongs to a missing user or project; delete it instead", oldFP)
		}
		delete(c.APIKeys, entry)
		key, stored, err = issueKey(c, rec.UserID, rec.ProjectID, oldFP)
		snapshot = c
		return err
	})
	if err != nil {
		return err
	}
	return keyIssued(cmd, snapshot, "Rotated "+oldFP+" to", key, stored)
}

func userSetKeyDisabled(disabled bool) cli.ActionFunc {
	return func(_ context.Context, cmd *cli.Command) error {
		var fp string
		err := updateAdminConfig(cmd, func(c *config.Config) error {
			entry, rec, err := resolveKey(cmd, c)
			if err != nil {
				return err
			}
			fp = config.KeyFingerprint(entry)
			rec.Disabled, rec.DisabledAt = disabled, ""
			if disabled {
				rec.DisabledAt = timestamp()
			}
			return nil
		})
		if err != nil {
			return err
		}
		state := "Enabled"
		if disabled {
			state = "Disabled"
		}
		return done(cmd, fmt.Sprintf("%s gateway key %s", state, fp), map[string]any{"fingerprint": fp, "disabled": disabled})
	}
}

func userDeleteKey(_ context.Context, cmd *cli.Command) error {
	var fp string
	err := updateAdminConfig(cmd, func(c *config.Config) error {
		entry, _, err := resolveKey(cmd, c)
		if err != nil {
			return err
		}
		fp = config.KeyFingerprint(entry)
		delete(c.APIKeys, entry)
		return nil
	})
	if err != nil {
		return err
	}
	return done(cmd, fmt.Sprintf("Deleted gateway key %s", fp), map[string]any{"fingerprint": fp})
}

func userDeleteAllKeys(_ context.Context, cmd *cli.Command) error {
	var email string
	var n int
	err := updateAdminConfig(cmd, func(c *config.Config) error {
		id, u, err := resolveUser(cmd, c)
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
	if err != nil {
		return err
	}
	return done(cmd, fmt.Sprintf("Deleted %d gateway key(s) of %s", n, email), map[string]any{"deleted_keys": n})
}

func userListKeys(_ context.Context, cmd *cli.Command) error {
	c, _, err := loadAdminConfig(cmd)
	if err != nil {
		return err
	}
	uid, _, err := resolveUser(cmd, c)
	if err != nil {
		return err
	}
	pid := ""
	if cmd.String("project-name") != "" || cmd.String("project-id") != "" {
		if pid, _, err = resolveProject(cmd, c); err != nil {
			return err
		}
	}
	return keyTable(cmd, c, c.APIKeysOf(uid, pid))
}

func userListAllKeys(_ context.Context, cmd *cli.Command) error {
	c, _, err := loadAdminConfig(cmd)
	if err != nil {
		return err
	}
	var all []string
	for k := range c.APIKeys {
		all = append(all, k)
	}
	slices.Sort(all)
	return keyTable(cmd, c, all)
}

func userSearch(_ context.Context, cmd *cli.Command) error {
	term, err := searchTerm(cmd)
	if err != nil {
		return err
	}
	c, _, err := loadAdminConfig(cmd)
	if err != nil {
		return err
	}
	var hits []searchHit
	for _, id := range sortedIDs(c.Users, func(id string) string { return userEmail(c, id) }) {
		u := c.Users[id]
		switch {
		case u == nil:
		case strings.Contains(strings.ToLower(u.Email), term):
			hits = append(hits, searchHit{Type: "user", ID: id, Name: u.Email, Match: "email"})
		case strings.HasPrefix(id, term):
			hits = append(hits, searchHit{Type: "user", ID: id, Name: u.Email, Match: "id"})
		}
	}
	return searchTable(cmd, hits)
}
