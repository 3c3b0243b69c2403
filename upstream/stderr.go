package upstream

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
)

const (
	// maxLine is the longest stderr line kept whole; the rest of a longer
	// line is dropped.
	maxLine = 8 << 10
	// lineGuard is cut from the end of an overlong line after redaction: a
	// secret that straddled the cut at maxLine would otherwise leak its
	// beginning, which the redactor cannot recognise.
	lineGuard = 1 << 10
	// logLineBytes is the longest stderr line written to the log.
	logLineBytes = 512
	// logLinesPerSecond bounds the stderr lines logged per server and second;
	// the rest are counted and reported as suppressed.
	logLinesPerSecond = 20
)

// ring keeps the last bytes written to it, at most max of them. It is safe
// for concurrent use.
type ring struct {
	mu      sync.Mutex
	max     int
	buf     []byte // at most 2*max; the tail max bytes are the content
	dropped bool   // bytes were discarded from the front
}

func newRing(max int) *ring { return &ring{max: max} }

// Write appends b, discarding the oldest bytes beyond max.
func (r *ring) Write(b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf = append(r.buf, b...)
	if len(r.buf) > 2*r.max {
		n := copy(r.buf, r.buf[len(r.buf)-r.max:])
		r.buf = r.buf[:n]
		r.dropped = true
	}
}

// String returns the content, starting at a line boundary when older bytes
// were discarded.
func (r *ring) String() string { return r.Tail(r.max) }

// Tail returns at most the last n bytes of the content, starting at a line
// boundary when anything before them exists.
func (r *ring) Tail(n int) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.buf
	cut := r.dropped
	n = min(n, r.max)
	if len(b) > n {
		b, cut = b[len(b)-n:], true
	}
	if cut {
		if i := bytes.IndexByte(b, '\n'); i >= 0 && i < len(b)-1 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// stderrWriter splits one child's stderr into lines, redacts each complete
// line, appends it to the server's ring and logs it, rate-limited. It is
// used by a single reader goroutine and is not safe for concurrent use.
type stderrWriter struct {
	log    *zerolog.Logger
	redact func(string) string
	ring   *ring
	now    func() time.Time // nil: time.Now

	line    []byte // the current line, at most maxLine bytes
	dropped int    // bytes of the current line beyond maxLine

	windowStart time.Time
	logged      int // lines logged in the current window
	suppressed  int // lines not logged in the current window
}

// Write consumes p. It never fails and never blocks on anything but the
// logger.
func (w *stderrWriter) Write(p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		room := maxLine - len(w.line)
		if len(chunk) > room {
			w.line = append(w.line, chunk[:room]...)
			w.dropped += len(chunk) - room
		} else {
			w.line = append(w.line, chunk...)
		}
		if i < 0 {
			return
		}
		w.emit()
		p = p[i+1:]
	}
}

// Flush emits a final unterminated line and reports suppressed lines; call
// it at EOF.
func (w *stderrWriter) Flush() {
	if len(w.line) > 0 || w.dropped > 0 {
		w.emit()
	}
	w.reportSuppressed()
}

func (w *stderrWriter) emit() {
	text := w.redact(strings.TrimSuffix(string(w.line), "\r"))
	if w.dropped > 0 {
		text = cut(text, len(text)-lineGuard) + fmt.Sprintf(" …[%d bytes dropped]", w.dropped+lineGuard)
	}
	w.line, w.dropped = w.line[:0], 0
	w.ring.Write([]byte(text + "\n"))

	now := time.Now()
	if w.now != nil {
		now = w.now()
	}
	if now.Sub(w.windowStart) >= time.Second {
		w.reportSuppressed()
		w.windowStart, w.logged = now, 0
	}
	if w.logged >= logLinesPerSecond {
		w.suppressed++
		return
	}
	w.logged++
	ev := w.log.Debug()
	if looksLikeError(text) {
		ev = w.log.Warn()
	}
	if len(text) > logLineBytes {
		text = cut(text, logLineBytes) + "…"
	}
	ev.Str("line", text).Msg("upstream stderr")
}

func (w *stderrWriter) reportSuppressed() {
	if w.suppressed > 0 {
		w.log.Warn().Int("lines", w.suppressed).Msg("upstream stderr lines not logged (rate limit)")
		w.suppressed = 0
	}
}

// looksLikeError reports whether a stderr line deserves warn rather than
// debug level.
func looksLikeError(line string) bool {
	l := strings.ToLower(line[:min(len(line), logLineBytes)])
	for _, w := range []string{"error", "fatal", "panic", "exception", "traceback"} {
		if strings.Contains(l, w) {
			return true
		}
	}
	return false
}

// cut returns at most the first n bytes of s, not splitting a UTF-8 sequence.
func cut(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if n >= len(s) {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
