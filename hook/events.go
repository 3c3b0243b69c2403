package hook

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"secure-mcp-gateway/guard/detect"
	"secure-mcp-gateway/internal/config"
)

// event is the union of the fields the two clients send that the hook
// reads; each event kind fills some of them.
type event struct {
	HookEventName string `json:"hook_event_name"`
	// Claude Code tool events, Cursor beforeMCPExecution.
	ToolName     string          `json:"tool_name"`
	ToolInput    json.RawMessage `json:"tool_input"`
	ToolResponse json.RawMessage `json:"tool_response"`
	// Claude Code UserPromptSubmit, Cursor beforeSubmitPrompt.
	Prompt string `json:"prompt"`
	// Cursor shell, file and MCP events.
	Command    string          `json:"command"`
	Output     string          `json:"output"`
	FilePath   string          `json:"file_path"`
	Content    string          `json:"content"`
	Edits      []edit          `json:"edits"`
	ResultJSON json.RawMessage `json:"result_json"`
}

type edit struct {
	NewString string `json:"new_string"`
}

// fieldKind says what a field holds, which decides where the argument
// detectors (path_traversal, ssrf) count.
type fieldKind int

const (
	kindContent fieldKind = iota
	kindPrompt
	kindCommand
	kindPath
	kindURL
	kindOutput
)

// field is one piece of an event to scan.
type field struct {
	name string // where it is, for the reason: "tool_input.command"
	kind fieldKind
	text string
}

// selector picks the fields of one event kind.
type selector int

const (
	selNone      selector = iota
	selPrompt             // prompt
	selToolInput          // tool_input, walked
	selToolResp           // tool_response, walked as output
	selCommand            // command
	selShellOut           // command and output
	selMCPResult          // result_json, walked as output
	selReadFile           // file_path and content
	selFileEdit           // file_path and edits[].new_string
)

// eventKind describes one event of one client.
type eventKind struct {
	sel selector
	// tool marks tool events, where sensitive_tools applies.
	tool bool
	// toolAlias is the name sensitive_tools match for events without a
	// tool_name (Cursor "Shell", "Read", "Edit").
	toolAlias string
	// canAsk marks events whose answer can ask the user.
	canAsk bool
	// after marks events that report a finished action: the answer cannot
	// undo it, so a finding is reported, not blocked.
	after bool
	// block is the built-in block list; empty means the event is not
	// checked by default.
	block []string
}

var (
	toolInputBlock = []string{detect.DetectorSecrets, detect.DetectorSSRF, detect.DetectorPathTraversal, detect.DetectorHiddenText}
	outputBlock    = []string{detect.DetectorInjection, detect.DetectorHiddenText, detect.DetectorSecrets}
	promptBlock    = []string{detect.DetectorPII, detect.DetectorSecrets, detect.DetectorHiddenText}
)

// claudeEvents are the Claude Code hook events. Events with nothing to scan
// are known so that they pass rather than meet the fail mode.
var claudeEvents = map[string]eventKind{
	"UserPromptSubmit":  {sel: selPrompt, block: promptBlock},
	"PreToolUse":        {sel: selToolInput, tool: true, canAsk: true, block: toolInputBlock},
	"PostToolUse":       {sel: selToolResp, tool: true, block: outputBlock},
	"PermissionRequest": {},
	"Notification":      {},
	"Stop":              {},
	"SubagentStop":      {},
	"PreCompact":        {},
	"SessionStart":      {},
	"SessionEnd":        {},
}

// cursorEvents are the Cursor hook events.
var cursorEvents = map[string]eventKind{
	"beforeSubmitPrompt":   {sel: selPrompt, block: promptBlock},
	"beforeShellExecution": {sel: selCommand, tool: true, toolAlias: "Shell", canAsk: true, block: toolInputBlock},
	"beforeMCPExecution":   {sel: selToolInput, tool: true, canAsk: true, block: toolInputBlock},
	"afterMCPExecution":    {sel: selMCPResult, tool: true, after: true, block: outputBlock},
	"afterShellExecution":  {sel: selShellOut, tool: true, toolAlias: "Shell", after: true, block: []string{detect.DetectorSecrets}},
	"beforeReadFile":       {sel: selReadFile, tool: true, toolAlias: "Read", block: []string{detect.DetectorPathTraversal, detect.DetectorSecrets}},
	"afterFileEdit":        {sel: selFileEdit, tool: true, toolAlias: "Edit", after: true, block: []string{detect.DetectorSecrets, detect.DetectorHiddenText}},
	"stop":                 {},
}

// defaultPolicy is the built-in policy of an event kind.
func defaultPolicy(k eventKind) *config.HookPolicy {
	return &config.HookPolicy{Enabled: len(k.block) > 0, Block: k.block}
}

