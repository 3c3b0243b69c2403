package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"secure-mcp-gateway/audit"
)

// DefaultAuditLimit and MaxAuditLimit bound the records one audit query
// returns.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
)

type (
	auditQueryIn struct {
		Tool   string `query:"tool" doc:"only this tool (the name the client used)"`
		Server string `query:"server" doc:"only this server"`
		Kind   string `query:"kind" doc:"only this kind: tool_call, block, redaction, admin_change, hook_decision, ..."`
		Since  string `query:"since" doc:"only records at or after this time: RFC 3339, or a duration ago such as 1h"`
		Until  string `query:"until" doc:"only records before this time: RFC 3339, or a duration ago"`
		Limit  int    `query:"limit" minimum:"0" maximum:"1000" doc:"at most this many records, the most recent (default 100)"`
	}
	// AuditRecords are the newest records that matched, oldest first.
	AuditRecords struct {
		Dir     string         `json:"dir" doc:"the audit directory read (the config's audit.path)"`
		Matched int            `json:"matched" doc:"how many records matched in all"`
		Records []audit.Record `json:"records"`
	}
)

// auditRoutes serve the audit log the config names, read-only; the same
// filters as `audit query`.
func (h *handlers) auditRoutes(a huma.API) {
	route(a, h, http.MethodGet, "/audit/records", "query-audit", "audit", "Query the audit log: the most recent records that match every filter",
		func(ctx context.Context, in *auditQueryIn) (*Reply[AuditRecords], error) {
			now := time.Now()
			var f audit.Filter
			var err error
			if f.Since, err = audit.ParseWhen(in.Since, now); err != nil {
				return nil, newError(ctx, http.StatusUnprocessableEntity, "since: "+err.Error(), &FieldDetail{Location: "query.since", Message: err.Error()})
			}
			if f.Until, err = audit.ParseWhen(in.Until, now); err != nil {
				return nil, newError(ctx, http.StatusUnprocessableEntity, "until: "+err.Error(), &FieldDetail{Location: "query.until", Message: err.Error()})
			}
			f.Tool, f.Server, f.Kind = in.Tool, in.Server, in.Kind
			limit := in.Limit
			if limit == 0 {
				limit = DefaultAuditLimit
			}
			cfg, err := h.st.Load(ctx)
			if err != nil {
				return nil, err
			}
			dir, err := cfg.Audit.Dir()
			if err != nil {
				return nil, err
			}
			files, err := audit.ListFiles([]string{dir})
			if err != nil {
				return nil, newError(ctx, http.StatusNotFound, fmt.Sprintf("no audit log at %s (%v); turn it on with \"audit\": {\"enabled\": true} in the config", dir, err))
			}
			recs, n, err := audit.Last(files, f, limit)
			if err != nil {
				return nil, err
			}
			if recs == nil {
				recs = []audit.Record{}
			}
			return reply(ctx, fmt.Sprintf("%d of %d matching records", len(recs), n), AuditRecords{Dir: dir, Matched: n, Records: recs})
		})
}
