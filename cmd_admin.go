package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v3"

	"secure-mcp-gateway/admin"
	"secure-mcp-gateway/internal/atomicfile"
	"secure-mcp-gateway/internal/config"
)

// This file holds what the admin command groups (config, project, user,
// system, install) share: loading and updating the config file, resolving
// --x-name/--x-id flags, and printing tables or JSON.

// jsonFlag asks a command for machine-readable output.
var jsonFlag = &cli.BoolFlag{Name: "json", Usage: "print JSON instead of a table"}

// adminError is a refusal or a lookup failure caused by the user's input: exit code 1.
func adminError(format string, args ...any) error {
	return cli.Exit(fmt.Errorf(format, args...), 1)
}

// usageError is a missing or malformed flag: exit code 2.
func usageError(format string, args ...any) error {
	return cli.Exit(fmt.Errorf(format, args...), exitUsage)
}

// configError marks a config file problem (missing, malformed, invalid
// result): exit code 3. Errors already carrying an exit code pass through.
func configError(err error) error {
	var ee cli.ExitCoder
	if err == nil || errors.As(err, &ee) {
		return err
	}
	return cli.Exit(err, exitConfig)
}

// loadAdminConfig loads and validates the config file the command names.
func loadAdminConfig(cmd *cli.Command) (*config.Config, string, error) {
	path, err := configPath(cmd)
	if err != nil {
		return nil, "", configError(err)
	}
	c, err := config.Load(path, checkDetectors)
	if err != nil {
		return nil, "", configError(err)
	}
	return c, path, nil
}

// updateAdminConfig changes the config file under its lock; see config.Update.
// An error fn returns keeps its exit code; a file or validation problem
// exits with exitConfig. The file is untouched on any error.
func updateAdminConfig(cmd *cli.Command, fn func(*config.Config) error) error {
	path, err := configPath(cmd)
	if err != nil {
		return configError(err)
	}
	var fnErr error
	err = config.Update(path, func(c *config.Config) error {
		fnErr = fn(c)
		return fnErr
	}, checkDetectors)
	if fnErr != nil {
		return fnErr
	}
	return configError(err)
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printTable writes an aligned table with a header row; an empty table
// prints "(none)" under the header.
func printTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	if len(rows) == 0 {
		fmt.Fprintln(tw, "(none)")
	}
	return tw.Flush()
}

// out prints v as JSON with --json, else the text from text.
func out(cmd *cli.Command, v any, text func(w io.Writer) error) error {
	w := cmd.Root().Writer
	if cmd.Bool("json") {
		return printJSON(w, v)
	}
	return text(w)
}

// done prints a one-line confirmation, or {"status":"ok", ...fields} with --json.
func done(cmd *cli.Command, msg string, fields map[string]any) error {
	if fields == nil {
		fields = map[string]any{}
	}
	fields["status"] = "ok"
	fields["message"] = msg
	return out(cmd, fields, func(w io.Writer) error {
		_, err := fmt.Fprintln(w, msg)
		return err
	})
}

// refFlags returns the --<kind>-name and --<kind>-id flags of an identifier.
func refFlags(kind, nameFlag string) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: nameFlag, Usage: "the " + kind + "'s " + strings.TrimPrefix(nameFlag, kind+"-")},
		&cli.StringFlag{Name: kind + "-id", Usage: "the " + kind + "'s ID"},
	}
}

func configRefFlags() []cli.Flag  { return refFlags("config", "config-name") }
func projectRefFlags() []cli.Flag { return refFlags("project", "project-name") }
func userRefFlags() []cli.Flag    { return refFlags("user", "email") }

// resolve finds an entity by ID or by name. byName returns the IDs with
// that name; exists says whether an ID exists.
func resolve(kind, nameFlag, idFlag, name, id string, byName func(string) []string, exists func(string) bool) (string, error) {
	switch {
	case name == "" && id == "":
		return "", usageError("either --%s or --%s is required", nameFlag, idFlag)
	case name != "" && id != "":
		return "", usageError("give only one of --%s and --%s", nameFlag, idFlag)
	case id != "":
		if !exists(id) {
			return "", adminError("%s %q not found", kind, id)
		}
		return id, nil
	}
	ids := byName(name)
	switch len(ids) {
	case 0:
		return "", adminError("%s %q not found", kind, name)
	case 1:
		return ids[0], nil
	}
	return "", adminError("%d %ss are named %q (IDs %s); pass --%s", len(ids), kind, name, strings.Join(ids, ", "), idFlag)
}

// projectName, userEmail and configName give a display name for an ID; see
// admin.ProjectName.
func projectName(c *config.Config, id string) string { return admin.ProjectName(c, id) }
func userEmail(c *config.Config, id string) string   { return admin.UserEmail(c, id) }
func configName(c *config.Config, id string) string  { return admin.ConfigName(c, id) }

// sortedIDs returns the IDs of m ordered by label, then ID; see admin.SortedIDs.
func sortedIDs[V any](m map[string]V, label func(string) string) []string {
	return admin.SortedIDs(m, label)
}

