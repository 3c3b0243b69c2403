package audit

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// writeLog writes n tool_call records to a fresh log in dir and closes it.
func writeLog(t testing.TB, dir string, n int, o Options) []string {
	t.Helper()
	o.Dir = dir
	l, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		l.Write(Record{Kind: KindToolCall, Server: "echo", Tool: fmt.Sprintf("t%d", i), ArgSHA256: HashBytes([]byte{byte(i)}), ArgBytes: i})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files, err := ListFiles([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func verifyDir(t *testing.T, dir string, o VerifyOptions) []Problem {
	t.Helper()
	res, err := VerifyPaths([]string{dir}, o)
	if err != nil {
		t.Fatal(err)
	}
	var ps []Problem
	for _, r := range res {
		ps = append(ps, r.Problems...)
	}
	return ps
}

func TestAuditWriteAndVerify(t *testing.T) {
	key := []byte("k3y")
	for _, tt := range []struct {
		name  string
		o     Options
		files int
	}{
		{"plain", Options{}, 1},
		{"signed", Options{HMACKey: key}, 1},
		{"rotated", Options{MaxFileBytes: 4096, HMACKey: key}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			files := writeLog(t, dir, 100, tt.o)
			if tt.files > 0 && len(files) != tt.files {
				t.Fatalf("files %v, want %d", files, tt.files)
			}
			if tt.files == 0 && len(files) < 2 {
				t.Fatalf("files %v: want a rotation", files)
			}
			if ps := verifyDir(t, dir, VerifyOptions{HMACKey: tt.o.HMACKey}); len(ps) != 0 {
				t.Fatalf("problems on an untouched log: %v", ps)
			}
			var n int
			var kinds []string
			if err := ReadRecords(files, func(_ string, r Record) bool {
				if r.Kind == KindToolCall {
					if r.Tool != fmt.Sprintf("t%d", n) {
						t.Errorf("record %d is %s", n, r.Tool)
					}
					n++
				} else {
					kinds = append(kinds, r.Kind)
				}
				return true
			}); err != nil {
				t.Fatal(err)
			}
			if n != 100 {
				t.Fatalf("%d tool records, want 100", n)
			}
			if kinds[0] != KindGenesis || kinds[len(kinds)-1] != KindClose {
				t.Fatalf("other kinds %v: want genesis first and close last", kinds)
			}
		})
	}
}

func TestAuditTamperMatrix(t *testing.T) {
	for _, key := range [][]byte{nil, []byte("k3y")} {
		for _, tc := range TamperCases() {
			t.Run(fmt.Sprintf("%s/hmac=%v", tc.Name, key != nil), func(t *testing.T) {
				dir := t.TempDir()
				files := writeLog(t, dir, 8, Options{HMACKey: key})
				data, err := os.ReadFile(files[0])
				if err != nil {
					t.Fatal(err)
				}
				out, err := tc.Apply(data)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(files[0], out, 0o600); err != nil {
					t.Fatal(err)
				}
				ps := verifyDir(t, dir, VerifyOptions{HMACKey: key})
				var ok bool
				for _, p := range ps {
					if p.Kind == tc.Kind && (tc.Line == 0 || p.Line == tc.Line) {
						ok = true
					}
				}
				if !ok {
					t.Fatalf("problems %v: want %s at line %d", ps, tc.Kind, tc.Line)
				}
			})
		}
	}
}

func TestAuditTornLineNotAccepted(t *testing.T) {
	dir := t.TempDir()
	files := writeLog(t, dir, 3, Options{})
	data, _ := os.ReadFile(files[0])
	res := Verify(bytes.NewReader(data[:len(data)-1]), files[0], VerifyOptions{AllowOpen: true})
	if len(res.Problems) != 1 || res.Problems[0].Kind != TamperTorn {
		t.Fatalf("problems %v, want one torn", res.Problems)
	}
}

func TestAuditConcurrentWritersAndProcesses(t *testing.T) {
	dir := t.TempDir()
	var logs []*Log
	for i := range 2 {
		l, err := New(Options{Dir: dir, Now: func() time.Time { return time.Unix(int64(i), 0) }, QueueSize: 100000})
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, l)
	}
	var wg sync.WaitGroup
	for _, l := range logs {
		for g := range 4 {
			wg.Go(func() {
				for i := range 500 {
					l.Write(Record{Kind: KindKeyUse, KeyFingerprint: fmt.Sprintf("%d-%d", g, i)})
				}
			})
		}
	}
	wg.Wait()
	for _, l := range logs {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if ps := verifyDir(t, dir, VerifyOptions{}); len(ps) != 0 {
		t.Fatalf("problems: %v", ps)
	}
	files, _ := ListFiles([]string{dir})
	var n int
	ReadRecords(files, func(_ string, r Record) bool {
		if r.Kind == KindKeyUse {
			n++
		}
		return true
	})
	if len(files) != 2 || n != 4000 {
		t.Fatalf("%d files, %d records; want 2 and 4000", len(files), n)
	}
}

func TestAuditDropsAreRecorded(t *testing.T) {
	dir := t.TempDir()
	l, err := New(Options{Dir: dir, QueueSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	for range 2000 {
		l.Write(Record{Kind: KindToolCall})
	}
	dropped := l.Dropped()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := ListFiles([]string{dir})
	var counted, calls uint64
	ReadRecords(files, func(_ string, r Record) bool {
		switch r.Kind {
		case KindDropped:
			counted += r.Count
		case KindToolCall:
			calls++
		}
		return true
	})
	if calls+counted != 2000 {
		t.Fatalf("%d written + %d counted as dropped != 2000 (dropped at sample %d)", calls, counted, dropped)
	}
	if ps := verifyDir(t, dir, VerifyOptions{}); len(ps) != 0 {
		t.Fatalf("problems: %v", ps)
	}
}

func TestAuditFsyncOnInterval(t *testing.T) {
	dir := t.TempDir()
	l, err := New(Options{Dir: dir, FsyncInterval: time.Millisecond, FsyncEvery: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Write(Record{Kind: KindAdminChange, Actor: "admin", Target: "config"})
	files, _ := ListFiles([]string{dir})
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(files[0])
		if strings.Contains(string(b), KindAdminChange) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("record never reached the file without Close")
		}
		time.Sleep(time.Millisecond) // polling the file for the condition, not a fixed wait
	}
	res := Verify(mustOpen(t, files[0]), files[0], VerifyOptions{AllowOpen: true})
	if len(res.Problems) != 0 {
		t.Fatalf("open file problems: %v", res.Problems)
	}
	res = Verify(mustOpen(t, files[0]), files[0], VerifyOptions{})
	if len(res.Problems) != 1 || res.Problems[0].Kind != TamperTail {
		t.Fatalf("problems %v, want one truncated (no close record)", res.Problems)
	}
}

func mustOpen(t *testing.T, p string) *os.File {
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestAuditDeletedRotatedFile(t *testing.T) {
	dir := t.TempDir()
	files := writeLog(t, dir, 200, Options{MaxFileBytes: 4096})
	if len(files) < 3 {
		t.Fatalf("files %v, want 3+", files)
	}
	os.Remove(files[1])
	ps := verifyDir(t, dir, VerifyOptions{})
	var links int
	for _, p := range ps {
		if p.Kind == TamperLink {
			links++
		}
	}
	if links != 2 {
		t.Fatalf("problems %v: want the link broken on both sides of %s", ps, filepath.Base(files[1]))
	}
}

func FuzzAuditReader(f *testing.F) {
	dir := f.TempDir()
	files := writeLog(f, dir, 3, Options{HMACKey: []byte("k")})
	good, _ := os.ReadFile(files[0])
	name := filepath.Base(files[0])
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte("{}\n"))
	f.Add([]byte(`{"seq":0,"kind":"genesis","prev":""}` + "\n" + `{"seq":1,"kind":"close","prev":"x"}`))
	f.Add(good[:len(good)/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, o := range []VerifyOptions{{}, {HMACKey: []byte("k")}, {AllowOpen: true}} {
			res := Verify(bytes.NewReader(data), name, o)
			if bytes.Equal(data, good) {
				if len(res.Problems) != 0 && o.HMACKey != nil {
					t.Fatalf("good file: %v", res.Problems)
				}
				continue
			}
			// A file that verifies clean must be a well-formed chain.
			if len(res.Problems) == 0 && !o.AllowOpen && !res.Closed {
				t.Fatalf("clean verify of an unclosed file")
			}
			for _, p := range res.Problems {
				if p.Line < 0 || p.Kind == "" {
					t.Fatalf("bad problem %+v", p)
				}
			}
		}
	})
}

func BenchmarkAuditWrite(b *testing.B) {
	l, err := New(Options{Dir: b.TempDir(), QueueSize: 1 << 16, HMACKey: []byte("k")})
	if err != nil {
		b.Fatal(err)
	}
	r := Record{Kind: KindToolCall, Project: "p", User: "u", Server: "echo", Tool: "echo", ArgSHA256: HashBytes([]byte("x")), ArgBytes: 10}
	b.ReportAllocs()
	for b.Loop() {
		l.Write(r)
	}
	b.StopTimer()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(l.Dropped()), "dropped")
}
