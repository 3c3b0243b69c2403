package detect

import "strings"

// Keywords finds configured keywords, case-insensitively (ASCII), only as
// whole words. The zero value finds nothing.
type Keywords struct {
	words []string // lowercased, non-empty
}

// NewKeywords returns a keyword detector for words; empty entries are dropped.
func NewKeywords(words []string) *Keywords {
	k := &Keywords{}
	for _, w := range words {
		if w = strings.TrimSpace(w); w != "" {
			k.words = append(k.words, strings.Map(asciiLowerRune, w))
		}
	}
	return k
}

func asciiLowerRune(r rune) rune {
	if r >= 'A' && r <= 'Z' {
		return r + 32
	}
	return r
}

// Scan returns the keyword findings in s; Rule is "keyword".
func (k *Keywords) Scan(s string) []Finding {
	if k == nil || len(k.words) == 0 || s == "" {
		return nil
	}
	lower, buf := lowered(s)
	defer lowerPool.Put(buf)
	return k.scan(lower, nil)
}

// scan appends the keyword findings in lower, a text lowered by asciiLower,
// to fs.
func (k *Keywords) scan(lower string, fs []Finding) []Finding {
	n := len(fs)
	for _, w := range k.words {
		for off := 0; off < len(lower); {
			j := strings.Index(lower[off:], w)
			if j < 0 {
				break
			}
			a, b := off+j, off+j+len(w)
			if (a == 0 || !isWordByte(lower[a-1]) || !isWordByte(w[0])) && (b == len(lower) || !isWordByte(lower[b]) || !isWordByte(w[len(w)-1])) {
				fs = append(fs, Finding{Detector: DetectorKeyword, Rule: "keyword", Start: a, End: b})
			}
			off = a + 1
		}
	}
	if len(fs) == n {
		return fs
	}
	return append(fs[:n], dedupe(fs[n:])...)
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c >= 0x80
}
