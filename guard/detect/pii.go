package detect

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// ScanPII returns the PII findings in s: e-mail addresses, phone numbers,
// US SSNs in valid ranges, Luhn-valid payment cards, mod-97-valid IBANs and
// IP addresses. It is a hand-written single pass (no regexp): digits are
// everywhere in real traffic, so each numeric token is classified once.
func ScanPII(s string) []Finding {
	var fs []Finding
	add := func(rule string, a, b int) {
		fs = append(fs, Finding{Detector: DetectorPII, Rule: rule, Start: a, End: b})
	}
	n := len(s)
	ipv6Done := 0
	for i := 0; i < n; i++ {
		for i < n && !piiByte[s[i]] {
			i++
		}
		if i == n {
			break
		}
		c := s[i]
		switch {
		case c == '@':
			if a, b, ok := emailAt(s, i); ok {
				add("email", a, b)
				i = b - 1
			}
		case c == ':' && i >= ipv6Done:
			a, b := i, i
			for a > 0 && isHexColon(s[a-1]) && i-a < 40 {
				a--
			}
			for b < n && isHexColon(s[b]) && b-i < 40 {
				b++
			}
			ipv6Done = b
			if (a == 0 || !isAlnum(s[a-1])) && (b == n || !isAlnum(s[b])) && validIPv6(s[a:b]) {
				add("ip_address", a, b)
			}
			i = b - 1
		case isUpper(c) && i+3 < n && isUpper(s[i+1]) && s[i+2]-'0' < 10 && s[i+3]-'0' < 10 && (i == 0 || !isAlnum(s[i-1])):
			if b, ok := ibanAt(s, i); ok {
				add("iban", i, b)
				i = b - 1
			}
		case c-'0' < 10 && (i == 0 || !isAlnum(s[i-1])):
			b := numericToken(s, i)
			if rule, a, ok := classifyNumber(s, i, b); ok {
				add(rule, a, b)
			}
			i = b - 1
		}
	}
	return fs
}

// piiByte marks the bytes where a PII match can be recognised: '@' of an
// e-mail, ':' of an IPv6 address, the capitals an IBAN starts with and
// digits. ScanPII skips every other byte without looking further.
var piiByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	t['@'], t[':'] = true, true
	return t
}()

func isAlnum(c byte) bool { return c-'0' < 10 || c-'a' < 26 || c-'A' < 26 }
func isUpper(c byte) bool { return c-'A' < 26 }
func isHexColon(c byte) bool {
	return c-'0' < 10 || c-'a' < 6 || c-'A' < 6 || c == ':' || c == '.'
}

func isEmailLocal(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

// emailAt returns the e-mail address around the '@' at i.
func emailAt(s string, i int) (int, int, bool) {
	a := i
	for a > 0 && isEmailLocal(s[a-1]) && i-a < 64 {
		a--
	}
	for a < i && !isAlnum(s[a]) {
		a++
	}
	if a == i {
		return 0, 0, false
	}
	b, lastDot := i+1, -1
	for b < len(s) && (isAlnum(s[b]) || s[b] == '.' || s[b] == '-') && b-i < 254 {
		if s[b] == '.' {
			lastDot = b
		}
		b++
	}
	for b > i+1 && (s[b-1] == '.' || s[b-1] == '-') {
		b--
	}
	if lastDot < 0 || lastDot >= b-2 || lastDot == i+1 {
		return 0, 0, false
	}
	for k := lastDot + 1; k < b; k++ {
		if !(s[k]-'a' < 26 || s[k]-'A' < 26) {
			return 0, 0, false
		}
	}
	return a, b, true
}

// numericToken returns the end of the run of digit groups starting at i,
// joined by at most two separator bytes from " -./()".
func numericToken(s string, i int) int {
	n, b := len(s), i
	for b < n {
		for b < n && s[b]-'0' < 10 {
			b++
		}
		k := b
		for k < n && k-b < 2 && isNumSep(s[k]) {
			k++
		}
		if k == b || k >= n || s[k]-'0' >= 10 || b-i > 64 {
			return b
		}
		b = k
	}
	return b
}

func isNumSep(c byte) bool {
	return c == ' ' || c == '-' || c == '.' || c == '/' || c == '(' || c == ')'
}

// classifyNumber decides what the numeric token s[a:b] is, if anything, and
// where the finding starts (a phone number may start at a '+' or '(').
func classifyNumber(s string, a, b int) (string, int, bool) {
	if b < len(s) && isAlnum(s[b]) {
		return "", 0, false
	}
	t := s[a:b]
	digits, seps, dots, dashes, spaces, other := 0, 0, 0, 0, 0, 0
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case c-'0' < 10:
			digits++
		case c == '.':
			dots++
			seps++
		case c == '-':
			dashes++
			seps++
		case c == ' ':
			spaces++
			seps++
		default:
			other++
			seps++
		}
	}
	switch {
	case dots == 3 && seps == 3 && validIPv4(t):
		return "ip_address", a, true
	case len(t) == 11 && dashes == 2 && t[3] == '-' && t[6] == '-' && validSSN(t):
		return "ssn", a, true
	case digits >= 13 && digits <= 19 && dots == 0 && other == 0 && validCard(t):
		return "card", a, true
	}
	start := a
	if a > 0 && s[a-1] == '+' {
		start = a - 1
	} else if a > 0 && s[a-1] == '(' {
		start = a - 1
	}
	nanp := digits == 10 || digits == 11 && t[0] == '1'
	if nanp && dots+dashes+spaces+other >= 2 && (dots == 0 || dashes+spaces == 0) && !strings.Contains(t, "/") {
		return "phone", start, true
	}
	if start < a && s[start] == '+' && digits >= 8 && digits <= 15 && seps >= 1 && !strings.Contains(t, "/") {
		return "phone", start, true
	}
	return "", 0, false
}

