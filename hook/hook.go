// Package hook judges the events that Claude Code and Cursor hand to a hook
// command: the user's prompts and the agent's own tool calls (shell
// commands, file reads and edits, web fetches, MCP calls). It decodes an
// event in the client's documented shape, picks the fields that matter for
// that event, runs the gateway's offline detectors on them and answers in the
// client's documented output format.
//
// A hook runs once per agent action, so the package does no I/O beyond the
// event it is given and the answer it writes: no network, no cache, no
// upstream. It must never crash or hang the client's agent: every problem
// becomes an answer under the configured fail mode.
//
// Two programs run it through Exec: the gateway's `hook` command and the
// small secure-mcp-gateway-hook binary. The package and its dependencies
// stay free of the HTTP stack, the MCP SDK and the CLI framework (it uses
// guard/detect, not guard), so that binary starts fast.
package hook

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"

	"secure-mcp-gateway/guard/detect"
	"secure-mcp-gateway/internal/config"
)

// Clients a hook answers for.
const (
	// ClaudeCode is Claude Code (settings.json "hooks").
	ClaudeCode = "claude-code"
	// Cursor is Cursor (hooks.json).
	Cursor = "cursor"
)

// Clients lists the clients in help order.
var Clients = []string{ClaudeCode, Cursor}

// DefaultMaxEventBytes is the largest event a hook reads; a larger one is
// malformed.
const DefaultMaxEventBytes = 16 << 20

// Decision is what a hook answers about an event.
type Decision int

// Decisions.
const (
	// Allow lets the action go ahead (the client's own permission rules
	// still apply).
	Allow Decision = iota
	// Ask asks the user to confirm.
	Ask
	// Block refuses the action; the reason goes to the model and the user.
	Block
)

func (d Decision) String() string {
	return [...]string{"allow", "ask", "block"}[d]
}

// Verdict is the judgement of one event.
type Verdict struct {
	// Event is the event name, as the client spells it.
	Event string
	// Tool is the tool name of a tool event, else empty.
	Tool string
	// Decision is the answer.
	Decision Decision
	// Reason names the guardrail and why it fired, never the matched text.
	Reason string
	// Detectors are the detectors and rules that fired, as "detector/rule",
	// for the audit log.
	Detectors []string
}

// EventError says that an event could not be judged: it is malformed, of an
// unknown kind or too large.
type EventError struct {
	// Client is ClaudeCode or Cursor.
	Client string
	// Event is the event name when it could be read, else empty.
	Event string
	// Problem says what is wrong and how to fix it.
	Problem string
}

func (e *EventError) Error() string {
	s := e.Client + " hook event"
	if e.Event != "" {
		s += " " + e.Event
	}
	return s + ": " + e.Problem
}

// Hook judges one client's events under the hooks policies. A Hook is safe
// for concurrent use.
type Hook struct {
	client   string
	failMode string
	events   map[string]*policy
}

// policy is one event's compiled policy.
type policy struct {
	enabled  bool
	scanner  *detect.Scanner
	block    []string
	tools    []string
	failMode string
	ask      bool
}

