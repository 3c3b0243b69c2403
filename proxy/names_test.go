package proxy

import (
	"regexp"
	"strings"
	"testing"
)

var validName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)

// TestCase27ToolNamesSanitised covers catalogue row 27: names that are too
// long or carry spaces, slashes, control characters or confusable letters
// are mapped deterministically onto the MCP alphabet, and distinct long
// names stay distinct.
func TestCase27ToolNamesSanitised(t *testing.T) {
	long := strings.Repeat("a", 200)
	tests := []struct{ in, want string }{
		{"server__read_file", "server__read_file"},
		{"files__read file", "files__read_file"},
		{"files__a/b", "files__a_b"},
		{"x__tab\there\x00", "x__tab_here_"},
		{"mail__send_emaіl", "mail__send_ema_l"}, // Cyrillic і
		{"", "_"},
	}
	for _, tt := range tests {
		if got := SanitizeName(tt.in); got != tt.want {
			t.Errorf("SanitizeName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	a, b := SanitizeName(long+"x"), SanitizeName(long+"y")
	if a == b || len(a) != MaxToolNameLen || !validName.MatchString(a) {
		t.Errorf("long names: %q vs %q", a, b)
	}
	if again := SanitizeName(long + "x"); again != a {
		t.Error("not deterministic")
	}
}

func FuzzSanitizeName(f *testing.F) {
	for _, s := range []string{"a__b", "x y/z", strings.Repeat("é", 100), "\x00", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := SanitizeName(s)
		if !validName.MatchString(got) {
			t.Fatalf("SanitizeName(%q) = %q, not a valid MCP tool name", s, got)
		}
		if again := SanitizeName(s); again != got {
			t.Fatal("not deterministic")
		}
		if validName.MatchString(s) && got != s {
			t.Fatalf("a valid name %q was changed to %q", s, got)
		}
	})
}
