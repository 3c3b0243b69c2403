package wire

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// transport is the mcp.Transport of Stdio.
type transport struct {
	f *Filter
	w *LockedWriter
}

// Connect implements mcp.Transport; it is called once per session.
func (t *transport) Connect(context.Context) (mcp.Connection, error) {
	c := &conn{f: t.f, w: t.w, incoming: make(chan readResult), closed: make(chan struct{})}
	go c.readLoop()
	return c, nil
}

// readResult is one message, or the error that ended the stream.
type readResult struct {
	msg jsonrpc.Message
	err error
}

// conn is an mcp.Connection over a Filter and a LockedWriter: the Filter's
// strict scan is the only parse of a client request before the go-sdk
// decodes its params, and every outgoing message is one write of one line.
type conn struct {
	f         *Filter
	w         *LockedWriter
	incoming  chan readResult
	closed    chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// readLoop hands the Filter's messages to Read until the stream ends or the
// connection closes; a Read blocked on a quiet client returns at Close.
func (c *conn) readLoop() {
	for {
		msg, err := c.f.Next()
		select {
		case c.incoming <- readResult{msg, err}:
		case <-c.closed:
			return
		}
		if err != nil {
			return
		}
	}
}

// Read implements mcp.Connection.
func (c *conn) Read(ctx context.Context) (jsonrpc.Message, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-c.incoming:
		return r.msg, r.err
	case <-c.closed:
		return nil, io.EOF
	}
}

// Write implements mcp.Connection.
func (c *conn) Write(ctx context.Context, msg jsonrpc.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := jsonrpc.EncodeMessage(msg)
	if err != nil {
		return fmt.Errorf("encode message: %w", err)
	}
	if _, err := c.w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write message: %w", err)
	}
	return nil
}

// Close implements mcp.Connection: it closes the client's input, which ends
// the read loop; it may be called more than once.
func (c *conn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.closeErr = c.f.Close()
	})
	return c.closeErr
}

// SessionID implements mcp.Connection; stdio has no session id.
func (c *conn) SessionID() string { return "" }
