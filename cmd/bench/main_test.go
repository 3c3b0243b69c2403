package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestHarnessSmoke runs the harness for a handful of calls against the
// direct and gateway stdio targets and checks that it produces a row for
// each with figures in it. It checks the harness works, not timings.
func TestHarnessSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the gateway")
	}
	o := &options{runs: 1, seq: 5, conc: 8, workers: 4, only: "direct,stdio+guard", nodeDir: "../../testdata/bench-node"}
	var out bytes.Buffer
	if err := run(t.Context(), o, &out); err != nil {
		t.Fatal(err)
	}
	for _, row := range []string{"| direct | go |", "| stdio+guard | go |"} {
		if !strings.Contains(out.String(), row) {
			t.Errorf("no row %q in:\n%s", row, out.String())
		}
	}
	if strings.Contains(out.String(), "| 0 (") {
		t.Errorf("a target made no calls:\n%s", out.String())
	}
}