// ibanAt returns the end of a mod-97-valid IBAN starting at a, trying the
// longest candidate first (a trailing capitalised word may have been read).
func ibanAt(s string, a int) (int, bool) {
	var ends []int
	alnum := 0
	for k := a; k < len(s) && alnum < 34; k++ {
		c := s[k]
		switch {
		case isUpper(c) || c-'0' < 10:
			alnum++
			if k+1 == len(s) || !(isUpper(s[k+1]) || s[k+1]-'0' < 10) {
				ends = append(ends, k+1)
			}
		case c == ' ' && k+1 < len(s) && (isUpper(s[k+1]) || s[k+1]-'0' < 10):
		default:
			k = len(s)
		}
	}
	for j := len(ends) - 1; j >= 0; j-- {
		if e := ends[j]; (e == len(s) || !isAlnum(s[e])) && validIBAN(s[a:e]) {
			return e, true
		}
	}
	return 0, false
}

func digitsOf(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= '0' && c <= '9' {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// validCard accepts 13-19 digit numbers that pass the Luhn check and start
// like an issued card (not all one digit).
func validCard(m string) bool {
	d := digitsOf(m)
	if len(d) < 13 || len(d) > 19 || strings.Count(d, d[:1]) == len(d) {
		return false
	}
	sum, dbl := 0, false
	for i := len(d) - 1; i >= 0; i-- {
		n := int(d[i] - '0')
		if dbl {
			n *= 2
			if n > 9 {
				n -= 9
			}
		}
		sum += n
		dbl = !dbl
	}
	return sum%10 == 0
}

// validSSN accepts SSNs the SSA could have issued: area not 000, 666 or
// 900-999, group not 00, serial not 0000.
func validSSN(m string) bool {
	area, _ := strconv.Atoi(m[0:3])
	group, _ := strconv.Atoi(m[4:6])
	serial, _ := strconv.Atoi(m[7:11])
	return area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

// validIBAN accepts IBANs whose check digits pass ISO 7064 mod 97-10.
func validIBAN(m string) bool {
	s := strings.ReplaceAll(m, " ", "")
	if len(s) < 15 || len(s) > 34 {
		return false
	}
	s = s[4:] + s[:4]
	rem := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			rem = (rem*10 + int(c-'0')) % 97
		case c >= 'A' && c <= 'Z':
			rem = (rem*100 + int(c-'A'+10)) % 97
		default:
			return false
		}
	}
	return rem == 1
}

func validIPv4(m string) bool {
	a, err := netip.ParseAddr(m)
	return err == nil && a.Is4() && !a.IsUnspecified()
}

func validIPv6(m string) bool {
	if strings.Count(m, ":") < 2 {
		return false
	}
	a, err := netip.ParseAddr(m)
	return err == nil && a.Is6() && !a.IsUnspecified()
}

// dedupe drops findings that lie inside another finding (a card number
// also looks like a phone number). It sorts fs by position.
func dedupe(fs []Finding) []Finding {
	if len(fs) < 2 {
		return fs
	}
	slices.SortFunc(fs, func(a, b Finding) int {
		if a.Start != b.Start {
			return a.Start - b.Start
		}
		return b.End - a.End
	})
	out := fs[:0]
	maxEnd := -1
	for _, f := range fs {
		if f.End <= maxEnd {
			continue
		}
		out = append(out, f)
		maxEnd = f.End
	}
	return out
}

// Dedupe drops findings that lie inside another finding and sorts fs by
// position, as every Scan function returns them.
func Dedupe(fs []Finding) []Finding { return dedupe(fs) }
