package guard

import "regexp"

// injectionRules find instruction-override phrasing, fake role and system
// markers, delimiters, jailbreak modes, concealment and exfiltration
// instructions, and instructions hidden in HTML or markdown comments.
var injectionRules = []*rule{
	{id: "instruction_override", anchors: []string{"ignore", "disregard", "forget", "override", "bypass"}, back: 2, fwd: 160,
		re: regexp.MustCompile(`(?i)\b(?:ignore|disregard|forget|override|bypass)\b[^.\n]*?\b(?:all|any|previous|prior|above|earlier|preceding|your|the|every|system)\b[^.\n]*?\b(?:instructions?|prompts?|rules|guidelines|directives|guardrails|safety|security(?: checks)?|restrictions|filters?|policies)\b`)},
	{id: "role_marker", anchors: []string{"<|", "[inst", "[/inst", "[system", "<system", "</system", "<instruction", "<ai_", "<hidden", "<|im_"}, back: 2, fwd: 80,
		re: regexp.MustCompile(`(?i)<\|(?:system|im_start|im_end|assistant|user|endoftext)\|>|\[/?(?:INST|SYSTEM[A-Z_ ]*)\]|</?(?:system(?:_[a-z_]+)?|instructions?(?:_[a-z_]+)?|ai_[a-z_]+|hidden_[a-z_]+)\b[^>\n]*>`)},
	{id: "system_marker", anchors: []string{"override", "instruction", "directive", "delimiter", "system:", "system :", "###", "---", "===", "message for ai"}, back: 32, fwd: 64,
		accept: nearAny(40, "system", "ai", ":"),
		re:     regexp.MustCompile(`(?i)\b(?:system|admin(?:istrator)?)\s*(?:override|instruction|directive|delimiter|prompt\s+override|message\s+for\s+ai|context)s?\b|(?m:^[ \t]*system\s*:)|(?:#{3}|-{3}|={3})[ \t]*(?:critical |important )?(?:system|ai)\b`)},
	{id: "jailbreak", anchors: []string{"dan mode", "unrestricted", "developer mode", "jailbreak", "security_level", "disable", "god mode"}, back: 24, fwd: 80,
		re: regexp.MustCompile(`(?i)\b(?:dan mode|developer mode|god mode|jailbreak\w*|unrestricted (?:mode|assistant|access)|security_level\s*[=:]\s*0|disable (?:all |any )?(?:the )?(?:security|safety|content)?\s*(?:guardrails|filters?|filtering|security checks|safety checks))\b`)},
	{id: "concealment", anchors: []string{"not tell", "n't tell", "not show", "not mention", "n't mention", "not reveal", "without telling", "not inform", "hidden instruction"}, back: 24, fwd: 80,
		re: regexp.MustCompile(`(?i)\b(?:(?:do not|don't|never|must not)\s+(?:tell|show|mention|reveal|inform|alert|disclose)\b[^.\n]*?\b(?:user|human|anyone|them|this)\b|without telling (?:the )?user|hidden instructions?)`)},
	{id: "exfiltration", anchors: []string{"exfiltrat", "send", "upload", "forward", "transmit", "post ", "leak"}, back: 8, fwd: 200,
		re: regexp.MustCompile(`(?i)\bexfiltrat\w*|\b(?:send|upload|forward|transmit|post|leak)\w*\b[^\n]*?\b(?:credentials?|passwords?|api[_ ]?keys?|secrets?|tokens?|ssh keys?|private keys?|cookies|environment variables|\.env)\b[^\n]*?(?:https?://|\bto (?:an? )?(?:external|remote|attacker|our|this|the following)\b)`)},
	{id: "hidden_comment", anchors: []string{"<!--", "[//]: #"}, back: 0, fwd: 2100,
		re: regexp.MustCompile(`(?is)<!--.*?\b(?:ai|assistant|llm|model|agent|instructions?|system|prompt)\b.*?-->|(?i)\[//\]: # \([^)\n]*\b(?:ai|assistant|llm|instructions?|system)\b[^)\n]*\)`)},
}

// toolPoisoningRules add what matters in a tool definition: references to
// sensitive files and preference manipulation ("always use this tool
// first"). Tool checks run them together with injectionRules.
var toolPoisoningRules = []*rule{
	{id: "sensitive_path", anchors: []string{".ssh", "id_rsa", "id_ed25519", "/etc/passwd", "/etc/shadow", ".env", "mcp.json", "claude_desktop_config", ".aws/credentials", ".netrc", ".git-credentials", "enkrypt_mcp_config"}, back: 8, fwd: 40,
		re: regexp.MustCompile(`(?i)~?/?\.ssh\b|\bid_(?:rsa|ed25519|ecdsa)\b|/etc/(?:passwd|shadow)\b|(?:^|[\s/'"` + "`" + `])\.env\b|\bmcp\.json\b|claude_desktop_config(?:\.json)?|\.aws/credentials|\.netrc\b|\.git-credentials\b|enkrypt_mcp_config(?:\.json)?`)},
	{id: "preference_manipulation", anchors: []string{"always", "instead of", "other tool", "mandatory", "must use", "only tool", "first", "uses left"}, back: 24, fwd: 120,
		re: regexp.MustCompile(`(?i)\b(?:always (?:use|choose|call|prefer|select) this (?:tool|function)|(?:use|choose|call) this (?:tool|function) (?:first|instead|always)|(?:ignore|avoid|never use|do not use|don't use) (?:all |any )?(?:the )?other (?:\w+ )?(?:tools|functions|converters|services)|instead of (?:any|all|the) other (?:tools|functions)|this is the only (?:tool|function) you|mandatory(?: for all| to use)|only \d+ uses left)\b`)},
}

var (
	injectionSet     = newRuleSet(injectionRules)
	toolPoisoningSet = newRuleSet(toolPoisoningRules)
)

// ScanInjection returns the prompt-injection findings in s.
func ScanInjection(s string) []Finding {
	return dedupe(injectionSet.run(DetectorInjection, s, nil))
}

// ScanToolPoisoning returns the findings that make a tool definition
// poisoned: injection findings plus sensitive paths and preference
// manipulation.
func ScanToolPoisoning(s string) []Finding {
	fs := injectionSet.run(DetectorInjection, s, nil)
	return dedupe(toolPoisoningSet.run(DetectorToolPoisoning, s, fs))
}
