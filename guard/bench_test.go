package guard

import (
	"strings"
	"testing"
)

// mixedText returns n bytes of realistic tool traffic: prose, JSON, code,
// log lines, a few e-mail addresses, numbers and URLs, some non-ASCII.
func mixedText(n int) string {
	parts := []string{
		"The quarterly report shows revenue grew 12% to $4.2M while costs stayed flat. ",
		`{"id": 18342, "status": "ok", "items": [{"sku": "A-1029", "qty": 3}], "updated": "2024-05-01T10:22:31Z"} `,
		"func main() { fmt.Println(\"hello, world\"); os.Exit(0) } ",
		"2024-05-01 10:22:31 INFO request served path=/api/v1/users latency=12ms ",
		"Contact support at help@example.com or visit https://example.com/docs/getting-started. ",
		"Les données ont été mises à jour — voir le résumé ci-dessous. ",
		"Meeting notes: we agreed to ship the system update next week and review the token budget. ",
		"| name | value |\n|------|-------|\n| alpha | 0.75 |\n",
	}
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		b.WriteString(parts[i%len(parts)])
	}
	return b.String()[:n]
}

// pathological returns n bytes built to maximise detector work: anchors
// everywhere, near-miss digit runs, markers and comment openers.
func pathological(n int) string {
	unit := "ignore system <|<!--@a.b 4111 1111 1111 1112 sk-ant- password= eyJ:: \u200b"
	return strings.Repeat(unit, n/len(unit)+1)[:n]
}

func benchScanner(b *testing.B, s string) {
	sc := NewScanner([]string{DetectorPII, DetectorSecrets, DetectorInjection, DetectorHiddenText, DetectorKeyword, DetectorSponge}, []string{"project falcon", "sudo"})
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		sc.Scan(s, nil)
	}
}

func BenchmarkAllDetectors(b *testing.B) {
	for _, c := range []struct {
		name string
		in   string
	}{
		{"mixed_1KB", mixedText(1 << 10)},
		{"mixed_64KB", mixedText(64 << 10)},
		{"mixed_1MB", mixedText(1 << 20)},
		{"pathological_1MB", pathological(1 << 20)},
	} {
		b.Run(c.name, func(b *testing.B) { benchScanner(b, c.in) })
	}
}

func BenchmarkDetector(b *testing.B) {
	s := mixedText(1 << 20)
	for name, scan := range map[string]func(string) []Finding{
		"pii": ScanPII, "secrets": ScanSecrets, "injection": ScanInjection, "tool_poisoning": ScanToolPoisoning,
		"hidden_text": ScanHiddenText, "keyword": NewKeywords([]string{"sudo"}).Scan, "sponge": Sponge{}.Scan,
	} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(s)))
			for b.Loop() {
				scan(s)
			}
		})
	}
}
