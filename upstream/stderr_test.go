package upstream

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"secure-mcp-gateway/internal/secret"
)

func TestRing(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		writes []string
		want   string
	}{
		{"empty", 8, nil, ""},
		{"fits", 16, []string{"a\n", "bc\n"}, "a\nbc\n"},
		{"drops whole old lines", 8, []string{"one\n", "two\n", "three\n"}, "three\n"},
		{"one long write", 8, []string{"0123456789abcdef\nxy\n"}, "xy\n"},
		{"no newline to align to", 4, []string{"0123456789"}, "6789"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRing(tt.max)
			for _, w := range tt.writes {
				r.Write([]byte(w))
			}
			if got := r.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
	r := newRing(64)
	r.Write([]byte("first\nsecond\nthird\n"))
	if got := r.Tail(10); got != "third\n" {
		t.Errorf("Tail(10) = %q, want %q", got, "third\n")
	}
}

// newTestWriter returns a stderrWriter logging at debug level to a buffer,
// with a frozen clock.
func newTestWriter(ringBytes int, secrets ...string) (*stderrWriter, *bytes.Buffer) {
	var buf bytes.Buffer
	log := zerolog.New(&buf).Level(zerolog.DebugLevel)
	var red secret.Redactor
	red.Add(secrets...)
	now := time.Unix(1000, 0)
	return &stderrWriter{log: &log, redact: red.Redact, ring: newRing(ringBytes), now: func() time.Time { return now }}, &buf
}

func TestStderrWriterLinesAndRedaction(t *testing.T) {
	w, logs := newTestWriter(1<<10, "s3cr3t-value")
	// The secret is split across writes; a line is redacted only when whole.
	for _, chunk := range []string{"hello\r\nkey=s3cr", "3t-value\npartial"} {
		w.Write([]byte(chunk))
	}
	if got, want := w.ring.String(), "hello\nkey=[REDACTED]\n"; got != want {
		t.Errorf("ring before EOF = %q, want %q", got, want)
	}
	w.Flush()
	if got, want := w.ring.String(), "hello\nkey=[REDACTED]\npartial\n"; got != want {
		t.Errorf("ring after EOF = %q, want %q", got, want)
	}
	if strings.Contains(logs.String(), "s3cr") {
		t.Errorf("log holds part of the secret:\n%s", logs)
	}
	if got := strings.Count(logs.String(), `"message":"upstream stderr"`); got != 3 {
		t.Errorf("logged %d lines, want 3", got)
	}
}

func TestStderrWriterLongLine(t *testing.T) {
	const secretValue = "straddling-secret-value"
	w, logs := newTestWriter(64<<10, secretValue)
	// The secret straddles the maxLine cut.
	line := strings.Repeat("x", maxLine-5) + secretValue + strings.Repeat("y", 3*maxLine)
	w.Write([]byte(line + "\nnext\n"))
	got := w.ring.String()
	if strings.Contains(got, "strad") {
		t.Errorf("the beginning of a straddling secret survived")
	}
	if !strings.HasSuffix(got, "bytes dropped]\nnext\n") || len(got) > maxLine+64 {
		t.Errorf("long line not cut: %d bytes, ending %q", len(got), got[max(0, len(got)-40):])
	}
	for l := range strings.Lines(logs.String()) {
		if len(l) > logLineBytes+200 {
			t.Errorf("log line of %d bytes", len(l))
		}
	}
}

func TestStderrWriterRateLimit(t *testing.T) {
	w, logs := newTestWriter(1 << 10)
	for i := range 100 {
		fmt.Fprintf(&lineSink{w}, "error %d\n", i)
	}
	w.Flush()
	l := logs.String()
	if got := strings.Count(l, `"message":"upstream stderr"`); got != logLinesPerSecond {
		t.Errorf("logged %d lines in one second, want %d", got, logLinesPerSecond)
	}
	if !strings.Contains(l, `"level":"warn","lines":80`) {
		t.Errorf("suppressed lines not reported:\n%s", l)
	}
}

// lineSink adapts stderrWriter to io.Writer for fmt.
type lineSink struct{ w *stderrWriter }

func (s *lineSink) Write(p []byte) (int, error) { s.w.Write(p); return len(p), nil }

func TestCut(t *testing.T) {
	s := "aé€" // 1 + 2 + 3 bytes
	for n, want := range map[int]string{-1: "", 0: "", 1: "a", 2: "a", 3: "aé", 5: "aé", 6: s, 9: s} {
		if got := cut(s, n); got != want {
			t.Errorf("cut(%q, %d) = %q, want %q", s, n, got, want)
		}
	}
}

// FuzzStderrWriter checks that no registered secret reaches the ring or the
// log, however the child's output is chunked, and that the ring stays bounded.
func FuzzStderrWriter(f *testing.F) {
	f.Add([]byte("token=hunter2-secret\n"), uint8(3))
	f.Add([]byte(strings.Repeat("a", maxLine-3)+"hunter2-secret\n"), uint8(200))
	f.Add([]byte("\r\n\n\xff\xfehunter2-sec"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		const secretValue = "hunter2-secret"
		w, logs := newTestWriter(512, secretValue)
		size := int(chunk) + 1
		for len(data) > 0 {
			n := min(size, len(data))
			w.Write(data[:n])
			data = data[n:]
		}
		w.Flush()
		ring := w.ring.String()
		if strings.Contains(ring, secretValue) || strings.Contains(logs.String(), secretValue) {
			t.Fatalf("secret leaked: ring %q", ring)
		}
		if len(ring) > 512 {
			t.Fatalf("ring holds %d bytes", len(ring))
		}
		for l := range strings.Lines(logs.String()) {
			if !utf8.ValidString(l) {
				t.Fatalf("log line not valid UTF-8: %q", l)
			}
		}
	})
}

func TestRedactCombinesPoolAndOptionSecrets(t *testing.T) {
	var extra secret.Redactor
	extra.Add("gateway-wide-secret")
	p := NewPool([]Spec{
		{Name: "a", Command: "x", Env: map[string]string{"TOKEN": "env-secret-1", "SHORT": "1"}},
		{Name: "b", URL: "http://h", Headers: map[string]string{"Authorization": "Bearer hdr-secret-2"}},
	}, &Options{Redactor: &extra})
	defer p.Close()
	got := p.redact("env-secret-1 Bearer hdr-secret-2 gateway-wide-secret 1")
	if want := "[REDACTED] [REDACTED] [REDACTED] 1"; got != want {
		t.Errorf("redact = %q, want %q", got, want)
	}
	err := p.redactErr(fmt.Errorf("boom: %w", &UnavailableError{Server: "a", Err: fmt.Errorf("env-secret-1")}))
	var ue *UnavailableError
	if strings.Contains(err.Error(), "env-secret-1") || !errors.As(err, &ue) {
		t.Errorf("redactErr = %q (As: %v), want masked and still unwrappable", err, ue)
	}
}

func TestBackoff(t *testing.T) {
	p := NewPool(nil, &Options{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second})
	defer p.Close()
	var got []time.Duration
	for failures := 1; failures <= 6; failures++ {
		d := p.backoff(failures)
		base := min(100*time.Millisecond<<(failures-1), time.Second)
		if d < base || d > min(base*5/4, time.Second) {
			t.Errorf("backoff(%d) = %v, want in [%v, %v]", failures, d, base, min(base*5/4, time.Second))
		}
		got = append(got, d)
	}
	if diff := cmp.Diff(time.Second, got[len(got)-1]); diff != "" {
		t.Errorf("backoff not capped (-want +got):\n%s", diff)
	}
}
