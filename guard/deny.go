package guard

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/internal/config"
)

// DeniedError says that a tool is on a denied_tools list: it is never
// listed and never called. Its text names the pattern and the reason.
type DeniedError struct {
	// Server and Tool name the tool (Tool is the upstream name).
	Server, Tool string
	// Pattern is the denied_tools entry that matched.
	Pattern string
	// Reason is the entry's reason; empty when it gave none.
	Reason string
	// Global is true when the entry is in common_mcp_gateway_config rather
	// than in the server's own list.
	Global bool
}

// Error implements error.
func (e *DeniedError) Error() string {
	where := fmt.Sprintf("server %q's denied_tools", e.Server)
	if e.Global {
		where = "the gateway-wide denied_tools (common_mcp_gateway_config)"
	}
	s := fmt.Sprintf("Tool %q on server %q is denied by pattern %q in %s", e.Tool, e.Server, e.Pattern, where)
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	if e.Pattern == config.DenyAll {
		s += " (\"*\" denies every tool not named in the server's tools)"
	}
	return s + "."
}

// denyRule is one compiled denied_tools entry.
type denyRule struct {
	entry  config.DeniedTool
	re     *regexp.Regexp
	global bool
}

// denier holds the compiled denied_tools of every server, the gateway-wide
// list first.
type denier struct {
	rules map[string][]denyRule // server -> rules
	tools map[string]*config.Server
}

// newDenier compiles the gateway-wide list and each server's list.
func newDenier(global []config.DeniedTool, servers []*config.Server) *denier {
	d := &denier{rules: map[string][]denyRule{}, tools: map[string]*config.Server{}}
	var g []denyRule
	for _, e := range global {
		g = append(g, denyRule{entry: e, re: globRegexp(e.Name), global: true})
	}
	for _, s := range servers {
		if s == nil {
			continue
		}
		rules := append([]denyRule(nil), g...)
		for _, e := range s.DeniedTools {
			rules = append(rules, denyRule{entry: e, re: globRegexp(e.Name)})
		}
		d.rules[s.Name] = rules
		d.tools[s.Name] = s
	}
	return d
}

// denied returns the refusal for server's tool, or nil when no entry
// denies it. A server that is not configured gets the gateway-wide list.
func (d *denier) denied(server, tool string) *DeniedError {
	if d == nil {
		return nil
	}
	rules, ok := d.rules[server]
	if !ok {
		return nil
	}
	for _, r := range rules {
		if !r.re.MatchString(tool) {
			continue
		}
		if r.entry.Name == config.DenyAll {
			if s := d.tools[server]; s != nil {
				if _, named := s.Tools[tool]; named {
					continue
				}
			}
		}
		return &DeniedError{Server: server, Tool: tool, Pattern: r.entry.Name, Reason: r.entry.Reason, Global: r.global}
	}
	return nil
}

// Denied reports whether server's tool (its upstream name) is on a
// denied_tools list, and the refusal naming the pattern and reason.
func (e *Engine) Denied(server, tool string) (*DeniedError, bool) {
	de := e.deny.denied(server, tool)
	return de, de != nil
}

// filterDenied removes the denied tools of server from tools and returns
// the rest, with a withheld map holding the refusal of each denied one.
func (e *Engine) filterDenied(server string, tools []*mcp.Tool) ([]*mcp.Tool, map[string]string) {
	withheld := map[string]string{}
	var kept []*mcp.Tool
	for _, t := range tools {
		if de := e.deny.denied(server, t.Name); de != nil {
			withheld[t.Name] = de.Error()
			e.log.Info().Str("server", server).Str("tool", t.Name).Str("pattern", de.Pattern).Msg("tool denied by denied_tools")
			continue
		}
		kept = append(kept, t)
	}
	return kept, withheld
}

// globRegexp compiles a shell glob as Python's fnmatch does, but
// case-sensitively: * is any run of characters, ? one character, [abc] a
// set, [!abc] its complement; a [ without a closing ] is literal.
func globRegexp(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`^(?s:`)
	rs := []rune(pattern)
	for i := 0; i < len(rs); i++ {
		switch c := rs[i]; c {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		case '[':
			j := i + 1
			if j < len(rs) && rs[j] == '!' {
				j++
			}
			if j < len(rs) && rs[j] == ']' {
				j++
			}
			for j < len(rs) && rs[j] != ']' {
				j++
			}
			if j >= len(rs) {
				b.WriteString(`\[`)
				continue
			}
			set := rs[i+1 : j]
			b.WriteByte('[')
			if len(set) > 0 && set[0] == '!' {
				b.WriteByte('^')
				set = set[1:]
			}
			for _, r := range set {
				if r == '\\' || r == '[' || r == ']' || r == '^' {
					b.WriteByte('\\')
				}
				b.WriteRune(r)
			}
			b.WriteByte(']')
			i = j
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(`)$`)
	re, err := regexp.Compile(b.String())
	if err != nil { // a set such as [z-a]: match the pattern literally
		// string([]rune(…)) turns bytes that are not UTF-8 into U+FFFD, which
		// is what the matcher reads them as, so the literal still compiles.
		re = regexp.MustCompile(`^` + regexp.QuoteMeta(string(rs)) + `$`)
	}
	return re
}
