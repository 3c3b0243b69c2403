// Package audit writes and verifies the tamper-evident audit log: one JSON
// line per security-relevant event, each carrying the SHA-256 of the line
// before it and, when a key is set, an HMAC. See docs/AUDIT.md.
//
// The package imports only the standard library and internal/config, so
// that any part of the gateway (the hook command, the admin API) can write
// records; the proxy adapter lives in audit/auditproxy.
package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Kinds of record.
const (
	KindGenesis      = "genesis"       // first record of every file
	KindClose        = "close"         // last record of a file closed cleanly or rotated
	KindToolCall     = "tool_call"     // a call that was allowed unchanged
	KindBlock        = "block"         // a call or result the guard refused
	KindRedaction    = "redaction"     // a call whose arguments or result were redacted
	KindPinChange    = "pin_change"    // a tool definition changed from its pin
	KindPinApproval  = "pin_approval"  // a changed definition was approved
	KindKeyUse       = "key_use"       // a gateway key was used
	KindKeyFailure   = "key_failure"   // a gateway key was refused
	KindAdminChange  = "admin_change"  // the config was changed
	KindHookDecision = "hook_decision" // the hook command decided on a client's own tool
	KindDropped      = "dropped"       // records lost because the queue was full
)

// Record is one line of an audit file. It holds names, hashes and sizes,
// never argument or result values. Seq, Time (when zero), Prev, File and
// HMAC are set by the writer.
type Record struct {
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	Kind string    `json:"kind"`
	// File is the file's own name (genesis and close records).
	File string `json:"file,omitempty"`
	// PID is the writing process (genesis records).
	PID int `json:"pid,omitempty"`
	// PrevFile names the file this one continues after a rotation
	// (genesis), or the file that follows it (close).
	PrevFile string `json:"prev_file,omitempty"`
	NextFile string `json:"next_file,omitempty"`

	Project   string `json:"project,omitempty"`
	User      string `json:"user,omitempty"`
	MCPConfig string `json:"mcp_config,omitempty"`
	Session   string `json:"session,omitempty"`
	Method    string `json:"method,omitempty"`
	Server    string `json:"server,omitempty"`
	Tool      string `json:"tool,omitempty"`
	// Verdict is "allow", "warn", "redact" or "block".
	Verdict string `json:"verdict,omitempty"`
	// Detectors are "stage:detector[/rule]:action", one per violation.
	Detectors []string `json:"detectors,omitempty"`

	ArgSHA256    string `json:"arg_sha256,omitempty"`
	ArgBytes     int    `json:"arg_bytes,omitempty"`
	ResultSHA256 string `json:"result_sha256,omitempty"`
	ResultBytes  int    `json:"result_bytes,omitempty"`
	Outcome      string `json:"outcome,omitempty"`
	DurationMS   int64  `json:"duration_ms,omitempty"`

	// Actor, Target, BeforeSHA256 and AfterSHA256 describe an admin or pin
	// change: who, what, and the hashes of the old and new value.
	Actor        string `json:"actor,omitempty"`
	Target       string `json:"target,omitempty"`
	BeforeSHA256 string `json:"before_sha256,omitempty"`
	AfterSHA256  string `json:"after_sha256,omitempty"`
	// KeyFingerprint identifies a gateway key (never the key).
	KeyFingerprint string `json:"key_fingerprint,omitempty"`
	// Count is the number of records a dropped record stands for, or of
	// records in the file for a close record.
	Count uint64 `json:"count,omitempty"`
	// Detail is a short reason, never a value.
	Detail string `json:"detail,omitempty"`

	// Prev is the hex SHA-256 of the previous line of the file (without
	// its newline), or of the last line of PrevFile for a genesis record
	// after a rotation; empty for the first file's genesis.
	Prev string `json:"prev"`
	// HMAC is the hex HMAC-SHA256 of the line up to it, when a key is set.
	HMAC string `json:"hmac,omitempty"`
}

// HashBytes returns the hex SHA-256 of b, for ArgSHA256 and friends.
func HashBytes(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

const hmacPrefix = `,"hmac":"`

// sign appends the HMAC field to line (a JSON object without "hmac").
func sign(line, key []byte) []byte {
	if len(key) == 0 {
		return line
	}
	m := hmac.New(sha256.New, key)
	m.Write(line)
	sum := hex.EncodeToString(m.Sum(nil))
	out := make([]byte, 0, len(line)+len(hmacPrefix)+len(sum)+2)
	out = append(out, line[:len(line)-1]...)
	out = append(out, hmacPrefix...)
	out = append(out, sum...)
	out = append(out, '"', '}')
	return out
}
