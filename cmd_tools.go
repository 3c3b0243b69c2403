package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v3"

	"secure-mcp-gateway/admin"
	"secure-mcp-gateway/admin/live"
	"secure-mcp-gateway/audit"
	"secure-mcp-gateway/audit/auditproxy"
	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/cache"
	"secure-mcp-gateway/guard"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/proxy"
)

// pinFile is the tool pin state file beside the config file at path.
func pinFile(path string) string { return filepath.Join(filepath.Dir(path), guard.PinFileName) }

// The guardrail engine also checks resource contents and prompt messages.
var _ proxy.ContentGuard = (*guard.Engine)(nil)

// newGuard builds the guardrail engine for principal's servers, pinning tool
// definitions in the state file beside the config at path.
func newGuard(principal *authn.Principal, cfg *config.Config, path string, shared *cache.Shared, log *zerolog.Logger, al *audit.Log) proxy.Guard {
	prov, problem := guard.NewProvider(cfg.Plugins.Guardrails, nil)
	var pinChanged func(guard.PinChange)
	if al != nil {
		pinChanged = auditproxy.PinChanged(al)
	}
	return guard.NewEngine(&guard.Options{
		PinChanged:       pinChanged,
		Servers:          principal.MCPConfig.Servers,
		Pins:             live.PinStore(path, shared),
		Provider:         prov,
		ProviderProblem:  problem,
		GuardrailTimeout: cfg.Common.Timeouts.GuardrailTimeout(),
		DeniedTools:      cfg.Common.DeniedTools,
		Logger:           log,
	})
}

func toolsCommand() *cli.Command {
	serverFlag := &cli.StringFlag{Name: "server", Usage: "the server name as in the config"}
	toolFlag := &cli.StringFlag{Name: "tool", Usage: "the tool's upstream name (without the server prefix)"}
	return &cli.Command{
		Name:  "tools",
		Usage: "review and approve pinned tool definitions (rug-pull protection)",
		Commands: []*cli.Command{
			{
				Name:  "pins",
				Usage: "list pinned tools and those whose definition changed",
				Action: func(ctx context.Context, cmd *cli.Command) error {
					p, err := loadPinsFor(ctx, cmd)
					if err != nil {
						return err
					}
					w := cmd.Root().Writer
					for _, s := range sortedKeys(p.Servers) {
						for _, t := range sortedKeys(p.Servers[s]) {
							pin := p.Servers[s][t]
							state := "pinned"
							if pin.Pending != nil {
								state = "CHANGED (withheld; review with tools diff)"
							}
							fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", s, t, pin.SHA256[:12], state)
						}
					}
					return nil
				},
			},
			{
				Name:  "diff",
				Usage: "show how changed tool definitions differ from their pins",
				Flags: []cli.Flag{serverFlag, toolFlag},
				Action: func(ctx context.Context, cmd *cli.Command) error {
					p, err := loadPinsFor(ctx, cmd)
					if err != nil {
						return err
					}
					w := cmd.Root().Writer
					n := 0
					for _, s := range sortedKeys(p.Servers) {
						if f := cmd.String("server"); f != "" && f != s {
							continue
						}
						for _, t := range sortedKeys(p.Servers[s]) {
							pin := p.Servers[s][t]
							if pin.Pending == nil || (cmd.String("tool") != "" && cmd.String("tool") != t) {
								continue
							}
							n++
							fmt.Fprintf(w, "server %s, tool %s: definition changed\n", s, t)
							diffDefinitions(w, pin.Definition, pin.Pending.Definition)
							fmt.Fprintf(w, "approve with: secure-mcp-gateway tools approve --server %s --tool %s\n\n", s, t)
						}
					}
					if n == 0 {
						fmt.Fprintln(w, "no changed tool definitions")
					}
					return nil
				},
			},
			{
				Name:  "approve",
				Usage: "accept a tool's changed definition as its new pin",
				Flags: []cli.Flag{serverFlag, toolFlag},
				Action: func(ctx context.Context, cmd *cli.Command) error {
					s, t := cmd.String("server"), cmd.String("tool")
					if s == "" || t == "" {
						return cli.Exit(fmt.Errorf("tools approve needs --server and --tool"), exitUsage)
					}
					st, err := runtimeStore(cmd)
					if err != nil {
						return err
					}
					var nf *admin.NotFoundError
					err = st.ApprovePin(ctx, admin.ApprovePinRequest{Server: s, Tool: t})
					if errors.As(err, &nf) {
						return cli.Exit(fmt.Errorf("tool %q of server %q has no changed definition to approve (see `secure-mcp-gateway tools pins`)", t, s), exitUsage)
					}
					if err != nil {
						return cli.Exit(err, exitConfig)
					}
					fmt.Fprintf(cmd.Root().Writer, "approved the new definition of %s on %s; running gateways show the tool again when they next list the server\n", t, s)
					return nil
				},
			},
		},
	}
}

func loadPinsFor(ctx context.Context, cmd *cli.Command) (*guard.Pins, error) {
	st, err := runtimeStore(cmd)
	if err != nil {
		return nil, err
	}
	p, _, err := st.Pins(ctx)
	if err != nil {
		return nil, cli.Exit(err, exitConfig)
	}
	return p, nil
}

func sortedKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// diffDefinitions prints the fields of two canonical definitions that differ.
func diffDefinitions(w interface{ Write([]byte) (int, error) }, old, cur json.RawMessage) {
	var a, b map[string]any
	_ = json.Unmarshal(old, &a)
	_ = json.Unmarshal(cur, &b)
	keys := sortedKeys(a)
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		x, _ := json.Marshal(a[k])
		y, _ := json.Marshal(b[k])
		if string(x) != string(y) {
			fmt.Fprintf(w, "  %s:\n    - %s\n    + %s\n", k, strings.TrimSpace(string(x)), strings.TrimSpace(string(y)))
		}
	}
}
