package guard

import (
	"encoding/base64"
	"strconv"
	"strings"
	"unicode/utf8"

	"secure-mcp-gateway/guard/detect"
)

// Vault maps PII found in a call's arguments to placeholders such as
// <EMAIL_1> and back. A placeholder never collides with text already present
// in the arguments, so restore(redact(x)) == x.
type Vault struct {
	original string            // the whole argument text, to avoid collisions
	byValue  map[string]string // value -> placeholder
	byPH     map[string]string // placeholder -> value
	counts   map[string]int
}

func newVault(original string) *Vault {
	return &Vault{original: original, byValue: map[string]string{}, byPH: map[string]string{}, counts: map[string]int{}}
}

// NewVault returns an empty vault for arguments whose full text is original.
func NewVault(original string) *Vault { return newVault(original) }

func (v *Vault) used() bool { return len(v.byPH) > 0 }

func (v *Vault) placeholder(rule, value string) string {
	if ph, ok := v.byValue[value]; ok {
		return ph
	}
	label := strings.ToUpper(rule)
	for {
		v.counts[label]++
		ph := "<" + label + "_" + strconv.Itoa(v.counts[label]) + ">"
		if !strings.Contains(v.original, ph) {
			v.byValue[value] = ph
			v.byPH[ph] = value
			return ph
		}
	}
}

// Redact replaces the PII in s by placeholders.
func (v *Vault) Redact(s string) string {
	return detect.ReplaceFindings(s, ScanPII(s), func(f Finding) string { return v.placeholder(f.Rule, s[f.Start:f.End]) })
}

// Restore puts the original values back in place of the vault's
// placeholders.
func (v *Vault) Restore(s string) string {
	if len(v.byPH) == 0 || !strings.Contains(s, "<") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i:], '>')
		if j < 0 {
			break
		}
		if val, ok := v.byPH[s[i:i+j+1]]; ok {
			b.WriteString(s[:i])
			b.WriteString(val)
			s = s[i+j+1:]
			continue
		}
		b.WriteString(s[:i+1])
		s = s[i+1:]
	}
	b.WriteString(s)
	return b.String()
}

func (v *Vault) redactValue(x any) any {
	switch t := x.(type) {
	case string:
		return v.Redact(t)
	case []any:
		for i := range t {
			t[i] = v.redactValue(t[i])
		}
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, y := range t {
			out[v.Redact(k)] = v.redactValue(y)
		}
		return out
	}
	return x
}

func (v *Vault) restoreValue(x any) any {
	switch t := x.(type) {
	case string:
		return v.Restore(t)
	case []any:
		for i := range t {
			t[i] = v.restoreValue(t[i])
		}
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, y := range t {
			out[v.Restore(k)] = v.restoreValue(y)
		}
		return out
	}
	return x
}

// decodedText decodes a base64 field and reports whether it is UTF-8 text
// worth scanning.
func decodedText(s string) (string, bool) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || !utf8.Valid(b) {
		return "", false
	}
	return string(b), true
}
