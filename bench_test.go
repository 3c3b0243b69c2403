package main

import (
	"context"
	"os/exec"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// BenchmarkCall compares a tool call made directly to the bundled Go echo
// upstream with the same call forwarded through the gateway binary, both over
// real stdio pipes. Run: go test -run '^$' -bench BenchmarkCall -count 6 .
func BenchmarkCall(b *testing.B) {
	args := map[string]any{"message": "benchmark payload of a typical size, about sixty bytes long"}
	b.Run("direct", func(b *testing.B) {
		client := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil)
		cs, err := client.Connect(context.Background(), &mcp.CommandTransport{Command: exec.Command(gatewayBin, "example-server", "echo")},
			&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
		if err != nil {
			b.Fatal(err)
		}
		defer cs.Close()
		benchCalls(b, cs, "echo", args)
	})
	b.Run("gateway", func(b *testing.B) {
		f := newBenchFixture(b)
		cmd := exec.Command(gatewayBin, "--config", f.path)
		cmd.Env = gatewayEnv("ENKRYPT_GATEWAY_KEY=" + f.key)
		client := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil)
		cs, err := client.Connect(context.Background(), &mcp.CommandTransport{Command: cmd}, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer cs.Close()
		benchCalls(b, cs, "echo_server__echo", args)
	})
}

func benchCalls(b *testing.B, cs *mcp.ClientSession, name string, args any) {
	ctx := context.Background()
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args}); err != nil {
		b.Fatal(err) // warm: spawns the upstream behind the gateway
	}
	b.ReportAllocs()
	for b.Loop() {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		if err != nil || res.IsError {
			b.Fatalf("call: %v %+v", err, res)
		}
	}
}
