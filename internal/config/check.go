package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Detectors is the table of detector names that a guardrail policy's block
// list may hold. Package guard owns the detectors and so owns the table;
// this package cannot import guard (see deps_test.go), so a caller that
// wants block lists checked passes the table: Load(path,
// WithDetectors(table)).
type Detectors struct {
	// Offline are the detectors that run inside the gateway.
	Offline []string
	// Model are the detectors that need a remote guardrail provider.
	Model []string
}

// Known reports whether name is in the table.
func (d *Detectors) Known(name string) bool {
	return slices.Contains(d.Offline, name) || slices.Contains(d.Model, name)
}

// Option changes what Validate (and Load, Save and Update, which call it)
// checks.
type Option func(*validator)

// WithDetectors checks every policy's block list against d: a name not in
// it is an error. Without it (or with nil), detector names are not checked.
func WithDetectors(d *Detectors) Option {
	return func(v *validator) { v.known = d }
}

// UnknownKeys returns the keys of the file, read by Parse, that no field of
// the config declares, each with its path, its line and column and a
// did-you-mean when a known key is close. They are kept and written back
// unchanged, but the gateway does not act on them: a misspelt
// "output_guardrail_policy" switches nothing on. A Config built in code has
// none.
func (c *Config) UnknownKeys() []FieldError {
	if c == nil {
		return nil
	}
	return slices.Clone(c.unknownKeys)
}

// pythonOnlyKeys are keys the Python gateway wrote or read that this
// gateway does not use, by the struct type they appear in, with what the
// user should know about each. They are still warnings: an entry here only
// replaces the did-you-mean with the reason.
var pythonOnlyKeys = map[reflect.Type]map[string]string{
	reflect.TypeFor[Common](): {
		"enkrypt_remote_mcp_gateway_name":    "it belongs to the Python gateway's remote config mode, which this gateway does not support; remove it",
		"enkrypt_remote_mcp_gateway_version": "it belongs to the Python gateway's remote config mode, which this gateway does not support; remove it",
		"enkrypt_telemetry":                  "a legacy key the Python gateway 2.1 ignored too; telemetry is configured in plugins.telemetry",
		"enkrypt_base_url":                   "a legacy key the Python gateway 2.1 ignored too; the provider's base_url is plugins.guardrails.config.base_url",
		"enkrypt_api_key":                    "a legacy key the Python gateway 2.1 ignored too; the provider's key is plugins.guardrails.config.api_key",
		"session_pool_enabled":               "the Python gateway 2.2's session pool; this gateway keeps one upstream session per client session",
		"session_pool_ttl":                   "the Python gateway 2.2's session pool; this gateway keeps one upstream session per client session",
	},
	reflect.TypeFor[TimeoutSettings](): {
		"adherence_threshold": "the Python gateway read it but did not use it; remove it",
		"relevancy_threshold": "the Python gateway read it but did not use it; remove it",
	},
	reflect.TypeFor[Server](): {
		"enable_tool_guardrails": "it has done nothing since the Python gateway 2.1.7: tool definitions are checked by tool_guardrails_policy " +
			"(secure-mcp-gateway config update-server-tool-guardrails --server-name NAME --preset default)",
	},
}

// unknownKey records key, which struct type t (whose JSON keys are known)
// does not declare.
func (p *prepass) unknownKey(off int64, path, key string, t reflect.Type, known map[string]reflect.Type) {
	if key == "$schema" {
		return // an editor hint, wherever it appears
	}
	line, col := p.position(off)
	problem := fmt.Sprintf("unknown key %q is ignored (line %d, column %d)", key, line, col)
	fix := "remove it, or move it where the gateway reads it"
	if why, ok := pythonOnlyKeys[t][key]; ok {
		problem = fmt.Sprintf("key %q is not used by this gateway (line %d, column %d)", key, line, col)
		fix = why
	} else if s := Suggest(key, mapKeys(known)); s != "" {
		fix = fmt.Sprintf("did you mean %q?", s)
	}
	p.unknown = append(p.unknown, FieldError{Path: path, Problem: problem, Fix: fix})
}

func mapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Suggest returns the candidate closest to s by edit distance when it is
// close enough to be a likely typo, else "". Ties go to the first candidate
// in sorted order, so the answer is stable.
func Suggest(s string, candidates []string) string {
	best, bestD := "", -1
	ls := strings.ToLower(s)
	for _, c := range slices.Sorted(slices.Values(candidates)) {
		d := editDistance(ls, strings.ToLower(c))
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	if bestD < 0 {
		return ""
	}
	limit := max(2, len(s)/3)
	if bestD <= limit {
		return best
	}
	// A prefix such as "secret" of "secrets" or "pii_detect" of "pii".
	if len(s) >= 3 && (strings.HasPrefix(strings.ToLower(best), ls) || strings.HasPrefix(ls, strings.ToLower(best))) {
		return best
	}
	return ""
}

// editDistance is the Levenshtein distance of a and b, by bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// policies calls fn for every guardrail policy in the config, wherever its
// type declares one (per server today; a gateway-wide policy added later is
// found the same way), with its JSON path and a label naming the MCP config
// and server it belongs to.
func (c *Config) policies(fn func(path, where string, p *Policy)) {
	var walk func(v reflect.Value, path, where string)
	walk = func(v reflect.Value, path, where string) {
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem(), path, where)
			}
		case reflect.Struct:
			switch x := v.Addr().Interface().(type) {
			case *Policy:
				fn(path, where, x)
				return
			case *MCPConfig:
				where = fmt.Sprintf("MCP config %q", x.Name)
			case *Server:
				where = strings.TrimPrefix(fmt.Sprintf("%s, server %q", where, x.Name), ", ")
			}
			t := v.Type()
			for i := range t.NumField() {
				if name, ok := jsonName(t.Field(i)); ok {
					walk(v.Field(i), joinKey(path, name), where)
				}
			}
		case reflect.Map:
			if v.Type().Key().Kind() != reflect.String {
				return
			}
			keys := v.MapKeys()
			slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
			for _, k := range keys {
				e := v.MapIndex(k)
				if e.Kind() == reflect.Pointer && !e.IsNil() {
					walk(e, joinKey(path, k.String()), where)
				}
			}
		case reflect.Slice:
			for i := range v.Len() {
				walk(v.Index(i), fmt.Sprintf("%s[%d]", path, i), where)
			}
		}
	}
	walk(reflect.ValueOf(c), "", "")
}

// detectors checks every policy's block list against the WithDetectors
// table.
func (v *validator) detectors(c *Config) {
	table := v.known
	c.policies(func(path, where string, p *Policy) {
		for i, b := range p.Block {
			name := strings.TrimSpace(b)
			bp := fmt.Sprintf("%s.block[%d]", path, i)
			if name == "" {
				v.add(bp, "block entry is empty", "name a detector such as \"pii\" or remove the entry")
				continue
			}
			if table == nil || table.Known(name) {
				continue
			}
			in := ""
			if where != "" {
				in = " in " + where
			}
			fix := "use one of the offline detectors " + strings.Join(table.Offline, ", ") +
				", or one that needs a guardrail provider: " + strings.Join(table.Model, ", ")
			if s := Suggest(name, append(slices.Clone(table.Offline), table.Model...)); s != "" {
				fix = fmt.Sprintf("did you mean %q? (%s)", s, fix)
			}
			v.add(bp, fmt.Sprintf("unknown detector %q%s; an unknown name would switch that protection off", name, in), fix)
		}
	})
}
