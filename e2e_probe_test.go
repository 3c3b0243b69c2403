package main

import (
	"strings"
	"testing"
)

// TestE2EProbe: the probe command (the container image's HEALTHCHECK)
// exits 0 on a ready gateway's /readyz, 1 naming the failure when nothing
// answers or the answer is not 2xx, and 2 for a URL it cannot use.
func TestE2EProbe(t *testing.T) {
	t.Parallel()
	f := newFixture(t, exampleServer("echo_server", "echo", nil))
	g := startHTTP(t, f)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"ready", []string{"probe", g.base + "/readyz"}, 0, "200 OK"},
		{"not 2xx", []string{"probe", g.base + "/no-such-path"}, 1, "404"},
		{"nothing listening", []string{"probe", "--timeout", "2s", "http://127.0.0.1:1/readyz"}, 1, "connection refused"},
		{"not a URL", []string{"probe", "ftp://example.com/"}, 2, "not an http(s) URL"},
		{"two URLs", []string{"probe", g.base, g.base}, 2, "one URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runGatewayCLI(t, f, tc.args...)
			if code != tc.code || !strings.Contains(out+errOut, tc.want) {
				t.Errorf("probe %v: exit %d, output %q %q; want exit %d mentioning %q", tc.args, code, out, errOut, tc.code, tc.want)
			}
		})
	}
}
