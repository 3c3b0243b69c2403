package guard

import (
	"context"
	"encoding/json"
	"fmt"

	"secure-mcp-gateway/guard/detect"
)

// Checks of what crosses the gateway besides tool calls. Every string of a
// request to an upstream (prompt arguments, completion values, resource
// URIs, sampling, elicitation and roots answers) passes the server's input
// policy, numbers as their decimal text; every string from an upstream (a
// JSON-RPC error, resource, template and prompt metadata, completion
// values, progress and log messages, sampling and elicitation requests)
// passes its output policy. A finding blocks the whole message: these paths
// carry no placeholders to restore, so PII redaction and redact mode apply
// to tool calls, resource contents and prompt messages only.

// CheckInput applies server's input policy to v, which is about to reach
// the upstream. subject names it in the error ("Prompt \"review\"",
// "Resource \"file:///a\"", "Sampling answer") and must not carry what
// is checked. An error is a *BlockedError whose text the client may see.
func (e *Engine) CheckInput(ctx context.Context, server, subject string, v any) error {
	sp := e.servers[server]
	if sp == nil || !sp.input.enabled {
		return nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return &BlockedError{Server: server, Stage: "input", Subject: subject, Reasons: []string{"the request does not encode as JSON"}, Violations: checkBlock("input", CheckFormat)}
	}
	strs := jsonNumbers(raw, jsonStrings(raw, false, nil))
	return e.checkStrings(ctx, server, subject, "input", &sp.input, strs)
}

// CheckOutput applies server's output policy to v, which came from the
// upstream and is about to reach the client, as CheckInput does to
// requests. Over MaxOutputBytes blocks too.
func (e *Engine) CheckOutput(ctx context.Context, server, subject string, v any) error {
	sp := e.servers[server]
	raw, err := json.Marshal(v)
	if err != nil {
		return &BlockedError{Server: server, Stage: "output", Subject: subject, Reasons: []string{"the message does not encode as JSON"}, Violations: checkBlock("output", CheckFormat)}
	}
	if len(raw) > e.opts.MaxOutputBytes {
		return &BlockedError{Server: server, Stage: "output", Subject: subject, Reasons: []string{fmt.Sprintf("the message is %d bytes, over the %d-byte output limit", len(raw), e.opts.MaxOutputBytes)}, Violations: checkBlock("output", CheckSize)}
	}
	if sp == nil || !sp.output.enabled {
		return nil
	}
	return e.checkStrings(ctx, server, subject, "output", &sp.output, jsonStrings(raw, true, nil))
}

// checkStrings scans strs with p, blocking on every finding of a listed
// detector (PII included, whatever pii_redaction says), then runs p's
// model detectors.
func (e *Engine) checkStrings(ctx context.Context, server, subject, stage string, p *policy, strs []string) error {
	var blocking []Finding
	per := make([][]Finding, len(strs))
	for i, s := range strs {
		per[i] = p.scanner.Scan(s, nil)
		for _, f := range per[i] {
			if p.block[f.Detector] {
				blocking = append(blocking, f)
			}
		}
	}
	e.logAll(server, subject, stage, strs, per, len(blocking) > 0)
	if len(blocking) > 0 {
		return &BlockedError{Server: server, Stage: stage, Subject: subject, Reasons: reasons(blocking), Violations: violations(stage, ActionBlock, blocking)}
	}
	if err := e.remote(ctx, p, stage, strs); err != nil {
		return remoteBlock(server, "", subject, stage, err)
	}
	return nil
}

// logMask finds what Mask hides.
var logMask = &Scanner{PII: true, Secrets: true}

// Mask returns s with every secret and every piece of PII the offline
// detectors find replaced by [REDACTED:<rule>], for names that reach a log
// line or an error: a resource URI, a prompt or tool name, a logger name.
func Mask(s string) string {
	fs := logMask.Scan(s, nil)
	if len(fs) == 0 {
		return s
	}
	return detect.ReplaceFindings(s, detect.Dedupe(fs), func(f Finding) string { return "[REDACTED:" + f.Rule + "]" })
}
