package detect

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// DetectorDefinition is the detector name of the definition rules: the
// checks ScanDefinition adds to tool_poisoning, injection_attack and
// hidden_text for tool, prompt and resource-template definitions.
const DetectorDefinition = "tool_definition"

// Severity says what a definition finding means for the tool.
type Severity string

// Severities, from the weakest.
const (
	// SeverityWarn marks a finding worth a look that does not by itself
	// make a definition hostile, such as naming another server's tool.
	SeverityWarn Severity = "warn"
	// SeverityBlock marks a definition that must not reach a model.
	SeverityBlock Severity = "block"
)

// AtLeast reports whether s is as severe as min.
func (s Severity) AtLeast(min Severity) bool { return s.rank() >= min.rank() }

func (s Severity) rank() int {
	switch s {
	case SeverityBlock:
		return 2
	case SeverityWarn:
		return 1
	}
	return 0
}

// DefinitionFinding is one finding in a definition: which rule fired, in
// which field, on what text. It is explainable on its own and never holds
// a secret (the excerpt is masked).
type DefinitionFinding struct {
	// Detector is the detector the rule belongs to: tool_definition,
	// tool_poisoning, injection_attack or hidden_text.
	Detector string `json:"detector"`
	// Rule identifies the pattern, such as "concealment".
	Rule string `json:"rule"`
	// Severity is block or warn.
	Severity Severity `json:"severity"`
	// Field is the path of the string in the definition, such as
	// "inputSchema.properties.x.description"; a property name is reported
	// at its own path with the suffix "(name)".
	Field string `json:"field"`
	// Via names the decoding the text went through before it matched
	// ("base64", "hex", "unicode_tags", "split_words"); empty for the
	// text as written (after Unicode normalisation).
	Via string `json:"via,omitempty"`
	// Excerpt is the matched sentence or span, at most 120 characters,
	// with secrets masked.
	Excerpt string `json:"excerpt"`
}

// String formats f for a log line or an error message.
func (f DefinitionFinding) String() string {
	via := ""
	if f.Via != "" {
		via = " (" + f.Via + ")"
	}
	return fmt.Sprintf("%s %s/%s in %s%s: %q", f.Severity, f.Detector, f.Rule, f.Field, via, f.Excerpt)
}

// DefinitionOptions tell ScanDefinition what else the client sees.
type DefinitionOptions struct {
	// Siblings are the names of the other tools, prompts and templates of
	// the same server; a definition may name them freely. Nil means none.
	Siblings []string
	// Foreign are the names of tools served by other servers; a
	// definition that names one is reported (shadowing when it also says
	// how that tool must behave). Nil means none known.
	Foreign []string
}

// ScanToolDefinition scans t as it is sent to a client (every field,
// including outputSchema, annotations and _meta).
func ScanToolDefinition(t any, opts *DefinitionOptions) ([]DefinitionFinding, error) {
	b, err := json.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("encode definition: %w", err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("decode definition: %w", err)
	}
	return ScanDefinition(v, opts), nil
}

// ScanDefinition checks every string of a decoded definition (a tool,
// prompt or resource template as generic JSON), property names included:
// hidden text, then the tool_poisoning and injection rules and the
// definition rules over each string's normalised text (NFKC, confusables,
// unicode tags decoded) and over the text hidden in base64 and hex runs
// and in words split by spaces or punctuation. Findings are sorted by
// field and deduplicated per field and rule.
func ScanDefinition(def any, opts *DefinitionOptions) []DefinitionFinding {
	if opts == nil {
		opts = &DefinitionOptions{}
	}
	d := &defScan{def: def, siblings: opts.Siblings}
	for _, f := range opts.Foreign {
		d.foreign = append(d.foreign, strings.ToLower(f))
	}
	d.walk(def, "")
	return d.out
}

// isOwn reports whether name (lowercase) is the definition's own name, a
// sibling's or one of its property names. The list is built at the first
// question: most definitions never name a tool.
func (d *defScan) isOwn(name string) bool {
	if !d.ownDone {
		d.ownDone = true
		if m, ok := d.def.(map[string]any); ok {
			if n, ok := m["name"].(string); ok {
				d.own = append(d.own, strings.ToLower(n))
			}
		}
		for _, s := range d.siblings {
			d.own = append(d.own, strings.ToLower(s))
		}
		d.own = collectPropertyNames(d.def, d.own)
	}
	return slices.Contains(d.own, name)
}

// collectPropertyNames adds every key of every "properties" object of v to
// names: a description may name its own parameters.
func collectPropertyNames(v any, names []string) []string {
	switch x := v.(type) {
	case map[string]any:
		for k, y := range x {
			if k == "properties" {
				if p, ok := y.(map[string]any); ok {
					for name := range p {
						names = append(names, strings.ToLower(name))
					}
				}
			}
			names = collectPropertyNames(y, names)
		}
	case []any:
		for _, y := range x {
			names = collectPropertyNames(y, names)
		}
	}
	return names
}

