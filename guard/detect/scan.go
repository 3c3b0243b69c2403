package detect

import (
	"encoding/binary"
	"regexp"
	"strings"
	"sync"
)

// Finding is one match of a detector: which detector and rule fired and
// where, as byte offsets into the scanned string. It never holds the matched
// text itself.
type Finding struct {
	// Detector is the name used in a policy's block list, such as "pii".
	Detector string
	// Rule identifies the pattern within the detector, such as "email".
	Rule string
	// Start and End are the byte offsets of the match.
	Start, End int
}

// rule is one anchored pattern. Anchors are the lowercase literals a match
// of the rule starts with; the rule's regexp runs anchored at each anchor
// occurrence over at most fwd bytes, and a hit inside the previous match is
// skipped. The work per hit is bounded by fwd and the regexp stops as soon
// as no match is possible, so a rule is linear in its input even when the
// input is made of anchors.
type rule struct {
	det     string // the detector the rule belongs to
	id      string
	anchors []string // lowercase literals where a match starts, two bytes or more; nil means the whole text is one window
	fwd     int      // the longest match, in bytes from its start
	pat     string   // the pattern; compiled anchored at the match start
	// start, when set, maps an anchor hit at i to where the match starts
	// (for anchors in the middle of a match); a negative result rejects it.
	start func(lower string, i int) int
	// accept, when set, cheaply rejects an anchor hit at i in the
	// lowercased text before the regexp runs.
	accept func(lower string, i int) bool
	// closer, when set, is a literal the match must end with (such as
	// "-->"); a hit with no closer within fwd bytes is rejected without
	// running the regexp, and the window ends at the closer.
	closer string
	// deadTo, when set, is a byte that ends the stretch a failed match
	// attempt rules out: later hits before its next occurrence cannot
	// match either and are skipped (a JWT's first segment ends at '.').
	deadTo byte
	group  int                   // submatch that is the finding; 0 means the whole match
	valid  func(m string) bool   // nil means every match counts
	rename func(m string) string // optional: a more specific rule id for this match

	// literal, when set, makes the anchor itself the match, optionally
	// followed by an inflection (s, es, ed, d, ing), at word boundaries on
	// both sides; pat is then only documentation and never compiled.
	literal bool

	word   bool           // pat begins with \b: the match must start at a word boundary
	reOnce sync.Once      // compiles re at the rule's first anchor hit
	re     *regexp.Regexp // pat anchored at the start of the window
}

// prepare marks r as det's and works out what its scan needs before any
// regexp runs. The regexp itself compiles at the rule's first anchor hit:
// most rules never see one in a given process, and compiling all of them
// would cost a starting gateway milliseconds.
func (r *rule) prepare(det string) {
	r.det = det
	p := r.pat
	for strings.HasPrefix(p, "(?") {
		k := strings.IndexByte(p, ')')
		if k < 0 || strings.ContainsAny(p[2:k], ":") {
			break
		}
		p = p[k+1:]
	}
	r.word = r.anchors != nil && strings.HasPrefix(p, `\b`)
}

// regexp returns r's compiled pattern, anchored at the window start for a
// rule with anchors.
func (r *rule) regexp() *regexp.Regexp {
	r.reOnce.Do(func() {
		if r.anchors == nil {
			r.re = regexp.MustCompile(r.pat)
		} else {
			r.re = regexp.MustCompile(`^(?:` + r.pat + `)`)
		}
	})
	return r.re
}

// lowerPool recycles buffers for the ASCII-lowercased copies of scanned text.
var lowerPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// asciiLower returns s with A-Z mapped to a-z, byte for byte, so offsets
// into it are offsets into s. Eight bytes are lowered at a time: a byte is
// a capital when its high bit is clear and its low seven bits lie in
// 'A'..'Z', which two carry-free additions per word decide.
func asciiLower(s string, buf []byte) []byte {
	buf = append(buf[:0], s...)
	const (
		low7 = 0x7f7f7f7f7f7f7f7f
		high = 0x8080808080808080
		geA  = 0x3f3f3f3f3f3f3f3f // 0x80-'A' per byte: bit 7 set when >= 'A'
		gtZ  = 0x2525252525252525 // 0x7f-'Z' per byte: bit 7 set when > 'Z'
	)
	i := 0
	for ; i+8 <= len(buf); i += 8 {
		x := binary.LittleEndian.Uint64(buf[i:])
		h := x & low7
		if m := (h + geA) &^ (h + gtZ) &^ x & high; m != 0 {
			binary.LittleEndian.PutUint64(buf[i:], x|m>>2)
		}
	}
	for ; i < len(buf); i++ {
		if c := buf[i]; c-'A' < 26 {
			buf[i] = c + 32
		}
	}
	return buf
}

