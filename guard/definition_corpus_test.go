package guard

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// corpus is one file of guard/testdata/definitions.
type corpus struct {
	About   string `json:"about"`
	Sources []struct {
		Server, Package, Version string
		Tools                    int
	} `json:"sources"`
	Benign []struct {
		Server string         `json:"server"`
		Source string         `json:"source"`
		Tool   map[string]any `json:"tool"`
	} `json:"benign"`
	Poisoned []struct {
		Technique string         `json:"technique"`
		Tool      map[string]any `json:"tool"`
	} `json:"poisoned"`
}

func loadCorpus(t testing.TB, name string) *corpus {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "definitions", name))
	if err != nil {
		t.Fatal(err)
	}
	c := &corpus{}
	if err := json.Unmarshal(b, c); err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return c
}

// corpusSiblings maps each benign server to the names of all its tools in
// both corpus files: a real client sees every tool of a server.
func corpusSiblings(cs ...*corpus) map[string][]string {
	m := map[string][]string{}
	for _, c := range cs {
		for _, b := range c.Benign {
			m[b.Server] = append(m[b.Server], b.Tool["name"].(string))
		}
	}
	return m
}

// corpusScore is the outcome of scanning one corpus file.
type corpusScore struct {
	caught, total map[string]int
	missed        map[string][]string
	fp            []string
	warned        int
	benign        int
}

func scoreCorpus(c *corpus, siblings map[string][]string) corpusScore {
	s := corpusScore{caught: map[string]int{}, total: map[string]int{}, missed: map[string][]string{}}
	for _, p := range c.Poisoned {
		s.total[p.Technique]++
		if blocked(ScanDefinition(p.Tool, nil)) {
			s.caught[p.Technique]++
		} else {
			s.missed[p.Technique] = append(s.missed[p.Technique], p.Tool["name"].(string))
		}
	}
	for _, b := range c.Benign {
		s.benign++
		fs := ScanDefinition(b.Tool, &DefinitionOptions{Siblings: siblings[b.Server]})
		if blocked(fs) {
			var why []string
			for _, f := range fs {
				if f.Severity == SeverityBlock {
					why = append(why, f.String())
				}
			}
			s.fp = append(s.fp, fmt.Sprintf("%s/%s: %s", b.Server, b.Tool["name"], strings.Join(why, "; ")))
		} else if len(fs) > 0 {
			s.warned++
		}
	}
	return s
}

// table renders the per-technique recall as a markdown table.
func (s corpusScore) table() (string, float64, float64) {
	var techs []string
	for k := range s.total {
		techs = append(techs, k)
	}
	slices.Sort(techs)
	var b strings.Builder
	b.WriteString("| technique | poisoned | caught | recall | missed |\n|---|---:|---:|---:|---|\n")
	caught, total := 0, 0
	for _, k := range techs {
		caught += s.caught[k]
		total += s.total[k]
		fmt.Fprintf(&b, "| %s | %d | %d | %.2f | %s |\n", k, s.total[k], s.caught[k], float64(s.caught[k])/float64(s.total[k]), strings.Join(s.missed[k], ", "))
	}
	recall := float64(caught) / float64(total)
	fpRate := float64(len(s.fp)) / float64(s.benign)
	fmt.Fprintf(&b, "| **all** | %d | %d | %.3f | |\n\nbenign: %d, false positives (block): %d (%.1f %%), warned only: %d\n", total, caught, recall, s.benign, len(s.fp), 100*fpRate, s.warned)
	return b.String(), recall, fpRate
}

// TestDefinitionCorpus computes recall per technique and the false-positive
// rate of ScanDefinition over the labelled corpus: it fails when the tuning
// or the held-out part falls below recall 0.95 (overall or for any
// technique) or rises above 2 % false positives, and reports the spot
// checks (fresh wording, see docs/GUARDRAILS.md), which set no threshold,
// beside them.
func TestDefinitionCorpus(t *testing.T) {
	tune, held := loadCorpus(t, "tune.json"), loadCorpus(t, "heldout.json")
	if n := len(tune.Benign) + len(held.Benign); n < 150 {
		t.Errorf("corpus has %d benign definitions, want at least 150", n)
	}
	if n := len(tune.Poisoned) + len(held.Poisoned); n < 100 {
		t.Errorf("corpus has %d poisoned definitions, want at least 100", n)
	}
	sib := corpusSiblings(tune, held)
	for _, part := range []struct {
		name    string
		c       *corpus
		enforce bool
	}{{"tuning", tune, true}, {"held-out", held, true}, {"spot-check", loadCorpus(t, "spotcheck.json"), false}, {"spot-check 2", loadCorpus(t, "spotcheck2.json"), false}, {"spot-check 3", loadCorpus(t, "spotcheck3.json"), false}, {"spot-check 4", loadCorpus(t, "spotcheck4.json"), false}, {"spot-check 5 (blind)", loadCorpus(t, "spotcheck5.json"), false}} {
		s := scoreCorpus(part.c, sib)
		tab, recall, fp := s.table()
		t.Logf("%s part:\n%s", part.name, tab)
		for _, f := range s.fp {
			t.Logf("%s false positive: %s", part.name, f)
		}
		t.Logf("%s part, the gateway's tool policy scanner alone (tool_poisoning, injection_attack, hidden_text over every string): %s", part.name, scannerBaseline(part.c))
		if !part.enforce {
			continue
		}
		if recall < 0.95 || fp > 0.02 {
			t.Errorf("%s part: recall %.3f (want >= 0.95), false positives %.1f %% (want <= 2 %%)", part.name, recall, 100*fp)
		}
		for tech, n := range s.total {
			if r := float64(s.caught[tech]) / float64(n); r < 0.95 {
				t.Errorf("%s part: technique %s recall %.2f (want >= 0.95), missed %v", part.name, tech, r, s.missed[tech])
			}
		}
	}
}

// BenchmarkScanDefinition1000 scans 1,000 definitions drawn round-robin
// from the corpus (benign and poisoned) per iteration; the target is 50 ms
// per iteration on one core.
func BenchmarkScanDefinition1000(b *testing.B) {
	tune, held := loadCorpus(b, "tune.json"), loadCorpus(b, "heldout.json")
	var defs []map[string]any
	for _, c := range []*corpus{tune, held} {
		for _, x := range c.Benign {
			defs = append(defs, x.Tool)
		}
		for _, x := range c.Poisoned {
			defs = append(defs, x.Tool)
		}
	}
	sib := corpusSiblings(tune, held)
	opts := &DefinitionOptions{Siblings: sib["github"]}
	b.ReportAllocs()
	for b.Loop() {
		for i := range 1000 {
			ScanDefinition(defs[i%len(defs)], opts)
		}
	}
}

// scannerBaseline scores the Scanner a tool_guardrails_policy runs
// (tool_poisoning with injection_attack, and hidden_text) over every string
// and key of each definition, for comparison with ScanDefinition.
func scannerBaseline(c *corpus) string {
	sc := &Scanner{ToolPoisoning: true, HiddenText: true}
	hit := func(v any) bool {
		for _, s := range collectStrings(v, nil) {
			if len(sc.Scan(s, nil)) > 0 {
				return true
			}
		}
		return false
	}
	caught, fp := 0, 0
	for _, p := range c.Poisoned {
		if hit(p.Tool) {
			caught++
		}
	}
	for _, b := range c.Benign {
		if hit(b.Tool) {
			fp++
		}
	}
	return fmt.Sprintf("recall %d/%d (%.3f), false positives %d/%d", caught, len(c.Poisoned), float64(caught)/float64(len(c.Poisoned)), fp, len(c.Benign))
}
