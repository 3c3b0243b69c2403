package examples

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The oversize example sends replies over the gateway's message cap: a
// whole one, which the gateway discards while the server stays up, and one
// whose line never ends, which must end at the call's timeout.

func newOversize() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "oversize", Version: Version}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "pid", Description: "Returns this server's process id."},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, pidOut, error) {
			return textResult(fmt.Sprint(os.Getpid())), pidOut{PID: os.Getpid(), PGID: processGroup()}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "huge_reply", Description: "Returns a text result of mb MiB."},
		func(_ context.Context, _ *mcp.CallToolRequest, in sizeIn) (*mcp.CallToolResult, any, error) {
			return textResult(strings.Repeat("x", in.MB<<20)), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "unterminated", Description: "Writes the start of a reply of mb MiB with no newline to stdout, then waits until the call is cancelled."},
		func(ctx context.Context, _ *mcp.CallToolRequest, in sizeIn) (*mcp.CallToolResult, any, error) {
			w := bufio.NewWriterSize(os.Stdout, 1<<16)
			w.WriteString(`{"jsonrpc":"2.0","id":0,"result":{"content":[{"type":"text","text":"`)
			chunk := strings.Repeat("x", 1<<16)
			for n := 0; n < in.MB<<20; n += len(chunk) {
				w.WriteString(chunk)
			}
			if err := w.Flush(); err != nil {
				return nil, nil, fmt.Errorf("write: %w", err)
			}
			<-ctx.Done()
			return nil, nil, ctx.Err()
		})
	return s
}
