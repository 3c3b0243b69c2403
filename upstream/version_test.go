package upstream_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/upstream"
)

func TestRefusedVersion(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"unsupported protocol version", &jsonrpc.Error{Code: mcp.CodeUnsupportedProtocolVersion, Message: "Unsupported protocol version: 2025-11-25"}, true},
		{"wrapped", fmt.Errorf("initialize: %w", fmt.Errorf("calling %q: %w", "initialize", &jsonrpc.Error{Code: mcp.CodeUnsupportedProtocolVersion})), true},
		{"other JSON-RPC error", &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: "method not found"}, false},
		{"plain error", errors.New("unsupported protocol version"), false},
		{"nil", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := upstream.RefusedVersion(tc.err); got != tc.want {
				t.Errorf("RefusedVersion(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
