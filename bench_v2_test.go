package main

import (
	"context"
	"net/http"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// BenchmarkHTTPCall compares a tool call through --http in the two eras: a
// 2025-11-25 session (initialize once, then calls on its Mcp-Session-Id)
// and stateless 2026-07-28 requests (each call a self-contained POST
// authenticated on its own, served by the key's shared gateway), both in
// front of the bundled Go echo upstream over stdio. Run:
// go test -run '^$' -bench BenchmarkHTTPCall -benchtime 200x .
func BenchmarkHTTPCall(b *testing.B) {
	args := map[string]any{"message": "benchmark payload of a typical size, about sixty bytes long"}
	for _, tc := range []struct{ name, version, want string }{
		{"session-2025-11-25", "2025-11-25", "2025-11-25"},
		{"stateless-2026-07-28", "", "2026-07-28"}, // the go-sdk's default
	} {
		b.Run(tc.name, func(b *testing.B) {
			f := newBenchFixture(b)
			p := startHTTP(b, f)
			client := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil)
			cs, err := client.Connect(context.Background(), &mcp.StreamableClientTransport{
				Endpoint:   p.url,
				HTTPClient: &http.Client{Transport: headerRT{http.Header{"Apikey": {f.key}}}},
			}, &mcp.ClientSessionOptions{ProtocolVersion: tc.version})
			if err != nil {
				b.Fatal(err)
			}
			defer cs.Close()
			if got := cs.InitializeResult().ProtocolVersion; got != tc.want {
				b.Fatalf("negotiated %q, want %q", got, tc.want)
			}
			benchCalls(b, cs, "echo_server__echo", args)
		})
	}
}
