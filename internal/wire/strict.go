// Package wire owns the gateway's strict reading of newline-delimited
// JSON-RPC from an MCP client: one message per line, UTF-8 only (no invalid
// bytes, no lone surrogate escapes), no duplicate object keys, bounded depth
// and size, and the JSON-RPC 2.0 envelope. A line that fails is answered with
// a JSON-RPC error and never reaches the MCP session, so that what the
// guardrails see is exactly what is forwarded and a bad line never ends the
// session.
//
// The package never logs message contents: only the reason and the size.
package wire

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"
)

// DefaultMaxDepth is the deepest nesting of arrays and objects a message may
// have.
const DefaultMaxDepth = 128

// DefaultMaxKeys is the most object members a message may hold in all; a
// million-key object is refused before anything decodes it into a map.
const DefaultMaxKeys = 100_000

// Problems a message can have. Syntax errors are a *SyntaxError.
var (
	ErrInvalidUTF8   = errors.New("string is not valid UTF-8")
	ErrLoneSurrogate = errors.New("string holds a lone UTF-16 surrogate escape")
	ErrDuplicateKey  = errors.New("object has a duplicate key")
	ErrTooDeep       = errors.New("message nests too deeply")
	ErrTooManyKeys   = errors.New("message has too many object members")
)

// SyntaxError is a JSON syntax error at a byte offset.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.Offset, e.Msg)
}

// Check reports whether b is exactly one strict JSON value: valid syntax,
// UTF-8 strings without lone surrogates, no duplicate keys in any object
// (compared after unescaping, case-sensitively), and at most maxDepth levels
// of nesting (0 means DefaultMaxDepth) and DefaultMaxKeys object members in
// all. Memory use is bounded by len(b).
func Check(b []byte, maxDepth int) error {
	_, err := check(b, maxDepth)
	return err
}

// check is Check that also returns the raw value of the top-level "id" key
// when the scan got past it, so that even a refused message can be answered
// with its id.
func check(b []byte, maxDepth int) (id []byte, err error) {
	s := scanner{}
	return s.check(b, maxDepth)
}

// check scans b as check does, keeping the top-level members in s.env; s's
// buffers are reused from a previous scan.
func (s *scanner) check(b []byte, maxDepth int) (id []byte, err error) {
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	*s = scanner{b: b, maxDepth: maxDepth, keys: s.keys[:0], arena: s.arena[:0]}
	s.ws()
	if err := s.value(0); err != nil {
		return s.id, err
	}
	s.ws()
	if s.i != len(s.b) {
		return s.id, s.syntax("data after the value")
	}
	return s.id, nil
}

type span struct{ start, end int }

type scanner struct {
	b        []byte
	i        int
	maxDepth int
	keys     []span // keys of the objects being scanned, innermost last
	arena    []byte // unescaped key bytes the spans point into
	id       []byte // the top-level "id" value, once scanned
	members  int    // object members seen so far
	env      envelope
}

// release drops the scanner's buffers when one huge message grew them, so
// that a long-lived connection does not keep that capacity.
func (s *scanner) release() {
	if cap(s.arena) > maxKeptBuffer || cap(s.keys)*16 > maxKeptBuffer {
		s.arena, s.keys = nil, nil
	}
	s.b, s.id, s.env = nil, nil, envelope{}
}

// envelope holds the raw values of a message's top-level JSON-RPC members,
// as slices of the scanned line; nil means the member is absent.
type envelope struct {
	jsonrpc, id, method, params, result, err []byte
}

func (s *scanner) syntax(msg string) error { return &SyntaxError{Offset: s.i, Msg: msg} }

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) value(depth int) error {
	if s.i >= len(s.b) {
		return s.syntax("unexpected end")
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return s.object(depth + 1)
	case c == '[':
		return s.array(depth + 1)
	case c == '"':
		return s.str(false)
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	default:
		return s.syntax(fmt.Sprintf("unexpected character %q", c))
	}
}

func (s *scanner) lit(want string) error {
	if !bytes.HasPrefix(s.b[s.i:], []byte(want)) {
		return s.syntax("invalid literal")
	}
	s.i += len(want)
	return nil
}

func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

func (s *scanner) number() error {
	start := s.i
	if err := s.numberSyntax(); err != nil {
		return err
	}
	// A number no float64 can hold (1e700) is refused here, as every JSON
	// decoder downstream would refuse it.
	if _, err := strconv.ParseFloat(string(s.b[start:s.i]), 64); err != nil {
		return s.syntax("number out of range")
	}
	return nil
}

