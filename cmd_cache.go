package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v3"

	"secure-mcp-gateway/admin"
	"secure-mcp-gateway/cache"
	"secure-mcp-gateway/internal/config"
)

// openToolCache builds the discovery cache from the config's common
// settings: a persistent store beside the config file at path, and Redis
// when enkrypt_mcp_use_external_cache is set.
func openToolCache(cfg *config.Config, path string, log *zerolog.Logger) (*cache.Store, error) {
	c := cfg.Common
	opts := &cache.Options{
		Dir:     filepath.Join(filepath.Dir(path), cache.DefaultDirName),
		ToolTTL: time.Duration(c.ToolCacheExpiration * float64(time.Hour)),
		Logger:  log,
	}
	opts.Redis = cache.RedisFromConfig(&c)
	store, err := cache.New(opts)
	if err != nil {
		return nil, fmt.Errorf("open discovery cache: %w", err)
	}
	return store, nil
}

// toolCache is the discovery cache as the admin operations see it.
type toolCache struct{ store *cache.Store }

// cacheOpener opens the discovery cache of the config file at path for the
// admin operations.
type cacheOpener struct {
	path string
	log  *zerolog.Logger
}

// OpenCache implements admin.CacheOpener.
func (o cacheOpener) OpenCache(_ context.Context, c *config.Config) (admin.ToolCache, error) {
	st, err := openToolCache(c, o.path, o.log)
	if err != nil {
		return nil, err
	}
	return toolCache{st}, nil
}

func (t toolCache) Tiers() []string {
	var out []string
	for _, tier := range t.store.Tiers() {
		out = append(out, tierName(tier))
	}
	return out
}

// tierName is a cache tier's name in admin results.
func tierName(t cache.Tier) string {
	if t == cache.TierMemory {
		return admin.MemoryTier
	}
	return string(t)
}

func (t toolCache) Inspect(ctx context.Context, configID string, s *config.Server) []admin.CachedCopy {
	var out []admin.CachedCopy
	for _, f := range t.store.Inspect(ctx, cache.Key(configID, s)) {
		out = append(out, admin.CachedCopy{Tier: tierName(f.Tier), StoredAt: f.Entry.StoredAt, ExpiresAt: f.Entry.ExpiresAt,
			Tools: f.Entry.ToolCount(), Usable: f.Usable})
	}
	return out
}

func (t toolCache) Clear(ctx context.Context, server string) (int, error) {
	return t.store.Clear(ctx, server)
}

func (t toolCache) ClearServer(ctx context.Context, configID string, s *config.Server) (bool, error) {
	return t.store.ClearTools(ctx, configID, s)
}

func (t toolCache) Close() error { return t.store.Close() }

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
