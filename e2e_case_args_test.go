package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"secure-mcp-gateway/examples"
	"secure-mcp-gateway/internal/config"
)

// TestCase37And38PathAndURLPolicies: with path_traversal and ssrf in an
// input policy, arguments that climb out of a directory, carry a NUL byte or
// name a sensitive file, and URLs aimed at loopback, private, link-local or
// metadata addresses (also spelled as IPv4-mapped IPv6 or a decimal IP), are
// refused before the upstream sees them; ordinary paths and URLs pass.
func TestCase37And38PathAndURLPolicies(t *testing.T) {
	rec := filepath.Join(t.TempDir(), "received.jsonl")
	s := exampleServer("rec", "recorder", map[string]string{examples.EnvRecordFile: rec})
	s.InputGuardrailsPolicy = &config.Policy{Enabled: true, Block: []string{"path_traversal", "ssrf"}}
	f := newFixture(t, s)
	g := startGateway(t, f)
	for _, bad := range []string{
		"../../etc/passwd", "%2e%2e%2fetc%2fpasswd", "/proc/self/environ", "report.pdf\x00.sh",
		"http://169.254.169.254/latest/meta-data/", "http://[::ffff:127.0.0.1]/admin", "http://2130706433/",
		"file:///etc/shadow",
	} {
		res := g.call(t, "rec__store", map[string]any{"text": bad})
		if !res.IsError || !(strings.Contains(resultText(res), "path_traversal") || strings.Contains(resultText(res), "ssrf")) {
			t.Errorf("%q: isError=%v %q, want a block naming the detector", bad, res.IsError, resultText(res))
		}
	}
	for _, good := range []string{"docs/readme.md", "https://example.com/page", "see https://8.8.8.8/"} {
		if res := g.call(t, "rec__store", map[string]any{"text": good}); res.IsError {
			t.Errorf("%q refused: %q", good, resultText(res))
		}
	}
	b, _ := os.ReadFile(rec)
	for _, leaked := range []string{"passwd", "169.254", "2130706433", "environ", "shadow"} {
		if strings.Contains(string(b), leaked) {
			t.Errorf("a refused argument reached the upstream: %s", b)
		}
	}
}
