package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"secure-mcp-gateway/admin"
	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/internal/secret"
)

func generateConfigCommand() *cli.Command {
	return &cli.Command{
		Name:  "generate-config",
		Usage: "write a first config whose default server is the bundled echo example, and print a gateway key",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "overwrite", Usage: "replace an existing config (a timestamped backup is kept)"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			path, err := configPath(cmd)
			if err != nil {
				return cli.Exit(err, exitConfig)
			}
			if _, err := os.Stat(path); err == nil && !cmd.Bool("overwrite") {
				return cli.Exit(fmt.Errorf("config file %s already exists\nhint: pass --overwrite to replace it (a backup is kept)", path), exitConfig)
			} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return cli.Exit(fmt.Errorf("config file %s: %w", path, err), exitConfig)
			}
			exe, err := executablePath()
			if err != nil {
				return err
			}
			cfg, key, err := newDefaultConfig(exe, time.Now())
			if err != nil {
				return err
			}
			// The admin API's key, hashed like gateway keys; rotate it with
			// `system rotate-admin-key`.
			adminKey, storedAdmin, err := authn.NewKey()
			if err != nil {
				return fmt.Errorf("generate the admin API key: %w", err)
			}
			cfg.AdminAPIKey = storedAdmin
			if err := config.Save(path, cfg, checkDetectors); err != nil {
				return cli.Exit(err, exitConfig)
			}
			if err := writeSchemaBeside(path); err != nil {
				return err
			}
			w := cmd.Root().Writer
			if err := printClientSnippet(w, path, exe, key, cmd.Root().String("config") != ""); err != nil {
				return err
			}
			_, err = fmt.Fprintf(w, "\nAdmin API key for `secure-mcp-gateway api` (shown once; only its hash is stored):\n  %s\n", adminKey.Reveal())
			return err
		},
	}
}

// executablePath is the absolute path of the running binary, which configs
// and client snippets use so that nothing depends on PATH lookups.
func executablePath() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find the gateway binary: %w", err)
	}
	if p, err := filepath.EvalSymlinks(exe); err == nil {
		exe = p
	}
	return exe, nil
}

// newDefaultConfig returns a config in the Python gateway's schema with one
// project, one user, one MCP config holding the bundled echo server (run as
// "<exe> example-server echo"), and one gateway key, which it returns; the
// config stores only the key's hash.
func newDefaultConfig(exe string, now time.Time) (*config.Config, secret.String, error) {
	key, stored, err := authn.NewKey()
	if err != nil {
		return nil, "", fmt.Errorf("generate a gateway key: %w", err)
	}
	in, out, tool, err := guardrailPreset(presetDefault)
	if err != nil {
		return nil, "", err
	}
	configID, projectID, userID := admin.NewUUID(), admin.NewUUID(), admin.NewUUID()
	ts := now.UTC().Format("2006-01-02T15:04:05.000000")
	cfg := &config.Config{
		Schema: "./" + config.SchemaFileName,
		Common: config.Common{
			LogLevel:               "INFO",
			CacheHost:              "localhost",
			CachePort:              6379,
			ToolCacheExpiration:    4,
			GatewayCacheExpiration: 24,
			Timeouts: config.TimeoutSettings{
				Default:       config.DefaultTimeout.Seconds(),
				Guardrail:     config.DefaultGuardrailTimeout.Seconds(),
				Auth:          config.DefaultAuthTimeout.Seconds(),
				ToolExecution: config.DefaultToolExecutionTimeout.Seconds(),
				Discovery:     config.DefaultDiscoveryTimeout.Seconds(),
				Cache:         config.DefaultCacheTimeout.Seconds(),
				Connectivity:  config.DefaultConnectivityTimeout.Seconds(),
				Escalation:    config.EscalationPolicies{Warn: 0.8, Timeout: 1.0, Fail: 1.2},
			},
		},
		MCPConfigs: map[string]*config.MCPConfig{
			configID: {
				Name: "default_config",
				Servers: []*config.Server{{
					Name:        "echo_server",
					Description: "Bundled echo example server",
					Config:      config.ServerConfig{Command: exe, Args: []string{"example-server", "echo"}},
					Tools:       map[string]json.RawMessage{},
					CreatedAt:   ts,
					// Offline detectors only, so the defaults work without a
					// guardrail provider.
					InputGuardrailsPolicy: in, OutputGuardrailsPolicy: out, ToolGuardrailsPolicy: tool,
				}},
			},
		},
		Projects: map[string]*config.Project{
			projectID: {Name: "default_project", MCPConfigID: configID, Users: []string{userID}, CreatedAt: ts},
		},
		Users: map[string]*config.User{
			userID: {Email: "default@example.com", CreatedAt: ts},
		},
		APIKeys: map[string]*config.APIKey{
			stored: {ProjectID: projectID, UserID: userID, CreatedAt: ts},
		},
	}
	return cfg, key, nil
}

// printClientSnippet shows the new key once, and the JSON to paste into an
// MCP client's config.
func printClientSnippet(w io.Writer, path, exe string, key secret.String, explicitConfig bool) error {
	var args []string
	if explicitConfig {
		args = []string{"--config", path}
	}
	entry := map[string]any{"command": exe, "env": map[string]string{authn.EnvKey: key.Reveal()}}
	if args != nil {
		entry["args"] = args
	}
	snippet, err := json.MarshalIndent(map[string]any{"mcpServers": map[string]any{"secure-mcp-gateway": entry}}, "", "  ")
	if err != nil {
		return err
	}
	note := ""
	if strings.Contains(exe, "go-build") {
		note = "\nNote: this binary is a temporary `go run` build; run `go build` and generate-config from the built binary for a lasting client entry.\n"
	}
	_, err = fmt.Fprintf(w, "Wrote %s\n\nGateway key (shown once; only its hash is stored):\n  %s\n\nAdd this to claude_desktop_config.json or ~/.cursor/mcp.json:\n%s\n%s",
		path, key.Reveal(), snippet, note)
	return err
}
