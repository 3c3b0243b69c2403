package detect

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// normalize returns the text a model effectively reads in s: Unicode tag
// characters turned back into the ASCII they smuggle, zero-width and bidi
// controls dropped, NFKC compatibility folding (fullwidth, mathematical
// alphanumerics, circled letters, ligatures) and the common Cyrillic and
// Greek look-alikes of Latin letters mapped to those letters. ASCII text is
// returned as is without allocating.
func normalize(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r >= 0xE0020 && r <= 0xE007E:
			b.WriteRune(r - 0xE0000)
		case r >= 0xE0000 && r <= 0xE007F, r == 0x200B, r == 0x200C, r == 0x200D, r == 0x2060, r == 0xFEFF, r == 0x180E,
			r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069, r >= 0x2061 && r <= 0x2064, r == 0x00AD:
		default:
			b.WriteRune(r)
		}
	}
	out := norm.NFKC.String(b.String())
	return strings.Map(func(r rune) rune {
		if r < 0x370 {
			return r
		}
		if l, ok := confusables[r]; ok {
			return l
		}
		return r
	}, out)
}

// confusables maps the Cyrillic and Greek letters that render like Latin
// ones (the Unicode confusables table's most used entries) to those letters.
var confusables = map[rune]rune{
	'а': 'a', 'в': 'b', 'е': 'e', 'ё': 'e', 'к': 'k', 'м': 'm', 'н': 'h', 'о': 'o', 'р': 'p', 'с': 'c', 'т': 't', 'у': 'y', 'х': 'x',
	'і': 'i', 'ї': 'i', 'ј': 'j', 'ѕ': 's', 'ԁ': 'd', 'ɡ': 'g', 'һ': 'h', 'ԛ': 'q', 'ԝ': 'w', 'ь': 'b',
	'А': 'A', 'В': 'B', 'Е': 'E', 'К': 'K', 'М': 'M', 'Н': 'H', 'О': 'O', 'Р': 'P', 'С': 'C', 'Т': 'T', 'Х': 'X', 'І': 'I', 'Ј': 'J', 'Ѕ': 'S',
	'α': 'a', 'ε': 'e', 'ι': 'i', 'κ': 'k', 'ν': 'v', 'ο': 'o', 'ρ': 'p', 'τ': 't', 'υ': 'u', 'χ': 'x',
	'Α': 'A', 'Β': 'B', 'Ε': 'E', 'Ζ': 'Z', 'Η': 'H', 'Ι': 'I', 'Κ': 'K', 'Μ': 'M', 'Ν': 'N', 'Ο': 'O', 'Ρ': 'P', 'Τ': 'T', 'Υ': 'Y', 'Χ': 'X',
}

// identifierWords spells an identifier such as a property name as words:
// "content_from_reading_ssh_id_rsa" and "contentFromReading" become
// "content from reading ssh id rsa" and "content From Reading". Text that
// already holds spaces is returned as is.
func identifierWords(s string) string {
	if strings.ContainsAny(s, " \n\t") {
		return s
	}
	var b strings.Builder
	prev := rune(0)
	for _, r := range s {
		switch {
		case r == '_' || r == '-':
			b.WriteByte(' ')
		case unicode.IsUpper(r) && unicode.IsLower(prev):
			b.WriteByte(' ')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
		prev = r
	}
	return b.String()
}

// decodedRuns returns the printable text hidden in s as base64 runs (24
// characters or more), hex runs (16 digits or more, with or without 0x)
// and \xNN escape runs; encoded binary data (images, hashes, keys) does not
// decode to printable text and is skipped.
func decodedRuns(s string) (out []decoded) {
	for i := 0; i < len(s); {
		c := s[i]
		if !isB64Byte(c) {
			i++
			continue
		}
		j := i
		for j < len(s) && isB64Byte(s[j]) {
			j++
		}
		k := j
		for k < len(s) && k-j < 2 && s[k] == '=' {
			k++
		}
		if j-i < 16 {
			i = j
			continue
		}
		if t, ok := decodeRun(s[i:k]); ok {
			out = append(out, t)
		}
		i = k
	}
	if strings.Contains(s, `\x`) {
		var b []byte
		flush := func() {
			if len(b) >= 8 && printable(string(b)) {
				out = append(out, decoded{via: "hex", text: string(b)})
			}
			b = b[:0]
		}
		for i := 0; i < len(s); {
			if i+3 < len(s) && s[i] == '\\' && s[i+1] == 'x' && isHex(s[i+2]) && isHex(s[i+3]) {
				v, _ := hex.DecodeString(s[i+2 : i+4])
				b = append(b, v[0])
				i += 4
				continue
			}
			if s[i] == ' ' && len(b) > 0 {
				b = append(b, ' ')
			} else {
				flush()
			}
			i++
		}
		flush()
	}
	return out
}

// decoded is text recovered from an encoding, and which one.
type decoded struct {
	via  string // "base64" or "hex"
	text string
}

// decodeRun decodes one run of base64 or hex characters when it holds
// printable text.
func decodeRun(run string) (decoded, bool) {
	h := strings.TrimPrefix(strings.TrimPrefix(run, "0x"), "0X")
	if len(h) >= 16 && len(h)%2 == 0 && allHex(h) {
		if b, err := hex.DecodeString(h); err == nil && printable(string(b)) {
			return decoded{"hex", string(b)}, true
		}
		return decoded{}, false
	}
	if len(run) < 24 {
		return decoded{}, false
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(run); err == nil {
			if printable(string(b)) {
				return decoded{"base64", string(b)}, true
			}
			return decoded{}, false
		}
	}
	return decoded{}, false
}

func isB64Byte(c byte) bool {
	return c-'a' < 26 || c-'A' < 26 || c-'0' < 10 || c == '+' || c == '/' || c == '-' || c == '_'
}

func isHex(c byte) bool { return c-'0' < 10 || c-'a' < 6 || c-'A' < 6 }

func allHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

// printable reports whether b is UTF-8 text made of letters and spaces
// mostly, with at least one space: what an instruction decodes to, unlike
// a hash, a key or an image.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	letters, spaces, other := 0, 0, 0
	for _, r := range s {
		switch {
		case r == ' ':
			spaces++
		case unicode.IsLetter(r):
			letters++
		case unicode.IsPrint(r) || r == '\n' || r == '\t':
		default:
			other++
		}
	}
	return other == 0 && spaces > 0 && letters*10 >= len(s)*6
}

// squeezed appends the lowercase letters of s, everything else dropped,
// to buf, so that words split by spaces, dots, dashes or underscores
// ("I g n o r e", "ex-fil-trate", "se.nd") read as one.
func squeezed(s string, buf []byte) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c-'A' < 26 {
			c += 32
		}
		if c-'a' < 26 {
			buf = append(buf, c)
		}
	}
	return buf
}

// squeezedOffset returns the offset in s of the n-th letter (from 0).
func squeezedOffset(s string, n int) int {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c-'a' < 26 {
			if n == 0 {
				return i
			}
			n--
		}
	}
	return len(s)
}