// New returns the Hook of client (ClaudeCode or Cursor) for the hooks
// block cfg; nil cfg means the built-in defaults. Unknown clients, event
// names and detector names are a *config.ValidationError listing every
// problem.
func New(client string, cfg *config.Hooks) (*Hook, error) {
	var known map[string]eventKind
	var configured map[string]*config.HookPolicy
	var key string
	switch client {
	case ClaudeCode:
		known, key = claudeEvents, "claude_code"
		if cfg != nil {
			configured = cfg.ClaudeCode
		}
	case Cursor:
		known, key = cursorEvents, "cursor"
		if cfg != nil {
			configured = cfg.Cursor
		}
	default:
		return nil, fmt.Errorf("unknown hook client %q (want %s)", client, strings.Join(Clients, " or "))
	}
	h := &Hook{client: client, failMode: config.HookFailOpen, events: map[string]*policy{}}
	if cfg != nil && cfg.FailMode != "" {
		h.failMode = cfg.FailMode
	}
	var problems []config.FieldError
	for name, kind := range known {
		p := defaultPolicy(kind)
		if c, ok := configured[name]; ok && c != nil {
			p = c
		}
		h.events[name] = h.compile(p)
	}
	for _, name := range slices.Sorted(maps.Keys(configured)) {
		at := "hooks." + key + "." + name
		if _, ok := known[name]; !ok {
			problems = append(problems, config.FieldError{Path: at,
				Problem: fmt.Sprintf("unknown %s hook event %q", client, name),
				Fix:     "use one of " + strings.Join(slices.Sorted(maps.Keys(known)), ", ")})
			continue
		}
		p := configured[name]
		if p == nil {
			continue
		}
		for i, b := range p.Block {
			b = strings.TrimSpace(b)
			switch {
			case b == "":
			case detect.IsModelDetector(b):
				problems = append(problems, config.FieldError{Path: fmt.Sprintf("%s.block[%d]", at, i),
					Problem: fmt.Sprintf("%q needs a remote guardrail provider, which hooks do not call", b),
					Fix:     "use offline detectors: " + strings.Join(detect.OfflineDetectors, ", ")})
			case !detect.IsOfflineDetector(b):
				problems = append(problems, config.FieldError{Path: fmt.Sprintf("%s.block[%d]", at, i),
					Problem: fmt.Sprintf("unknown detector %q", b),
					Fix:     "use one of " + strings.Join(detect.OfflineDetectors, ", ")})
			}
		}
		for i, g := range p.SensitiveTools {
			if _, err := path.Match(g, ""); err != nil {
				problems = append(problems, config.FieldError{Path: fmt.Sprintf("%s.sensitive_tools[%d]", at, i),
					Problem: fmt.Sprintf("bad glob %q: %v", g, err), Fix: "use * and ? wildcards, as in \"mcp__*__delete*\""})
			}
		}
	}
	if len(problems) > 0 {
		return nil, &config.ValidationError{Problems: problems}
	}
	return h, nil
}

func (h *Hook) compile(p *config.HookPolicy) *policy {
	c := &policy{enabled: p.Enabled, tools: p.SensitiveTools, failMode: p.FailMode, ask: p.Action == config.HookActionAsk}
	if c.failMode == "" {
		c.failMode = h.failMode
	}
	for _, b := range p.Block {
		if b = strings.TrimSpace(b); b != "" {
			c.block = append(c.block, b)
		}
	}
	c.scanner = detect.NewScanner(c.block, p.Keywords)
	return c
}

// FailMode returns the fail mode for an event that could not be judged:
// the event's own when its name is known, else the hooks block's.
func (h *Hook) FailMode(event string) string {
	if p, ok := h.events[event]; ok {
		return p.failMode
	}
	return h.failMode
}

// Judge decodes the event in raw and judges it. An error is an
// *EventError.
func (h *Hook) Judge(raw []byte) (Verdict, error) {
	var ev event
	if err := json.Unmarshal(raw, &ev); err != nil {
		return Verdict{}, &EventError{Client: h.client, Problem: fmt.Sprintf("not a hook event JSON object (%v); the client should send its hook event on stdin", err)}
	}
	v := Verdict{Event: ev.HookEventName, Tool: ev.ToolName}
	if ev.HookEventName == "" {
		return v, &EventError{Client: h.client, Problem: "no hook_event_name; the client should send its hook event on stdin"}
	}
	p, ok := h.events[ev.HookEventName]
	if !ok {
		return v, &EventError{Client: h.client, Event: ev.HookEventName, Problem: "unknown event; this gateway version judges " +
			strings.Join(slices.Sorted(maps.Keys(h.events)), ", ")}
	}
	if !p.enabled || len(p.block) == 0 {
		return v, nil
	}
	kind := h.kind(ev.HookEventName)
	if kind.tool && len(p.tools) > 0 && !matchAny(p.tools, toolName(kind, &ev)) {
		return v, nil
	}
	fields, err := selectFields(kind, &ev)
	if err != nil {
		return v, &EventError{Client: h.client, Event: ev.HookEventName, Problem: err.Error()}
	}
	var reasons []string
	for _, f := range fields {
		fs := p.scanner.Scan(f.text, nil)
		fs = applicable(f.kind, fs)
		reasons = append(reasons, describe(f.name, fs)...)
		for _, x := range fs {
			if d := x.Detector + "/" + x.Rule; !slices.Contains(v.Detectors, d) {
				v.Detectors = append(v.Detectors, d)
			}
		}
	}
	if len(reasons) == 0 {
		return v, nil
	}
	v.Decision = Block
	if p.ask && kind.canAsk {
		v.Decision = Ask
	}
	v.Reason = "secure-mcp-gateway hook guardrail: " + strings.Join(dedupe(reasons), "; ")
	return v, nil
}

