package proxy

import (
	"fmt"
	"strings"
	"testing"
)

// TestFirstWins: the one merge of tools, resources and prompts keeps, for
// each key, the claim of the first server in config order, in order, and
// reports every later claimant with the server that kept the key.
func TestFirstWins(t *testing.T) {
	c := func(key, item string) claim[string] { return claim[string]{key: key, item: item} }
	tests := []struct {
		name  string
		per   [][]claim[string]
		out   string // kept items, in order
		owner string // key=server index, sorted by key
		lost  string // "server:key->kept" for each claim left out
	}{
		{"empty", nil, "", "", ""},
		{"no collision", [][]claim[string]{{c("a", "0a")}, {c("b", "1b")}}, "0a 1b", "a=0 b=1", ""},
		{"later server loses", [][]claim[string]{{c("a", "0a")}, {c("a", "1a"), c("b", "1b")}}, "0a 1b", "a=0 b=1", "1:a->0"},
		{"same server twice keeps the first", [][]claim[string]{{c("a", "0a"), c("a", "0a'")}}, "0a", "a=0", "0:a->0"},
		{"server with nothing", [][]claim[string]{nil, {c("a", "1a")}, {c("a", "2a")}}, "1a", "a=1", "2:a->1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var lost []string
			out, owner := firstWins(tt.per, func(i int, cl claim[string], kept int) {
				lost = append(lost, fmt.Sprintf("%d:%s->%d", i, cl.key, kept))
			})
			if got := strings.Join(out, " "); got != tt.out {
				t.Errorf("out %q, want %q", got, tt.out)
			}
			var owners []string
			for _, k := range []string{"a", "b"} {
				if i, ok := owner[k]; ok {
					owners = append(owners, fmt.Sprintf("%s=%d", k, i))
				}
			}
			if got := strings.Join(owners, " "); got != tt.owner || len(owner) != len(owners) {
				t.Errorf("owner %v, want %q", owner, tt.owner)
			}
			if got := strings.Join(lost, " "); got != tt.lost {
				t.Errorf("lost %q, want %q", got, tt.lost)
			}
		})
	}
}
