package detect

import (
	"strings"
)

// Detector names as they appear in a policy's block list.
const (
	DetectorPII           = "pii"
	DetectorSecrets       = "secrets"
	DetectorInjection     = "injection_attack"
	DetectorHiddenText    = "hidden_text"
	DetectorKeyword       = "keyword_detector"
	DetectorSponge        = "sponge_attack"
	DetectorToolPoisoning = "tool_poisoning"
)

// Scanner runs a chosen set of offline detectors over text. The zero value
// runs none.
type Scanner struct {
	PII, Secrets, Injection, HiddenText, ToolPoisoning bool
	// PathTraversal and SSRF check what arguments point at.
	PathTraversal, SSRF bool
	// Keywords is the keyword detector; nil means none.
	Keywords *Keywords
	// Sponge is the sponge detector; nil means none.
	Sponge *Sponge
}

// NewScanner returns a Scanner for the offline detectors named in names
// (unknown and model detector names are ignored here), with the keyword list
// for keyword_detector.
func NewScanner(names []string, keywords []string) *Scanner {
	sc := &Scanner{}
	for _, n := range names {
		switch strings.TrimSpace(n) {
		case DetectorPII:
			sc.PII = true
		case DetectorSecrets:
			sc.Secrets = true
		case DetectorInjection:
			sc.Injection = true
		case DetectorHiddenText:
			sc.HiddenText = true
		case DetectorToolPoisoning:
			sc.ToolPoisoning = true
		case DetectorKeyword:
			sc.Keywords = NewKeywords(keywords)
		case DetectorSponge:
			sc.Sponge = &Sponge{}
		case DetectorPathTraversal:
			sc.PathTraversal = true
		case DetectorSSRF:
			sc.SSRF = true
		}
	}
	return sc
}

// ContentDetectors are the offline detectors that judge text itself (the
// argument detectors path_traversal and ssrf judge what a value points at).
var ContentDetectors = []string{DetectorPII, DetectorSecrets, DetectorInjection, DetectorHiddenText, DetectorKeyword, DetectorSponge, DetectorToolPoisoning}

// AllOffline returns a Scanner running every offline content detector, with
// the given keywords.
func AllOffline(keywords []string) *Scanner { return NewScanner(ContentDetectors, keywords) }

// Scan appends the findings of every enabled detector in s to fs.
func (sc *Scanner) Scan(s string, fs []Finding) []Finding {
	if sc == nil || s == "" {
		return fs
	}
	if sc.PII {
		fs = append(fs, ScanPII(s)...)
	}
	mask := 0
	if sc.Secrets {
		mask |= maskSecrets
	}
	switch {
	case sc.ToolPoisoning:
		mask |= maskToolPoisoning
	case sc.Injection:
		mask |= maskInjection
	}
	keywords := sc.Keywords != nil && len(sc.Keywords.words) > 0
	if mask != 0 || keywords {
		// The rule sets and keywords match case-insensitively; they share
		// one lowered copy of s.
		lower, buf := lowered(s)
		if mask != 0 {
			fs = ruleSetFor(mask).scan(s, lower, fs)
		}
		if keywords {
			fs = sc.Keywords.scan(lower, fs)
		}
		lowerPool.Put(buf)
	}
	if sc.Secrets {
		fs = scanEncodedSecrets(s, fs)
	}
	if sc.HiddenText {
		fs = append(fs, ScanHiddenText(s)...)
	}
	if sc.Sponge != nil {
		fs = append(fs, sc.Sponge.Scan(s)...)
	}
	if sc.PathTraversal {
		fs = append(fs, ScanPath(s)...)
	}
	if sc.SSRF {
		fs = append(fs, ScanSSRF(s)...)
	}
	return fs
}