// timestamp is the created_at/updated_at format; see admin.Timestamp.
func timestamp() string { return admin.Timestamp() }

// resolveConfig resolves --config-name/--config-id.
func resolveConfig(cmd *cli.Command, c *config.Config) (string, *config.MCPConfig, error) {
	id, err := resolve("config", "config-name", "config-id", cmd.String("config-name"), cmd.String("config-id"),
		c.MCPConfigIDsByName, func(id string) bool { _, ok := c.MCPConfigByID(id); return ok })
	if err != nil {
		return "", nil, err
	}
	return id, c.MCPConfigs[id], nil
}

// resolveProject resolves --project-name/--project-id.
func resolveProject(cmd *cli.Command, c *config.Config) (string, *config.Project, error) {
	id, err := resolve("project", "project-name", "project-id", cmd.String("project-name"), cmd.String("project-id"),
		c.ProjectIDsByName, func(id string) bool { return c.Projects[id] != nil })
	if err != nil {
		return "", nil, err
	}
	return id, c.Projects[id], nil
}

// resolveUser resolves --email/--user-id.
func resolveUser(cmd *cli.Command, c *config.Config) (string, *config.User, error) {
	id, err := resolve("user", "email", "user-id", cmd.String("email"), cmd.String("user-id"),
		c.UserIDsByEmail, func(id string) bool { return c.Users[id] != nil })
	if err != nil {
		return "", nil, err
	}
	return id, c.Users[id], nil
}

// readJSONFlag returns the JSON in --<name> or in the file --<name>-file,
// decoded into v; it reports whether either was given.
func readJSONFlag(cmd *cli.Command, name, fileFlag string, v any) (bool, error) {
	raw := cmd.String(name)
	if fileFlag != "" && cmd.String(fileFlag) != "" {
		if raw != "" {
			return false, usageError("give only one of --%s and --%s", name, fileFlag)
		}
		b, err := os.ReadFile(cmd.String(fileFlag))
		if err != nil {
			return false, usageError("--%s: %w", fileFlag, err)
		}
		raw, name = string(b), fileFlag
	}
	if raw == "" {
		return false, nil
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			where := "the value"
			if ute.Field != "" {
				where = fmt.Sprintf("%q", ute.Field)
			}
			return false, usageError("--%s: %s is a JSON %s, want %s", name, where, ute.Value, ute.Type)
		}
		return false, usageError("--%s is not valid JSON for this setting: %w", name, err)
	}
	return true, nil
}

// writeFile0600 writes data to path with mode 0600, creating parent
// directories with mode 0700, replacing any file atomically.
func writeFile0600(path string, data []byte) error {
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// adminStore opens the admin store on the config file the command names,
// with the gateway's runtime: its writes share key revocations with the
// replicas that serve other copies of the config.
func adminStore(cmd *cli.Command) (*admin.Store, error) { return runtimeStore(cmd) }

// cliError maps an admin error to the CLI's message and exit code: a
// malformed request exits 2 naming the flags, a refusal or failed lookup
// exits 1, a config file problem exits 3.
func cliError(err error) error {
	var (
		re *admin.RequestError
		ie *admin.InvalidError
		ae *admin.AmbiguousError
		nf *admin.NotFoundError
		ce *admin.ConflictError
		rf *admin.RefusedError
		ee *admin.InvalidEmailError
		kn *admin.KeyNotFoundError
		us *admin.UnsharedError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &us):
		return cli.Exit(err, 1)
	case errors.As(err, &re):
		flags := make([]string, len(re.Fields))
		for i, f := range re.Fields {
			flags[i] = "--" + strings.ReplaceAll(f, "_", "-")
		}
		switch {
		case re.Problem == admin.ProblemExclusive:
			return usageError("give only one of %s", strings.Join(flags, " and "))
		case len(flags) > 1:
			return usageError("either %s is required", strings.Join(flags, " or "))
		}
		return usageError("%s is required", strings.Join(flags, ", "))
	case errors.As(err, &ie):
		return usageError("%v", ie.Err)
	case errors.As(err, &ee):
		return usageError("--%s %q is not an email address like name@example.com", strings.ReplaceAll(ee.Field, "_", "-"), ee.Email)
	case errors.As(err, &ae):
		return adminError("%v; pass --%s-id", ae, ae.Kind)
	case errors.As(err, &nf), errors.As(err, &ce), errors.As(err, &rf), errors.As(err, &kn):
		return cli.Exit(err, 1)
	}
	return configError(err)
}

// configRef is the --config-name/--config-id reference of a command.
func configRef(cmd *cli.Command) admin.Ref {
	return admin.Ref{Name: cmd.String("config-name"), ID: cmd.String("config-id")}
}

// serverRef is the config reference and --server-name of a command.
func serverRef(cmd *cli.Command) admin.ServerRef {
	return admin.ServerRef{Config: configRef(cmd), ServerName: cmd.String("server-name")}
}
