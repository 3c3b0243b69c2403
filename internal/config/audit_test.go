package config

import (
	"errors"
	"strings"
	"testing"
)

func TestAuditValidate(t *testing.T) {
	tests := []struct {
		name string
		a    *Audit
		want string
	}{
		{"nil", nil, ""},
		{"defaults", &Audit{Enabled: true}, ""},
		{"small file", &Audit{MaxFileBytes: 10}, "audit.max_file_bytes"},
		{"negative interval", &Audit{FsyncIntervalMS: -1}, "audit.fsync_interval_ms"},
		{"negative every", &Audit{FsyncEvery: -1}, "audit.fsync_every"},
		{"negative queue", &Audit{QueueSize: -1}, "audit.queue_size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v validator
			v.audit(tt.a)
			if tt.want == "" {
				if len(v.problems) != 0 {
					t.Fatalf("problems %v, want none", v.problems)
				}
				return
			}
			if len(v.problems) != 1 || v.problems[0].Path != tt.want || v.problems[0].Fix == "" {
				t.Fatalf("problems %v, want one at %s with a fix", v.problems, tt.want)
			}
		})
	}
}

func TestAuditParseUnknownKey(t *testing.T) {
	data := `{"common_mcp_gateway_config":{},"audit":{"enabled":true,"path":"/x","max_file_byts":5}}`
	c, err := Parse([]byte(data))
	if err != nil {
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("Parse: %v", err)
		}
	}
	if c == nil || c.Audit == nil || !c.Audit.Enabled || c.Audit.Path != "/x" {
		t.Fatalf("audit = %+v", c)
	}
	var found bool
	for _, u := range c.UnknownKeys() {
		if strings.Contains(u.Path, "audit") && strings.Contains(u.Fix, "max_file_bytes") {
			found = true
		}
	}
	if !found {
		t.Fatalf("unknown keys %v: want audit.max_file_byts with a did-you-mean", c.UnknownKeys())
	}
}
