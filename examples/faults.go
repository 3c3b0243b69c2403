package examples

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The faults example injects the upstream faults of the security catalogue
// on request: garbage on stdout, a stderr flood, a process tree that ignores
// SIGTERM, an endless progress stream and a huge result.

// stubborn is set once the stubborn tool ran: from then on Run never
// returns, so the process outlives its stdin.
var stubborn atomic.Bool

type sizeIn struct {
	MB int `json:"mb" jsonschema:"how many MiB to write"`
}

type countIn struct {
	Count int `json:"count" jsonschema:"how many progress notifications to send; 0 sends until cancelled"`
}

func newFaults() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "faults", Version: Version}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "stdout_garbage", Description: "Writes a line that is not JSON-RPC to stdout, then answers."},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			fmt.Fprintln(os.Stdout, "garbage: this line is not JSON-RPC")
			return textResult("wrote garbage"), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "stderr_flood", Description: "Writes mb MiB of log lines to stderr, then answers."},
		func(_ context.Context, _ *mcp.CallToolRequest, in sizeIn) (*mcp.CallToolResult, any, error) {
			w := bufio.NewWriterSize(os.Stderr, 1<<16)
			line := strings.Repeat("flood ", 20) + "\n"
			for n := 0; n < in.MB<<20; n += len(line) {
				w.WriteString(line)
			}
			if err := w.Flush(); err != nil {
				return nil, nil, fmt.Errorf("flood stderr: %w", err)
			}
			return textResult(fmt.Sprintf("wrote %d MiB to stderr", in.MB)), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "stubborn", Description: "From now on ignores SIGTERM and stdin EOF, and starts a grandchild shell that ignores SIGTERM too; returns the grandchild's pid."},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, pidOut, error) {
			signal.Ignore(syscall.SIGTERM)
			cmd := exec.Command("sh", "-c", `trap "" TERM; sleep 1000 & wait`)
			if err := cmd.Start(); err != nil {
				return nil, pidOut{}, fmt.Errorf("start grandchild: %w", err)
			}
			go func() { _ = cmd.Wait() }()
			stubborn.Store(true)
			return textResult(fmt.Sprintf("pid=%d", cmd.Process.Pid)), pidOut{PID: cmd.Process.Pid, PGID: processGroup()}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "progress_flood", Description: "Sends progress notifications as fast as it can, count of them or until cancelled, then answers."},
		func(ctx context.Context, req *mcp.CallToolRequest, in countIn) (*mcp.CallToolResult, any, error) {
			token := req.Params.GetProgressToken()
			if token == nil {
				return nil, nil, fmt.Errorf("call with a progress token")
			}
			n := 0
			for ; in.Count == 0 || n < in.Count; n++ {
				if ctx.Err() != nil {
					return nil, nil, ctx.Err()
				}
				if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: token, Progress: float64(n)}); err != nil {
					return nil, nil, fmt.Errorf("notify progress: %w", err)
				}
			}
			return textResult(fmt.Sprintf("sent %d", n)), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "huge_result", Description: "Returns a text result of mb MiB."},
		func(_ context.Context, _ *mcp.CallToolRequest, in sizeIn) (*mcp.CallToolResult, any, error) {
			return textResult(strings.Repeat("x", in.MB<<20)), nil, nil
		})
	return s
}
