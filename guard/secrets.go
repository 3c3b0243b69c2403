package guard

import (
	"math"
	"regexp"
	"strings"
)

// secretRules find provider credentials, private keys, JWTs, credentials in
// URLs and high-entropy password or key assignments. Rule ids name the kind.
var secretRules = []*rule{
	{id: "aws_access_key_id", anchors: []string{"akia", "asia"}, back: 2, fwd: 24,
		re: regexp.MustCompile(`\b(?:AKIA|ASIA)[0-9A-Z]{16}\b`)},
	{id: "aws_secret_access_key", anchors: []string{"aws_secret_access_key", "aws_secret"}, back: 2, fwd: 90,
		re: regexp.MustCompile(`(?i)aws_secret(?:_access)?_key["']?\s*[:=]\s*["']?([A-Za-z0-9/+]{40})\b`), group: 1},
	{id: "github_token", anchors: []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"}, back: 2, fwd: 300,
		re: regexp.MustCompile(`\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b`)},
	{id: "gitlab_token", anchors: []string{"glpat-"}, back: 2, fwd: 80,
		re: regexp.MustCompile(`\bglpat-[A-Za-z0-9_\-]{20,}\b`)},
	{id: "slack_token", anchors: []string{"xox"}, back: 2, fwd: 120,
		re: regexp.MustCompile(`\bxox[abposr]-[A-Za-z0-9\-]{10,}\b`)},
	{id: "slack_webhook", anchors: []string{"hooks.slack.com"}, back: 10, fwd: 120,
		re: regexp.MustCompile(`hooks\.slack\.com/services/T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+`)},
	{id: "stripe_key", anchors: []string{"k_live_", "k_test_"}, back: 3, fwd: 120,
		re: regexp.MustCompile(`\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}\b`)},
	{id: "google_api_key", anchors: []string{"aiza"}, back: 2, fwd: 44,
		re: regexp.MustCompile(`\bAIza[0-9A-Za-z_\-]{35}`)},
	{id: "openai_api_key", anchors: []string{"sk-"}, back: 2, fwd: 220,
		re: regexp.MustCompile(`\bsk-(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}`),
		rename: func(m string) string {
			if strings.HasPrefix(m, "sk-ant-") {
				return "anthropic_api_key"
			}
			return "openai_api_key"
		}},
	{id: "private_key", anchors: []string{"-----begin"}, back: 0, fwd: 64,
		re: regexp.MustCompile(`-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----`)},
	{id: "jwt", anchors: []string{"eyj"}, back: 2, fwd: 2048,
		re: regexp.MustCompile(`\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}`)},
	{id: "url_credentials", anchors: []string{"://"}, back: 20, fwd: 200, accept: userinfoFollows,
		re: regexp.MustCompile(`\b[a-zA-Z][a-zA-Z0-9+.\-]+://[^\s:/@"']+:([^\s/"']{3,})@`), group: 1},
	{id: "password_assignment", anchors: []string{"password", "passwd", "pwd", "secret", "api_key", "apikey", "api-key", "access_key", "accesskey", "auth_token", "access_token", "token=", "token:", "token\":"}, back: 24, fwd: 200,
		re:    regexp.MustCompile(`(?i)\b(?:passw(?:or)?d|passwd|pwd|secret|client[_\-]?secret|api[_\-]?key|access[_\-]?key|secret[_\-]?key|auth[_\-]?token|access[_\-]?token|token)["']?\s*(?:=|:)\s*["']?([^\s"',;<>{}()\[\]]{8,})`),
		group: 1, valid: highEntropy},
}

var secretSet = newRuleSet(secretRules)

// ScanSecrets returns the secret findings in s.
func ScanSecrets(s string) []Finding {
	return dedupe(secretSet.run(DetectorSecrets, s, nil))
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
