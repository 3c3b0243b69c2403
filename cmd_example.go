package main

import (
	"context"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/urfave/cli/v3"

	"secure-mcp-gateway/examples"
	"secure-mcp-gateway/upstream"
)

func exampleServerCommand() *cli.Command {
	return &cli.Command{
		Name:      "example-server",
		Usage:     "run a bundled example upstream MCP server on stdio",
		ArgsUsage: "NAME [ARG...]",
		Description: "Extra arguments are ignored by the servers (the probe server reports its argv, which\n" +
			"tests use to show that arguments reach an upstream literally).",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "list", Usage: "list the bundled servers"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Bool("list") {
				for _, n := range examples.Names() {
					fmt.Fprintf(cmd.Root().Writer, "%-24s %s\n", n, examples.Describe(n))
				}
				return nil
			}
			if !cmd.Args().Present() {
				return cli.Exit(fmt.Errorf("example-server needs a NAME (see --list)"), exitUsage)
			}
			return examples.Run(ctx, cmd.Args().First(), &mcp.StdioTransport{})
		},
	}
}

// supervisorCommand is the hidden command under which the upstream pool
// starts each stdio child on Linux (see upstream.Supervise).
func supervisorCommand() *cli.Command {
	return &cli.Command{
		Name:            supervisorCommandName,
		Usage:           "internal: run an upstream server in a process group that dies with the gateway",
		Hidden:          true,
		SkipFlagParsing: true,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if code := upstream.Supervise(cmd.Args().Slice()); code != 0 {
				return cli.Exit(fmt.Errorf("upstream exited with code %d", code), code)
			}
			return nil
		},
	}
}

const supervisorCommandName = "upstream-supervisor"
