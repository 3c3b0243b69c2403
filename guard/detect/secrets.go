package detect

import (
	"encoding/base64"
	"math"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// secretRules find provider credentials, private keys, JWTs, credentials in
// URLs and high-entropy password or key assignments. Rule ids name the kind.
var secretRules = detectorRules(DetectorSecrets, []*rule{
	{id: "aws_access_key_id", anchors: []string{"akia", "asia"}, fwd: 22,
		pat: `\b(?:AKIA|ASIA)[0-9A-Z]{16}\b`},
	{id: "aws_secret_access_key", anchors: []string{"aws_secret"}, fwd: 90,
		pat: `(?i)aws_secret(?:_access)?_key["']?\s*[:=]\s*["']?([A-Za-z0-9/+]{40})\b`, group: 1},
	{id: "github_token", anchors: []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"}, fwd: 300,
		pat: `\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b`},
	{id: "gitlab_token", anchors: []string{"glpat-"}, fwd: 80,
		pat: `\bglpat-[A-Za-z0-9_\-]{20,}\b`},
	{id: "slack_token", anchors: []string{"xox"}, fwd: 120,
		pat: `\bxox[abposr]-[A-Za-z0-9\-]{10,}\b`},
	{id: "slack_webhook", anchors: []string{"hooks.slack.com"}, fwd: 120,
		pat: `hooks\.slack\.com/services/T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+`},
	{id: "stripe_key", anchors: []string{"sk_live_", "sk_test_", "rk_live_", "rk_test_"}, fwd: 120,
		pat: `\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}\b`},
	{id: "google_api_key", anchors: []string{"aiza"}, fwd: 39,
		pat: `\bAIza[0-9A-Za-z_\-]{35}`},
	{id: "openai_api_key", anchors: []string{"sk-"}, fwd: 220, accept: tokenRunAt(3, 20, "ant-", "proj-", "svcacct-", "admin-"),
		pat: `\bsk-(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}`,
		rename: func(m string) string {
			if strings.HasPrefix(m, "sk-ant-") {
				return "anthropic_api_key"
			}
			return "openai_api_key"
		}},
	{id: "private_key", anchors: []string{"-----begin"}, fwd: 64,
		pat: `-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----`},
	{id: "jwt", anchors: []string{"eyj"}, fwd: 2048, accept: tokenRunAt(3, 8), deadTo: '.',
		pat: `\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}`},
	{id: "url_credentials", anchors: []string{"://"}, fwd: 240, start: schemeStart, accept: userinfoFollows,
		pat: `\b[a-zA-Z][a-zA-Z0-9+.\-]+://[^\s:/@"']+:([^\s/"']{3,})@`, group: 1},
	{id: "password_assignment", anchors: []string{"passw", "pwd", "secret", "client", "api", "access", "auth", "token"}, fwd: 230, accept: assignmentFollows,
		pat:   `(?i)\b(?:passw(?:or)?d|passwd|pwd|secret|client[_\-]?secret|api[_\-]?key|access[_\-]?key|secret[_\-]?key|auth[_\-]?token|access[_\-]?token|token)["']?\s*(?:=|:)\s*["']?([^\s"',;<>{}()\[\]]{8,})`,
		group: 1, valid: highEntropy},
})

// tokenRunAt returns an accept function that keeps a hit only when, after
// skip bytes and at most one of the optional prefixes, at least min token
// bytes ([A-Za-z0-9_-]) follow.
func tokenRunAt(skip, min int, prefixes ...string) func(string, int) bool {
	return func(lower string, i int) bool {
		k := i + skip
		for _, p := range prefixes {
			if strings.HasPrefix(lower[k:], p) {
				k += len(p)
				break
			}
		}
		for j := 0; j < min; j++ {
			if k+j >= len(lower) {
				return false
			}
			if c := lower[k+j]; !(c-'a' < 26 || c-'0' < 10 || c == '_' || c == '-') {
				return false
			}
		}
		return true
	}
}

// assignmentFollows keeps a keyword hit only when the keyword (with its
// suffix letters, digits, '_' and '-') is followed by an optional quote,
// spaces and a ':' or '='.
func assignmentFollows(lower string, i int) bool {
	k, n := i, min(i+32, len(lower))
	for k < n {
		if c := lower[k]; !(c-'a' < 26 || c-'0' < 10 || c == '_' || c == '-') {
			break
		}
		k++
	}
	if k < n && (lower[k] == '"' || lower[k] == '\'') {
		k++
	}
	for k < n && (lower[k] == ' ' || lower[k] == '\t') {
		k++
	}
	return k < n && (lower[k] == ':' || lower[k] == '=')
}

// schemeStart maps a "://" hit to the start of its URL scheme, or -1.
func schemeStart(lower string, i int) int {
	a := i
	for a > 0 && i-a < 32 {
		c := lower[a-1]
		if !(c-'a' < 26 || c-'0' < 10 || c == '+' || c == '.' || c == '-') {
			break
		}
		a--
	}
	for a < i && lower[a]-'a' >= 26 {
		a++
	}
	if a == i {
		return -1
	}
	return a
}

// ScanSecrets returns the secret findings in s, including those in the
// text its base64 runs decode to (see scanEncodedSecrets).
func ScanSecrets(s string) []Finding {
	return scanEncodedSecrets(s, ruleSetFor(maskSecrets).scan(s, "", nil))
}

// Bounds on the base64 runs whose decoded text the secret rules read: a
// run shorter than minEncodedRun cannot hold a credential (the shortest,
// an AWS key id, is 20 characters: 28 encoded), and one longer than
// maxEncodedRun is a blob (an image, an archive), not an encoded
// credentials file or private key (a 4096-bit RSA PEM is 4.5 KiB encoded).
const (
	minEncodedRun = 20
	maxEncodedRun = 16 << 10
)

var decodePool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// scanEncodedSecrets appends to fs the secret findings in the text hidden
// in s as base64 (standard or URL alphabet, padded or not): a run of
// minEncodedRun to maxEncodedRun base64 characters that decodes to text
// (UTF-8 without control characters other than tab and line ends) is
// scanned with the secret rules. A finding spans the whole encoded run in
// s, so redaction replaces the run. Each byte of s is decoded at most once
// and the decoded text is at most 3/4 of the run: the cost stays linear in
// s.
func scanEncodedSecrets(s string, fs []Finding) []Finding {
	if len(s) < minEncodedRun {
		return fs
	}
	var bp *[]byte
	for i := 0; i < len(s); {
		if b64Class[s[i]] == 0 {
			i++
			continue
		}
		j := i
		var seen byte
		for j < len(s) && b64Class[s[j]] != 0 {
			seen |= b64Class[s[j]]
			j++
		}
		std, url := seen&b64Std != 0, seen&b64URL != 0
		k := j
		for k < len(s) && k-j < 2 && s[k] == '=' {
			k++
		}
		n := j - i
		if n < minEncodedRun || n > maxEncodedRun || std && url || n%4 == 1 {
			i = k
			continue
		}
		enc := base64.RawStdEncoding
		if url {
			enc = base64.RawURLEncoding
		}
		if bp == nil {
			bp = decodePool.Get().(*[]byte)
		}
		buf := slices.Grow((*bp)[:0], enc.DecodedLen(n))[:enc.DecodedLen(n)]
		*bp = buf
		if m, err := enc.Decode(buf, []byte(s[i:j])); err == nil && decodedText(buf[:m]) {
			for _, f := range ruleSetFor(maskSecrets).scan(unsafeString(buf[:m]), "", nil) {
				fs = append(fs, Finding{Detector: f.Detector, Rule: f.Rule, Start: i, End: k})
			}
		}
		i = k
	}
	if bp != nil {
		decodePool.Put(bp)
	}
	return fs
}

// b64Class classifies a byte for scanEncodedSecrets: 0 outside both
// base64 alphabets, else b64Alnum, b64Std ('+', '/') or b64URL ('-', '_').
var b64Class = func() (t [256]byte) {
	for c := range 256 {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			t[c] = b64Alnum
		case c == '+' || c == '/':
			t[c] = b64Std
		case c == '-' || c == '_':
			t[c] = b64URL
		}
	}
	return t
}()

