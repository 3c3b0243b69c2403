package guard

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// FilterTools returns the tools of server that may be exposed. A tool is
// withheld when the server's description failed validation, when the tool
// policy finds a blocked detector in its definition (description, title,
// every string and property name of its schemas, annotations), or when its
// definition differs from the pinned one.
func (e *Engine) FilterTools(ctx context.Context, server string, tools []*mcp.Tool) ([]*mcp.Tool, map[string]string) {
	tools, withheld := e.filterDenied(server, tools)
	sp := e.servers[server]
	if sp != nil && len(sp.serverInfoProblems) > 0 {
		why := fmt.Sprintf("Server %q is blocked: its configured description failed validation: %s.", server, joinReasons(reasons(sp.serverInfoProblems)))
		e.log.Warn().Str("server", server).Str("reason", why).Msg("server withheld")
		for _, t := range tools {
			withheld[t.Name] = why
		}
		return nil, withheld
	}
	type seen struct {
		def  json.RawMessage
		hash string
	}
	defs := make([]seen, len(tools))
	siblings := make([]string, 0, len(tools))
	for _, t := range tools {
		siblings = append(siblings, t.Name)
	}
	var allowed []*mcp.Tool
	for i, t := range tools {
		def, hash, err := Canonical(t)
		if err != nil {
			withheld[t.Name] = fmt.Sprintf("Tool %q on server %q is withheld: its definition cannot be encoded.", t.Name, server)
			continue
		}
		defs[i] = seen{def, hash}
		if sp != nil && sp.tool.enabled {
			var v any
			_ = json.Unmarshal(def, &v)
			strs := collectStrings(v, nil)
			blocking, _, per := scanAll(&sp.tool, strs)
			if sp.tool.block[DetectorToolPoisoning] {
				blocking = append(blocking, e.definitionFindings(server, t, siblings)...)
			}
			e.logAll(server, t.Name, "tool", strs, per, len(blocking) > 0)
			if len(blocking) > 0 {
				withheld[t.Name] = fmt.Sprintf("Tool %q on server %q is withheld: its definition failed the tool guardrails: %s.", t.Name, server, joinReasons(reasons(blocking)))
				continue
			}
		}
		if sp != nil && sp.tool.enabled && len(sp.tool.model) > 0 {
			withheld[t.Name] = fmt.Sprintf("Tool %q on server %q is withheld: tool_guardrails_policy lists model detector(s) %s, which tool definition checks do not run; remove them from its block list.", t.Name, server, strings.Join(sp.tool.model, ", "))
			continue
		}
		allowed = append(allowed, t)
	}
	// Pinning: compare with this run's pins and the state file.
	e.mu.Lock()
	defer e.mu.Unlock()
	run := e.pins[server]
	if run == nil {
		run = map[string]string{}
		e.pins[server] = run
	}
	changed := map[string]bool{}
	var news []PinChange // changes not seen before, for Options.PinChanged
	now := time.Now().UTC().Format(time.RFC3339)
	update := func(p *Pins) error {
		m := p.Servers[server]
		if m == nil {
			m = map[string]*Pin{}
			p.Servers[server] = m
		}
		for i, t := range tools {
			if defs[i].hash == "" {
				continue
			}
			pin := m[t.Name]
			switch {
			case pin == nil:
				m[t.Name] = &Pin{SHA256: defs[i].hash, Definition: redactDefinition(defs[i].def), PinnedAt: now}
			case pin.SHA256 != defs[i].hash:
				changed[t.Name] = true
				if pin.Pending == nil || pin.Pending.SHA256 != defs[i].hash {
					pin.Pending = &PendingPin{SHA256: defs[i].hash, Definition: redactDefinition(defs[i].def), SeenAt: now}
					news = append(news, PinChange{Server: server, Tool: t.Name, Before: pin.SHA256, After: defs[i].hash})
				}
			default:
				pin.Pending = nil
			}
		}
		return nil
	}
	if e.opts.Pins != nil {
		// Update may run fn again (a conflicting writer): only the last
		// run's changes count.
		if err := e.opts.Pins.Update(ctx, func(p *Pins) error { news = news[:0]; return update(p) }); err != nil {
			e.log.Error().Err(err).Str("server", server).Str("pins", e.opts.Pins.Where()).Msg("pin state unavailable; withholding every tool of the server")
			for _, t := range tools {
				withheld[t.Name] = fmt.Sprintf("Tool %q on server %q is withheld: the tool pin state (%s) cannot be used (%v).", t.Name, server, e.opts.Pins.Where(), err)
			}
			return nil, withheld
		}
	}
	for i, t := range tools {
		if h, ok := run[t.Name]; ok && h != defs[i].hash && e.opts.Pins == nil {
			changed[t.Name] = true
			if e.pinSeen[server+"\x00"+t.Name] != defs[i].hash {
				e.pinSeen[server+"\x00"+t.Name] = defs[i].hash
				news = append(news, PinChange{Server: server, Tool: t.Name, Before: h, After: defs[i].hash})
			}
		} else if !ok {
			run[t.Name] = defs[i].hash
		}
	}
	if e.opts.PinChanged != nil {
		for _, c := range news {
			e.opts.PinChanged(c)
		}
	}
	var out []*mcp.Tool
	for _, t := range allowed {
		if changed[t.Name] {
			why := fmt.Sprintf("Tool %q on server %q is withheld: its definition changed since it was pinned (a possible rug pull). Review it with `secure-mcp-gateway tools diff --server %s --tool %s` and, if it is legitimate, run `secure-mcp-gateway tools approve --server %s --tool %s`.", t.Name, server, server, t.Name, server, t.Name)
			e.log.Warn().Str("server", server).Str("tool", t.Name).Msg("tool definition changed since it was pinned; withheld")
			withheld[t.Name] = why
			continue
		}
		out = append(out, t)
	}
	for name, why := range withheld {
		if !changed[name] {
			e.log.Warn().Str("server", server).Str("tool", name).Str("reason", why).Msg("tool withheld")
		}
	}
	return out, withheld
}

// definitionFindings runs the definition rules over the whole of t (every
// string and property name, _meta and outputSchema included, normalised and
// de-obfuscated) and returns the block-severity findings as detector and
// rule, logged with their field but never their text.
func (e *Engine) definitionFindings(server string, t *mcp.Tool, siblings []string) []Finding {
	dfs, err := ScanToolDefinition(t, &DefinitionOptions{Siblings: siblings})
	if err != nil {
		return []Finding{{Detector: DetectorDefinition, Rule: "unreadable"}}
	}
	var out []Finding
	for _, f := range dfs {
		if f.Severity != SeverityBlock {
			continue
		}
		e.log.Warn().Str("server", server).Str("tool", t.Name).Str("stage", "tool").Str("detector", f.Detector).Str("rule", f.Rule).Str("field", f.Field).Str("via", f.Via).Msg("tool definition finding")
		out = append(out, Finding{Detector: f.Detector, Rule: f.Rule})
	}
	return out
}

func joinReasons(r []string) string {
	s := ""
	for i, x := range r {
		if i > 0 {
			s += "; "
		}
		s += x
	}
	return s
}
