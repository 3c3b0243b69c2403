package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"secure-mcp-gateway/internal/config"
)

// TestConfigSchemaUpToDate fails when docs/config.schema.json no longer
// matches the Go types of the config (a field added, renamed or removed, a
// detector added to guard). Refresh it with `go generate .` or
// `go test -run TestConfigSchemaUpToDate -update .`.
func TestConfigSchemaUpToDate(t *testing.T) {
	want, err := config.Schema(detectorTable())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("docs", "config.schema.json")
	if *updateGolden {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (generate it with `go generate .`)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: regenerate it with `go generate .` (or go test -run TestConfigSchemaUpToDate -update .)", path)
	}
	for _, frag := range []string{`"denied_tools"`, `"tool_guardrails_policy"`, `"secrets"`, `"additionalProperties": false`} {
		if !bytes.Contains(want, []byte(frag)) {
			t.Errorf("schema lacks %s", frag)
		}
	}
}
