package atomicfile

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestWriteFileReplacesWithMode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "dir")
	path := filepath.Join(dir, "state.json")
	for _, content := range []string{"first", "second, longer than the first"} {
		if err := WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil || string(b) != content {
			t.Fatalf("read back %q, %v; want %q", b, err, content)
		}
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", st.Mode().Perm())
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Errorf("dir mode = %v, want 0700", st.Mode().Perm())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("temp files left behind: %v", ents)
	}
}

func TestWriteFileFailureLeavesOriginal(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	if err := WriteFile(path, []byte("kept"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A directory where the file should go cannot be replaced by a rename.
	if err := WriteFile(dir, []byte("x"), 0o600); err == nil {
		t.Fatal("replacing a directory succeeded")
	}
	if b, _ := os.ReadFile(path); string(b) != "kept" {
		t.Errorf("original = %q", b)
	}
}

func TestLockSerialises(t *testing.T) {
	name := filepath.Join(t.TempDir(), "x.lock")
	var mu sync.Mutex
	inside, max := 0, 0
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			unlock, err := Lock(name)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			inside++
			max = inside
			mu.Unlock()
			mu.Lock()
			inside--
			mu.Unlock()
			unlock()
		})
	}
	wg.Wait()
	if max != 1 {
		t.Errorf("%d holders at once", max)
	}
}
