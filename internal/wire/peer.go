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
	// Name names the peer (the upstream server) in the errors it causes.
	// Empty means "the upstream server".
	Name string
	// MaxMessageBytes caps one message. A longer one is read to its end and
	// discarded without being kept in memory: a reply becomes an error
	// answer to the request it answers (a tool error result for tools/call,
	// a JSON-RPC error otherwise), naming the peer, the size seen and the
	// cap; any other message is dropped. The connection stays up. Zero means
	// DefaultMaxMessageBytes.
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
	c := &peerConn{r: bufio.NewReaderSize(r, 64<<10), w: w, incoming: make(chan readResult), closed: make(chan struct{}),
		pending: map[jsonrpc.ID]string{}}
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

	pendingMu sync.Mutex
	pending   map[jsonrpc.ID]string // method of each request written and not yet answered
	closed    chan struct{}

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
		dropped := false
		// A line longer than maxKeptBuffer goes on in pieces, joined once
		// at its end, so that a line is held at most twice, and a line
		// over the cap at most once, never in a slice grown by copying.
		var parts [][]byte
		partsLen := 0
		for {
			chunk, err := c.r.ReadSlice('\n')
			if len(pending)+len(*buf)+partsLen+len(chunk) > c.opts.MaxMessageBytes+2 {
				msg, err := c.skip(pending, *buf, parts, chunk, err)
				pending, *buf, parts, dropped = nil, nil, nil, true
				if msg != nil || err != nil {
					return msg, err
				}
				break
			}
			if parts != nil || len(*buf)+len(chunk) > maxKeptBuffer {
				parts = append(parts, bytes.Clone(chunk))
				partsLen += len(chunk)
			} else {
				*buf = append(*buf, chunk...)
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			rerr = err
			break
		}
		if dropped { // an oversized message of the server's own, not a reply
			continue
		}
		whole, owned := *buf, false
		if parts != nil {
			whole = make([]byte, 0, len(*buf)+partsLen)
			whole = append(whole, *buf...)
			for _, p := range parts {
				whole = append(whole, p...)
			}
			parts, owned = nil, true
		}
		line := trimLine(whole)
		if len(line) == 0 && pending == nil {
			if rerr != nil {
				return nil, rerr
			}
			continue
		}
		var text []byte
		if pending == nil {
			text = line
			if !owned {
				text = bytes.Clone(line)
			}
			msg, code, _, _, _ := sc.parse(text, 0)
			sc.release()
			if code == 0 {
				c.answered(msg)
				return msg, nil
			}
		} else {
			text = append(append(pending, '\n'), line...)
		}
		msg, err := jsonrpc.DecodeMessage(text)
		if err == nil {
			c.answered(msg)
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

// maxPending bounds the requests whose method a connection remembers, for
// answering an oversized reply in the right form.
const maxPending = 4096

// answered forgets the request a response answers.
func (c *peerConn) answered(msg jsonrpc.Message) {
	if r, ok := msg.(*jsonrpc.Response); ok {
		c.pendingMu.Lock()
		delete(c.pending, r.ID)
		c.pendingMu.Unlock()
	}
}

// skip reads the rest of a message that has passed the cap and discards it
// as it goes, keeping only what it needs to find the message's top-level
// id. What was read before the cap was passed comes in prefix (earlier
// lines of a value spread over several), head and parts (the current line)
// and chunk (the last read, with its error). The message ends at the end of
// its line, or, for an object begun but not closed there, at the end of the
// line that closes it. For a response to a request of ours, skip returns
// the error answer that stands in for it; otherwise nil. It returns a read
// error that ended the stream.
func (c *peerConn) skip(prefix, head []byte, parts [][]byte, chunk []byte, err error) (jsonrpc.Message, error) {
	var sc topScanner
	size := len(prefix) + len(head)
	sc.feed(prefix)
	if prefix != nil {
		sc.feed([]byte{'\n'})
		size++
	}
	sc.feed(head)
	for _, p := range parts {
		sc.feed(p)
		size += len(p)
	}
	for {
		size += len(chunk)
		sc.feed(chunk)
		if err == bufio.ErrBufferFull || err == nil && sc.open() {
			chunk, err = c.r.ReadSlice('\n')
			continue
		}
		break
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	who := "the upstream server"
	if c.opts.Name != "" {
		who = fmt.Sprintf("upstream server %q", c.opts.Name)
	}
	text := fmt.Sprintf("The reply of %s (%d bytes) exceeds the gateway's %d-byte message cap (max_message_bytes); it was discarded, and the server stays up.",
		who, size, c.opts.MaxMessageBytes)
	id, ok := sc.id()
	if !ok || !sc.response() {
		if err != nil {
			return nil, err
		}
		return nil, nil // an oversized request or notification of the server's: dropped
	}
	c.pendingMu.Lock()
	method, known := c.pending[id]
	delete(c.pending, id)
	c.pendingMu.Unlock()
	if !known {
		if err != nil {
			return nil, err
		}
		return nil, nil
	}
	if method == "tools/call" {
		res, _ := json.Marshal(map[string]any{"isError": true, "content": []any{map[string]any{"type": "text", "text": text}}})
		return &jsonrpc.Response{ID: id, Result: res}, nil
	}
	return &jsonrpc.Response{ID: id, Error: &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: text}}, nil
}

// topScanner follows a JSON object fed to it in pieces, keeping only its
// nesting and the small top-level values it needs: the id, and whether a
// result or error member is present. It does not validate.
type topScanner struct {
	depth    int
	started  bool // the top-level value has begun
	inString bool
	escape   bool
	value    bool   // at depth 1, after a key's colon
	key      []byte // the depth-1 key being read (up to 16 bytes)
	keyOver  bool
	capture  bool   // the depth-1 value being read is the id
	idRaw    []byte // the id's raw value (up to 256 bytes)
	idOver   bool
	result   bool // a result or error member was seen
	member   string
}

// open reports whether the top-level object has begun and not ended.
func (s *topScanner) open() bool { return s.started && s.depth > 0 }

// response reports whether the object has a result or error member.
func (s *topScanner) response() bool { return s.result }

// id returns the object's top-level id, when it was a string or a number.
func (s *topScanner) id() (jsonrpc.ID, bool) {
	raw := bytes.TrimSpace(s.idRaw)
	if s.idOver || !validID(raw) {
		return jsonrpc.ID{}, false
	}
	id, err := makeID(raw)
	return id, err == nil && id.IsValid()
}

func (s *topScanner) feed(b []byte) {
	for _, ch := range b {
		if s.inString {
			if s.depth == 1 && !s.value {
				s.keyByte(ch)
			} else if s.capture {
				s.idByte(ch)
			}
			switch {
			case s.escape:
				s.escape = false
			case ch == '\\':
				s.escape = true
			case ch == '"':
				s.inString = false
				if s.depth == 1 && !s.value {
					s.member = string(bytes.Trim(s.key, `"`))
					if s.keyOver {
						s.member = ""
					}
				}
			}
			continue
		}
		switch ch {
		case '"':
			s.inString = true
			if s.depth == 1 && !s.value {
				s.key, s.keyOver = s.key[:0], false
				s.keyByte(ch)
			} else if s.capture {
				s.idByte(ch)
			}
		case '{', '[':
			if s.depth == 0 {
				s.started = true
			}
			s.depth++
			if s.depth == 2 && s.capture {
				s.idOver = true // an object or array is no id
			}
		case '}', ']':
			s.depth--
			if s.depth < 1 {
				s.value, s.capture = false, false
			}
		case ':':
			if s.depth == 1 {
				s.value = true
				s.capture = s.member == "id"
				if s.capture {
					s.idRaw, s.idOver = s.idRaw[:0], false
				}
				if s.member == "result" || s.member == "error" {
					s.result = true
				}
			}
		case ',':
			if s.depth == 1 {
				s.value, s.capture = false, false
			}
		default:
			if s.depth == 1 && s.capture {
				s.idByte(ch)
			}
		}
	}
}

func (s *topScanner) keyByte(ch byte) {
	if len(s.key) < 16 {
		s.key = append(s.key, ch)
	} else {
		s.keyOver = true
	}
}

func (s *topScanner) idByte(ch byte) {
	if len(s.idRaw) < 256 {
		s.idRaw = append(s.idRaw, ch)
	} else {
		s.idOver = true
	}
}

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
	if req, ok := msg.(*jsonrpc.Request); ok && req.ID.IsValid() {
		c.pendingMu.Lock()
		if len(c.pending) < maxPending {
			c.pending[req.ID] = req.Method
		}
		c.pendingMu.Unlock()
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
