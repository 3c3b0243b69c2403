// Package secret holds values that must never be printed: gateway keys,
// OAuth client secrets, access tokens and upstream env values.
//
// A String masks itself whenever it is formatted, marshalled to JSON or
// logged; only Reveal returns the value. A Redactor scrubs known secret
// values out of free text (an upstream's stderr, an error message) before it
// reaches a log line.
package secret

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Masked is what a String prints instead of its value.
const Masked = "[REDACTED]"

// String is a secret value. Its zero value is the empty secret.
type String string

// Reveal returns the secret value. Call it only where the value is used, never
// to build a log line or an error.
func (s String) Reveal() string { return string(s) }

// IsZero reports whether the secret is empty.
func (s String) IsZero() bool { return s == "" }

// String implements fmt.Stringer and always returns a mask.
func (s String) String() string {
	if s == "" {
		return ""
	}
	return Masked
}

// GoString implements fmt.GoStringer so that %#v masks too.
func (s String) GoString() string { return fmt.Sprintf("secret.String(%q)", s.String()) }

// Format implements fmt.Formatter so that every verb masks.
func (s String) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(s.String())) }

// MarshalJSON implements json.Marshaler with the mask.
func (s String) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// MarshalText implements encoding.TextMarshaler with the mask, which also
// covers zerolog's Interface and map keys.
func (s String) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Fingerprint returns a short, stable, non-reversible identifier of the value
// (the first 8 hex digits of its SHA-256) for logs and audit lines.
func (s String) Fingerprint() string { return Fingerprint(string(s)) }

// Fingerprint returns the first 8 hex digits of the SHA-256 of v.
func Fingerprint(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:4])
}

// MinRedactLen is the shortest value a Redactor scrubs; shorter values (such
// as "1" or "true") would mangle unrelated text and carry little secret.
const MinRedactLen = 4

// Redactor replaces known secret values in text with Masked. It is safe for
// concurrent use. The zero value redacts nothing.
type Redactor struct {
	mu       sync.RWMutex
	values   map[string]struct{}
	replacer *strings.Replacer
}

// Add registers secret values to scrub. Values shorter than MinRedactLen are
// ignored.
func (r *Redactor) Add(values ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.values == nil {
		r.values = make(map[string]struct{})
	}
	changed := false
	for _, v := range values {
		if len(v) < MinRedactLen {
			continue
		}
		if _, ok := r.values[v]; !ok {
			r.values[v] = struct{}{}
			changed = true
		}
	}
	if !changed {
		return
	}
	// Longest first, so that a secret containing another is scrubbed whole.
	vs := make([]string, 0, len(r.values))
	for v := range r.values {
		vs = append(vs, v)
	}
	sort.Slice(vs, func(i, j int) bool { return len(vs[i]) > len(vs[j]) })
	pairs := make([]string, 0, 2*len(vs))
	for _, v := range vs {
		pairs = append(pairs, v, Masked)
	}
	r.replacer = strings.NewReplacer(pairs...)
}

// Redact returns s with every registered value replaced by Masked.
func (r *Redactor) Redact(s string) string {
	if r == nil {
		return s
	}
	r.mu.RLock()
	rep := r.replacer
	r.mu.RUnlock()
	if rep == nil {
		return s
	}
	return rep.Replace(s)
}
