package detect

import (
	"strings"
	"sync"
)

// injectionRules find instruction-override phrasing, fake role and system
// markers, delimiters, jailbreak modes, concealment and exfiltration
// instructions, and instructions hidden in HTML or markdown comments.
var injectionRules = detectorRules(DetectorInjection, []*rule{
	{id: "instruction_override", anchors: []string{"ignore", "disregard", "forget", "override", "bypass"}, fwd: 160,
		accept: segmentHasAll(160, ".\n", []string{"instruction", "prompt", "rule", "guideline", "directive", "guardrail", "safety", "security", "restriction", "filter", "polic"}),
		pat:    `(?i)\b(?:ignore|disregard|forget|override|bypass)\b[^.\n]*?\b(?:all|any|previous|prior|above|earlier|preceding|your|the|every|system)\b[^.\n]*?\b(?:instructions?|prompts?|rules|guidelines|directives|guardrails|safety|security(?: checks)?|restrictions|filters?|policies)\b`},
	{id: "role_marker", anchors: []string{"<|", "[inst", "[/inst", "[system", "[/system", "<system", "</system", "<instruction", "</instruction", "<ai_", "</ai_", "<hidden_", "</hidden_"}, fwd: 80,
		pat: `(?i)<\|(?:system|im_start|im_end|assistant|user|endoftext)\|>|\[/?(?:INST|SYSTEM[A-Z_ ]*)\]|</?(?:system(?:_[a-z_]+)?|instructions?(?:_[a-z_]+)?|ai_[a-z_]+|hidden_[a-z_]+)\b[^>\n]*>`},
	{id: "system_marker", anchors: []string{"system", "admin"}, fwd: 64,
		accept: segmentHasAll(64, "\n", []string{"override", "instruction", "directive", "delimiter", "message", "context"}),
		pat:    `(?i)\b(?:system|admin(?:istrator)?)\s*(?:override|instruction|directive|delimiter|prompt\s+override|message\s+for\s+ai|context)s?\b`},
	{id: "system_marker", anchors: []string{"system"}, fwd: 32, accept: lineStart,
		pat: `(?i)system\s*:`},
	{id: "system_marker", anchors: []string{"###", "---", "==="}, fwd: 40, accept: markerFollows,
		pat: `(?i)(?:#{3}|-{3}|={3})[ \t]*(?:critical |important )?(?:system|ai)\b`},
	{id: "jailbreak", anchors: []string{"dan mode", "unrestricted", "developer mode", "jailbreak", "security_level", "disable", "god mode"}, fwd: 80,
		pat: `(?i)\b(?:dan mode|developer mode|god mode|jailbreak\w*|unrestricted (?:mode|assistant|access)|security_level\s*[=:]\s*0|disable (?:all |any )?(?:the )?(?:security|safety|content)?\s*(?:guardrails|filters?|filtering|security checks|safety checks))\b`},
	{id: "concealment", anchors: []string{"do not", "don't", "never", "must not", "without telling", "hidden instruction"}, fwd: 120,
		pat: `(?i)\b(?:(?:do not|don't|never|must not)\s+(?:tell|show|mention|reveal|inform|alert|disclose)\b[^.\n]*?\b(?:user|human|anyone|them|this)\b|without telling (?:the )?user|hidden instructions?)`},
	{id: "exfiltration", anchors: []string{"exfiltrat"}, fwd: 40, pat: `(?i)\bexfiltrat\w*`},
	{id: "exfiltration", anchors: []string{"send", "upload", "forward", "transmit", "post", "leak"}, fwd: 200,
		accept: segmentHasAll(200, "\n", []string{"http", "to "}, []string{"credential", "password", "key", "secret", "token", "cookie", "environment", ".env"}),
		pat:    `(?i)\b(?:send|upload|forward|transmit|post|leak)\w*\b[^\n]*?\b(?:credentials?|passwords?|api[_ ]?keys?|secrets?|tokens?|ssh keys?|private keys?|cookies|environment variables|\.env)\b[^\n]*?(?:https?://|\bto (?:an? )?(?:external|remote|attacker|our|this|the following)\b)`},
	{id: "hidden_comment", anchors: []string{"<!--"}, fwd: 2100, closer: "-->",
		pat: `(?is)<!--.*?\b(?:ai|assistant|llm|model|agent|instructions?|system|prompt)\b.*?-->`},
	{id: "hidden_comment", anchors: []string{"[//]: #"}, fwd: 2100, closer: ")",
		pat: `(?i)\[//\]: # \([^)\n]*\b(?:ai|assistant|llm|instructions?|system)\b[^)\n]*\)`},
})

// markerFollows keeps a "###", "---" or "===" hit only at the last three
// bytes of its run and when "system" or "ai" follows within a few words.
func markerFollows(lower string, i int) bool {
	if i+3 < len(lower) && lower[i+3] == lower[i] {
		return false
	}
	w := lower[i+3 : min(i+40, len(lower))]
	return strings.Contains(w, "system") || strings.Contains(w, "ai")
}

