package detect

// Defaults for Sponge fields left zero.
const (
	// DefaultSpongeMaxBytes is the largest single string a sponge check
	// accepts.
	DefaultSpongeMaxBytes = 256 << 10
	// DefaultSpongeMaxRepeat is the longest stretch of a repeating pattern
	// (period up to 16 bytes) a sponge check accepts.
	DefaultSpongeMaxRepeat = 4096
)

// Sponge finds oversized and degenerate (highly repetitive) inputs meant to
// burn a model's context or a detector's time.
type Sponge struct {
	// MaxBytes is the largest accepted string; zero means
	// DefaultSpongeMaxBytes.
	MaxBytes int
	// MaxRepeat is the longest accepted run of a pattern of period 1-16
	// bytes; zero means DefaultSpongeMaxRepeat.
	MaxRepeat int
}

// Scan returns at most one "oversized" and one "repetition" finding.
func (sp Sponge) Scan(s string) []Finding {
	maxBytes, maxRepeat := sp.MaxBytes, sp.MaxRepeat
	if maxBytes <= 0 {
		maxBytes = DefaultSpongeMaxBytes
	}
	if maxRepeat <= 0 {
		maxRepeat = DefaultSpongeMaxRepeat
	}
	var fs []Finding
	if len(s) > maxBytes {
		fs = append(fs, Finding{Detector: DetectorSponge, Rule: "oversized", Start: 0, End: len(s)})
	}
	if len(s) <= maxRepeat {
		return fs
	}
	// A run of period p (1-16) at least maxRepeat long fully covers some
	// aligned chunk of half that size; a chunk is periodic when it equals
	// itself shifted by p, which memcmp rejects within a few bytes for
	// ordinary text. Only periodic chunks are measured exactly.
	const maxPeriod = 16
	chunk := max(maxRepeat/2, 2*maxPeriod)
	for c := 0; c+chunk <= len(s); c += chunk {
		w := s[c : c+chunk]
		for p := 1; p <= maxPeriod; p++ {
			if w[p:] != w[:chunk-p] {
				continue
			}
			a, b := c, c+chunk
			for a > p-1 && a > 0 && s[a-1] == s[a-1+p] {
				a--
			}
			for b < len(s) && s[b] == s[b-p] {
				b++
			}
			if b-a >= maxRepeat {
				return append(fs, Finding{Detector: DetectorSponge, Rule: "repetition", Start: a, End: b})
			}
			break
		}
	}
	return fs
}
