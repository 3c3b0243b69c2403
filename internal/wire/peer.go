package wire

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// PeerOptions configures a peer connection. The zero value is usable.
type PeerOptions struct {
	// MaxMessageBytes caps one line; a longer one ends the connection.
	// Zero means DefaultMaxMessageBytes.
	MaxMessageBytes int
	// Close runs once when the connection closes, after nothing more will
	// be written; it ends the peer (closes its input, waits for it, signals
	// it). Nil means closing w.
	Close func() error
}

// NewPeerConn returns an mcp.Connection to a server the gateway started,
// over its stdout (r) and stdin (w): newline-delimited JSON-RPC, as the MCP
// stdio transport specifies (a message holds no newline). A well-formed
// line is decoded from one scan of it, as a client's is; any other line
// goes to the go-sdk's own decoder, so a peer is read exactly as leniently
// as the go-sdk reads it, and a line neither accepts ends the connection.
func NewPeerConn(r io.Reader, w io.WriteCloser, opts *PeerOptions) mcp.Connection {
	c := &peerConn{r: bufio.NewReaderSize(r, 64<<10), w: w, incoming: make(chan readResult), closed: make(chan struct{})}
	if opts != nil {
		c.opts = *opts
	}
	if c.opts.MaxMessageBytes <= 0 {
		c.opts.MaxMessageBytes = DefaultMaxMessageBytes
	}
	go c.readLoop()
	return c
}

// peerConn is the connection NewPeerConn returns.
type peerConn struct {
	r        *bufio.Reader
	w        io.WriteCloser
	opts     PeerOptions
	writeMu  sync.Mutex
	incoming chan readResult
	closed   chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// readLoop hands decoded lines to Read until the stream ends, a line is
// refused, or the connection closes.
func (c *peerConn) readLoop() {
	var sc scanner
	var buf []byte
	for {
		msg, err := c.next(&sc, &buf)
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

// next reads and decodes the next non-blank line.
func (c *peerConn) next(sc *scanner, buf *[]byte) (jsonrpc.Message, error) {
	for {
		*buf = (*buf)[:0]
		var rerr error
		for {
			chunk, err := c.r.ReadSlice('\n')
			if len(*buf)+len(chunk) > c.opts.MaxMessageBytes+2 {
				return nil, fmt.Errorf("message exceeds the %d-byte cap", c.opts.MaxMessageBytes)
			}
			*buf = append(*buf, chunk...)
			if err == bufio.ErrBufferFull {
				continue
			}
			rerr = err
			break
		}
		line := bytes.TrimSpace(*buf)
		if len(line) > 0 {
			line = bytes.Clone(line)
			if msg, code, _, _, _ := sc.parse(line, 0); code == 0 {
				return msg, nil
			}
			msg, err := jsonrpc.DecodeMessage(line)
			if err != nil {
				// The decoder's error quotes the line; what the server
				// wrote stays out of errors, logs and results.
				return nil, fmt.Errorf("read message: the server wrote a %d-byte line that is not a JSON-RPC message", len(line))
			}
			return msg, nil
		}
		if rerr != nil {
			return nil, rerr
		}
	}
}

// Read implements mcp.Connection.
func (c *peerConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-c.incoming:
		return r.msg, r.err
	case <-c.closed:
		return nil, io.EOF
	}
}

// Write implements mcp.Connection: one write of one line per message.
func (c *peerConn) Write(ctx context.Context, msg jsonrpc.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := jsonrpc.EncodeMessage(msg)
	if err != nil {
		return fmt.Errorf("encode message: %w", err)
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if _, err := c.w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write message: %w", err)
	}
	return nil
}

// Close implements mcp.Connection; it may be called more than once.
func (c *peerConn) Close() error {
	c.closeOnce.Do(func() {
		// A Write blocked on a full pipe returns when the peer's input
		// closes, so Close does not wait for the write lock.
		close(c.closed)
		if c.opts.Close != nil {
			c.closeErr = c.opts.Close()
		} else {
			c.closeErr = c.w.Close()
		}
	})
	return c.closeErr
}

// SessionID implements mcp.Connection; stdio has no session id.
func (c *peerConn) SessionID() string { return "" }
