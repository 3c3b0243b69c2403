package config

import (
	"fmt"
	"os"
	"path/filepath"
)

// Audit defaults.
const (
	// DefaultAuditMaxFileBytes is the size at which an audit file is rotated.
	DefaultAuditMaxFileBytes = 64 << 20
	// DefaultAuditFsyncIntervalMS is how long written records may wait for
	// an fsync.
	DefaultAuditFsyncIntervalMS = 200
	// DefaultAuditFsyncEvery is how many records force an fsync.
	DefaultAuditFsyncEvery = 256
	// DefaultAuditQueueSize is how many records may wait to be written
	// before new ones are dropped (and counted).
	DefaultAuditQueueSize = 4096
	// AuditHMACKeyEnv names the environment variable holding the key that
	// signs every audit record; unset means records are chained but not
	// signed.
	AuditHMACKeyEnv = "ENKRYPT_AUDIT_HMAC_KEY"
)

// Audit is the "audit" block: the tamper-evident audit log of
// security-relevant events (see docs/AUDIT.md). This key is an addition of
// this gateway.
type Audit struct {
	// Enabled turns the audit log on.
	Enabled bool `json:"enabled"`
	// Path is the directory of the audit files; empty means
	// ~/.enkrypt/audit. Each gateway process writes its own files there.
	Path string `json:"path,omitempty"`
	// MaxFileBytes rotates a file once it would grow past this size; zero
	// means DefaultAuditMaxFileBytes.
	MaxFileBytes int64 `json:"max_file_bytes,omitempty"`
	// FsyncIntervalMS is the longest a written record waits for an fsync;
	// zero means DefaultAuditFsyncIntervalMS.
	FsyncIntervalMS int `json:"fsync_interval_ms,omitempty"`
	// FsyncEvery forces an fsync after this many records; zero means
	// DefaultAuditFsyncEvery.
	FsyncEvery int `json:"fsync_every,omitempty"`
	// QueueSize bounds the records waiting to be written; zero means
	// DefaultAuditQueueSize.
	QueueSize int `json:"queue_size,omitempty"`

	kept extra
}

// Dir returns the audit directory: Path, or ~/.enkrypt/audit.
func (a *Audit) Dir() (string, error) {
	if a != nil && a.Path != "" {
		return a.Path, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find home directory: %w", err)
	}
	return filepath.Join(home, DefaultDirName, "audit"), nil
}

// UnmarshalJSON implements json.Unmarshaler, keeping unknown keys.
func (a *Audit) UnmarshalJSON(b []byte) error {
	type shadow Audit
	var v shadow
	ex, err := decodeObject(b, &v)
	if err != nil {
		return err
	}
	*a = Audit(v)
	a.kept = ex
	return nil
}

// MarshalJSON implements json.Marshaler, writing unknown keys back.
func (a Audit) MarshalJSON() ([]byte, error) {
	type shadow Audit
	return encodeObject(shadow(a), a.kept)
}

// audit checks the audit block.
func (v *validator) audit(a *Audit) {
	if a == nil {
		return
	}
	if a.MaxFileBytes < 0 || (a.MaxFileBytes > 0 && a.MaxFileBytes < 4096) {
		v.add("audit.max_file_bytes", fmt.Sprintf("max_file_bytes %d is too small", a.MaxFileBytes),
			"use at least 4096, or 0 for the default (64 MiB)")
	}
	if a.FsyncIntervalMS < 0 {
		v.add("audit.fsync_interval_ms", fmt.Sprintf("fsync_interval_ms %d is negative", a.FsyncIntervalMS),
			"use a positive number of milliseconds, or 0 for the default (200)")
	}
	if a.FsyncEvery < 0 {
		v.add("audit.fsync_every", fmt.Sprintf("fsync_every %d is negative", a.FsyncEvery),
			"use a positive number of records, or 0 for the default (256)")
	}
	if a.QueueSize < 0 {
		v.add("audit.queue_size", fmt.Sprintf("queue_size %d is negative", a.QueueSize),
			"use a positive number of records, or 0 for the default (4096)")
	}
}