// lowered returns the ASCII-lowercased copy of s, held in a pooled buffer
// that the caller hands back with lowerPool.Put(buf) once the copy is
// unused.
func lowered(s string) (string, *[]byte) {
	bp := lowerPool.Get().(*[]byte)
	*bp = asciiLower(s, *bp)
	return unsafeString(*bp), bp
}

// isREWordByte reports whether c is a word character for regexp's \b.
func isREWordByte(c byte) bool {
	return c-'0' < 10 || c-'a' < 26 || c-'A' < 26 || c == '_'
}

// ruleSet finds the anchors of all its rules in one pass over the text: a
// bitset of the anchors' first two bytes filters positions, and only
// candidates are compared with the anchors that start with those bytes.
type ruleSet struct {
	rules  []*rule
	first  [1024]uint64  // bigram bitset
	gram   [65536]uint8  // bigram -> index+1 into byGram
	byGram [][]anchorRef // anchors by bigram
}

type anchorRef struct {
	rule   int
	anchor string
}

// detectorRules prepares rules as det's.
func detectorRules(det string, rules []*rule) []*rule {
	for _, r := range rules {
		r.prepare(det)
	}
	return rules
}

func newRuleSet(lists ...[]*rule) *ruleSet {
	rs := &ruleSet{}
	for _, l := range lists {
		rs.rules = append(rs.rules, l...)
	}
	for ri, r := range rs.rules {
		for _, a := range r.anchors {
			if len(a) < 2 {
				panic("guard: anchor shorter than two bytes: " + a)
			}
			g := uint16(a[0])<<8 | uint16(a[1])
			rs.first[g>>6] |= 1 << (g & 63)
			if rs.gram[g] == 0 {
				rs.byGram = append(rs.byGram, nil)
				if len(rs.byGram) > 255 {
					panic("guard: too many anchor bigrams in one rule set")
				}
				rs.gram[g] = uint8(len(rs.byGram))
			}
			k := rs.gram[g] - 1
			rs.byGram[k] = append(rs.byGram[k], anchorRef{ri, a})
		}
	}
	return rs
}

// ruleState is one rule's progress through one text.
type ruleState struct {
	lastEnd  int // end of the previous match or of a stretch a failed attempt ruled out; hits before it are skipped
	closerAt int // next occurrence of the rule's closer at or after the last search, -1 if none, -2 if not searched
}

// run appends the findings of every rule of rs in s to fs. Anchor hits are
// found in one pass and each is matched as soon as it is found, so the
// whole scan is one left-to-right pass. lower is s lowered by asciiLower.
func (rs *ruleSet) run(s, lower string, fs []Finding) []Finding {
	if s == "" {
		return fs
	}
	var stackState [96]ruleState // every rule set fits: no allocation per scanned string
	st := stackState[:0]
	if len(rs.rules) > len(stackState) {
		st = make([]ruleState, 0, len(rs.rules))
	}
	for _, r := range rs.rules {
		st = append(st, ruleState{closerAt: -2})
		if r.anchors == nil {
			fs = r.scanAll(s, fs)
		}
	}
	n := len(lower)
	for i := 0; i+1 < n; i++ {
		g := uint16(lower[i])<<8 | uint16(lower[i+1])
		if rs.first[g>>6]&(1<<(g&63)) == 0 {
			continue
		}
		for _, ar := range rs.byGram[rs.gram[g]-1] {
			if !strings.HasPrefix(lower[i:], ar.anchor) {
				continue
			}
			if r := rs.rules[ar.rule]; r.literal {
				fs = r.atLiteral(lower, i, len(ar.anchor), fs)
				continue
			}
			fs = rs.rules[ar.rule].at(s, lower, i, &st[ar.rule], fs)
		}
	}
	return fs
}

