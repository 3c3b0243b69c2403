package detect

import (
	"math"
	"strings"
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

// ScanSecrets returns the secret findings in s.
func ScanSecrets(s string) []Finding {
	return ruleSetFor(maskSecrets).scan(s, "", nil)
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