func (h *Hook) kind(event string) eventKind {
	if h.client == ClaudeCode {
		return claudeEvents[event]
	}
	return cursorEvents[event]
}

// toolName is the name sensitive_tools globs match: the tool name, or
// for Cursor's shell and file events a fixed name.
func toolName(k eventKind, ev *event) string {
	if k.toolAlias != "" {
		return k.toolAlias
	}
	return ev.ToolName
}

func matchAny(globs []string, name string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}

// applicable drops findings of the argument detectors where they would
// misfire: "../" is everyday shell and file content, a URL to localhost is
// everyday code. Path traversal counts in paths (and a sensitive file or a
// NUL byte in a command); SSRF counts in URLs, and in commands for cloud
// metadata and link-local addresses only.
func applicable(k fieldKind, fs []detect.Finding) []detect.Finding {
	out := fs[:0]
	for _, f := range fs {
		switch f.Detector {
		case detect.DetectorPathTraversal:
			if !(k == kindPath || k == kindCommand && f.Rule != "dot_dot") {
				continue
			}
		case detect.DetectorSSRF:
			if !(k == kindURL || k == kindCommand && (f.Rule == "metadata" || f.Rule == "link_local")) {
				continue
			}
		}
		out = append(out, f)
	}
	return out
}

// describe names the detectors and rules that fired in one field.
func describe(field string, fs []detect.Finding) []string {
	if len(fs) == 0 {
		return nil
	}
	rules := map[string][]string{}
	for _, f := range fs {
		if !slices.Contains(rules[f.Detector], f.Rule) {
			rules[f.Detector] = append(rules[f.Detector], f.Rule)
		}
	}
	var out []string
	for _, d := range slices.Sorted(maps.Keys(rules)) {
		out = append(out, fmt.Sprintf("%s (%s) in %s", d, strings.Join(rules[d], ", "), field))
	}
	return out
}

func dedupe(s []string) []string {
	var out []string
	for _, x := range s {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// Run reads one event from r (at most DefaultMaxEventBytes), judges it and
// writes the client's answer to w. It returns the process exit code and a
// message for stderr (empty for none). It never panics on bad input: an
// unreadable event gets the fail mode's answer.
func (h *Hook) Run(r io.Reader, w io.Writer) (code int, stderr string) {
	_, _, code, stderr, _ = h.run(r, w)
	return code, stderr
}

// run is Run that also returns the verdict, the event's bytes and the
// error that kept the event from being judged, for the audit record.
func (h *Hook) run(r io.Reader, w io.Writer) (v Verdict, raw []byte, code int, stderr string, err error) {
	raw, err = io.ReadAll(io.LimitReader(r, DefaultMaxEventBytes+1))
	if err == nil && len(raw) > DefaultMaxEventBytes {
		err = &EventError{Client: h.client, Problem: fmt.Sprintf("larger than %d bytes", DefaultMaxEventBytes)}
	}
	if err == nil {
		v, err = h.Judge(raw)
	} else if !errors.As(err, new(*EventError)) {
		err = &EventError{Client: h.client, Problem: "read stdin: " + err.Error()}
	}
	if err != nil {
		code, stderr = h.Fail(v.Event, err)
		return v, raw, code, stderr, err
	}
	code, stderr = h.answer(v, w)
	return v, raw, code, stderr, nil
}

// Fail answers an event that could not be judged because of err: fail
// closed blocks with exit code 2 (both clients block on it and show
// stderr), fail open exits with 1, a non-blocking hook error that the user
// sees. It returns the exit code and the message for stderr.
func (h *Hook) Fail(event string, err error) (code int, stderr string) {
	if h.FailMode(event) == config.HookFailClosed {
		return 2, err.Error() + " (hooks fail_mode is closed, so the action is blocked)"
	}
	return 1, err.Error() + " (hooks fail_mode is open, so the action goes ahead unchecked)"
}
