package wire

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
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

// Filter reads a client's newline-delimited JSON-RPC stream and yields only
// strict, well-formed messages, one per line, decoded from the same scan
// that checked them; every other line is answered on its writer with a
// JSON-RPC error. Next must not be called concurrently.
type Filter struct {
	r    *bufio.Reader
	c    io.Closer
	w    *LockedWriter
	opts Options
	log  zerolog.Logger
	buf  []byte  // the line being assembled
	sc   scanner // reused between lines
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

// Close closes the underlying reader.
func (f *Filter) Close() error { return f.c.Close() }

// Next returns the next accepted message. At the end of the stream it
// returns the reader's error (io.EOF).
func (f *Filter) Next() (jsonrpc.Message, error) {
	for {
		if cap(f.buf) > maxKeptBuffer {
			f.buf = nil // one huge line does not pin its buffer for the session's life
		}
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
			// The message keeps slices of its line (params), so each
			// accepted line gets its own copy.
			line = bytes.Clone(line)
			msg, code, why, id, notify := f.sc.parse(line, f.opts.MaxDepth)
			f.sc.release()
			if code == 0 {
				return msg, nil
			}
			f.log.Warn().Int("bytes", len(line)).Str("reason", why).Msg("client message refused")
			if !notify {
				f.reply(id, code, why)
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
	var s scanner
	_, code, msg, id, notify = s.parse(line, maxDepth)
	return code, msg, id, notify
}

// Parse checks one message as Inspect does and, when it is acceptable
// (code 0), returns it decoded from the same scan; the HTTP transport reads
// a POST body through it so that both transports accept exactly the same
// messages.
func Parse(line []byte, maxDepth int) (m jsonrpc.Message, code int, msg string, id json.RawMessage, notify bool) {
	var s scanner
	return s.parse(line, maxDepth)
}

// parse checks one line as Inspect does and, when it is acceptable, returns
// it as a JSON-RPC message built from the scan's top-level members, without
// decoding the line again. A request's params are a slice of line.
func (s *scanner) parse(line []byte, maxDepth int) (m jsonrpc.Message, code int, msg string, id json.RawMessage, notify bool) {
	rawID, err := s.check(line, maxDepth)
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
			return nil, CodeParseError, "parse error: " + err.Error(), nil, false
		case errors.Is(err, ErrInvalidUTF8), errors.Is(err, ErrLoneSurrogate), errors.As(err, &se):
			return nil, CodeParseError, "parse error: " + err.Error() + " (MCP messages must be UTF-8)", id, notify
		default:
			return nil, CodeInvalidRequest, "invalid request: " + err.Error(), id, notify
		}
	}
	if line[0] == '[' {
		return nil, CodeInvalidRequest, "invalid request: JSON-RPC batches are not supported", nil, false
	}
	if line[0] != '{' {
		return nil, CodeInvalidRequest, "invalid request: a message must be a JSON object", nil, false
	}
	e := s.env
	if validID(rawID) {
		id = json.RawMessage(rawID)
	}
	notify = e.id == nil && e.method != nil
	if v, ok := unquote(e.jsonrpc); !ok || v != "2.0" {
		return nil, CodeInvalidRequest, `invalid request: "jsonrpc" must be "2.0"`, id, notify
	}
	if e.id != nil && !validID(e.id) {
		return nil, CodeInvalidRequest, "invalid request: id must be a string or a number", nil, false
	}
	if e.method != nil {
		method, ok := unquote(e.method)
		if !ok || method == "" {
			return nil, CodeInvalidRequest, "invalid request: method must be a non-empty string", id, notify
		}
		rid, err := makeID(e.id)
		if err != nil {
			return nil, CodeInvalidRequest, "invalid request: " + err.Error(), id, notify
		}
		return &jsonrpc.Request{ID: rid, Method: method, Params: json.RawMessage(e.params)}, 0, "", nil, false
	}
	if e.id == nil || (e.result == nil && e.err == nil) {
		return nil, CodeInvalidRequest, "invalid request: neither a request nor a response", id, false
	}
	if e.err == nil {
		rid, err := makeID(e.id)
		if err != nil {
			return nil, CodeInvalidRequest, "invalid request: " + err.Error(), id, false
		}
		return &jsonrpc.Response{ID: rid, Result: json.RawMessage(e.result)}, 0, "", nil, false
	}
	// An error response is rare; the go-sdk decodes it, error object
	// and all. Its error text quotes the input, so the reason is ours.
	if m, err = jsonrpc.DecodeMessage(line); err != nil {
		return nil, CodeInvalidRequest, "invalid request: the error object of a response is malformed", id, false
	}
	return m, 0, "", nil, false
}

// unquote returns the value of the JSON string raw; ok is false when raw is
// absent or not a string. raw has passed the strict scan.
func unquote(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), true
	}
	var v string
	if json.Unmarshal(raw, &v) != nil {
		return "", false
	}
	return v, true
}

