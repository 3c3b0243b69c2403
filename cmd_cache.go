package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v3"

	"secure-mcp-gateway/cache"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/internal/secret"
)

// Cache types accepted by `cache clear --cache-type`, as in the Python gateway.
const (
	cacheTypeAll     = "all"
	cacheTypeGateway = "gateway_config"
	cacheTypeServer  = "server_config"
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
	if c.UseExternalCache {
		host, port := c.CacheHost, c.CachePort
		if host == "" {
			host = "localhost"
		}
		if port == 0 {
			port = 6379
		}
		ro := &cache.RedisOptions{Addr: net.JoinHostPort(host, strconv.Itoa(port)), DB: c.CacheDB}
		if c.CachePassword != nil {
			ro.Password = secret.String(*c.CachePassword)
		}
		if c.Timeouts.Cache > 0 {
			ro.Timeout = c.Timeouts.CacheTimeout()
		}
		opts.Redis = ro
	}
	store, err := cache.New(opts)
	if err != nil {
		return nil, fmt.Errorf("open discovery cache: %w", err)
	}
	return store, nil
}

func cacheCommand() *cli.Command {
	return &cli.Command{
		Name:  "cache",
		Usage: "inspect or clear the discovery cache (persistent store and Redis)",
		Commands: []*cli.Command{
			{
				Name:   "status",
				Usage:  "show, per server, whether its tool list is cached, how many tools, its age, expiry and tier",
				Flags:  []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}},
				Action: cacheStatus,
			},
			{
				Name:  "clear",
				Usage: "clear cached tool lists in every tier, so the next session lists its upstreams live",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "server-name", Usage: "clear only this server's entries (default: all servers)"},
					&cli.StringFlag{Name: "cache-type", Value: cacheTypeAll, Usage: "all, gateway_config or server_config"},
				},
				Action: cacheClear,
			},
		},
	}
}

// cacheRow is one line of `cache status`.
type cacheRow struct {
	ConfigID   string     `json:"mcp_config_id"`
	ConfigName string     `json:"mcp_config_name"`
	Server     string     `json:"server_name"`
	Cached     bool       `json:"cached"`
	Stale      bool       `json:"stale,omitempty"`
	Tools      int        `json:"tool_count,omitempty"`
	StoredAt   *time.Time `json:"stored_at,omitempty"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	Tiers      []string   `json:"tiers,omitempty"`
}

func loadForCache(cmd *cli.Command) (*config.Config, *cache.Store, error) {
	cfg, path, err := loadAdminConfig(cmd)
	if err != nil {
		return nil, nil, err
	}
	log := zerolog.New(cmd.Root().ErrWriter).Level(zerolog.WarnLevel)
	store, err := openToolCache(cfg, path, &log)
	if err != nil {
		return nil, nil, err
	}
	return cfg, store, nil
}

func cacheStatus(ctx context.Context, cmd *cli.Command) error {
	cfg, store, err := loadForCache(cmd)
	if err != nil {
		return err
	}
	defer store.Close()
	now := time.Now()
	var rows []cacheRow
	ids := make([]string, 0, len(cfg.MCPConfigs))
	for id := range cfg.MCPConfigs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		mc := cfg.MCPConfigs[id]
		if mc == nil {
			continue
		}
		for _, s := range mc.Servers {
			row := cacheRow{ConfigID: id, ConfigName: mc.Name, Server: s.Name}
			for _, f := range store.Inspect(ctx, cache.Key(id, s)) {
				if !f.Usable {
					continue
				}
				if !row.Cached {
					e := f.Entry
					row.Cached, row.Tools = true, e.ToolCount()
					row.StoredAt, row.ExpiresAt = &e.StoredAt, &e.ExpiresAt
					row.Stale = !now.Before(e.ExpiresAt)
				}
				row.Tiers = append(row.Tiers, string(f.Tier))
			}
			rows = append(rows, row)
		}
	}
	w := cmd.Root().Writer
	if cmd.Bool("json") {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if rows == nil {
			rows = []cacheRow{}
		}
		return enc.Encode(map[string]any{"tiers": store.Tiers(), "servers": rows})
	}
	fmt.Fprintf(w, "tiers: %v\n", store.Tiers())
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONFIG\tSERVER\tCACHED\tTOOLS\tAGE\tEXPIRES\tTIER")
	for _, r := range rows {
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
}

func cacheClear(ctx context.Context, cmd *cli.Command) error {
	kind := cmd.String("cache-type")
	switch kind {
	case cacheTypeAll, cacheTypeGateway, cacheTypeServer:
	default:
		return cli.Exit(fmt.Errorf("--cache-type %q: want all, gateway_config or server_config", kind), exitUsage)
	}
	_, store, err := loadForCache(cmd)
	if err != nil {
		return err
	}
	defer store.Close()
	w := cmd.Root().Writer
	if kind == cacheTypeAll || kind == cacheTypeGateway {
		// Resolved keys and configs are cached only in each gateway's own
		// memory and die with it; nothing is persisted to clear.
		fmt.Fprintln(w, "gateway_config: nothing persisted (kept only in each running gateway's memory)")
	}
	if kind == cacheTypeAll || kind == cacheTypeServer {
		server := cmd.String("server-name")
		n, err := store.Clear(ctx, server)
		what := "all servers"
		if server != "" {
			what = fmt.Sprintf("server %q", server)
		}
		fmt.Fprintf(w, "server_config: cleared %d cached tool list entries of %s in %v\n", n, what, store.Tiers()[1:])
		if err != nil {
			return fmt.Errorf("clear discovery cache: %w", err)
		}
	}
	return nil
}
