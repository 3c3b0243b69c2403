package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v3"

	"secure-mcp-gateway/admin"
)

func cacheCommand() *cli.Command {
	return &cli.Command{
		Name:  "cache",
		Usage: "inspect or clear the discovery cache (persistent store and Redis)",
		Commands: []*cli.Command{
			{
				Name:   "status",
				Usage:  "show, per server, whether its tool list is cached, how many tools, its age, expiry and tier",
				Flags:  append(cacheScopeFlags(), &cli.BoolFlag{Name: "json", Usage: "print JSON"}),
				Action: cacheStatus,
			},
			{
				Name:  "clear",
				Usage: "clear cached tool lists in every tier, so the next session lists its upstreams live",
				Flags: append(cacheScopeFlags(),
					&cli.StringFlag{Name: "cache-type", Value: admin.CacheTypeAll, Usage: "all, gateway_config or server_config"},
					&cli.BoolFlag{Name: "json", Usage: "print JSON"}),
				Action: cacheClear,
			},
		},
	}
}

// cacheScopeFlags select the servers of a cache command.
func cacheScopeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "server-name", Usage: "only this server's entries (default: all servers)"},
		&cli.StringFlag{Name: "config-name", Usage: "only the servers of this MCP config"},
		&cli.StringFlag{Name: "config-id", Usage: "only the servers of the MCP config with this ID"},
		&cli.StringFlag{Name: "api-key", Usage: "only the servers of the MCP config this gateway key's project uses (the key or its fp: fingerprint)"},
	}
}

func cacheScope(cmd *cli.Command) admin.CacheScope {
	return admin.CacheScope{Config: configRef(cmd), ServerName: cmd.String("server-name"), APIKey: cmd.String("api-key")}
}

// runtimeStore opens the admin store of the command's config file with
// the gateway's runtime (cache, OAuth tokens, probes).
func runtimeStore(cmd *cli.Command) (*admin.Store, error) {
	path, err := configPath(cmd)
	if err != nil {
		return nil, configError(err)
	}
	log := zerolog.New(cmd.Root().ErrWriter).Level(zerolog.WarnLevel)
	return admin.OpenWith(path, adminRuntime(path, &log)), nil
}

func cacheStatus(ctx context.Context, cmd *cli.Command) error {
	st, err := runtimeStore(cmd)
	if err != nil {
		return err
	}
	status, err := st.CacheStatus(ctx, cacheScope(cmd))
	if err != nil {
		return cliError(err)
	}
	now := time.Now()
	return out(cmd, status, func(w io.Writer) error {
		fmt.Fprintf(w, "tiers: %v\n", status.Tiers)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CONFIG\tSERVER\tCACHED\tTOOLS\tAGE\tEXPIRES\tTIER")
		for _, r := range status.Servers {
			if !r.Cached {
				fmt.Fprintf(tw, "%s\t%s\tno\t-\t-\t-\t-\n", r.ConfigName, r.Server)
				continue
			}
			expires := "in " + r.ExpiresAt.Sub(now).Round(time.Second).String()
			if r.Stale {
				expires = "stale (revalidated on next use)"
			}
			fmt.Fprintf(tw, "%s\t%s\tyes\t%d\t%s\t%s\t%v\n", r.ConfigName, r.Server, r.Tools,
				now.Sub(*r.StoredAt).Round(time.Second), expires, r.Tiers)
		}
		return tw.Flush()
	})
}

func cacheClear(ctx context.Context, cmd *cli.Command) error {
	st, err := runtimeStore(cmd)
	if err != nil {
		return err
	}
	res, err := st.ClearCache(ctx, admin.ClearCacheRequest{CacheType: cmd.String("cache-type"), CacheScope: cacheScope(cmd)})
	var ie *admin.InvalidError
	switch {
	case errors.As(err, &ie):
		return usageError("--cache-type %v", ie.Err)
	case err != nil && res.CacheType == "":
		return cliError(err)
	}
	if perr := out(cmd, res, func(w io.Writer) error {
		if res.GatewayConfig != "" {
			fmt.Fprintln(w, "gateway_config: "+res.GatewayConfig)
		}
		if res.CacheType != admin.CacheTypeGateway {
			fmt.Fprintf(w, "server_config: cleared %d cached tool list entries of %s in %v\n", res.Entries, res.Scope, res.Tiers)
		}
		return nil
	}); perr != nil {
		return perr
	}
	return err // a tier that failed to clear
}