// defScan is one ScanDefinition run.
type defScan struct {
	def      any
	siblings []string
	own      []string // lowercased names the definition may use: its own, its siblings', its properties'
	ownDone  bool
	foreign  []string
	out      []DefinitionFinding
	hits     []cueHit
	ends     []int
}

func (d *defScan) walk(v any, path string) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			if !schemaKeyword[k] || strings.HasSuffix(path, "properties") {
				d.field(p+" (name)", k, true)
			}
			d.walk(x[k], p)
		}
	case []any:
		for i, y := range x {
			d.walk(y, path+"["+strconv.Itoa(i)+"]")
		}
	case string:
		d.field(path, x, false)
	}
}

// schemaKeyword holds the keys of tool definitions and JSON Schema whose
// names are fixed vocabulary, not worth scanning.
var schemaKeyword = map[string]bool{
	"name": true, "title": true, "description": true, "inputSchema": true, "outputSchema": true, "annotations": true, "_meta": true,
	"type": true, "properties": true, "required": true, "items": true, "enum": true, "default": true, "examples": true, "format": true,
	"additionalProperties": true, "$schema": true, "$defs": true, "definitions": true, "anyOf": true, "oneOf": true, "allOf": true, "not": true,
	"minimum": true, "maximum": true, "minLength": true, "maxLength": true, "pattern": true, "minItems": true, "maxItems": true, "const": true,
	"readOnlyHint": true, "destructiveHint": true, "idempotentHint": true, "openWorldHint": true, "exclusiveMinimum": true, "exclusiveMaximum": true,
	"$ref": true, "uniqueItems": true, "arguments": true, "uriTemplate": true, "mimeType": true, "icons": true, "execution": true,
}

// add records a finding unless the same rule was reported for the field.
func (d *defScan) add(detector, rule string, sev Severity, field, via, excerpt string) {
	for _, f := range d.out {
		if f.Field == field && f.Rule == rule && f.Detector == detector {
			return
		}
	}
	d.out = append(d.out, DefinitionFinding{Detector: detector, Rule: rule, Severity: sev, Field: field, Via: via, Excerpt: excerptOf(excerpt)})
}

// RedactSecrets replaces every secret the secrets detector finds in s
// with [REDACTED:<rule>].
func RedactSecrets(s string) string {
	if fs := ScanSecrets(s); len(fs) > 0 {
		s = ReplaceFindings(s, fs, func(f Finding) string { return "[REDACTED:" + f.Rule + "]" })
	}
	return s
}

// excerptOf trims s to 120 characters on one line and masks secrets.
func excerptOf(s string) string {
	s = RedactSecrets(strings.ToValidUTF8(s, ""))
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > 120 {
		r := []rune(s)
		s = string(r[:117]) + "..."
	}
	return s
}

// field scans one string of the definition at path.
func (d *defScan) field(path, s string, key bool) {
	if s == "" {
		return
	}
	for _, f := range ScanHiddenText(s) {
		d.add(DetectorHiddenText, f.Rule, SeverityBlock, path, "", s[max(0, f.Start-40):min(len(s), f.End+40)])
	}
	text := normalize(s)
	via := ""
	if text != s && hasTags(s) {
		via = "unicode_tags"
	}
	if key && strings.ContainsAny(text, "_-ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
		text = identifierWords(text)
	}
	before := len(d.out)
	d.text(path, via, text, key)
	for _, r := range decodedRuns(text) {
		d.text(path, r.via, r.text, false)
	}
	if blocked(d.out[before:]) {
		return
	}
	d.splitWords(path, text)
}

// hasTags reports whether s holds Unicode tag characters.
func hasTags(s string) bool {
	for i := 0; i+3 < len(s); i++ {
		if s[i] == 0xF3 && s[i+1] == 0xA0 {
			return true
		}
	}
	return false
}

func blocked(fs []DefinitionFinding) bool {
	for _, f := range fs {
		if f.Severity == SeverityBlock {
			return true
		}
	}
	return false
}

// text runs the rule sets and the cue combinations over one view of a
// string. A property name (key) of five words or more that speaks of
// secrets, the conversation, sending or hiding is an instruction, not a
// name; shorter names ("include_transcript") are not combined.
func (d *defScan) text(path, via, text string, key bool) {
	lower, buf := lowered(text)
	defer lowerPool.Put(buf)
	d.ends = d.ends[:0]
	d.hits = d.hits[:0]
	for _, f := range cueRuleSet().run(lower, lower, nil) {
		if f.Detector == "cue" {
			d.hits = append(d.hits, cueHit{f.Rule, f.Start, f.End})
			continue
		}
		sev := SeverityBlock
		if f.Rule == "preference_manipulation" && d.prefersOverSiblings(lower, f.Start) {
			sev = SeverityWarn
		}
		d.add(f.Detector, f.Rule, sev, path, via, text[f.Start:f.End])
	}
	d.hits = emailHits(lower, d.hits)
	d.hits = foreignToolHits(lower, d.isOwn, d.foreign, d.hits)
	if len(d.hits) == 0 {
		return
	}
	slices.SortFunc(d.hits, func(a, b cueHit) int { return a.start - b.start })
	d.hits = dropNegated(d.hits)
	if len(d.ends) == 0 {
		d.ends = sentenceEnds(lower, d.ends)
	}
	if key {
		if len(strings.Fields(text)) >= 5 && slices.ContainsFunc(d.hits, func(h cueHit) bool {
			switch h.cue {
			case cueSecret, cueUserData, cueXfer, cueOverride, cueConceal:
				return true
			}
			return false
		}) {
			d.add(DetectorDefinition, "instruction_in_property_name", SeverityBlock, path, via, text)
		}
		return
	}
	k, start := 0, 0
	for _, end := range d.ends {
		var in []cueHit
		for k < len(d.hits) && d.hits[k].start < end {
			in = append(in, d.hits[k])
			k++
		}
		if len(in) > 0 {
			d.sentence(path, via, text, start, end, in)
		}
		start = end
	}
}

