package serve

import (
	"io"

	"secure-mcp-gateway/internal/secret"
)

// NewLogWriter returns a writer for the process logger that scrubs every
// secret r knows from each line before writing it to w. zerolog writes one
// event per Write call, so a secret never straddles two writes. Secrets
// added to r later (OAuth tokens as they are fetched) are scrubbed from
// then on.
func NewLogWriter(w io.Writer, r *secret.Redactor) io.Writer {
	return &redactingWriter{w: w, r: r}
}

// redactingWriter scrubs known secrets from each log line before writing it.
type redactingWriter struct {
	w io.Writer
	r *secret.Redactor
}

func (rw *redactingWriter) Write(p []byte) (int, error) {
	s := rw.r.Redact(string(p))
	if _, err := io.WriteString(rw.w, s); err != nil {
		return 0, err
	}
	return len(p), nil
}
