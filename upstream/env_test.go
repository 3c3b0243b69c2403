package upstream

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestChildEnv(t *testing.T) {
	environ := []string{
		"PATH=/usr/bin", "HOME=/home/u", "ENKRYPT_GATEWAY_KEY=gk", "LC_ALL=C", "LANG=en", "SHELL=/bin/sh",
		"AWS_SECRET_ACCESS_KEY=x", "SystemRoot=C:\\Windows", "Path=C:\\bin", "=C:=C:\\", "TMPDIR=/tmp",
	}
	tests := []struct {
		goos     string
		declared map[string]string
		want     []string
	}{
		{"linux", nil, []string{"PATH=/usr/bin", "HOME=/home/u", "LC_ALL=C", "LANG=en", "TMPDIR=/tmp"}},
		{"linux", map[string]string{"PATH": "/opt/bin", "B": "2", "A": "1"},
			[]string{"HOME=/home/u", "LC_ALL=C", "LANG=en", "TMPDIR=/tmp", "A=1", "B=2", "PATH=/opt/bin"}},
		{"windows", map[string]string{"path": `D:\tools`},
			[]string{"HOME=/home/u", "LC_ALL=C", "LANG=en", `SystemRoot=C:\Windows`, "TMPDIR=/tmp", `path=D:\tools`}},
		{"darwin", map[string]string{"ENKRYPT_GATEWAY_KEY": "declared on purpose"},
			[]string{"PATH=/usr/bin", "HOME=/home/u", "LC_ALL=C", "LANG=en", "TMPDIR=/tmp", "ENKRYPT_GATEWAY_KEY=declared on purpose"}},
	}
	for _, tt := range tests {
		got := childEnv(tt.goos, environ, tt.declared)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("childEnv(%s, %v) mismatch (-want +got):\n%s", tt.goos, tt.declared, diff)
		}
	}
	if got := lookupEnv("windows", []string{"Path=a", "PATH=b"}, "path"); got != "b" {
		t.Errorf("lookupEnv windows = %q, want the last match", got)
	}
}

func TestLookPath(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses unix permissions")
	}
	dir1, dir2 := t.TempDir(), t.TempDir()
	write := func(name string, mode os.FileMode) {
		if err := os.WriteFile(name, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir1, "tool"), 0o644) // not executable: skipped
	write(filepath.Join(dir2, "tool"), 0o755)
	if err := os.Mkdir(filepath.Join(dir1, "dirtool"), 0o755); err != nil {
		t.Fatal(err)
	}

	path := "relative/bin:" + dir1 + "::" + dir2
	if got, err := lookPath("linux", "tool", path, ""); err != nil || got != filepath.Join(dir2, "tool") {
		t.Errorf("lookPath(tool) = %q, %v; want the executable in %s", got, err, dir2)
	}
	_, err := lookPath("linux", "dirtool", path, "")
	var ee *exec.Error
	if !errors.As(err, &ee) || !errors.Is(err, exec.ErrNotFound) || ee.Name != "dirtool" {
		t.Errorf("lookPath(dirtool) = %v, want exec.ErrNotFound", err)
	}
	if got, err := lookPath("linux", "./x/y", "", ""); err != nil || got != "./x/y" {
		t.Errorf("lookPath(./x/y) = %q, %v; want it unchanged", got, err)
	}
	// Windows semantics on any host: PATHEXT, backslashes, drive-letter dirs.
	if got, _ := lookPath("windows", `.\srv`, "", ""); got != `.\srv` {
		t.Errorf(`lookPath(windows, .\srv) = %q, want it unchanged`, got)
	}
}

func TestURLSecretsRedacted(t *testing.T) {
	got := URLSecrets("https://user:p%40ss-word@mcp.example/path?api_key=k3y-value&x=short")
	want := map[string]bool{"p@ss-word": true, "k3y-value": true}
	for w := range want {
		found := false
		for _, g := range got {
			if g == w {
				found = true
			}
		}
		if !found {
			t.Errorf("urlSecrets missed %q: %q", w, got)
		}
	}
	if URLSecrets("") != nil || URLSecrets("::bad") != nil {
		t.Error("secrets from an empty or invalid URL")
	}
}