// MaxExactID is the largest magnitude of a numeric request id the gateway
// accepts: the go-sdk decodes a numeric id through float64 (exact up to
// 2^53) into an int64 and writes it back as an integer, so only integers
// of this range come back exactly as sent (JavaScript's safe integers).
const MaxExactID = 1<<53 - 1

// makeID converts a raw id (absent, a string or a number) into a JSON-RPC
// id. A numeric id is accepted only when it comes back exactly as sent: an
// integer literal (no fraction, no exponent, not -0) of magnitude at most
// MaxExactID. Any other number (1.5, 1e3, 2^63) is refused with an error
// rather than answered under an altered id.
func makeID(raw []byte) (jsonrpc.ID, error) {
	if raw == nil {
		return jsonrpc.MakeID(nil)
	}
	if v, ok := unquote(raw); ok {
		return jsonrpc.MakeID(v)
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || n > MaxExactID || n < -MaxExactID || string(raw) == "-0" {
		return jsonrpc.ID{}, fmt.Errorf("id %s cannot be answered exactly as sent: use a string or an integer from -%d to %d without fraction or exponent", raw, int64(MaxExactID), int64(MaxExactID))
	}
	return jsonrpc.MakeID(float64(n))
}

// validID reports whether raw is a JSON-RPC id: a string or a number. raw
// is always a value a JSON scan accepted (the strict scan's, or
// encoding/json's on the lenient path), so its first byte decides.
func validID(raw json.RawMessage) bool {
	if len(raw) == 0 {
		return false
	}
	c := raw[0]
	return c == '"' || c == '-' || (c >= '0' && c <= '9')
}

// reply writes a JSON-RPC error response; a nil id is answered as null.
func (f *Filter) reply(id json.RawMessage, code int, msg string) {
	if _, err := f.w.Write(append(ErrorReply(id, code, msg), '\n')); err != nil {
		f.log.Debug().Err(err).Msg("write error response")
	}
}

// ErrorReply returns the JSON-RPC error response to a refused message: id
// is the raw id to answer under (nil is answered as null), msg the reason
// Inspect gave.
func ErrorReply(id json.RawMessage, code int, msg string) []byte {
	if id == nil {
		id = json.RawMessage("null")
	}
	type wireErr struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	b, err := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   wireErr         `json:"error"`
	}{JSONRPC: "2.0", ID: id, Error: wireErr{code, msg}})
	if err != nil { // id came from a scan that accepted it
		return []byte(`{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"invalid request"}}`)
	}
	return b
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
// stdout): every client line passes through a Filter, and the messages it
// accepts reach the go-sdk already decoded.
func Stdio(r io.ReadCloser, w io.Writer, opts *Options) mcp.Transport {
	lw := NewLockedWriter(w)
	return &transport{f: NewFilter(r, lw, opts), w: lw}
}
