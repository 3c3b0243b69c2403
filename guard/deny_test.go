package guard

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/internal/config"
)

func TestGlobRegexp(t *testing.T) {
	for _, c := range []struct {
		pattern, name string
		want          bool
	}{
		{"delete_repo", "delete_repo", true},
		{"delete_repo", "Delete_repo", false}, // case-sensitive
		{"delete_*", "delete_repo", true},
		{"delete_*", "undelete_repo", false},
		{"*", "anything/at all", true},
		{"get_?", "get_a", true},
		{"get_?", "get_ab", false},
		{"[abc]_x", "b_x", true},
		{"[!abc]_x", "b_x", false},
		{"[!abc]_x", "d_x", true},
		{"[unclosed", "[unclosed", true},
		{"a.b", "axb", false}, // regexp metacharacters are literal
		{"[z-a]", "[z-a]", true},
	} {
		if got := globRegexp(c.pattern).MatchString(c.name); got != c.want {
			t.Errorf("glob %q on %q = %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
}

func TestDeniedTools(t *testing.T) {
	srv := &config.Server{Name: "gh",
		Tools:       map[string]json.RawMessage{"read_file": json.RawMessage(`{}`)},
		DeniedTools: []config.DeniedTool{{Name: "delete_*", Reason: "destructive"}, {Name: config.DenyAll}},
	}
	e := NewEngine(&Options{Servers: []*config.Server{srv}, DeniedTools: []config.DeniedTool{{Name: "exec_shell", Reason: "no shells"}}})
	for _, c := range []struct {
		tool, pattern string
		global        bool
	}{
		{"delete_repo", "delete_*", false},
		{"exec_shell", "exec_shell", true},
		{"list_issues", "*", false},
		{"read_file", "", false}, // named in tools: exempt from "*"
	} {
		de, denied := e.Denied("gh", c.tool)
		if c.pattern == "" {
			if denied {
				t.Errorf("%s denied by %q, want allowed", c.tool, de.Pattern)
			}
			continue
		}
		if !denied || de.Pattern != c.pattern || de.Global != c.global {
			t.Errorf("%s: denied=%v %+v, want pattern %q global %v", c.tool, denied, de, c.pattern, c.global)
		}
	}
	tools := []*mcp.Tool{{Name: "delete_repo", InputSchema: map[string]any{"type": "object"}}, {Name: "read_file", InputSchema: map[string]any{"type": "object"}}}
	allowed, withheld := e.FilterTools(context.Background(), "gh", tools)
	if len(allowed) != 1 || allowed[0].Name != "read_file" {
		t.Fatalf("allowed = %v, want only read_file", allowed)
	}
	if why := withheld["delete_repo"]; !strings.Contains(why, `pattern "delete_*"`) || !strings.Contains(why, "destructive") {
		t.Errorf("withheld reason = %q, want the pattern and the reason", why)
	}
	_, _, err := e.CheckCall(context.Background(), "gh", "delete_repo", json.RawMessage(`{}`))
	var de *DeniedError
	if !errors.As(err, &de) || de.Reason != "destructive" {
		t.Fatalf("CheckCall error = %v, want a *DeniedError with the reason", err)
	}
}

// FuzzGlobRegexp checks that any pattern compiles without a panic, and that
// a pattern without glob metacharacters matches exactly itself.
func FuzzGlobRegexp(f *testing.F) {
	for _, s := range []string{"delete_*", "[!a-c]?x", "[", "[]]", "a.b", "*[z-a]", "\\", "é*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pattern string) {
		re := globRegexp(pattern)
		if !strings.ContainsAny(pattern, "*?[") && !re.MatchString(pattern) {
			t.Errorf("literal pattern %q does not match itself", pattern)
		}
	})
}
