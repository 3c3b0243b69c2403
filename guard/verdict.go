package guard

// Actions a violation can carry.
const (
	ActionBlock  = "block"  // the call or result was refused
	ActionRedact = "redact" // the matched text was replaced before forwarding
	ActionWarn   = "warn"   // logged, nothing changed
)

// Violation is one detector firing on one field of a crossing. It never holds
// the matched text.
type Violation struct {
	// Stage is "input", "output" or "tool" (a tool definition).
	Stage string `json:"stage"`
	// Detector is the registry name, such as "pii" or "injection_attack";
	// for a non-detector reason (a size limit, a provider failure) it is
	// the name of that check, such as "size" or "provider".
	Detector string `json:"detector"`
	// Rule identifies the pattern within the detector, such as "email".
	Rule string `json:"rule,omitempty"`
	// Field is the JSON path of the string that matched, such as
	// "arguments.command" or "content[0].text", when known.
	Field string `json:"field,omitempty"`
	// Action is one of the Action… constants.
	Action string `json:"action"`
}

// Verdict is what the guard decided about one crossing (a call's arguments,
// its result, or a tool definition).
type Verdict struct {
	// Stage is "input", "output" or "tool".
	Stage string `json:"stage"`
	// Violations lists every detector that fired, blocking or not.
	Violations []Violation `json:"violations,omitempty"`
}

// Blocked reports whether any violation blocked the crossing.
func (v Verdict) Blocked() bool {
	for _, x := range v.Violations {
		if x.Action == ActionBlock {
			return true
		}
	}
	return false
}
