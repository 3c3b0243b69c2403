package guard

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var updateDocs = flag.Bool("update", false, "rewrite the generated detector table of docs/GUARDRAILS.md")

// TestRegistryRuns: every offline entry switches a detector of NewScanner
// on, every provider entry is one the enkrypt provider runs, and names are
// unique, so an entry cannot be added without its implementation.
func TestRegistryRuns(t *testing.T) {
	seen := map[string]bool{}
	for _, d := range Registry {
		if seen[d.Name] {
			t.Errorf("%s is listed twice", d.Name)
		}
		seen[d.Name] = true
		if d.Description == "" || strings.Contains(d.Description, "\n") || len(d.Stages) == 0 {
			t.Errorf("%s: needs a one-line description and its stages", d.Name)
		}
		if d.NeedsProvider {
			if d.Cost != CostRemote || slices.Contains(d.Stages, StageTool) || !(&enkrypt{}).Supports(d.Name) {
				t.Errorf("%s: a provider detector is remote, not for tool definitions, and run by enkrypt", d.Name)
			}
			continue
		}
		if d.Cost != CostLinear || *NewScanner([]string{d.Name}, []string{"w"}) == (Scanner{}) {
			t.Errorf("%s: an offline detector is linear and known to NewScanner", d.Name)
		}
	}
	if got, ok := LookupDetector(DetectorSSRF); !ok || got.Name != DetectorSSRF {
		t.Errorf("LookupDetector(ssrf) = %+v, %v", got, ok)
	}
	if _, ok := LookupDetector("secret"); ok {
		t.Error("LookupDetector found a name not in the registry")
	}
}

// TestRegistryDocsUpToDate fails when the generated detector table of
// docs/GUARDRAILS.md differs from the Registry, or when the hand-written
// rule table names a detector the Registry lacks or lacks an offline one.
// Refresh with `go test -run TestRegistryDocsUpToDate -update ./guard`.
func TestRegistryDocsUpToDate(t *testing.T) {
	const begin, end = "<!-- detector registry: generated from guard.Registry -->\n", "<!-- end of detector registry -->\n"
	path := filepath.Join("..", "docs", "GUARDRAILS.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i, j := bytes.Index(doc, []byte(begin)), bytes.Index(doc, []byte(end))
	if i < 0 || j < i {
		t.Fatalf("%s lacks the markers %q and %q", path, begin, end)
	}
	want := RegistryMarkdown()
	if got := string(doc[i+len(begin) : j]); got != want {
		if !*updateDocs {
			t.Fatalf("%s: the detector table is stale; run go test -run TestRegistryDocsUpToDate -update ./guard\nwant:\n%s", path, want)
		}
		doc = slices.Concat(doc[:i+len(begin)], []byte(want), doc[j:])
		if err := os.WriteFile(path, doc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The rule table: rows start with the detector's name in backquotes.
	var ruleRows []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)`").FindAllSubmatch(doc[:i], -1) {
		ruleRows = append(ruleRows, string(m[1]))
	}
	for _, n := range ruleRows {
		if _, ok := LookupDetector(n); !ok {
			t.Errorf("%s's rule table lists %q, which the Registry lacks", path, n)
		}
	}
	for _, n := range OfflineDetectors {
		if !slices.Contains(ruleRows, n) {
			t.Errorf("%s's rule table lacks offline detector %q", path, n)
		}
	}
}

// TestRegistryText: help lists every detector once, the provider ones only
// when asked.
func TestRegistryText(t *testing.T) {
	for _, offlineOnly := range []bool{false, true} {
		txt := RegistryText(offlineOnly)
		for _, d := range Registry {
			listed := regexp.MustCompile(`(?m)^  ` + d.Name + ` `).MatchString(txt)
			if want := !offlineOnly || !d.NeedsProvider; listed != want {
				t.Errorf("RegistryText(%v): %s listed = %v, want %v", offlineOnly, d.Name, listed, want)
			}
		}
	}
}
