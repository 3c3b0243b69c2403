package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v3"

	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/internal/secret"
	"secure-mcp-gateway/proxy"
	"secure-mcp-gateway/serve"
)

// EnvConfigPath overrides the default config path, as --config does.
const EnvConfigPath = "ENKRYPT_CONFIG_PATH"

// Flag categories of the root help.
const (
	httpCategory   = "HTTP mode"
	commonCategory = "Config and logs"
)

// newRootCommand builds the whole command tree. Its default action serves MCP
// on stdio, which is what an MCP client runs.
func newRootCommand() *cli.Command {
	root := &cli.Command{
		Name:    "secure-mcp-gateway",
		Usage:   "a security gateway for the Model Context Protocol",
		Version: version,
		Description: "Run with no command to serve MCP on stdio for the client that started it (Claude Desktop, Cursor, ...).\n" +
			"The gateway key comes from ENKRYPT_GATEWAY_KEY; logs go to stderr or --log-file, never to stdout.\n\n" +
			"Example:\n  secure-mcp-gateway generate-config && secure-mcp-gateway install --client claude-desktop\n  secure-mcp-gateway try",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Category: commonCategory, Name: "config", Usage: "config file (default ~/.enkrypt/enkrypt_mcp_config.json)", Sources: cli.EnvVars(EnvConfigPath)},
			&cli.StringFlag{Category: commonCategory, Name: "log-level", Usage: "debug, info, warn or error (default: the config's enkrypt_log_level, else info)"},
			&cli.StringFlag{Category: commonCategory, Name: "log-file", Usage: "append logs to this file instead of stderr"},
			&cli.DurationFlag{Name: "tool-relist-interval", Value: proxy.DefaultRelistInterval, Sources: cli.EnvVars("ENKRYPT_TOOL_RELIST_INTERVAL"), Usage: "list an upstream's tools again before a call once its list is this old, to catch definitions changed without list_changed (0: only on list_changed)"},
			&cli.BoolFlag{Category: commonCategory, Name: "strict", Usage: "refuse to start when the config has keys the gateway does not know (they are warnings otherwise)"},
		}, httpFlags()...),
		Action: serveStdio,
		// Errors, exit codes included (cli.Exit), go back to main, which
		// prints them once and exits with exitCode; the library must not
		// exit on its own.
		ExitErrHandler: func(context.Context, *cli.Command, error) {},
		Commands: []*cli.Command{
			generateConfigCommand(),
			installCommand(),
			configCommand(),
			projectCommand(),
			userCommand(),
			withAdminKeyCommand(systemCommand()),
			apiCommand(),
			exampleServerCommand(),
			tryCommand(),
			cacheCommand(),
			oauthCommand(),
			supervisorCommand(),
			toolsCommand(),
			timeoutsCommand(),
			scanCommand(),
			hookCommand(),
			auditCommand(),
			healthProbeCommand(),
		},
	}
	addExamples(root, "")
	onlyOnce(root)
	return root
}

// onlyOnce makes every single-valued flag of cmd and of its subcommands an
// error when the command line gives it twice: "--args a --args b" would
// otherwise keep "b" alone, without a word. Repeatable flags (the slice
// flags) and switches are left alone.
func onlyOnce(cmd *cli.Command) {
	for _, f := range cmd.Flags {
		switch f := f.(type) {
		case *cli.StringFlag:
			f.OnlyOnce = true
		case *cli.IntFlag:
			f.OnlyOnce = true
		case *cli.Int64Flag:
			f.OnlyOnce = true
		case *cli.FloatFlag:
			f.OnlyOnce = true
		case *cli.DurationFlag:
			f.OnlyOnce = true
		}
	}
	for _, sub := range cmd.Commands {
		onlyOnce(sub)
	}
}

// configPath returns the config file the command should use.
func configPath(cmd *cli.Command) (string, error) {
	if p := cmd.Root().String("config"); p != "" {
		return p, nil
	}
	p, err := config.DefaultPath()
	if err != nil {
		return "", fmt.Errorf("find the default config path: %w (pass --config)", err)
	}
	return p, nil
}

// newLogger builds the process logger from the global flags. Logs go to
// stderr, or to --log-file; stdout is the MCP channel and never sees them.
// Every line passes through redactor before it is written.
func newLogger(cmd *cli.Command, cfgLevel string, redactor *secret.Redactor) (zerolog.Logger, io.Closer, error) {
	var w io.Writer = os.Stderr
	var closer io.Closer = io.NopCloser(nil)
	if p := cmd.Root().String("log-file"); p != "" {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return zerolog.Nop(), nil, fmt.Errorf("open log file: %w", err)
		}
		w, closer = f, f
	}
	levelName := cmd.Root().String("log-level")
	if levelName == "" {
		levelName = cfgLevel
	}
	level := zerolog.InfoLevel
	if levelName != "" {
		l, err := zerolog.ParseLevel(strings.ToLower(levelName))
		if err != nil {
			return zerolog.Nop(), nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", levelName)
		}
		level = l
	}
	log := zerolog.New(serve.NewLogWriter(w, redactor)).Level(level).With().Timestamp().Logger()
	return log, closer, nil
}

// exitCode maps an action's error to the process exit code: the code an
// cli.Exit error carries, exitUsage for an option serving refused, exitConfig
// for a config serving cannot run with, else 1.
func exitCode(err error) int {
	var ee cli.ExitCoder
	var oe *serve.OptionError
	var ce *serve.ConfigError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode()
	case errors.As(err, &oe):
		return exitUsage
	case errors.As(err, &ce):
		return exitConfig
	}
	return 1
}

// Exit codes.
const (
	exitUsage  = 2 // bad flags or arguments
	exitConfig = 3 // the config file is missing or invalid
	exitAuth   = 4 // the gateway key is missing or refused
)