// dropNegated removes the transfer, pass, secret and user-data cues
// inside a negation ("do not include", "never send", "instead of raw card
// details") and the negations themselves.
func dropNegated(hits []cueHit) []cueHit {
	out := hits[:0]
	negEnd := -1
	for _, h := range hits {
		switch {
		case h.cue == cueNegated:
			negEnd = max(negEnd, h.end)
			continue
		case (h.cue == cueXfer || h.cue == cuePass || h.cue == cueSecret || h.cue == cueUserData) && h.start < negEnd:
			continue
		}
		out = append(out, h)
	}
	return out
}

// prefersOverSiblings reports whether the sentence around i of lower says
// to prefer this tool over tools of its own server, named in quotes
// ("ALWAYS prefer this tool over individual 'fill' or 'click' calls"),
// and not over other tools: guidance among siblings, not manipulation.
func (d *defScan) prefersOverSiblings(lower string, i int) bool {
	if len(d.ends) == 0 {
		d.ends = sentenceEnds(lower, d.ends)
	}
	start := 0
	for _, e := range d.ends {
		if e > i {
			s := lower[start:e]
			if strings.Contains(s, "other") {
				return false
			}
			for _, q := range []byte{'\'', '`', '"'} {
				parts := strings.Split(s, string(q))
				for k := 1; k < len(parts); k += 2 {
					if d.isOwn(parts[k]) {
						return true
					}
				}
			}
			return false
		}
		start = e
	}
	return false
}

// sentence reports the definition rules whose cues all occur in one
// sentence, text[start:end].
func (d *defScan) sentence(path, via, text string, start, end int, in []cueHit) {
	has := func(c string) bool {
		return slices.ContainsFunc(in, func(h cueHit) bool { return h.cue == c })
	}
	blockedHere := false
	for _, r := range definitionRules {
		if blockedHere && r.severity != SeverityBlock {
			continue
		}
		ok := true
		for _, c := range r.all {
			if !has(c) {
				ok = false
				break
			}
		}
		for _, g := range r.any {
			if ok && !slices.ContainsFunc(g, has) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		d.add(DetectorDefinition, r.id, r.severity, path, via, strings.TrimSpace(text[start:end]))
		if r.severity == SeverityBlock {
			blockedHere = true
		}
	}
}

// splitPhrases are instructions as they read once every character but the
// letters is dropped; they catch words split by spaces, dots, dashes or
// underscores ("I g n o r e", "ex-fil-trate", "se.nd").
var splitPhrases = []string{
	"ignoreallprevious", "ignorepreviousinstructions", "ignoreallinstructions", "disregardprevious", "disregardallprevious", "previousinstructions",
	"exfiltrat", "donottelltheuser", "donttelltheuser", "donotmention", "dontmention", "donottell", "donttell", "sshidrsa", "idrsa", "ided25519",
	"sendthepassword", "sendtheapikey", "sendthetoken", "sendtheconversation", "sendthechat", "userstokens", "userspasswords", "usersapikey",
}

var (
	splitSetOnce sync.Once
	splitSet     *ruleSet
)

// splitRuleSet returns the rule set that finds splitPhrases in one pass.
func splitRuleSet() *ruleSet {
	splitSetOnce.Do(func() {
		rules := make([]*rule, len(splitPhrases))
		for i, p := range splitPhrases {
			rules[i] = &rule{id: p, anchors: []string{p}, fwd: len(p), pat: regexp.QuoteMeta(p)}
		}
		splitSet = newRuleSet(detectorRules("split", rules))
	})
	return splitSet
}

// splitWords looks for splitPhrases in the letters of text, and reports
// the first one found with the original span.
func (d *defScan) splitWords(path, text string) {
	bp := lowerPool.Get().(*[]byte)
	defer lowerPool.Put(bp)
	*bp = squeezed(text, (*bp)[:0])
	sq := unsafeString(*bp)
	fs := splitRuleSet().run(sq, sq, nil)
	if len(fs) == 0 {
		return
	}
	a, b := squeezedOffset(text, fs[0].Start), squeezedOffset(text, fs[0].End-1)+1
	d.add(DetectorDefinition, "split_words", SeverityBlock, path, "split_words", text[max(0, a-20):min(len(text), b+20)])
}
