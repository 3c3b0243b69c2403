package guard

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Names of the checks that block without a detector firing.
const (
	// CheckSize is a size limit (max_output_bytes).
	CheckSize = "size"
	// CheckProvider is a remote provider that gave no verdict.
	CheckProvider = "provider"
	// CheckFormat is a message that does not decode or encode as JSON.
	CheckFormat = "format"
)

// violations returns one Violation per distinct detector and rule of fs,
// sorted like reasons, with action.
func violations(stage, action string, fs []Finding) []Violation {
	var out []Violation
	for _, f := range fs {
		v := Violation{Stage: stage, Detector: f.Detector, Rule: f.Rule, Action: action}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b Violation) int {
		if c := strings.Compare(a.Detector, b.Detector); c != 0 {
			return c
		}
		return strings.Compare(a.Rule, b.Rule)
	})
	return out
}

// checkBlock is the single blocking Violation of a non-detector check.
func checkBlock(stage, check string) []Violation {
	return []Violation{{Stage: stage, Detector: check, Action: ActionBlock}}
}

// firedError is the error of remote when model detectors fired: its text is
// "detector (provider)" entries.
type firedError struct {
	provider string
	fired    []string
}

func (e *firedError) Error() string {
	r := make([]string, len(e.fired))
	for i, d := range e.fired {
		r[i] = fmt.Sprintf("%s (%s)", d, e.provider)
	}
	return strings.Join(r, "; ")
}

// remoteBlock is the BlockedError of a failed remote check: a fired model
// detector is a violation of that detector with the provider as its rule;
// any other failure is a "provider" violation.
func remoteBlock(server, tool, subject, stage string, err error) *BlockedError {
	be := &BlockedError{Server: server, Tool: tool, Stage: stage, Subject: subject, Reasons: []string{err.Error()}}
	if fe, ok := errors.AsType[*firedError](err); ok {
		for _, d := range fe.fired {
			be.Violations = append(be.Violations, Violation{Stage: stage, Detector: d, Rule: fe.provider, Action: ActionBlock})
		}
		return be
	}
	be.Violations = checkBlock(stage, CheckProvider)
	return be
}
