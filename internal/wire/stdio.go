package wire

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/rs/zerolog"
)

// DefaultMaxMessageBytes is the largest client message accepted, the go-sdk's
// own line cap (16 MiB).
const DefaultMaxMessageBytes = mcp.DefaultMaxLineLength

// JSON-RPC error codes the filter answers with.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
)

// Options configures a Filter. The zero value is usable.
type Options struct {
	// MaxMessageBytes caps one line; a longer one is discarded up to its
	// newline and answered with an error. Zero means DefaultMaxMessageBytes.
	MaxMessageBytes int
	// MaxDepth caps nesting; zero means DefaultMaxDepth.
	MaxDepth int
	// Logger receives one line per rejected message (reason and size,
	// never the contents). Nil means no logging.
	Logger *zerolog.Logger
}

// Filter is an io.ReadCloser over a client's newline-delimited JSON-RPC
// stream that yields only strict, well-formed messages, one per line, and
// answers every other line on its writer with a JSON-RPC error. Reads must
// not be concurrent (the go-sdk reads from one goroutine).
type Filter struct {
	r    *bufio.Reader
	c    io.Closer
	w    *LockedWriter
	opts Options
	log  zerolog.Logger
	buf  []byte // the line being assembled
	out  []byte // the accepted line being handed out
}

