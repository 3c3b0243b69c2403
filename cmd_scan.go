package main

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v3"

	"secure-mcp-gateway/guard"
	"secure-mcp-gateway/scan"
)

// Exit codes of `scan` beyond 0 (clean).
const (
	exitScanFindings = 1 // findings at or above --fail-on
	exitScanFailed   = 2 // a config or a server could not be scanned
)

func scanCommand() *cli.Command {
	return &cli.Command{
		Name:  "scan",
		Usage: "audit the MCP servers of every MCP client on this machine (never calls a tool)",
		Description: "Reads the MCP configs of Claude Desktop, Cursor, VS Code (user and .vscode/mcp.json), Claude Code\n" +
			"(~/.claude.json, .mcp.json), Windsurf and this gateway's config (--config), starts or connects to each\n" +
			"server, lists its tools, prompts and resource templates, and checks them with the definition rules,\n" +
			"the cross-server checks and the gateway's tool pins. Env and header values are never printed.\n" +
			"Exit status: 0 clean, 1 findings at or above --fail-on, 2 a config or server could not be scanned.\n" +
			"The --json schema is documented in docs/SCAN.md.",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "client", Usage: "scan only these clients: claude-desktop, cursor, vscode, claude-code, windsurf, gateway"},
			&cli.StringSliceFlag{Name: "file", Usage: "scan only this MCP config file (client or gateway format); repeatable"},
			&cli.StringFlag{Name: "workspace", Usage: "project directory for .vscode/mcp.json, .mcp.json and .cursor/mcp.json (default: the working directory)"},
			&cli.DurationFlag{Name: "timeout", Value: scan.DefaultTimeout, Usage: "per-server time to start and list its definitions"},
			&cli.StringFlag{Name: "fail-on", Value: string(guard.SeverityBlock), Usage: "exit 1 on findings of this severity or worse: block or warn"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON document (docs/SCAN.md)"},
		},
		Action: runScan,
	}
}

func runScan(ctx context.Context, cmd *cli.Command) error {
	failOn := guard.Severity(cmd.String("fail-on"))
	if failOn != guard.SeverityBlock && failOn != guard.SeverityWarn {
		return cli.Exit(fmt.Errorf("--fail-on %q: want block or warn", failOn), exitUsage)
	}
	var files []scan.ConfigFile
	if fs := cmd.StringSlice("file"); len(fs) > 0 {
		for _, f := range fs {
			files = append(files, scan.FileConfig(f))
		}
	} else {
		cfgPath, err := configPath(cmd)
		if err != nil {
			return cli.Exit(err, exitScanFailed)
		}
		files, err = scan.ConfigFiles(scan.Paths{Workspace: cmd.String("workspace"), GatewayConfig: cfgPath}, cmd.StringSlice("client"))
		if err != nil {
			return cli.Exit(err, exitUsage)
		}
	}
	var servers []*scan.Server
	var configs []scan.ConfigResult
	var pins *guard.Pins
	read := map[string]bool{}
	for _, f := range files {
		read[f.Path] = true
	}
	for i := 0; i < len(files); i++ {
		f := files[i]
		ss, err := f.Servers()
		if err != nil {
			configs = append(configs, scan.ConfigResult{Client: f.Client, Path: f.Path, Error: err.Error()})
			continue
		}
		if len(ss) == 0 {
			continue
		}
		configs = append(configs, scan.ConfigResult{Client: f.Client, Path: f.Path, Servers: len(ss)})
		servers = append(servers, ss...)
		// A client entry that runs the gateway with another config: scan
		// that config's upstreams too.
		for _, sv := range ss {
			if p := sv.GatewayConfig(); sv.ViaGateway && p != "" {
				if g := scan.GatewayFile(p); !read[g.Path] {
					read[g.Path] = true
					files = append(files, g)
				}
			}
		}
		if pins == nil && ss[0].Client == scan.ClientGateway {
			p, err := guard.LoadPins(pinFile(f.Path))
			if err != nil {
				configs[len(configs)-1].Error = err.Error()
			} else {
				pins = p
			}
		}
	}
	timeout := cmd.Duration("timeout")
	if timeout <= 0 {
		timeout = scan.DefaultTimeout
	}
	rep, err := scan.Run(ctx, servers, &scan.Options{Timeout: timeout, Pins: pins, Version: version})
	if err != nil {
		return cli.Exit(fmt.Errorf("scan: %w", err), exitScanFailed)
	}
	rep.Configs = append(rep.Configs, configs...)
	out := cmd.Root().Writer
	if cmd.Bool("json") {
		err = rep.WriteJSON(out)
	} else {
		if len(configs) == 0 {
			fmt.Fprintln(out, "No MCP client config found.")
		}
		err = rep.WriteTable(out)
	}
	if err != nil {
		return cli.Exit(err, exitScanFailed)
	}
	if w := rep.Worst(); w != "" && w.AtLeast(failOn) {
		n := 0
		for _, f := range rep.Findings {
			if f.Severity.AtLeast(failOn) {
				n++
			}
		}
		return cli.Exit(fmt.Errorf("scan: %d finding(s) at or above %s", n, failOn), exitScanFindings)
	}
	if rep.Failed() {
		return cli.Exit(fmt.Errorf("scan: a config or a server could not be scanned (see the table)"), exitScanFailed)
	}
	return nil
}
