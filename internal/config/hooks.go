package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Hook fail modes: what a hook answers when it cannot judge an event (a
// malformed or unknown event, an unreadable config).
const (
	// HookFailOpen lets the action go ahead and reports the problem to the
	// user as a non-blocking hook error.
	HookFailOpen = "open"
	// HookFailClosed blocks the action with the problem as the reason.
	HookFailClosed = "closed"
)

// Hook actions: what a hook answers when a listed detector fires.
const (
	// HookActionBlock denies the action (the default).
	HookActionBlock = "block"
	// HookActionAsk asks the user to confirm, where the event allows it
	// (Claude Code PreToolUse, Cursor beforeShellExecution and
	// beforeMCPExecution); elsewhere it blocks.
	HookActionAsk = "ask"
)

// Hooks is the "hooks" block: the policies of `secure-mcp-gateway hook`,
// which runs as a Claude Code or Cursor hook on the client's own tools and
// prompts. A nil *Hooks means the built-in defaults for every event.
type Hooks struct {
	// FailMode is HookFailOpen or HookFailClosed, for events that have no
	// policy of their own and for events that cannot be read. Empty means
	// HookFailOpen.
	FailMode string `json:"fail_mode,omitempty"`
	// ClaudeCode maps a Claude Code event name (PreToolUse, ...) to its
	// policy. An event missing here keeps its built-in default.
	ClaudeCode map[string]*HookPolicy `json:"claude_code,omitzero"`
	// Cursor maps a Cursor event name (beforeShellExecution, ...) to its
	// policy. An event missing here keeps its built-in default.
	Cursor map[string]*HookPolicy `json:"cursor,omitzero"`

	kept extra
}

// HookPolicy is the policy of one hook event.
type HookPolicy struct {
	// Enabled turns the checks of the event on; false lets every event of
	// this kind through unchecked.
	Enabled bool `json:"enabled"`
	// Block lists the offline detectors whose findings block (or ask),
	// such as "secrets", "pii", "ssrf", "path_traversal". Empty means none.
	Block []string `json:"block,omitzero"`
	// SensitiveTools are glob patterns (path.Match syntax, such as "Bash",
	// "Write" or "mcp__*__delete*") naming the tools this policy checks,
	// for tool events. Empty means every tool.
	SensitiveTools []string `json:"sensitive_tools,omitzero"`
	// FailMode overrides Hooks.FailMode for this event. Empty means
	// Hooks.FailMode.
	FailMode string `json:"fail_mode,omitempty"`
	// Action is HookActionBlock or HookActionAsk. Empty means
	// HookActionBlock.
	Action string `json:"action,omitempty"`
	// Keywords are the words keyword_detector looks for. Empty means none.
	Keywords []string `json:"keywords,omitzero"`

	kept extra
}

// UnmarshalJSON implements json.Unmarshaler, keeping unknown keys.
func (h *Hooks) UnmarshalJSON(b []byte) error {
	type shadow Hooks
	var v shadow
	ex, err := decodeObject(b, &v)
	if err != nil {
		return err
	}
	*h = Hooks(v)
	h.kept = ex
	return nil
}

// MarshalJSON implements json.Marshaler, writing unknown keys back.
func (h Hooks) MarshalJSON() ([]byte, error) {
	type shadow Hooks
	return encodeObject(shadow(h), h.kept)
}

// UnmarshalJSON implements json.Unmarshaler, keeping unknown keys.
func (p *HookPolicy) UnmarshalJSON(b []byte) error {
	type shadow HookPolicy
	var v shadow
	ex, err := decodeObject(b, &v)
	if err != nil {
		return err
	}
	*p = HookPolicy(v)
	p.kept = ex
	return nil
}

// MarshalJSON implements json.Marshaler, writing unknown keys back.
func (p HookPolicy) MarshalJSON() ([]byte, error) {
	type shadow HookPolicy
	return encodeObject(shadow(p), p.kept)
}

// hooks checks the values of the hooks block that need no detector list;
// detector names are checked by the hook package, which knows them.
func (v *validator) hooks(h *Hooks) {
	if h == nil {
		return
	}
	checkFail := func(path, mode string) {
		if mode != "" && mode != HookFailOpen && mode != HookFailClosed {
			v.add(path, fmt.Sprintf("unknown fail mode %q", mode), `use "open" or "closed"`)
		}
	}
	checkFail("hooks.fail_mode", h.FailMode)
	for _, client := range []struct {
		key string
		m   map[string]*HookPolicy
	}{{"claude_code", h.ClaudeCode}, {"cursor", h.Cursor}} {
		for _, ev := range slices.Sorted(maps.Keys(client.m)) {
			path := "hooks." + client.key + "." + ev
			p := client.m[ev]
			if p == nil {
				v.add(path, "hook policy is null", `remove the entry or write {"enabled": false}`)
				continue
			}
			checkFail(path+".fail_mode", p.FailMode)
			if p.Action != "" && p.Action != HookActionBlock && p.Action != HookActionAsk {
				v.add(path+".action", fmt.Sprintf("unknown action %q", p.Action), `use "block" or "ask"`)
			}
			for i, b := range p.Block {
				name, bp := strings.TrimSpace(b), fmt.Sprintf("%s.block[%d]", path, i)
				table := v.known
				switch {
				case name == "":
					v.add(bp, "block entry is empty", "name a detector such as \"secrets\" or remove the entry")
				case table == nil || slices.Contains(table.Offline, name):
				case slices.Contains(table.Model, name):
					v.add(bp, fmt.Sprintf("%q needs a remote guardrail provider, which hooks do not call", name),
						"use offline detectors: "+strings.Join(table.Offline, ", "))
				default:
					fix := "use one of the offline detectors " + strings.Join(table.Offline, ", ")
					if s := Suggest(name, table.Offline); s != "" {
						fix = fmt.Sprintf("did you mean %q? (%s)", s, fix)
					}
					v.add(bp, fmt.Sprintf("unknown detector %q; an unknown name would switch that protection off", name), fix)
				}
			}
			for i, g := range p.SensitiveTools {
				if strings.TrimSpace(g) == "" {
					v.add(fmt.Sprintf("%s.sensitive_tools[%d]", path, i), "tool pattern is empty",
						"name a tool or a glob such as \"mcp__*__delete*\", or remove the entry")
				}
			}
		}
	}
}
