// Package auditproxy turns the proxy's call events into audit records. It
// is apart from package audit so that audit itself stays free of proxy.
package auditproxy

import (
	"secure-mcp-gateway/audit"
	"secure-mcp-gateway/guard"
	"secure-mcp-gateway/proxy"
)

// Observer returns a proxy.Observer that writes one record per call event
// to l. It never blocks.
func Observer(l *audit.Log) proxy.Observer {
	return proxy.ObserverFunc(func(ev *proxy.CallEvent) { l.Write(Record(ev)) })
}

// Record converts a call event: kind "block" when a verdict blocked,
// "redaction" when one redacted, else "tool_call". It copies names, sizes
// and detector names, never values.
func Record(ev *proxy.CallEvent) audit.Record {
	r := audit.Record{
		Time:         ev.Start,
		Kind:         audit.KindToolCall,
		Project:      ev.Project,
		User:         ev.User,
		MCPConfig:    ev.MCPConfig,
		Session:      ev.SessionID,
		Method:       ev.Method,
		Server:       ev.Server,
		Tool:         ev.Tool,
		Verdict:      "allow",
		ArgBytes:     ev.ArgBytes,
		ArgSHA256:    ev.ArgSHA256,
		ResultBytes:  ev.ResultBytes,
		ResultSHA256: ev.ResultSHA256,
		Outcome:      ev.Outcome,
		DurationMS:   ev.Duration.Milliseconds(),
	}
	rank := 0
	for _, v := range ev.Verdicts {
		for _, x := range v.Violations {
			d := x.Stage + ":" + x.Detector
			if x.Rule != "" {
				d += "/" + x.Rule
			}
			r.Detectors = append(r.Detectors, d+":"+x.Action)
			switch {
			case x.Action == guard.ActionBlock && rank < 3:
				rank, r.Verdict, r.Kind = 3, "block", audit.KindBlock
			case x.Action == guard.ActionRedact && rank < 2:
				rank, r.Verdict, r.Kind = 2, "redact", audit.KindRedaction
			case x.Action == guard.ActionWarn && rank < 1:
				rank, r.Verdict = 1, "warn"
			}
		}
	}
	return r
}

// PinChanged returns a guard.Options.PinChanged hook that writes a
// pin_change record to l for each tool definition that differs from its
// pin: the server and tool, and the SHA-256 of the pinned (before) and the
// served (after) canonical definition. It never blocks.
func PinChanged(l *audit.Log) func(guard.PinChange) {
	return func(c guard.PinChange) { l.Write(PinChangeRecord(c)) }
}

// PinChangeRecord converts a pin change.
func PinChangeRecord(c guard.PinChange) audit.Record {
	return audit.Record{
		Kind:         audit.KindPinChange,
		Server:       c.Server,
		Tool:         c.Tool,
		Verdict:      "block",
		BeforeSHA256: c.Before,
		AfterSHA256:  c.After,
		Detail:       "tool definition differs from its pin; withheld until approved",
	}
}
