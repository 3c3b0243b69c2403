package proxy

import (
	"errors"
	"fmt"
	"testing"

	"secure-mcp-gateway/guard"
)

func TestToxicFlowTypedVerdict(t *testing.T) {
	inj := []guard.Violation{{Stage: "output", Detector: guard.DetectorInjection, Action: guard.ActionBlock}}
	pii := []guard.Violation{{Stage: "output", Detector: guard.DetectorPII, Action: guard.ActionBlock}}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"injection violation", &guard.BlockedError{Stage: "output", Violations: inj}, true},
		{"wrapped injection violation", fmt.Errorf("x: %w", &guard.BlockedError{Stage: "output", Violations: inj}), true},
		{"other detector, injection-looking reason", &guard.BlockedError{Stage: "output", Violations: pii, Reasons: []string{"injection_attack (x)"}}, false},
		{"no violations: reasons are never read", &guard.BlockedError{Stage: "output", Reasons: []string{"injection_attack (ignore_previous)"}}, false},
		{"no violations, other reason", &guard.BlockedError{Stage: "output", Reasons: []string{"pii (email)"}}, false},
		{"not a block", errors.New("injection_attack"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tf toxicFlow
			tf.note(tt.err, "s", "call")
			got := tf.refused(route{server: "other", tool: "x"}, func(route) bool { return false }) != ""
			if got != tt.want {
				t.Errorf("egress refused = %v, want %v", got, tt.want)
			}
		})
	}
}
