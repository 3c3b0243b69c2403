package detect

import (
	"encoding/base64"
	"strings"
	"testing"
)

// BenchmarkEncodedSecrets is the cost ScanSecrets adds for base64 runs:
// over prose with few runs, and over traffic made of encoded binary and
// encoded text.
func BenchmarkEncodedSecrets(b *testing.B) {
	bin := make([]byte, 768)
	for i := range bin {
		bin[i] = byte(i*131 + i/7)
	}
	prose := strings.Repeat("The quarterly report shows revenue grew 12% to $4.2M; see https://example.com/docs/getting-started. ", 11_000)
	encoded := strings.Repeat(base64.StdEncoding.EncodeToString(bin)+" "+base64.StdEncoding.EncodeToString([]byte(prose[:600]))+" ", 600)
	for _, c := range []struct{ name, in string }{{"prose_1MB", prose[:1<<20]}, {"base64_1MB", encoded[:1<<20]}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.in)))
			b.ReportAllocs()
			for b.Loop() {
				scanEncodedSecrets(c.in, nil)
			}
		})
	}
}
