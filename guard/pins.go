package guard

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/guard/detect"
	"secure-mcp-gateway/internal/atomicfile"
)

// PinFileName is the name of the pin state file beside the config file.
const PinFileName = "tool_pins.json"

// Pins is the pin state file's content: for each server and tool, the
// approved definition and, when the upstream now serves a different one,
// the pending definition awaiting approval.
type Pins struct {
	// Servers maps server name to tool name to pin.
	Servers map[string]map[string]*Pin `json:"servers"`
}

// Pin is one tool's pinned definition.
type Pin struct {
	// SHA256 is the hash of the canonical definition.
	SHA256 string `json:"sha256"`
	// Definition is the canonical definition, secrets redacted.
	Definition json.RawMessage `json:"definition"`
	// PinnedAt is when the definition was pinned or approved.
	PinnedAt string `json:"pinned_at"`
	// Pending is a changed definition seen since; nil means none.
	Pending *PendingPin `json:"pending,omitempty"`
}

// PendingPin is a definition that differs from the pin.
type PendingPin struct {
	SHA256     string          `json:"sha256"`
	Definition json.RawMessage `json:"definition"`
	SeenAt     string          `json:"seen_at"`
}

// Canonical returns the canonical JSON of the parts of a tool definition
// that are pinned (name, title, description, input and output schema,
// annotations) and its SHA-256 in hex. encoding/json sorts map keys, which
// makes the encoding canonical once the schemas are decoded into maps.
func Canonical(t *mcp.Tool) (json.RawMessage, string, error) {
	def := map[string]any{"name": t.Name, "title": t.Title, "description": t.Description}
	for k, v := range map[string]any{"inputSchema": t.InputSchema, "outputSchema": t.OutputSchema, "annotations": t.Annotations} {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, "", fmt.Errorf("encode %s of tool %q: %w", k, t.Name, err)
		}
		var x any
		if err := json.Unmarshal(b, &x); err != nil {
			return nil, "", fmt.Errorf("decode %s of tool %q: %w", k, t.Name, err)
		}
		def[k] = x
	}
	b, err := json.Marshal(def)
	if err != nil {
		return nil, "", fmt.Errorf("encode tool %q: %w", t.Name, err)
	}
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:]), nil
}

// LoadPins reads the pin file; a missing file is empty state.
func LoadPins(path string) (*Pins, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Pins{Servers: map[string]map[string]*Pin{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read pin file: %w", err)
	}
	return decodePins(b, "pin file "+path)
}

// UpdatePins reads the pin file under an exclusive lock, applies fn and
// writes the result atomically (temp file, fsync, rename) with mode 0600.
func UpdatePins(path string, fn func(*Pins) error) error {
	unlock, err := atomicfile.Lock(path + ".lock")
	if err != nil {
		return fmt.Errorf("lock pin file: %w", err)
	}
	defer unlock()
	p, err := LoadPins(path)
	if err != nil {
		return err
	}
	if err := fn(p); err != nil {
		return err
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("encode pin file: %w", err)
	}
	if err := atomicfile.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write pin file: %w", err)
	}
	return nil
}

// Approve makes the pending definition of server's tool the pinned one. It
// reports whether there was one.
func (p *Pins) Approve(server, tool string, now time.Time) bool {
	pin := p.Servers[server][tool]
	if pin == nil || pin.Pending == nil {
		return false
	}
	*pin = Pin{SHA256: pin.Pending.SHA256, Definition: pin.Pending.Definition, PinnedAt: now.UTC().Format(time.RFC3339)}
	return true
}

// redactDefinition removes secrets from a canonical definition before it is
// written to disk.
func redactDefinition(b json.RawMessage) json.RawMessage {
	s := string(b)
	fs := ScanSecrets(s)
	if len(fs) == 0 {
		return b
	}
	out := detect.ReplaceFindings(s, fs, func(f Finding) string { return "[REDACTED:" + f.Rule + "]" })
	if !json.Valid([]byte(out)) {
		return json.RawMessage(`"[REDACTED: definition held a secret]"`)
	}
	return json.RawMessage(out)
}