// selectFields returns the fields of ev to scan.
func selectFields(k eventKind, ev *event) ([]field, error) {
	var fs []field
	switch k.sel {
	case selPrompt:
		fs = append(fs, field{"prompt", kindPrompt, ev.Prompt})
	case selToolInput:
		return walkRaw("tool_input", ev.ToolInput, false, fs)
	case selToolResp:
		return walkRaw("tool_response", ev.ToolResponse, true, fs)
	case selMCPResult:
		return walkRaw("result_json", ev.ResultJSON, true, fs)
	case selCommand:
		fs = append(fs, field{"command", kindCommand, ev.Command})
	case selShellOut:
		fs = append(fs, field{"command", kindCommand, ev.Command}, field{"output", kindOutput, ev.Output})
	case selReadFile:
		fs = append(fs, field{"file_path", kindPath, ev.FilePath}, field{"content", kindContent, ev.Content})
	case selFileEdit:
		fs = append(fs, field{"file_path", kindPath, ev.FilePath})
		for i, e := range ev.Edits {
			fs = append(fs, field{fmt.Sprintf("edits[%d].new_string", i), kindContent, e.NewString})
		}
	}
	return fs, nil
}

// walkRaw collects the strings of a JSON value. A JSON string that itself
// holds JSON (Cursor sends tool_input and result_json either way) is
// walked too.
func walkRaw(name string, raw json.RawMessage, output bool, fs []field) ([]field, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return fs, nil
	}
	var v any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return fs, fmt.Errorf("%s is not JSON: %v", name, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fs, fmt.Errorf("%s has data after its JSON value", name)
	}
	if s, ok := v.(string); ok {
		var inner any
		d := json.NewDecoder(strings.NewReader(s))
		d.UseNumber()
		if t := strings.TrimSpace(s); (strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[")) && d.Decode(&inner) == nil {
			v = inner
		}
	}
	return walk(name, "", v, output, fs), nil
}

func walk(path, key string, v any, output bool, fs []field) []field {
	switch x := v.(type) {
	case string:
		k := kindOutput
		if !output {
			k = keyKind(key, x)
		}
		if k == kindURL && !strings.Contains(x, "://") {
			x = "http://" + x
		}
		fs = append(fs, field{path, k, x})
	case []any:
		for i, e := range x {
			fs = walk(fmt.Sprintf("%s[%d]", path, i), key, e, output, fs)
		}
	case map[string]any:
		for k, e := range x {
			fs = walk(path+"."+k, k, e, output, fs)
		}
	}
	return fs
}

// keyKind guesses what a tool argument holds from its key: Claude Code's
// tools use command, file_path, notebook_path, path and url.
func keyKind(key, s string) fieldKind {
	k := strings.ToLower(key)
	switch {
	case k == "command" || k == "cmd":
		return kindCommand
	case k == "url" || k == "uri" || strings.HasSuffix(k, "_url"):
		return kindURL
	case k == "path" || k == "file" || strings.HasSuffix(k, "_path") || strings.HasSuffix(k, "path"):
		return kindPath
	case strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://"):
		return kindURL
	}
	return kindContent
}

// answer writes the client's answer to a judged event.
func (h *Hook) answer(v Verdict, w io.Writer) (int, string) {
	k := h.kind(v.Event)
	if h.client == ClaudeCode {
		return claudeAnswer(v, w)
	}
	return cursorAnswer(k, v, w)
}

// claudeAnswer follows the Claude Code hooks reference: exit 0 with JSON on
// stdout; PreToolUse answers in hookSpecificOutput.permissionDecision,
// UserPromptSubmit and PostToolUse with decision "block" and a reason. An
// allowed event gets no output, so Claude Code's own permission flow runs
// as without the hook.
func claudeAnswer(v Verdict, w io.Writer) (int, string) {
	if v.Decision == Allow {
		return 0, ""
	}
	var out any
	switch v.Event {
	case "PreToolUse":
		out = map[string]any{"hookSpecificOutput": map[string]any{
			"hookEventName":            "PreToolUse",
			"permissionDecision":       map[Decision]string{Ask: "ask", Block: "deny"}[v.Decision],
			"permissionDecisionReason": v.Reason,
		}}
	default:
		out = map[string]any{"decision": "block", "reason": v.Reason}
	}
	return writeJSON(w, out, "")
}

// cursorAnswer follows Cursor's hooks: before* events answer with
// permission (allow, deny, ask) and messages for the user and the agent,
// beforeSubmitPrompt with continue; after* events cannot block, so a
// finding goes to stderr.
func cursorAnswer(k eventKind, v Verdict, w io.Writer) (int, string) {
	var out map[string]any
	switch {
	case k.after || k.sel == selNone:
		out = map[string]any{}
		if v.Decision != Allow {
			code, _ := writeJSON(w, out, "")
			return code, v.Reason + " (reported only: Cursor does not let a hook undo " + v.Event + ")"
		}
	case k.sel == selPrompt:
		out = map[string]any{"continue": v.Decision == Allow}
		if v.Decision != Allow {
			out["user_message"], out["userMessage"] = v.Reason, v.Reason
		}
	default:
		out = map[string]any{"permission": map[Decision]string{Allow: "allow", Ask: "ask", Block: "deny"}[v.Decision]}
		if v.Decision != Allow {
			out["user_message"], out["userMessage"] = v.Reason, v.Reason
			out["agent_message"], out["agentMessage"] = v.Reason, v.Reason
		}
	}
	return writeJSON(w, out, "")
}

func writeJSON(w io.Writer, v any, stderr string) (int, string) {
	b, err := json.Marshal(v)
	if err == nil {
		_, err = w.Write(append(b, '\n'))
	}
	if err != nil {
		// The answer could not be written: exit 2 blocks in both clients.
		return 2, "write the hook answer: " + err.Error()
	}
	return 0, stderr
}
