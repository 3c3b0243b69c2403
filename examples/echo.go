package examples

import (
	"context"
	"errors"
	"strconv"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type echoIn struct {
	Message string `json:"message" jsonschema:"the text to echo back"`
}

type addIn struct {
	A float64 `json:"a" jsonschema:"the first addend"`
	B float64 `json:"b" jsonschema:"the second addend"`
}

type addOut struct {
	Sum float64 `json:"sum" jsonschema:"a + b"`
}

func newEcho() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "echo", Version: Version}, &mcp.ServerOptions{
		Instructions: "A harmless example server: echo returns its message, add returns a sum.",
	})
	mcp.AddTool(s, &mcp.Tool{
		Name:        "echo",
		Description: "Returns the given message unchanged as text.",
	}, func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
		if in.Message == "" {
			// A plain error becomes an isError result, not a protocol error.
			return nil, nil, errors.New("message must not be empty")
		}
		return textResult(in.Message), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{
		Name:        "add",
		Description: "Adds two numbers and returns their sum as text and as structured content {\"sum\": a+b}.",
	}, func(_ context.Context, _ *mcp.CallToolRequest, in addIn) (*mcp.CallToolResult, addOut, error) {
		sum := in.A + in.B
		return textResult(strconv.FormatFloat(sum, 'g', -1, 64)), addOut{Sum: sum}, nil
	})
	return s
}
