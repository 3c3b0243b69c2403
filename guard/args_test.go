package guard

import "testing"

func TestScanPath(t *testing.T) {
	tests := []struct {
		in   string
		rule string // "" means no finding
	}{
		{"../../etc/passwd", "dot_dot"},
		{`..\..\windows\system32`, "dot_dot"},
		{"%2e%2e%2fsecret", "dot_dot"},
		{"%252e%252e%252fsecret", "dot_dot"},
		{"/proc/self/environ", "sensitive_file"},
		{"/home/ann/.ssh/id_rsa", "sensitive_file"},
		{"report.pdf\x00.txt", "nul_byte"},
		{"docs/readme.md", ""},
		{"/srv/data/2026/report...final.txt", ""},
		{"version 1.2..3", ""},
	}
	for _, tt := range tests {
		fs := ScanPath(tt.in)
		got := ""
		if len(fs) > 0 {
			got = fs[0].Rule
		}
		if got != tt.rule {
			t.Errorf("ScanPath(%q) = %v, want rule %q", tt.in, fs, tt.rule)
		}
	}
}

func TestScanSSRF(t *testing.T) {
	tests := []struct {
		in   string
		rule string
	}{
		{"http://169.254.169.254/latest/meta-data/", "metadata"},
		{"fetch http://metadata.google.internal/computeMetadata/v1/", "metadata"},
		{"http://[::ffff:127.0.0.1]/admin", "loopback"},
		{"http://2130706433/", "loopback"},
		{"http://0x7f000001/", "loopback"},
		{"http://0177.0.0.1/", "loopback"},
		{"http://localhost:6379/", "loopback"},
		{"https://10.0.0.5/internal", "private"},
		{"http://[fe80::1]/", "link_local"},
		{"http://0.0.0.0:8080/", "unspecified"},
		{"file:///etc/passwd", "scheme"},
		{"gopher://127.0.0.1:6379/_FLUSHALL", "scheme"},
		{"http://134744072/", "encoded_ip"}, // 8.8.8.8 spelled in decimal
		{"https://example.com/docs?q=169.254.169.254", ""},
		{"https://8.8.8.8/", ""},
		{"see https://modelcontextprotocol.io", ""},
		{"not a url: 127.0.0.1", ""},
	}
	for _, tt := range tests {
		fs := ScanSSRF(tt.in)
		got := ""
		if len(fs) > 0 {
			got = fs[0].Rule
		}
		if got != tt.rule {
			t.Errorf("ScanSSRF(%q) = %v, want rule %q", tt.in, fs, tt.rule)
		}
	}
}

func FuzzScanArgs(f *testing.F) {
	for _, s := range []string{"../x", "http://127.0.0.1/", "http://[::1", "a://b://c", "%%2e", "http://1.2.3.4.5/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, fd := range append(ScanPath(s), ScanSSRF(s)...) {
			if fd.Start < 0 || fd.End > len(s) || fd.Start > fd.End {
				t.Fatalf("finding %+v out of range for %q", fd, s)
			}
		}
	})
}