func (s *scanner) numberSyntax() error {
	if s.b[s.i] == '-' {
		s.i++
	}
	if s.i < len(s.b) && s.b[s.i] == '0' {
		s.i++
	} else if s.digits() == 0 {
		return s.syntax("invalid number")
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return s.syntax("invalid number")
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return s.syntax("invalid number")
		}
	}
	return nil
}

func (s *scanner) array(depth int) error {
	if depth > s.maxDepth {
		return ErrTooDeep
	}
	s.i++ // [
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return nil
	}
	for {
		s.ws()
		if err := s.value(depth); err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.b) {
			return s.syntax("unterminated array")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return s.syntax("expected , or ] in array")
		}
	}
}

func (s *scanner) object(depth int) error {
	if depth > s.maxDepth {
		return ErrTooDeep
	}
	s.i++ // {
	first, arena := len(s.keys), len(s.arena)
	defer func() { s.keys, s.arena = s.keys[:first], s.arena[:arena] }()
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return nil
	}
	for {
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return s.syntax("expected a string key")
		}
		if s.members++; s.members > DefaultMaxKeys {
			return ErrTooManyKeys
		}
		if err := s.str(true); err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return s.syntax("expected : after key")
		}
		s.i++
		s.ws()
		k := s.keys[len(s.keys)-1]
		start := s.i
		if err := s.value(depth); err != nil {
			return err
		}
		if depth == 1 {
			v := s.b[start:s.i]
			switch string(s.arena[k.start:k.end]) {
			case "id":
				s.id, s.env.id = v, v
			case "jsonrpc":
				s.env.jsonrpc = v
			case "method":
				s.env.method = v
			case "params":
				s.env.params = v
			case "result":
				s.env.result = v
			case "error":
				s.env.err = v
			}
		}
		s.ws()
		if s.i >= len(s.b) {
			return s.syntax("unterminated object")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return s.unique(s.keys[first:])
		default:
			return s.syntax("expected , or } in object")
		}
	}
}

// unique reports a duplicate among keys. It sorts spans, not strings, so an
// object with a million keys costs a few bytes per key beyond the message.
func (s *scanner) unique(keys []span) error {
	key := func(k span) []byte { return s.arena[k.start:k.end] }
	slices.SortFunc(keys, func(a, b span) int { return bytes.Compare(key(a), key(b)) })
	for i := 1; i < len(keys); i++ {
		if bytes.Equal(key(keys[i-1]), key(keys[i])) {
			return ErrDuplicateKey
		}
	}
	return nil
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}

// str scans a string at s.i; a key's unescaped bytes go to the arena.
func (s *scanner) str(isKey bool) error {
	s.i++ // "
	start := len(s.arena)
	for {
		if s.i >= len(s.b) {
			return s.syntax("unterminated string")
		}
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			if isKey {
				s.keys = append(s.keys, span{start, len(s.arena)})
			}
			return nil
		case c < 0x20:
			return s.syntax("control character in string")
		case c == '\\':
			if s.i+1 >= len(s.b) {
				return s.syntax("unterminated escape")
			}
			e := s.b[s.i+1]
			var out rune
			switch e {
			case '"', '\\', '/':
				out = rune(e)
			case 'b':
				out = '\b'
			case 'f':
				out = '\f'
			case 'n':
				out = '\n'
			case 'r':
				out = '\r'
			case 't':
				out = '\t'
			case 'u':
				r, ok := hex4(s.b[s.i+2:])
				if !ok {
					return s.syntax("invalid \\u escape")
				}
				s.i += 6
				switch {
				case r >= 0xDC00 && r <= 0xDFFF:
					return ErrLoneSurrogate
				case r >= 0xD800 && r <= 0xDBFF:
					if s.i+1 >= len(s.b) || s.b[s.i] != '\\' || s.b[s.i+1] != 'u' {
						return ErrLoneSurrogate
					}
					lo, ok := hex4(s.b[s.i+2:])
					if !ok || lo < 0xDC00 || lo > 0xDFFF {
						return ErrLoneSurrogate
					}
					s.i += 6
					r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
				}
				if isKey {
					s.arena = utf8.AppendRune(s.arena, r)
				}
				continue
			default:
				return s.syntax("invalid escape")
			}
			s.i += 2
			if isKey {
				s.arena = utf8.AppendRune(s.arena, out)
			}
		case c < utf8.RuneSelf:
			s.i++
			if isKey {
				s.arena = append(s.arena, c)
			}
		default:
			r, n := utf8.DecodeRune(s.b[s.i:])
			if r == utf8.RuneError && n <= 1 {
				return ErrInvalidUTF8
			}
			if isKey {
				s.arena = append(s.arena, s.b[s.i:s.i+n]...)
			}
			s.i += n
		}
	}
}