// NewFilter returns a Filter reading r and answering bad lines on w.
func NewFilter(r io.ReadCloser, w *LockedWriter, opts *Options) *Filter {
	f := &Filter{r: bufio.NewReaderSize(r, 64<<10), c: r, w: w, log: zerolog.Nop()}
	if opts != nil {
		f.opts = *opts
	}
	if f.opts.MaxMessageBytes <= 0 {
		f.opts.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if f.opts.MaxDepth <= 0 {
		f.opts.MaxDepth = DefaultMaxDepth
	}
	if f.opts.Logger != nil {
		f.log = *f.opts.Logger
	}
	return f
}

// Read implements io.Reader.
func (f *Filter) Read(p []byte) (int, error) {
	for len(f.out) == 0 {
		line, err := f.next()
		if err != nil {
			return 0, err
		}
		f.out = line
	}
	n := copy(p, f.out)
	f.out = f.out[n:]
	return n, nil
}

// Close implements io.Closer.
func (f *Filter) Close() error { return f.c.Close() }

// next returns the next accepted line with its newline.
func (f *Filter) next() ([]byte, error) {
	for {
		f.buf = f.buf[:0]
		over := false
		var rerr error
		for {
			chunk, err := f.r.ReadSlice('\n')
			if !over {
				if len(f.buf)+len(chunk) > f.opts.MaxMessageBytes+2 { // room for CRLF
					over = true
					f.buf = f.buf[:0]
				} else {
					f.buf = append(f.buf, chunk...)
				}
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			rerr = err
			break
		}
		if over {
			f.log.Warn().Int("limit", f.opts.MaxMessageBytes).Msg("client message over the size cap refused")
			f.reply(nil, CodeInvalidRequest, fmt.Sprintf("message exceeds the gateway's %d-byte cap", f.opts.MaxMessageBytes))
			if rerr != nil {
				return nil, rerr
			}
			continue
		}
		line := bytes.TrimRight(f.buf, " \t\r\n")
		line = bytes.TrimLeft(line, " \t\r")
		if len(line) > 0 {
			if code, msg, id, notify := Inspect(line, f.opts.MaxDepth); code != 0 {
				f.log.Warn().Int("bytes", len(line)).Str("reason", msg).Msg("client message refused")
				if !notify {
					f.reply(id, code, msg)
				}
			} else {
				return append(line, '\n'), nil
			}
		}
		if rerr != nil {
			return nil, rerr
		}
	}
}

// Inspect checks one message and returns 0 if it is acceptable; otherwise a
// JSON-RPC error code, a message naming the cause, the request id to answer
// with (nil if none can be extracted) and whether the message was a
// notification, which gets no answer.
func Inspect(line []byte, maxDepth int) (code int, msg string, id json.RawMessage, notify bool) {
	rawID, err := check(line, maxDepth)
	if err != nil {
		// A lenient look at the envelope, for the id to answer with; only
		// a refused line pays for it.
		var env struct {
			ID     json.RawMessage `json:"id"`
			Method json.RawMessage `json:"method"`
		}
		lenient := json.Unmarshal(line, &env) == nil
		if lenient && validID(env.ID) {
			id = env.ID
		}
		if id == nil && validID(rawID) {
			id = json.RawMessage(rawID)
		}
		notify = lenient && env.ID == nil && env.Method != nil
		var se *SyntaxError
		switch {
		case errors.As(err, &se) && !lenient:
			return CodeParseError, "parse error: " + err.Error(), nil, false
		case errors.Is(err, ErrInvalidUTF8), errors.Is(err, ErrLoneSurrogate), errors.As(err, &se):
			return CodeParseError, "parse error: " + err.Error() + " (MCP messages must be UTF-8)", id, notify
		default:
			return CodeInvalidRequest, "invalid request: " + err.Error(), id, notify
		}
	}
	if line[0] == '[' {
		return CodeInvalidRequest, "invalid request: JSON-RPC batches are not supported", nil, false
	}
	if line[0] != '{' {
		return CodeInvalidRequest, "invalid request: a message must be a JSON object", nil, false
	}
	var m struct {
		JSONRPC *string         `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Method  json.RawMessage `json:"method"`
		Result  json.RawMessage `json:"result"`
		Error   json.RawMessage `json:"error"`
	}
	if validID(rawID) {
		id = json.RawMessage(rawID)
	}
	err = json.Unmarshal(line, &m)
	if err == nil {
		notify = m.ID == nil && m.Method != nil
	}
	if err != nil || m.JSONRPC == nil || *m.JSONRPC != "2.0" {
		return CodeInvalidRequest, `invalid request: "jsonrpc" must be "2.0"`, id, notify
	}
	if m.ID != nil && !validID(m.ID) {
		return CodeInvalidRequest, "invalid request: id must be a string or a number", nil, false
	}
	if m.Method != nil {
		var s string
		if json.Unmarshal(m.Method, &s) != nil || s == "" {
			return CodeInvalidRequest, "invalid request: method must be a non-empty string", id, notify
		}
		return 0, "", nil, false
	}
	if m.ID == nil || (m.Result == nil && m.Error == nil) {
		return CodeInvalidRequest, "invalid request: neither a request nor a response", id, false
	}
	return 0, "", nil, false
}

// validID reports whether raw is a JSON-RPC id: a string or a number.
func validID(raw json.RawMessage) bool {
	if len(raw) == 0 {
		return false
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		return json.Unmarshal(raw, &s) == nil
	case c == '-' || (c >= '0' && c <= '9'):
		var n json.Number
		return json.Unmarshal(raw, &n) == nil
	}
	return false
}

// reply writes a JSON-RPC error response; a nil id is answered as null.
func (f *Filter) reply(id json.RawMessage, code int, msg string) {
	if id == nil {
		id = json.RawMessage("null")
	}
	b, err := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}{JSONRPC: "2.0", ID: id, Error: struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{code, msg}})
	if err != nil {
		return
	}
	if _, err := f.w.Write(append(b, '\n')); err != nil {
		f.log.Debug().Err(err).Msg("write error response")
	}
}

// LockedWriter serialises whole-message writes of the MCP session and of a
// Filter's error replies onto one stream.
type LockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// NewLockedWriter returns a LockedWriter over w.
func NewLockedWriter(w io.Writer) *LockedWriter { return &LockedWriter{w: w} }

// Write implements io.Writer; the go-sdk writes one whole message per call.
func (l *LockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Close implements io.Closer; the underlying stream stays open, as with the
// go-sdk's stdio transport.
func (l *LockedWriter) Close() error { return nil }

// Stdio returns the strict MCP transport over r and w (normally stdin and
// stdout): every client line passes through a Filter before the go-sdk
// parses it.
func Stdio(r io.ReadCloser, w io.Writer, opts *Options) mcp.Transport {
	lw := NewLockedWriter(w)
	f := NewFilter(r, lw, opts)
	// The filter already caps lines; the SDK's cap is a second fence.
	return &mcp.IOTransport{Reader: f, Writer: lw, MaxLineLength: f.opts.MaxMessageBytes + 1}
}
