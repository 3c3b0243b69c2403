package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v3"

	"secure-mcp-gateway/admin"
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

func userList(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	rows, err := st.ListUsers(ctx)
	if err != nil {
		return cliError(err)
	}
	return out(cmd, rows, func(w io.Writer) error { return userTable(w, rows) })
}

func userCreate(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	u, err := st.CreateUser(ctx, admin.CreateUserRequest{Email: cmd.String("email")})
	if err != nil {
		return cliError(err)
	}
	return done(cmd, fmt.Sprintf("Created user %s (ID %s); next: project add-user, user generate-api-key", u.Email, u.ID),
		map[string]any{"id": u.ID, "email": u.Email})
}

func userGet(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	r, err := st.GetUser(ctx, userRef(cmd))
	if err != nil {
		return cliError(err)
	}
	return out(cmd, r, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "Email:     %s\nID:        %s\nProjects:  %s\nKeys:      %d\nCreated:   %s\n",
			r.Email, r.ID, orDash(strings.Join(r.Projects, ", ")), r.Keys, orDash(r.CreatedAt))
		return err
	})
}

func userUpdate(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	newEmail := cmd.String("new-email")
	old, err := st.UpdateUser(ctx, admin.UpdateUserRequest{User: userRef(cmd), NewEmail: newEmail})
	if err != nil {
		return cliError(err)
	}
	return done(cmd, fmt.Sprintf("Changed email %s to %s", old, newEmail), nil)
}

func userDelete(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	r, err := st.DeleteUser(ctx, admin.DeleteUserRequest{User: userRef(cmd), Force: cmd.Bool("force")})
	if err != nil {
		return cliError(err)
	}
	return done(cmd, fmt.Sprintf("Deleted user %s (%d key(s) deleted, removed from %d project(s))", r.Email, r.DeletedKeys, r.LeftProjects),
		map[string]any{"deleted_keys": r.DeletedKeys, "left_projects": r.LeftProjects})
}

func userListProjects(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	rows, err := st.UserProjects(ctx, userRef(cmd))
	if err != nil {
		return cliError(err)
	}
	return out(cmd, rows, func(w io.Writer) error { return projectTable(w, rows) })
}

// issueKey adds a new hashed key for user uid in project pid (see
// admin.IssueKey) and returns the key and its apikeys entry.
func issueKey(c *config.Config, uid, pid, rotatedFrom string) (string, string, error) {
	k, stored, err := admin.IssueKey(c, uid, pid, rotatedFrom)
	var rf *admin.RefusedError
	if errors.As(err, &rf) {
		return "", "", cli.Exit(err, 1)
	}
	if err != nil {
		return "", "", err
	}
	return k.APIKey, stored, nil
}

// keyIssued prints a new key once, with what it is for.
func keyIssued(cmd *cli.Command, verb string, k admin.IssuedKey) error {
	v := map[string]any{"api_key": k.APIKey, "fingerprint": k.Fingerprint, "project_id": k.ProjectID, "user_id": k.UserID,
		"project_name": k.ProjectName, "email": k.Email}
	if k.RotatedFrom != "" {
		v["rotated_from"] = k.RotatedFrom
	}
	return out(cmd, v, func(w io.Writer) error {
		note := ""
		if k.NoConfig {
			note = "\nNote: the project has no MCP config yet; the key is refused until \"project assign-config\".\n"
		}
		_, err := fmt.Fprintf(w, "%s gateway key %s for %s in project %q.\nKey (shown once; only its hash is stored):\n  %s\n%s",
			verb, k.Fingerprint, k.Email, k.ProjectName, k.APIKey, note)
		return err
	})
}

// keyError is cliError with --api-key's own message when it is missing.
func keyError(err error) error {
	var re *admin.RequestError
	if errors.As(err, &re) && len(re.Fields) == 1 && re.Fields[0] == "api_key" {
		return usageError("--api-key is required (the key, its sha256: entry, or its fp: fingerprint)")
	}
	return cliError(err)
}

func userGenerateKey(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	k, err := st.GenerateKey(ctx, admin.GenerateKeyRequest{User: userRef(cmd), Project: projectRef(cmd)})
	if err != nil {
		return cliError(err)
	}
	return keyIssued(cmd, "Generated", k)
}

// keyRow is the JSON form of a gateway key: never the key itself.
type keyRow = admin.KeySummary

func keyTable(cmd *cli.Command, rows []keyRow) error {
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

func userGetKey(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	rows, err := st.GetKey(ctx, cmd.String("api-key"))
	if err != nil {
		return keyError(err)
	}
	return keyTable(cmd, rows)
}

func userRotateKey(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	k, err := st.RotateKey(ctx, cmd.String("api-key"))
	if err != nil {
		return keyError(err)
	}
	return keyIssued(cmd, "Rotated "+k.RotatedFrom+" to", k)
}

func userSetKeyDisabled(disabled bool) cli.ActionFunc {
	return func(ctx context.Context, cmd *cli.Command) error {
		st, err := adminStore(cmd)
		if err != nil {
			return err
		}
		fp, err := st.SetKeyDisabled(ctx, cmd.String("api-key"), disabled)
		if err != nil {
			return keyError(err)
		}
		state := "Enabled"
		if disabled {
			state = "Disabled"
		}
		return done(cmd, fmt.Sprintf("%s gateway key %s", state, fp), map[string]any{"fingerprint": fp, "disabled": disabled})
	}
}

func userDeleteKey(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	fp, err := st.DeleteKey(ctx, cmd.String("api-key"))
	if err != nil {
		return keyError(err)
	}
	return done(cmd, fmt.Sprintf("Deleted gateway key %s", fp), map[string]any{"fingerprint": fp})
}

func userDeleteAllKeys(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	email, n, err := st.DeleteAllKeys(ctx, userRef(cmd))
	if err != nil {
		return cliError(err)
	}
	return done(cmd, fmt.Sprintf("Deleted %d gateway key(s) of %s", n, email), map[string]any{"deleted_keys": n})
}

func userListKeys(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	rows, err := st.ListKeys(ctx, admin.ListKeysRequest{User: userRef(cmd), Project: projectRef(cmd)})
	if err != nil {
		return cliError(err)
	}
	return keyTable(cmd, rows)
}

func userListAllKeys(ctx context.Context, cmd *cli.Command) error {
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	rows, err := st.ListAllKeys(ctx)
	if err != nil {
		return cliError(err)
	}
	return keyTable(cmd, rows)
}

func userSearch(ctx context.Context, cmd *cli.Command) error {
	term, err := searchTerm(cmd)
	if err != nil {
		return err
	}
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	hits, err := st.SearchUsers(ctx, term)
	if err != nil {
		return cliError(err)
	}
	return searchTable(cmd, hits)
}
