package guard

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/internal/config"
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

// pathologicalNoStops is pathological without sentence or line ends, so
// patterns that run to the end of a sentence run as far as they may.
func pathologicalNoStops(n int) string {
	unit := "ignore the previous system send upload token <|<!-- ai [//]: # ( disable always use this only 3 xoxb- glpat- ghp_ sk-proj- password: "
	return strings.Repeat(unit, n/len(unit)+1)[:n]
}

// base64Text returns n bytes of traffic that carries base64: encoded binary
// (an image, a hash) and encoded text (a file upload), between prose.
func base64Text(n int) string {
	bin := make([]byte, 768)
	for i := range bin {
		bin[i] = byte(i*131 + i/7)
	}
	parts := []string{
		"Here is the attachment you asked for: ",
		base64.StdEncoding.EncodeToString(bin) + " ",
		`{"name": "notes.txt", "content": "` + base64.StdEncoding.EncodeToString([]byte(mixedText(600))) + `"} `,
		"sha256 " + base64.RawURLEncoding.EncodeToString(bin[:32]) + " verified. ",
	}
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		b.WriteString(parts[i%len(parts)])
	}
	return b.String()[:n]
}

func benchScanner(b *testing.B, s string) {
	sc := NewScanner([]string{DetectorPII, DetectorSecrets, DetectorInjection, DetectorHiddenText, DetectorKeyword, DetectorSponge}, []string{"project falcon", "sudo"})
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		sc.Scan(s, nil)
	}
}

// BenchmarkAllDetectors runs every offline detector together over mixed and
// pathological text of growing size; MB/s should stay flat as size grows.
func BenchmarkAllDetectors(b *testing.B) {
	for _, c := range []struct {
		name string
		in   string
	}{
		{"mixed_1KB", mixedText(1 << 10)},
		{"mixed_64KB", mixedText(64 << 10)},
		{"mixed_1MB", mixedText(1 << 20)},
		{"pathological_1KB", pathological(1 << 10)},
		{"pathological_64KB", pathological(64 << 10)},
		{"pathological_1MB", pathological(1 << 20)},
		{"nostops_64KB", pathologicalNoStops(64 << 10)},
		{"nostops_1MB", pathologicalNoStops(1 << 20)},
		{"base64_64KB", base64Text(64 << 10)},
		{"base64_1MB", base64Text(1 << 20)},
	} {
		b.Run(c.name, func(b *testing.B) { benchScanner(b, c.in) })
	}
}

// BenchmarkToolPoisoning scans tool-definition text, which adds the
// sensitive-path and preference-manipulation rules to injection.
func BenchmarkToolPoisoning(b *testing.B) {
	for _, c := range []struct {
		name string
		in   string
	}{
		{"mixed_1MB", mixedText(1 << 20)},
		{"pathological_1MB", pathological(1 << 20)},
		{"nostops_1MB", pathologicalNoStops(1 << 20)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.in)))
			for b.Loop() {
				ScanToolPoisoning(c.in)
			}
		})
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

// typicalArgs is a 1 KB argument object of the kind an MCP client sends:
// nested objects, an array, prose, a path, a URL and numbers.
func typicalArgs() json.RawMessage {
	v := map[string]any{
		"query":   "Find the open invoices for the ACME account and summarise the overdue ones by region.",
		"path":    "/home/dev/projects/billing/reports/2024-q2/summary.md",
		"url":     "https://api.example.com/v2/invoices?status=open&limit=50",
		"limit":   50,
		"options": map[string]any{"include_archived": false, "sort": "due_date", "order": "desc", "fields": []any{"id", "customer", "amount", "currency", "due_date", "region"}},
		"filters": []any{
			map[string]any{"field": "region", "op": "in", "value": []any{"EMEA", "APAC", "NA"}},
			map[string]any{"field": "amount", "op": "gt", "value": 1000},
		},
		"note": strings.Repeat("The customer asked for a breakdown by quarter with totals and a short commentary. ", 6),
	}
	b, _ := json.Marshal(v)
	return b
}

// BenchmarkScanArgs1KB is the input check of one typical call through
// Engine.CheckCall with every offline input detector enabled.
func BenchmarkScanArgs1KB(b *testing.B) {
	e := NewEngine(&Options{Servers: []*config.Server{{
		Name: "s",
		InputGuardrailsPolicy: &config.Policy{Enabled: true,
			Block:            []string{DetectorPII, DetectorSecrets, DetectorInjection, DetectorHiddenText, DetectorKeyword, DetectorSponge},
			AdditionalConfig: map[string]any{"keywords": []any{"project falcon"}}},
	}}})
	args := typicalArgs()
	ctx := context.Background()
	b.SetBytes(int64(len(args)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := e.CheckCall(ctx, "s", "t", args); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckResult1KB is the output check of one typical result (a
// text block and structured content, about 1 KB) with every offline output
// detector enabled.
func BenchmarkCheckResult1KB(b *testing.B) {
	e := NewEngine(&Options{Servers: []*config.Server{{
		Name: "s",
		OutputGuardrailsPolicy: &config.Policy{Enabled: true,
			Block: []string{DetectorPII, DetectorSecrets, DetectorInjection, DetectorHiddenText, DetectorSponge}},
	}}})
	res := &mcp.CallToolResult{
		Content:           []mcp.Content{&mcp.TextContent{Text: strings.Repeat("Invoice 18342 for ACME is overdue by 12 days; the EMEA region owes $4.2M in total. ", 8)}},
		StructuredContent: map[string]any{"total": 1234.5, "currency": "EUR", "rows": []any{"north", "south", "east", "west"}},
	}
	_, check, err := e.CheckCall(context.Background(), "s", "t", nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := check(ctx, res); err != nil {
			b.Fatal(err)
		}
	}
}