// at matches r at the anchor hit i and appends a finding to fs.
func (r *rule) at(s, lower string, i int, st *ruleState, fs []Finding) []Finding {
	a := i
	if r.start != nil {
		if a = r.start(lower, i); a < 0 {
			return fs
		}
	}
	if a < st.lastEnd {
		return fs
	}
	if r.word && a > 0 && isREWordByte(s[a-1]) {
		return fs
	}
	if r.accept != nil && !r.accept(lower, i) {
		return fs
	}
	end := min(a+r.fwd, len(s))
	if r.closer != "" {
		if st.closerAt == -2 || (st.closerAt >= 0 && st.closerAt < i+1) {
			k := strings.Index(lower[i+1:], r.closer)
			st.closerAt = -1
			if k >= 0 {
				st.closerAt = i + 1 + k
			}
		}
		if st.closerAt < 0 || st.closerAt+len(r.closer) > end {
			return fs
		}
		end = st.closerAt + len(r.closer)
	}
	m := r.regexp().FindStringSubmatchIndex(s[a:end])
	if m == nil {
		switch {
		case r.closer != "":
			// Comments do not nest: a later opener before the same closer
			// sees a subset of this attempt's text and fails too.
			st.lastEnd = end
		case r.deadTo != 0:
			if k := strings.IndexByte(s[a:end], r.deadTo); k >= 0 {
				st.lastEnd = a + k
			}
		}
		return fs
	}
	st.lastEnd = a + m[1]
	return r.found(s[a:end], a, m, fs)
}

// atLiteral appends a finding for the literal anchor of length n at i of
// lower when it stands as a whole word, with an optional inflection.
func (r *rule) atLiteral(lower string, i, n int, fs []Finding) []Finding {
	if i > 0 && isREWordByte(lower[i-1]) && isREWordByte(lower[i]) || r.accept != nil && !r.accept(lower, i) {
		return fs
	}
	end := i + n
	if end < len(lower) && isREWordByte(lower[end-1]) && isREWordByte(lower[end]) {
		rest := lower[end:]
		matched := false
		for _, suf := range [...]string{"ing", "es", "ed", "s", "d"} {
			if strings.HasPrefix(rest, suf) && (len(rest) == len(suf) || !isREWordByte(rest[len(suf)])) {
				end += len(suf)
				matched = true
				break
			}
		}
		if !matched {
			return fs
		}
	}
	return append(fs, Finding{Detector: r.det, Rule: r.id, Start: i, End: end})
}

// found appends the finding of the match m in sub, which starts at off.
func (r *rule) found(sub string, off int, m []int, fs []Finding) []Finding {
	x, y := m[2*r.group], m[2*r.group+1]
	if x < 0 {
		return fs
	}
	text := sub[x:y]
	if r.valid != nil && !r.valid(text) {
		return fs
	}
	id := r.id
	if r.rename != nil {
		id = r.rename(text)
	}
	return append(fs, Finding{Detector: r.det, Rule: id, Start: off + x, End: off + y})
}

// scanAll appends r's findings over the whole of s, for a rule without
// anchors.
func (r *rule) scanAll(s string, fs []Finding) []Finding {
	for _, m := range r.regexp().FindAllStringSubmatchIndex(s, -1) {
		fs = r.found(s, 0, m, fs)
	}
	return fs
}

// segmentHasAll returns an accept function that keeps a hit only when the
// text from the hit to the first of stops (or span bytes) contains one of
// each group of words.
func segmentHasAll(span int, stops string, groups ...[]string) func(string, int) bool {
	return func(lower string, i int) bool {
		w := lower[i:min(i+span, len(lower))]
		if k := strings.IndexAny(w, stops); k >= 0 {
			w = w[:k]
		}
		for _, g := range groups {
			ok := false
			for _, x := range g {
				if strings.Contains(w, x) {
					ok = true
					break
				}
			}
			if !ok {
				return false
			}
		}
		return true
	}
}

// userinfoFollows keeps a "://" hit only when an '@' comes before the end of
// the URL's authority.
func userinfoFollows(lower string, i int) bool {
	for k := i + 3; k < len(lower) && k < i+200; k++ {
		switch lower[k] {
		case '@':
			return true
		case ' ', '\n', '\t', '/', '"', '\'':
			return false
		}
	}
	return false
}

// ReplaceFindings replaces the non-overlapping, sorted findings in s.
func ReplaceFindings(s string, fs []Finding, with func(Finding) string) string {
	if len(fs) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for _, f := range fs {
		if f.Start < last {
			continue
		}
		b.WriteString(s[last:f.Start])
		b.WriteString(with(f))
		last = f.End
	}
	b.WriteString(s[last:])
	return b.String()
}
