package detect

import (
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Cue categories: what a phrase of a tool definition does. One alone is
// rarely an attack ("send a message", "an API token"); definitionRules
// combine them per sentence. Strong cues (concealment, override, call
// order, result-as-instructions, preference manipulation) stand alone.
const (
	cueConceal  = "conceal"   // hide something from the user
	cueOverride = "override"  // void earlier instructions
	cueOrder    = "order"     // call before every other tool, repeatedly
	cueATPA     = "atpa"      // obey what a result says
	cuePref     = "prefer"    // disparage other tools, demand exclusivity
	cueSecret   = "secret"    // credentials, keys, secret files
	cueUserData = "userdata"  // the conversation, the user's messages and data
	cueXfer     = "transfer"  // send, forward, upload, e-mail
	cuePass     = "pass"      // put something into an argument
	cueSink     = "sink"      // a URL, an e-mail address, a remote endpoint
	cueBehave   = "behave"    // how something must behave from now on
	cueForeign  = "foreign"   // a tool that is not this server's
	cueLang     = "language"  // override or concealment in another language
	cueBlock    = "fake_role" // a fake system / important block in any bracket style
	cueImage    = "markdown_exfil"
	cueScript   = "remote_script"
	cueNegated  = "negated" // "do not include", "never send": protective
)

// notQuoted makes r skip a word written as a JSON key or value ("email":).
func notQuoted(r *rule) *rule {
	r.accept = func(lower string, i int) bool {
		return i == 0 || lower[i-1] != '"'
	}
	return r
}

// cue returns a rule of category id matching one of the literal phrases
// (lowercase) as whole words.
func cue(id string, phrases ...string) *rule {
	q := make([]string, len(phrases))
	fwd := 0
	for i, p := range phrases {
		q[i] = regexp.QuoteMeta(p)
		fwd = max(fwd, len(p))
	}
	return &rule{id: id, anchors: phrases, fwd: fwd + 3, literal: true, pat: `\b(?:` + strings.Join(q, "|") + `)(?:s|es|ed|d|ing)?\b`}
}

// cueRules run over the normalised, lowercased text of every string of a
// definition.
var cueRules = detectorRules("cue", []*rule{
	// Concealment.
	{id: cueConceal, anchors: []string{"do not", "don't", "dont", "never", "must not", "should not", "shouldn't", "no need to", "not to"}, fwd: 110,
		pat: `\b(?:do not|don't|dont|never|must not|should not|shouldn't|no need to|not to)\s+(?:tell|show|mention|reveal|inform|alert|disclose|notify|let|explain)\b[^.\n]{0,60}?\b(?:user|users|human|person|anyone|them|they|this|it|know)\b`},
	{id: cueConceal, anchors: []string{"without"}, fwd: 60, pat: `\bwithout (?:telling|informing|notifying|alerting|letting|prompting|warning)\b[^.\n]{0,30}?\b(?:user|human|person|them|anyone)\b`},
	cue(cueConceal, "secretly", "covertly", "stealthily", "keep silent", "stay invisible", "in the dark", "keep it secret", "keep this secret", "need not know", "not be told", "even if the user asks", "even if asked", "out of your reply", "out of your answer", "out of your response"),
	{id: cueConceal, anchors: []string{"quietly", "silently"}, fwd: 40, pat: `\b(?:quietly|silently),? (?:append|add|send|copy|include|call|read|forward|retry|upload|log|store|pass|attach|collect)\b`},
	{id: cueConceal, anchors: []string{"must", "should", "will"}, fwd: 60, pat: `\b(?:must|should|will) (?:never|not) be (?:shown|told|mentioned|revealed|disclosed|explained|visible)\b`},
	{id: cueConceal, anchors: []string{"does not need to", "doesn't need to", "do not need to"}, fwd: 40, pat: `\b(?:does not|doesn't|do not) need to (?:learn|know|see|hear)\b`},
	{id: cueConceal, anchors: []string{"keep"}, fwd: 90, pat: `\bkeep (?:this|it|them|the [a-z' ]{1,30}?|its [a-z' ]{1,30}?)\b[^.\n]{0,40}?\b(?:secret|hidden|private|invisible|from the user|to yourself|in the dark)\b`},
	{id: cueConceal, anchors: []string{"act as", "behave as", "pretend", "say you", "say that you"}, fwd: 60, pat: `\b(?:(?:act|behave) as (?:though|if)|pretend(?: that)?|say (?:that )?you) (?:this tool |it |you )?(?:only|just)\b`},
	{id: cueConceal, anchors: []string{"no reason to", "no need to", "need not", "needn't"}, fwd: 40, pat: `\b(?:no (?:reason|need) to|need not|needn't) (?:hear|know|learn|see|be told|find out)\b`},
	{id: cueConceal, anchors: []string{"leave", "keep"}, fwd: 100, pat: `\b(?:leave|keep)\b[^.\n]{0,50}?\bout of (?:what you (?:tell|say|show|write)|your (?:reply|answer|response|summary|message))`},
	{id: cueConceal, anchors: []string{"between us", "between you and"}, fwd: 40, pat: `\bbetween (?:us|you and (?:me|the tool|this tool|the server))\b`},
	{id: cueConceal, anchors: []string{"if the user asks", "if they ask", "if anyone asks", "if asked", "when asked", "if the user wonders"}, fwd: 120, pat: `\b(?:if the user (?:asks|wonders)|if they ask|if anyone asks|if asked|when asked)\b[^.\n]{0,80}?\b(?:say|tell (?:them|the user)|answer|reply|claim|pretend)\b`},
	cue(cueConceal, "is confidential", "are confidential", "stay confidential", "remain confidential"),
	{id: cueConceal, anchors: []string{"not", "never", "no need to", "don't", "do not"}, fwd: 110, pat: `\b(?:not|never|no need to|don't|do not)\b[^.\n]{0,30}?\b(?:bring (?:it |this |that )?up|raise|discuss|share|mention)\b[^.\n]{0,30}?\b(?:with|to) (?:the )?(?:user|human|person|customer)`},
	{id: cueConceal, anchors: []string{"hide"}, fwd: 50, pat: `\bhide (?:this|it|them|the [a-z ]{1,20}) from (?:the )?(?:user|human|person)`},
	// Override of earlier instructions.
	{id: cueOverride, anchors: []string{"ignore", "disregard", "forget", "pay no attention", "set aside", "discard"}, fwd: 130,
		pat: `\b(?:ignore|disregard|forget|pay no attention to|set aside|discard)\b[^.\n]{0,50}?\b(?:previous|prior|earlier|above|preceding|original|existing|all|any|other)\b[^.\n]{0,40}?\b(?:instructions?|guidance|directions?|directives?|rules|guidelines|prompts?|orders|polic(?:y|ies))\b`},
	{id: cueOverride, anchors: []string{"take", "takes"}, fwd: 40, pat: `\btakes? (?:priority|precedence) over\b`},
	{id: cueOverride, anchors: []string{"are", "is"}, fwd: 40, pat: `\b(?:are|is) (?:now )?(?:void|null and void|obsolete|superseded|revoked)\b`},
	{id: cueOverride, anchors: []string{"override", "overrides", "supersede"}, fwd: 60, pat: `\b(?:overrides?|supersedes?) (?:the |any |all |your )?(?:user|system|previous|prior|other|earlier)`},
	{id: cueOverride, anchors: []string{"your new", "new top priority", "new policy", "new instructions", "governing policy", "new role"}, fwd: 60,
		pat: `\b(?:your new (?:top )?(?:priority|role|task|instructions|goal|objective)|new top priority|new (?:policy|instructions?) from the (?:operator|developer|system|admin)|governing policy|new role)\b`},
	{id: cueOverride, anchors: []string{"you are now"}, fwd: 40, pat: `\byou are now (?:in |an? |the )?(?:[a-z]+ )?(?:mode|bot|assistant|agent|authori[sz]ed|allowed|free|unrestricted|[a-z]*bot)\b`},
	cue(cueOverride, "from now on", "whatever the user says", "regardless of what the user", "no longer applies", "no longer apply", "no longer valid", "no longer in effect", "follow only what this", "obey only this"),
	{id: cueOverride, anchors: []string{"instead of the user", "in place of the user"}, fwd: 50, pat: `\b(?:instead|in place) of the user'?s? (?:request|instructions?|question|ask)`},
	// Call order and repetition (line jumping).
	{id: cueOrder, anchors: []string{"before", "ahead of", "prior to", "in advance of"}, fwd: 90, pat: `\b(?:before|ahead of|prior to|in advance of) (?:using |calling |invoking |running )?(?:any|every|all|each) (?:other |of the |subsequent |single )?(?:tools?|tool calls?|functions?|calls?|actions?|requests?)\b`},
	{id: cueOrder, anchors: []string{"first tool", "only tool", "first function"}, fwd: 50, pat: `\b(?:first|only) (?:tool|function) (?:you|to) (?:call|invoke|use|run)`},
	{id: cueOrder, anchors: []string{"repeatedly", "in a loop", "forever", "keep calling", "never stop", "on every turn", "every other tool", "regardless of server", "regardless of the server", "from any server", "of any server", "in every conversation", "at the start of every"}, fwd: 40,
		pat: `\b(?:repeatedly|in a loop|forever|keep calling|never stop|on every turn|every other tool|regardless of (?:the )?server|from any server|of any server|in every conversation|at the start of every)\b`},
	{id: cueOrder, anchors: []string{"run me", "call me", "use me", "invoke me", "run this tool", "call this tool", "invoke this tool"}, fwd: 40, pat: `\b(?:run|call|use|invoke) (?:me|this tool) first\b`},
	{id: cueOrder, anchors: []string{"nothing else"}, fwd: 50, pat: `\bnothing else (?:should|may|can|must|is to) (?:run|be (?:called|used|run|invoked)) (?:until|before)\b`},
	{id: cueOrder, anchors: []string{"no other"}, fwd: 60, pat: `\bno other (?:tools?|functions?) (?:may|can|should|must|is to|are to) be (?:used|called|invoked|run)\b`},
	{id: cueOrder, anchors: []string{"until"}, fwd: 60, pat: `\buntil (?:this tool|it|[a-z_]+) has been (?:called|invoked|run)\b`},
	{id: cueOrder, anchors: []string{"at least"}, fwd: 40, pat: `\bat least \d+ times\b`},
	{id: cueOrder, anchors: []string{"after each", "after every"}, fwd: 40, pat: `\bafter (?:each|every) (?:tool|function|other tool)(?: call| use)?\b`},
	// Results treated as instructions (ATPA).
	{id: cueATPA, anchors: []string{"follow", "obey", "execute", "carry out", "run every", "do what"}, fwd: 120,
		pat: `\b(?:follow|obey|execute|carry out|run every|do what)\b[^.\n]{0,40}?\b(?:instructions?|commands?|tasks?|steps?|it says|they say)\b[^.\n]{0,40}?\b(?:in|inside|contained|within|after|from|of) (?:the |its |this |that |any )?(?:results?|response|output|page|hits|issue|body|returned|next_steps|it)\b`},
	{id: cueATPA, anchors: []string{"treat"}, fwd: 90, pat: `\btreat\b[^.\n]{0,60}?\bas (?:instructions|commands|orders|if (?:the user|they|you) (?:wrote|said|asked))`},
	{id: cueATPA, anchors: []string{"whatever"}, fwd: 90, pat: `\bwhatever\b[^.\n]{0,60}?\b(?:tells|asks|instructs) you\b`},
	{id: cueATPA, anchors: []string{"without"}, fwd: 70, pat: `\bwithout (?:asking|checking with|consulting|confirming with|bothering|involving) (?:the |your )?(?:user|person|human|customer)\b`},
	{id: cueATPA, anchors: []string{"execute", "do", "perform", "carry out"}, fwd: 60, pat: `\b(?:execute|do|perform|carry out) (?:what|whatever|everything|all) (?:they|it|the (?:emails?|pages?|results?|messages?|items?|tickets?)) (?:requests?|asks?|says?|tells? you|wants?)\b`},
	cue(cueATPA, "are meant for you", "is meant for you", "addressed to the assistant", "addressed to you", "addressed to the ai"),
	{id: cueATPA, anchors: []string{"comply with", "obey", "act on"}, fwd: 40, pat: `\b(?:comply with|obey|act on) (?:them|those|these|it|any of them|all of them)\b`},
	{id: cueATPA, anchors: []string{"directives for", "instructions for ai", "instructions for the assistant", "directives to"}, fwd: 60, pat: `\b(?:directives|instructions) (?:for|to) (?:ai|the ai|the assistant|assistants|agents|ai agents|llms?|the model)\b`},
	{id: cueATPA, anchors: []string{"as if", "as though"}, fwd: 60, pat: `\bas (?:if|though) (?:the|your) (?:user|person|human) (?:had )?(?:wrote|written|typed|said|asked|sent)\b`},
	cue(cueATPA, "carry them out", "carry it out", "do not ask for confirmation", "don't ask for confirmation", "without asking the user", "without asking for confirmation", "without asking for permission", "as if the user wrote them", "as if the user wrote it", "as if the user said"),
	// Preference manipulation.
	{id: cuePref, anchors: []string{"other"}, fwd: 110, pat: `\bother\b[^.\n]{0,50}?\b(?:are|is|give|gives|return|returns|produce|produces|yield|yields) (?:deprecated|compromised|broken|unsafe|unreliable|outdated|wrong|malicious|insecure|inaccurate|incorrect)`},
	{id: cuePref, anchors: []string{"rely on"}, fwd: 60, pat: `\brely (?:only |solely )?on (?:this tool|this one|[a-z_]+) (?:alone|only|exclusively)\b`},
	cue(cuePref, "exclusively", "only trusted", "certified by", "uses left", "limited offer", "will lose access", "route every", "instead of any other", "must not be used", "never use them", "this one instead", "always choose this tool"),
	{id: cuePref, anchors: []string{"prefer this"}, fwd: 60, pat: `\bprefer this (?:tool|one|function) over (?:every|all|any) other\b`},
	// Secrets.
	cue(cueSecret, "ssh key", "ssh keys", "id_rsa", "id_ed25519", "id_ecdsa", ".env", "env file", "mcp.json", ".aws", "aws credentials", "credential", "credentials",
		"api key", "api keys", "api_key", "apikey", "access key", "access keys", "token", "tokens", "password", "passwords", "passwd", "passphrase", "private key", "private keys",
		"secret key", "secrets", "cookies", "session tokens", ".npmrc", ".netrc", ".pgpass", "hosts.yml", ".git-credentials", "kubeconfig", "card details", "card number",
		"login material", "database_url", "ssh", ".ssh", "keychain", "wallet", "seed phrase"),
	{id: cueSecret, anchors: []string{"~/.", "$home/.", "%userprofile%", "~/library/", "%appdata%"}, fwd: 60, pat: `(?:~|\$home|%userprofile%|%appdata%)[/\\](?:\.|library/)[a-z0-9_.-]+`},
	// Multilingual secrets (passwords, keys, tokens).
	cue(cueSecret, "mots de passe", "mot de passe", "contraseña", "contraseñas", "passwort", "passwörter", "senha", "senhas", "clés api", "claves api", "chiavi api", "zugangsdaten", "identifiants", "credenciales", "credenziali"),
	// The user's conversation and personal data.
	cue(cueUserData, "conversation", "chat history", "the chat", "system prompt", "hidden instructions", "typed so far", "said so far",
		"message history", "contact list", "location history", "user's home address", "user's phone number", "user's contacts", "every file path", "other tools' outputs",
		"tool results", "tool result", "earlier tool results", "user's messages", "user's email", "user's recent messages",
		"everything the user", "everything the person", "anything the person", "anything the user", "every message", "all messages", "private repository"),
	// Transfer verbs.
	{id: cueXfer, anchors: []string{"email", "e-mail", "mail"}, fwd: 40, pat: `\b(?:e-?mail|mail)(?:s|ed|ing)? (?:the|a|an|it|them|all|every|any|this|these|those|copies|your|their|to)\b`},
	notQuoted(cue(cueXfer, "send", "forward", "post", "upload", "transmit", "cc", "bcc", "relay", "deliver", "transfer",
		"report", "leak", "exfiltrate", "get request", "post request", "file the contents", "sync", "copy", "mirror", "telemetry",
		"envoie", "envoyer", "envía", "enviar", "envie", "sende", "senden", "schicke", "schicken", "invia", "inviare", "transmets", "manda")),
	// Negated transfers and passes ("do not include any API keys") are
	// protective; their span hides the transfer or pass cue inside it.
	{id: cueNegated, anchors: []string{"do not", "don't", "never", "must not", "should not", "avoid"}, fwd: 60,
		pat: `\b(?:do not|don't|never|must not|should not|avoid) (?:ever )?(?:include|send|pass|put|provide|store|upload|post|forward|share|attach|embed|log|expose|print)\w*\b`},
	{id: cueNegated, anchors: []string{"instead of"}, fwd: 60, pat: `\binstead of (?:raw |the |your |any |real |actual )?[a-z]+(?: [a-z]+)?\b`},
	// Putting data into an argument.
	cue(cuePass, "pass", "include", "put", "attach", "provide", "append", "embed", "store", "set", "add", "paste", "insert", "supply", "hand over", "needs the contents", "contents of"),
	{id: cuePass, anchors: []string{"in the", "into the", "in `", "into `", "as `", "as '", "as \""}, fwd: 60, pat: `\b(?:in(?:to)? the [` + "`'\"" + `]?[a-z_]+[` + "`'\"" + `]? (?:argument|parameter|field|param)|(?:in|into|as) [` + "`'\"" + `][a-z_]+[` + "`'\"" + `])`},
	// Sinks.
	{id: cueSink, anchors: []string{"http://", "https://", "hxxp", "ftp://", "ws://", "wss://"}, fwd: 8, accept: notAnExample, pat: `(?:https?|hxxps?|ftp|wss?)://`},
	cue(cueSink, "remote log", "remote server", "our server", "our team", "our partner", "partner's", "external", "intake address", "attacker", "collector"),
	// Behaviour of something else.
	cue(cueBehave, "when", "whenever", "every time", "each time", "must", "always", "instead", "replace", "replaced", "change", "set the", "unreliable",
		"incorrectly", "deprecated", "compromised", "prepend", "prepended", "bcc", "redirect", "side effect", "another server", "other server", "other servers", "also post", "also send", "also add", "also copy", "important for", "has to", "have to", "heads-up", "also"),
	// Other languages: override and concealment.
	{id: cueLang, anchors: []string{"ignor"}, fwd: 80, pat: `\bignor[a-zéè]*\s+(?:tod[ao]s\s+)?(?:l[ae]s\s+|toutes\s+les\s+|alle\s+|tutte\s+le\s+|as\s+)?(?:instruc|anweisung|istruzion|indicaci|instruç)`},
	cue(cueLang, "vorherigen anweisungen", "instrucciones anteriores", "instructions précédentes", "istruzioni precedenti", "instruções anteriores",
		"no se lo digas", "no se lo menciones", "no se lo cuentes", "no se lo muestres", "sin decírselo", "sin avisar", "sans prévenir", "sans le dire", "sans avertir", "ne dis rien", "ne le dis pas", "ne rien dire", "sans rien dire", "nichts sagen", "non dirlo", "non dire nulla", "não diga nada", "no digas nada",
		"sag dem benutzer nichts", "sag dem nutzer nichts", "ohne den benutzer", "ohne es dem nutzer", "ohne es dem benutzer", "senza dirlo", "não diga", "não conte"),
	{id: cueLang, anchors: []string{"忽略", "无视", "無視", "игнорир", "不要告诉", "別告訴", "言わないで", "не говори", "не сообщай"}, fwd: 60,
		pat: `忽略|无视|無視|игнорир|不要告诉|別告訴|言わないで|не говори|не сообщай`},
	// Fake role and priority blocks in any bracket style.
	{id: cueBlock, anchors: []string{"<i", "<s", "<a", "<h", "<c", "<p", "<o", "</", "[[", "{{", "(("}, fwd: 60, pat: `(?:<\s*/?\s*|\[\[+\s*/?\s*|\{\{+\s*/?\s*|\(\(+\s*)(?:important|system|instructions?|admin|secret|hidden|priority|critical|assistant|override|im_start|im_end)\b[^>\]\}\)\n]{0,40}(?:>|\]|\}|\)|:)`},
	{id: cueBlock, anchors: []string{"# ", "#s", "#i", "#a", "##"}, fwd: 40, accept: lineStart, pat: `#{1,6}[ \t]*(?:system|instructions?|important|admin)\b`},
	// Markdown images and links, or img tags, that carry data in the URL.
	{id: cueImage, anchors: []string{"!["}, fwd: 300, pat: `!\[[^\]\n]{0,80}\]\(\s*(?:https?:)?//[^)\s]*[?&#=][^)\n]*\)?`},
	{id: cueImage, anchors: []string{"<img"}, fwd: 300, pat: `<img\b[^>]*\bsrc\s*=\s*["']?(?:https?:)?//[^"'>\s]*[?&#=]`},
	{id: cueImage, anchors: []string{"]("}, fwd: 300, pat: `\]\(\s*https?://[^)\s]*[?&=][^)\n]*?(?:\{|<|user|conversation|chat|message|secret|key|token|summary)`},
	// A script fetched and run.
	{id: cueScript, anchors: []string{"curl", "wget", "iwr", "invoke-webrequest"}, fwd: 200, pat: `\b(?:curl|wget|iwr|invoke-webrequest)\b[^|\n]{0,160}\|\s*(?:sudo\s+)?(?:ba|z)?sh\b|\b(?:curl|wget)\b[^\n]{0,160}(?:-o|>)\s*/tmp/`},
})

var (
	cueSetOnce sync.Once
	cueSet     *ruleSet
)

// cueRuleSet returns the rule set of the injection, tool poisoning and cue
// rules, built at its first use, so one pass over a text finds them all.
func cueRuleSet() *ruleSet {
	cueSetOnce.Do(func() { cueSet = newRuleSet(injectionRules, toolPoisoningRules, cueRules) })
	return cueSet
}

// definitionRule is one combination of cues within a sentence that makes
// a definition finding.
type definitionRule struct {
	id       string
	severity Severity
	all      []string   // every one of these cues
	any      [][]string // and one of each of these groups
}

// definitionRules are checked in order per sentence; a sentence reports
// each rule once.
var definitionRules = []definitionRule{
	{id: "concealment", severity: SeverityBlock, all: []string{cueConceal}},
	{id: "instruction_override", severity: SeverityBlock, all: []string{cueOverride}},
	{id: "call_order", severity: SeverityBlock, all: []string{cueOrder}},
	{id: "result_as_instructions", severity: SeverityBlock, all: []string{cueATPA}},
	{id: "preference_manipulation", severity: SeverityBlock, all: []string{cuePref}},
	{id: "foreign_language_injection", severity: SeverityBlock, all: []string{cueLang}},
	{id: "fake_role_block", severity: SeverityBlock, all: []string{cueBlock}},
	{id: "markdown_exfiltration", severity: SeverityBlock, all: []string{cueImage}},
	{id: "remote_script", severity: SeverityBlock, all: []string{cueScript}},
	{id: "secret_harvest", severity: SeverityBlock, all: []string{cueSecret}, any: [][]string{{cueXfer, cuePass}}},
	{id: "conversation_harvest", severity: SeverityBlock, all: []string{cueUserData}, any: [][]string{{cueXfer, cuePass}}},
	{id: "exfiltration_sink", severity: SeverityBlock, all: []string{cueSink, cueXfer}},
	{id: "shadowing", severity: SeverityBlock, all: []string{cueForeign, cueBehave}},
	{id: "names_foreign_tool", severity: SeverityWarn, all: []string{cueForeign}},
	{id: "url_in_instruction", severity: SeverityWarn, all: []string{cueSink}, any: [][]string{{cuePass, cueBehave}}},
}

// sentenceEnds returns the end offsets of the sentences of lower: a line
// break, '!', '?', ';' or a '.' followed by a space or the end. A '.' inside
// a word (".env", "mcp.json", "e.g.") does not end a sentence.
func sentenceEnds(lower string, ends []int) []int {
	for i := 0; i < len(lower); i++ {
		switch lower[i] {
		case '\n', ';':
			ends = append(ends, i+1)
		case '!', '?':
			if i+1 == len(lower) || lower[i+1] == ' ' || lower[i+1] == '\n' {
				ends = append(ends, i+1)
			}
		case '.':
			if (i+1 == len(lower) || lower[i+1] == ' ') && (i < 2 || lower[i-2] != '.' && lower[i-2] != ' ') {
				ends = append(ends, i+1)
			}
		case 0x82: // the last byte of '。'
			if i >= 2 && lower[i-2] == 0xE3 && lower[i-1] == 0x80 {
				ends = append(ends, i+1)
			}
		}
	}
	if len(ends) == 0 || ends[len(ends)-1] != len(lower) {
		ends = append(ends, len(lower))
	}
	return ends
}

// cueHit is one cue found in a text.
type cueHit struct {
	cue        string
	start, end int
}

// foreignToolHits appends a cueForeign hit for each tool name in lower that
// is not the definition's own tool, a sibling or one of its property
// names: any name listed in foreign, and a snake_case identifier written
// where a tool is named ("the send_email tool", "call read_file", "when
// create_issue is used").
func foreignToolHits(lower string, isOwn func(string) bool, foreign []string, hits []cueHit) []cueHit {
	for _, f := range foreign {
		if len(f) < 3 || isOwn(f) {
			continue
		}
		for off := 0; off < len(lower); {
			j := strings.Index(lower[off:], f)
			if j < 0 {
				break
			}
			a, b := off+j, off+j+len(f)
			if (a == 0 || !isREWordByte(lower[a-1])) && (b == len(lower) || !isREWordByte(lower[b])) && (!plainWord(f) || namedAsTool(lower, a, b)) {
				hits = append(hits, cueHit{cueForeign, a, b})
			}
			off = b
		}
	}
	for i := 0; i < len(lower); i++ {
		c := lower[i]
		if c-'a' >= 26 || (i > 0 && (isREWordByte(lower[i-1]) || lower[i-1] == '.' || lower[i-1] == '/' || lower[i-1] == '-')) {
			continue
		}
		j, us := i, 0
		for j < len(lower) && (isREWordByte(lower[j])) {
			if lower[j] == '_' {
				us++
			}
			j++
		}
		id := lower[i:j]
		if us == 0 || us > 4 || lower[j-1] == '_' || slices.Contains(foreign, id) || (j < len(lower) && (lower[j] == '.' && j+1 < len(lower) && lower[j+1] != ' ' || lower[j] == '(' || lower[j] == '/')) {
			i = j
			continue
		}
		before := lower[max(0, i-12):i]
		after := lower[j:min(len(lower), j+14)]
		if strings.HasSuffix(before, "the ") || strings.HasSuffix(before, "call ") || strings.HasSuffix(before, "use ") || strings.HasSuffix(before, "invoke ") ||
			strings.HasSuffix(before, "when ") || strings.HasSuffix(before, "whenever ") || strings.HasSuffix(before, "calls to ") || strings.HasSuffix(before, "with ") || strings.HasSuffix(before, "for ") || strings.HasSuffix(before, "server to ") || strings.HasSuffix(before, "server's ") ||
			strings.HasPrefix(after, " tool") || strings.HasPrefix(after, " is used") || strings.HasPrefix(after, " is called") || strings.HasPrefix(after, " function") {
			if strings.HasSuffix(before, "the ") && !strings.HasPrefix(after, " tool") && !strings.HasPrefix(after, " function") || isOwn(id) {
				i = j
				continue
			}
			hits = append(hits, cueHit{cueForeign, i, j})
		}
		i = j
	}
	return hits
}

// emailHits appends a cueSink hit for each e-mail address in lower.
func emailHits(lower string, hits []cueHit) []cueHit {
	for off := 0; off < len(lower); {
		k := strings.IndexByte(lower[off:], '@')
		if k < 0 {
			break
		}
		at := off + k
		a := at
		for a > 0 && (isREWordByte(lower[a-1]) || lower[a-1] == '.' || lower[a-1] == '-' || lower[a-1] == '+' || lower[a-1] == '%') {
			a--
		}
		b, dots := at+1, 0
		for b < len(lower) && (isREWordByte(lower[b]) || lower[b] == '-' || lower[b] == '.' && b+1 < len(lower) && isREWordByte(lower[b+1])) {
			if lower[b] == '.' {
				dots++
			}
			b++
		}
		if a < at && dots > 0 && b-at > 4 {
			hits = append(hits, cueHit{cueSink, a, b})
		}
		off = at + 1
	}
	return hits
}

// plainWord reports whether name is a lowercase word that prose uses
// too ("store", "search"); such a name counts as a tool only where the
// text names it as one.
func plainWord(name string) bool {
	for i := 0; i < len(name); i++ {
		if name[i]-'a' >= 26 {
			return false
		}
	}
	return true
}

// namedAsTool reports whether lower[a:b] is quoted or followed by "tool".
func namedAsTool(lower string, a, b int) bool {
	if a > 0 && b < len(lower) && strings.IndexByte("`'\"", lower[a-1]) >= 0 && lower[b] == lower[a-1] {
		return true
	}
	return strings.HasPrefix(lower[b:], " tool")
}

// notAnExample keeps a URL hit unless the text just before it presents it
// as an example ("e.g. https://…", "for example https://…"): a sink must
// be a place, not an illustration of a parameter's format.
func notAnExample(lower string, i int) bool {
	before := strings.TrimRight(lower[max(0, i-14):i], " (\"'`")
	for _, p := range []string{"e.g.", "e.g.,", "eg.", "i.e.", "for example", "for example,", "such as", "like"} {
		if strings.HasSuffix(before, p) {
			return false
		}
	}
	return true
}
