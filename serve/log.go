package serve

import (
	"io"

	"github.com/rs/zerolog"

	"secure-mcp-gateway/internal/secret"
	"secure-mcp-gateway/proxy"
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

// callLog is the log's observer of the call-event stream: one debug line
// per request with its outcome, stage timings and verdicts. It logs names,
// ids, sizes and durations only; the error texts are the pipeline's own
// warnings, which it writes where the failure happens.
type callLog struct{ log zerolog.Logger }

var _ proxy.Observer = callLog{}

// ObserveCall writes ev's line when the logger is at debug level.
func (c callLog) ObserveCall(ev *proxy.CallEvent) {
	e := c.log.Debug()
	if !e.Enabled() {
		return
	}
	stages := zerolog.Dict()
	for _, st := range ev.Stages {
		stages = stages.Dur(st.Name, st.Duration)
	}
	var detectors []string
	for _, v := range ev.Verdicts {
		for _, x := range v.Violations {
			d := x.Stage + ":" + x.Detector
			if x.Rule != "" {
				d += "/" + x.Rule
			}
			if x.Field != "" {
				d += "@" + x.Field
			}
			detectors = append(detectors, d+":"+x.Action)
		}
	}
	e.Str("method", ev.Method).Str("server", ev.Server).Str("tool", ev.Tool).Str("outcome", ev.Outcome).
		Dur("took", ev.Duration).Dict("stages", stages).Strs("detectors", detectors).
		Int("arg_bytes", ev.ArgBytes).Int("result_bytes", ev.ResultBytes).Str("trace_id", ev.TraceID).
		Msg("request")
}
