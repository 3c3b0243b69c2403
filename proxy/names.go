package proxy

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// MaxToolNameLen is the longest tool name the gateway exports, from the MCP
// tool naming rules.
const MaxToolNameLen = 128

// SanitizeName maps name onto the MCP tool name alphabet [A-Za-z0-9_.-] and
// at most MaxToolNameLen bytes. Any other rune becomes '_'. A name that had to
// be shortened keeps a hash of the whole so that two long names with a common
// prefix stay distinct. The mapping is deterministic.
func SanitizeName(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	s := b.String()
	if s == "" {
		s = "_"
	}
	if len(s) <= MaxToolNameLen {
		return s
	}
	sum := sha256.Sum256([]byte(name))
	suffix := "_" + hex.EncodeToString(sum[:4])
	return s[:MaxToolNameLen-len(suffix)] + suffix
}
