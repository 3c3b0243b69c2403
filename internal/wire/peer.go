package wire

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
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
// stdio transport specifies. A well-formed line is decoded from one scan of
// it, as a client's is; any other message goes to the go-sdk's own decoder,
// including one spread over several lines, so a peer is read as leniently
// as the go-sdk's stdio transport reads it (batches aside: the protocol
// versions the gateway speaks have none), and input neither accepts ends the
// connection.
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

// next reads and decodes the next message. A message is normally one line;
// a value that goes on over several lines (a server that pretty-prints,
// against the stdio transport's rule) is read until it is complete, as the
// go-sdk's stream decoder reads it.
func (c *peerConn) next(sc *scanner, buf *[]byte) (jsonrpc.Message, error) {
	var pending []byte // a JSON value begun on an earlier line
	for {
		if cap(*buf) > maxKeptBuffer {
			*buf = nil // one huge message does not pin its buffer for the connection's life
		}
		*buf = (*buf)[:0]
		var rerr error
		for {
			chunk, err := c.r.ReadSlice('\n')
			if len(pending)+len(*buf)+len(chunk) > c.opts.MaxMessageBytes+2 {
				return nil, fmt.Errorf("message exceeds the %d-byte cap", c.opts.MaxMessageBytes)
			}
			*buf = append(*buf, chunk...)
			if err == bufio.ErrBufferFull {
				continue
			}
			rerr = err
			break
		}
		line := trimLine(*buf)
		if len(line) == 0 && pending == nil {
			if rerr != nil {
				return nil, rerr
			}
			continue
		}
		var text []byte
		if pending == nil {
			text = bytes.Clone(line)
			msg, code, _, _, _ := sc.parse(text, 0)
			sc.release()
			if code == 0 {
				return msg, nil
			}
		} else {
			text = append(append(pending, '\n'), line...)
		}
		msg, err := jsonrpc.DecodeMessage(text)
		if err == nil {
			return msg, nil
		}
		if rerr == nil && incomplete(text) {
			pending = text
			continue
		}
		// The decoder's error quotes the input; what the server wrote stays
		// out of errors, logs and results.
		return nil, fmt.Errorf("read message: the server wrote %d bytes that are not a JSON-RPC message", len(text))
	}
}

// maxKeptBuffer is the largest line buffer a connection keeps between
// messages.
const maxKeptBuffer = 1 << 20

// trimLine drops the whitespace JSON allows around a line's value.
func trimLine(b []byte) []byte {
	return bytes.Trim(b, " \t\r\n")
}

// incomplete reports whether text is the beginning of a JSON value that more
// input could complete.
func incomplete(text []byte) bool {
	var v json.RawMessage
	return errors.Is(json.NewDecoder(bytes.NewReader(text)).Decode(&v), io.ErrUnexpectedEOF)
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
