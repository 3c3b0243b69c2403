package guard

import (
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

// rule is one windowed pattern: the regexp runs only over windows around the
// anchors' occurrences in the ASCII-lowercased text, windows are merged, and
// each byte is scanned at most once, so a rule is linear in its input.
type rule struct {
	id      string
	anchors []string // lowercase literals of two bytes or more; nil means the whole text is one window
	back    int      // window bytes before an anchor
	fwd     int      // window bytes after an anchor's start
	re      *regexp.Regexp
	// accept, when set, cheaply rejects an anchor hit at i in the
	// lowercased text before any window is built around it.
	accept func(lower string, i int) bool
	group  int                   // submatch that is the finding; 0 means the whole match
	valid  func(m string) bool   // nil means every match counts
	rename func(m string) string // optional: a more specific rule id for this match
}

// lowerPool recycles buffers for the ASCII-lowercased copies of scanned text.
var lowerPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// asciiLower returns s with A-Z mapped to a-z, byte for byte, so offsets
// into it are offsets into s.
func asciiLower(s string, buf []byte) []byte {
	buf = append(buf[:0], s...)
	for i, c := range buf {
		if c-'A' < 26 {
			buf[i] = c + 32
		}
	}
	return buf
}

// merge turns sorted anchor offsets into merged [start,end) windows.
func (r *rule) merge(hits []int, n int) [][2]int {
	var out [][2]int
	for _, h := range hits {
		s, e := max(h-r.back, 0), min(h+r.fwd, n)
		if k := len(out) - 1; k >= 0 && s <= out[k][1] {
			out[k][1] = max(out[k][1], e)
			continue
		}
		out = append(out, [2]int{s, e})
	}
	return out
}

// ruleSet finds the anchors of all its rules in one pass over the text: a
// bitset of the anchors' first two bytes filters positions, and only
// candidates are compared with the anchors that start with those bytes.
type ruleSet struct {
	rules  []*rule
	first  [1024]uint64           // bigram bitset
	byGram map[uint16][]anchorRef // bigram -> anchors
}

type anchorRef struct {
	rule   int
	anchor string
}

func newRuleSet(rules []*rule) *ruleSet {
	rs := &ruleSet{rules: rules, byGram: map[uint16][]anchorRef{}}
	for ri, r := range rules {
		for _, a := range r.anchors {
			if len(a) < 2 {
				panic("guard: anchor shorter than two bytes: " + a)
			}
			g := uint16(a[0])<<8 | uint16(a[1])
			rs.first[g>>6] |= 1 << (g & 63)
			rs.byGram[g] = append(rs.byGram[g], anchorRef{ri, a})
		}
	}
	return rs
}

// hits returns, per rule, the sorted offsets of its anchors in lower.
func (rs *ruleSet) hits(lower string) [][]int {
	out := make([][]int, len(rs.rules))
	n := len(lower)
	for i := 0; i+1 < n; i++ {
		g := uint16(lower[i])<<8 | uint16(lower[i+1])
		if rs.first[g>>6]&(1<<(g&63)) == 0 {
			continue
		}
		for _, ar := range rs.byGram[g] {
			if strings.HasPrefix(lower[i:], ar.anchor) && (rs.rules[ar.rule].accept == nil || rs.rules[ar.rule].accept(lower, i)) {
				if h := out[ar.rule]; len(h) == 0 || h[len(h)-1] != i {
					out[ar.rule] = append(h, i)
				}
			}
		}
	}
	return out
}

// run appends the findings of every rule of rs in s to fs.
func (rs *ruleSet) run(detector, s string, fs []Finding) []Finding {
	if s == "" {
		return fs
	}
	bp := lowerPool.Get().(*[]byte)
	lb := asciiLower(s, *bp)
	lower := unsafeString(lb)
	hits := rs.hits(lower)
	for ri, r := range rs.rules {
		var ws [][2]int
		if r.anchors == nil {
			ws = [][2]int{{0, len(s)}}
		} else if len(hits[ri]) > 0 {
			ws = r.merge(hits[ri], len(s))
		}
		fs = r.scan(detector, s, ws, fs)
	}
	*bp = lb
	lowerPool.Put(bp)
	return fs
}

// scan appends r's findings in the windows ws of s to fs.
func (r *rule) scan(detector, s string, ws [][2]int, fs []Finding) []Finding {
	for _, w := range ws {
		sub := s[w[0]:w[1]]
		for _, m := range r.re.FindAllStringSubmatchIndex(sub, -1) {
			a, b := m[2*r.group], m[2*r.group+1]
			if a < 0 {
				continue
			}
			text := sub[a:b]
			if r.valid != nil && !r.valid(text) {
				continue
			}
			id := r.id
			if r.rename != nil {
				id = r.rename(text)
			}
			fs = append(fs, Finding{Detector: detector, Rule: id, Start: w[0] + a, End: w[0] + b})
		}
	}
	return fs
}

// nearAny returns an accept function that keeps a hit only when one of
// words occurs within the next span bytes.
func nearAny(span int, words ...string) func(string, int) bool {
	return func(lower string, i int) bool {
		w := lower[i:min(i+span, len(lower))]
		for _, x := range words {
			if strings.Contains(w, x) {
				return true
			}
		}
		return false
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
