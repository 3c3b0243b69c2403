package hook

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"secure-mcp-gateway/audit"
	"secure-mcp-gateway/guard/detect"
	"secure-mcp-gateway/internal/config"
)

// detectors is detect's registry in config's terms: validation of a loaded
// config checks every block list against it, as every other command does.
var detectors = config.WithDetectors(&config.Detectors{Offline: detect.OfflineDetectors, Model: detect.ModelDetectors})

// LoadHooks loads and validates the config file at path and returns its
// hooks block and its audit block. When optional is true (path is the
// default path, not one the user named), a missing file means the built-in
// defaults and no audit: nil, nil and no error. Any other problem
// (unreadable, invalid, an unknown detector anywhere in the file) is an
// error; the file is never half read.
func LoadHooks(path string, optional bool) (*config.Hooks, *config.Audit, error) {
	c, err := config.Load(path, detectors)
	if err != nil {
		if optional && errors.Is(err, fs.ErrNotExist) {
			return nil, nil, nil
		}
		return nil, nil, errors.New(strings.TrimSpace(err.Error()))
	}
	return c.Hooks, c.Audit, nil
}

// OpenAudit opens the audit log when a is switched on, else returns nil.
// A log that is on but cannot be opened is an error, which Exec answers
// with the fail mode: judging without the record the config asks for
// would fail open.
func OpenAudit(a *config.Audit) (*audit.Log, error) {
	if a == nil || !a.Enabled {
		return nil, nil
	}
	l, err := audit.Open(*a)
	if err != nil {
		return nil, fmt.Errorf("audit log (audit.path): %w", err)
	}
	return l, nil
}

// Exec is a whole hook run for client: it compiles the hooks block (nil
// for the built-in defaults), reads one event from r, judges it and writes
// the answer to w. cfgErr is the error of reading the policy, if any: the
// event is then not judged and gets the fail mode's answer. Exec returns
// the process exit code and a message for stderr (empty for none). Both
// the gateway's `hook` command and the secure-mcp-gateway-hook binary run
// it, so their answers are the same. When log is not nil, the decision is
// written to it (a hook_decision record: event, tool, verdict, detectors,
// the event's size and SHA-256, never its text); the caller closes it.
func Exec(client string, hooks *config.Hooks, cfgErr error, log *audit.Log, r io.Reader, w io.Writer) (code int, stderr string) {
	h, err := New(client, hooks)
	if err != nil {
		var ve *config.ValidationError
		if !errors.As(err, &ve) {
			// An unknown client: there is no fail mode to apply.
			return 2, err.Error()
		}
		cfgErr = errors.Join(cfgErr, fmt.Errorf("hooks block: %w", err))
		// The fail mode still comes from the block when it names one.
		if h, err = New(client, &config.Hooks{FailMode: hooks.FailMode}); err != nil {
			h, _ = New(client, nil)
		}
	}
	if cfgErr != nil {
		// Without a readable policy the event cannot be judged: the fail
		// mode of the built-in defaults (or of the block) applies.
		code, stderr = h.Fail("", fmt.Errorf("read the hooks policy: %w", cfgErr))
		if log != nil {
			rec := decisionRecord(client, Verdict{}, nil, code)
			rec.Outcome = "unjudged"
			log.Write(rec)
		}
		return code, stderr
	}
	v, raw, code, stderr, err := h.run(r, w)
	if log != nil {
		rec := decisionRecord(client, v, raw, code)
		if err != nil {
			rec.Outcome = "unjudged"
		}
		log.Write(rec)
	}
	return code, stderr
}

// decisionRecord is the audit record of one hook decision: the client as
// the server, the event as the method, the answer as the verdict.
func decisionRecord(client string, v Verdict, raw []byte, code int) audit.Record {
	r := audit.Record{Kind: audit.KindHookDecision, Server: client, Method: v.Event, Tool: v.Tool,
		Verdict: v.Decision.String(), ArgBytes: len(raw), Outcome: "judged"}
	if len(raw) > 0 {
		r.ArgSHA256 = audit.HashBytes(raw)
	}
	if code == 2 && v.Decision == Allow {
		r.Verdict = Block.String() // an unjudged event under fail_mode closed
	}
	for _, d := range v.Detectors {
		r.Detectors = append(r.Detectors, "hook:"+d+":"+r.Verdict)
	}
	return r
}