// lineStart keeps a hit only when nothing but spaces and tabs precede it on
// its line.
func lineStart(lower string, i int) bool {
	for k := i - 1; k >= 0; k-- {
		switch lower[k] {
		case '\n':
			return true
		case ' ', '\t':
		default:
			return false
		}
	}
	return true
}

// toolPoisoningRules add what matters in a tool definition: references to
// sensitive files and preference manipulation ("always use this tool
// first"). Tool checks run them together with injectionRules.
var toolPoisoningRules = detectorRules(DetectorToolPoisoning, []*rule{
	{id: "sensitive_path", anchors: []string{".ssh", "/etc/passwd", "/etc/shadow", "mcp.json", "claude_desktop_config", ".aws/credentials", ".netrc", ".git-credentials", "enkrypt_mcp_config"}, fwd: 40,
		pat: `(?i)\.ssh\b|/etc/(?:passwd|shadow)\b|mcp\.json\b|claude_desktop_config(?:\.json)?|\.aws/credentials|\.netrc\b|\.git-credentials\b|enkrypt_mcp_config(?:\.json)?`},
	{id: "sensitive_path", anchors: []string{"id_rsa", "id_ed25519", "id_ecdsa"}, fwd: 12,
		pat: `(?i)\bid_(?:rsa|ed25519|ecdsa)\b`},
	{id: "sensitive_path", anchors: []string{".env"}, fwd: 5, accept: func(lower string, i int) bool {
		return i == 0 || strings.IndexByte(" \t\n\r/'\"`", lower[i-1]) >= 0
	}, pat: `(?i)\.env\b`},
	{id: "preference_manipulation", anchors: []string{"always", "use this", "choose this", "call this", "ignore", "avoid", "never use", "do not use", "don't use", "instead of", "this is the only", "mandatory", "only "}, fwd: 120,
		pat: `(?i)\b(?:always (?:use|choose|call|prefer|select) this (?:tool|function)|(?:use|choose|call) this (?:tool|function) (?:first|instead|always)|(?:ignore|avoid|never use|do not use|don't use) (?:all |any )?(?:the )?other (?:\w+ )?(?:tools|functions|converters|services)|instead of (?:any|all|the) other (?:tools|functions)|this is the only (?:tool|function) you|mandatory(?: for all| to use)|only \d+ uses left)\b`},
})

// Rule-set masks: which rule families a combined pass runs.
const (
	maskSecrets = 1 << iota
	maskInjection
	maskToolPoisoning // implies injection
)

// ruleSetOnce and ruleSetByMask hold one combined rule set per mask, built
// at its first use, so a Scanner finds the anchors of every enabled rule
// family in a single pass and a process builds only the sets its policies
// use (each holds a 72 KiB bigram index).
var (
	ruleSetOnce   [8]sync.Once
	ruleSetByMask [8]*ruleSet
)

// ruleSetFor returns the combined rule set of mask.
func ruleSetFor(mask int) *ruleSet {
	ruleSetOnce[mask].Do(func() {
		var lists [][]*rule
		if mask&maskSecrets != 0 {
			lists = append(lists, secretRules)
		}
		if mask&(maskInjection|maskToolPoisoning) != 0 {
			lists = append(lists, injectionRules)
		}
		if mask&maskToolPoisoning != 0 {
			lists = append(lists, toolPoisoningRules)
		}
		ruleSetByMask[mask] = newRuleSet(lists...)
	})
	return ruleSetByMask[mask]
}

// scan runs rs over s and appends the findings, deduplicated within each
// detector, to fs. lower is s lowered by asciiLower, or "" to have scan
// lower it.
func (rs *ruleSet) scan(s, lower string, fs []Finding) []Finding {
	if s == "" {
		return fs
	}
	if lower == "" {
		var buf *[]byte
		lower, buf = lowered(s)
		defer lowerPool.Put(buf)
	}
	all := rs.run(s, lower, nil)
	if len(all) == 0 {
		return fs
	}
	single := true
	for _, f := range all {
		if f.Detector != all[0].Detector {
			single = false
			break
		}
	}
	if single {
		return append(fs, dedupe(all)...)
	}
	for _, d := range []string{DetectorSecrets, DetectorInjection, DetectorToolPoisoning} {
		var part []Finding
		for _, f := range all {
			if f.Detector == d {
				part = append(part, f)
			}
		}
		fs = append(fs, dedupe(part)...)
	}
	return fs
}

// ScanInjection returns the prompt-injection findings in s.
func ScanInjection(s string) []Finding {
	return ruleSetFor(maskInjection).scan(s, "", nil)
}

// ScanToolPoisoning returns the findings that make a tool definition
// poisoned: injection findings plus sensitive paths and preference
// manipulation.
func ScanToolPoisoning(s string) []Finding {
	return ruleSetFor(maskToolPoisoning).scan(s, "", nil)
}
