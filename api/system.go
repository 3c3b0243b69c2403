package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"secure-mcp-gateway/admin"
	"secure-mcp-gateway/internal/config"
)

// BackupVersion is the version of the backup object, as "system backup"
// writes it.
const BackupVersion = "1.0"

type (
	healthIn struct {
		Probe       bool `query:"probe" doc:"also check that every upstream server can be reached (each within timeout_seconds, several at once); without it nothing is contacted beyond the cache's tiers"`
		TimeoutSecs int  `query:"timeout_seconds" minimum:"0" maximum:"30" doc:"bound of each server's probe (default 5)"`
	}
	// Backup is the whole config, as "system backup" writes it.
	Backup struct {
		BackupVersion string          `json:"backup_version"`
		Timestamp     string          `json:"timestamp"`
		Config        json.RawMessage `json:"config" doc:"the whole config file, secrets included"`
	}
	restoreIn struct {
		Body struct {
			BackupVersion string          `json:"backup_version,omitempty"`
			Timestamp     string          `json:"timestamp,omitempty"`
			Config        json.RawMessage `json:"config" doc:"the whole config, as POST /system/backup returns it in data.config"`
		}
	}
	resetIn struct {
		Body struct {
			Confirm bool `json:"confirm" doc:"must be true"`
		}
	}
	// Done is the data of an operation that returns nothing else.
	Done struct {
		Done bool `json:"done"`
	}
)

func (h *handlers) systemRoutes(a huma.API) {
	const tag = "system"
	route(a, h, http.MethodGet, "/system/health", "system-health", tag, "Check the config file, the discovery cache and the audit log; with probe=true, that every upstream can be reached",
		func(ctx context.Context, in *healthIn) (*Reply[admin.Health], error) {
			r, err := h.st.Health(ctx, admin.HealthRequest{Probe: in.Probe, ProbeTimeout: time.Duration(in.TimeoutSecs) * time.Second})
			if err != nil {
				return nil, err
			}
			msg := "healthy"
			switch {
			case !r.ConfigValid:
				msg = fmt.Sprintf("the config is invalid: %d problem(s)", len(r.Problems))
			case r.Audit != nil && r.Audit.Problem != "":
				msg = "audit log: " + r.Audit.Problem
			case !r.Healthy:
				n := 0
				for _, u := range r.Upstreams {
					if u.Status == admin.ProbeUnreachable {
						n++
					}
				}
				msg = fmt.Sprintf("%d of %d upstream server(s) unreachable", n, len(r.Upstreams))
			}
			return reply(ctx, msg, r)
		})
	route(a, h, http.MethodPost, "/system/backup", "system-backup", tag, "Return the whole config for a backup (secrets included)",
		func(ctx context.Context, _ *none) (*Reply[Backup], error) {
			c, err := h.st.Backup(ctx)
			if err != nil {
				return nil, err
			}
			b, err := raw(c)
			if err != nil {
				return nil, err
			}
			return reply(ctx, "Backup of "+h.st.Path()+" (it holds secrets)", Backup{BackupVersion, now(), b})
		})
	route(a, h, http.MethodPost, "/system/restore", "system-restore", tag, "Replace the config with a backup (the current file is backed up first)",
		func(ctx context.Context, in *restoreIn) (*Reply[Done], error) {
			if v := in.Body.BackupVersion; v != "" && v != BackupVersion {
				return nil, &admin.InvalidError{Field: "backup_version", Err: fmt.Errorf("%q is not %q; take a new backup", v, BackupVersion)}
			}
			var c *config.Config
			if len(in.Body.Config) > 0 && string(in.Body.Config) != "null" {
				var err error
				if c, err = config.Parse(in.Body.Config); err != nil {
					return nil, &admin.InvalidError{Field: "config", Err: err}
				}
			}
			if err := h.st.Restore(ctx, c); err != nil {
				return nil, err
			}
			return reply(ctx, "Restored "+h.st.Path(), Done{true})
		})
	route(a, h, http.MethodPost, "/system/reset", "system-reset", tag, "Delete every MCP config, project, user and key (settings are kept)",
		func(ctx context.Context, in *resetIn) (*Reply[Done], error) {
			if !in.Body.Confirm {
				return nil, &admin.InvalidError{Field: "confirm", Err: errors.New("must be true to reset")}
			}
			if err := h.st.Reset(ctx); err != nil {
				return nil, err
			}
			return reply(ctx, "Reset "+h.st.Path()+"; the old file is backed up beside it", Done{true})
		})
}