const (
	b64Alnum = 1 << iota
	b64Std
	b64URL
)

// decodedText reports whether b is UTF-8 text with no control characters
// other than tab, CR and LF: what a credentials file or a PEM block
// decodes to, and random binary almost never does.
func decodedText(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
			return false
		}
	}
	return utf8.Valid(b)
}

// highEntropy accepts values that look random enough to be a real secret
// (Shannon entropy of at least 3 bits per character, some letter-digit mix)
// rather than a placeholder such as "changeme" or "${DB_PASSWORD}".
func highEntropy(v string) bool {
	if strings.HasPrefix(v, "$") || strings.HasPrefix(v, "%") || strings.Contains(v, "...") || strings.Contains(v, "xxxx") {
		return false
	}
	var counts [256]int
	classes := 0
	var hasLower, hasUpper, hasDigit, hasOther bool
	for i := 0; i < len(v); i++ {
		c := v[i]
		counts[c]++
		switch {
		case c >= 'a' && c <= 'z':
			hasLower = true
		case c >= 'A' && c <= 'Z':
			hasUpper = true
		case c >= '0' && c <= '9':
			hasDigit = true
		default:
			hasOther = true
		}
	}
	for _, b := range []bool{hasLower, hasUpper, hasDigit, hasOther} {
		if b {
			classes++
		}
	}
	h := 0.0
	for _, n := range counts {
		if n > 0 {
			p := float64(n) / float64(len(v))
			h -= p * math.Log2(p)
		}
	}
	return h >= 3.0 && classes >= 2
}
