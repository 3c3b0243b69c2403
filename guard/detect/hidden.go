package detect

import (
	"unicode/utf8"
)

// ScanHiddenText returns findings for text a human reviewer would not see but
// a model reads: Unicode tag characters (U+E0000 block) outside emoji flag
// tag sequences, zero-width characters outside emoji ZWJ sequences and
// joining contexts, bidi embedding/override/isolate controls, ANSI escape
// sequences and NUL bytes.
func ScanHiddenText(s string) []Finding {
	var fs []Finding
	add := func(rule string, start, end int) {
		if k := len(fs) - 1; k >= 0 && fs[k].Rule == rule && fs[k].End == start {
			fs[k].End = end // one finding per run
			return
		}
		fs = append(fs, Finding{Detector: DetectorHiddenText, Rule: rule, Start: start, End: end})
	}
	for i := 0; i < len(s); {
		// Every character this detector looks for is NUL, ESC or starts
		// with one of five UTF-8 lead bytes; everything else is skipped a
		// byte at a time without decoding.
		for i < len(s) && !hiddenLead[s[i]] {
			i++
		}
		if i == len(s) {
			break
		}
		switch c := s[i]; c {
		case 0:
			add("nul", i, i+1)
			i++
			continue
		case 0x1b:
			add("ansi_escape", i, i+1)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r >= 0xE0000 && r <= 0xE007F:
			// U+1F3F4 followed by tag letters and U+E007F is a legitimate
			// subdivision flag (England, Scotland, Wales).
			if end, ok := flagTagSequence(s, i, prevRune(s, i)); ok {
				i = end
				continue
			}
			add("unicode_tag", i, i+n)
		case r == 0x200D || r == 0x200C:
			prev := prevRune(s, i)
			next, _ := utf8.DecodeRuneInString(s[i+n:])
			if !(isEmojiPart(prev) && isEmojiPart(next)) && !(r == 0x200C && isLetter(prev) && isLetter(next)) {
				add("zero_width", i, i+n)
			}
		case r == 0x200B || r == 0x2060 || r == 0x180E || r == 0x2061 || r == 0x2062 || r == 0x2063 || r == 0x2064:
			add("zero_width", i, i+n)
		case r == 0xFEFF && i > 0:
			add("zero_width", i, i+n)
		case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069:
			add("bidi_control", i, i+n)
		case r == 0x9B: // C1 control sequence introducer
			add("ansi_escape", i, i+n)
		}
		i += n
	}
	return fs
}

// hiddenLead marks the bytes that can start a character ScanHiddenText
// reports: NUL, ESC and the UTF-8 lead bytes of U+0080-U+00BF (C1 CSI),
// U+1000-U+1FFF (Mongolian vowel separator), U+2000-U+2FFF (zero-width and
// bidi controls), U+F000-U+FFFF (BOM) and U+C0000-U+FFFFF (tags).
var hiddenLead = [256]bool{0: true, 0x1b: true, 0xC2: true, 0xE1: true, 0xE2: true, 0xEF: true, 0xF3: true}

// prevRune returns the rune that ends just before i, or -1 at the start.
func prevRune(s string, i int) rune {
	if i == 0 {
		return -1
	}
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return r
}

// flagTagSequence reports whether the tag run at i completes a subdivision
// flag that began with U+1F3F4, and where it ends.
func flagTagSequence(s string, i int, prev rune) (int, bool) {
	if prev != 0x1F3F4 {
		return 0, false
	}
	for j, k := i, 0; j < len(s) && k < 8; k++ {
		r, n := utf8.DecodeRuneInString(s[j:])
		switch {
		case r == 0xE007F:
			return j + n, k >= 2
		case r >= 0xE0030 && r <= 0xE0039, r >= 0xE0061 && r <= 0xE007A:
			j += n
		default:
			return 0, false
		}
	}
	return 0, false
}

// isEmojiPart reports whether r can sit on either side of a ZWJ in an emoji
// sequence: pictographs, symbols, skin tones, variation selector 16.
func isEmojiPart(r rune) bool {
	return r >= 0x1F000 && r <= 0x1FAFF || r >= 0x2600 && r <= 0x27BF || r == 0xFE0F || r == 0x2640 || r == 0x2642 || r == 0x2695 || r == 0x2696 || r == 0x2708 || r == 0x2764 || r >= 0x2B00 && r <= 0x2BFF
}

// isLetter reports whether r is a letter of a script that uses ZWNJ for
// shaping (Arabic, Persian, Indic and others); ASCII letters are not.
func isLetter(r rune) bool { return r >= 0x0600 && r <= 0x0DFF || r >= 0x0E00 && r <= 0x0FFF }
