package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// DenyAll is the denied_tools pattern that denies every tool of a server
// except those named in its tools allow-list.
const DenyAll = "*"

// DeniedTool is one entry of a denied_tools list, in the Python gateway
// 2.2 format: either a bare pattern ("delete_repo", "admin_*") or an object
// {"name": pattern, "reason": why}. Patterns are case-sensitive shell globs
// (* ? [abc] [!abc]), matched against the upstream tool name.
type DeniedTool struct {
	// Name is the pattern.
	Name string `json:"name"`
	// Reason is shown in the refusal; empty means none was given.
	Reason string `json:"reason,omitempty"`

	bare bool // written as a bare string, as it was read
	kept extra
}

// UnmarshalJSON implements json.Unmarshaler for both forms.
func (d *DeniedTool) UnmarshalJSON(b []byte) error {
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '"' {
		var s string
		if err := json.Unmarshal(t, &s); err != nil {
			return err
		}
		*d = DeniedTool{Name: s, bare: true}
		return nil
	}
	type shadow DeniedTool
	var v shadow
	ex, err := decodeObject(b, &v)
	if err != nil {
		return err
	}
	*d = DeniedTool(v)
	d.kept = ex
	return nil
}

// MarshalJSON implements json.Marshaler: an entry read as a bare string, or
// built in code without a reason, is written as a bare string.
func (d DeniedTool) MarshalJSON() ([]byte, error) {
	if d.Reason == "" && len(d.kept.unknown) == 0 && (d.bare || !d.kept.decoded) {
		return marshalPlain(d.Name)
	}
	type shadow DeniedTool
	return encodeObject(shadow(d), d.kept)
}

// deniedTools validates a denied_tools list at path.
func (v *validator) deniedTools(path string, list []DeniedTool) {
	for i, d := range list {
		p := fmt.Sprintf("%s[%d]", path, i)
		switch {
		case strings.TrimSpace(d.Name) == "":
			v.add(p, "pattern is empty", `give a tool name or a glob such as "delete_*", or remove the entry`)
		case d.Name != strings.TrimSpace(d.Name):
			v.add(p, fmt.Sprintf("pattern %q has leading or trailing spaces, so it matches no tool name", d.Name), "remove the spaces")
		}
	}
}
