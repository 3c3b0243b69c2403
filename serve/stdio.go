package serve

import (
	"context"
	"io"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/internal/wire"
)

// Stdio serves one MCP client session for principal over in and out (the
// process's stdin and stdout, which are the protocol: nothing else may
// write to out) until the client goes away or ctx is cancelled, and reaps
// every upstream before returning. Every client line is checked strictly
// (UTF-8, no duplicate keys, size and depth caps) before the SDK parses it;
// a bad line gets an error. A server that needs a browser login can have
// it completed through the client (URL-mode elicitation), since the
// client's browser is on this host and reaches the loopback redirect.
//
// Cancelling ctx (a signal) is a normal way to stop and returns nil. An
// audit log that cannot be opened is a *ConfigError.
func Stdio(ctx context.Context, principal *authn.Principal, in io.ReadCloser, out io.Writer, opts *Options) error {
	r, closeShared, err := open(opts)
	if err != nil {
		return err
	}
	defer closeShared()
	r.elicitLogin = true
	gw, pool := r.newSession(principal, "", nil)
	defer pool.Close()
	r.log.Info().Int("servers", len(principal.MCPConfig.Servers)).Msg("gateway ready; upstreams start on first use")
	err = gw.Run(ctx, wire.Stdio(in, out, &wire.Options{Logger: &r.log}))
	if ctx.Err() != nil {
		err = nil // a signal is a normal way to stop
	}
	r.log.Info().Msg("client gone; stopping upstreams")
	return err
}
