package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// SyntaxError reports JSON that cannot be read at all: malformed JSON,
// invalid UTF-8, or trailing data.
type SyntaxError struct {
	// Line and Column locate the problem, both counted from 1; Column counts
	// characters.
	Line, Column int
	// Msg describes the problem.
	Msg string
}

// Error implements error.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

// Parse decodes a config file's bytes. Before decoding it walks the JSON
// against the schema and rejects what encoding/json would accept silently:
// invalid UTF-8, duplicate keys, keys of a struct object that differ only in
// case (the second would overwrite the first), known keys spelled with
// different case (encoding/json would match them anyway), and values of the
// wrong type. Malformed JSON yields a *SyntaxError; schema problems yield a
// *ValidationError listing all of them. Parse does not call Validate.
func Parse(data []byte) (*Config, error) {
	p := &prepass{data: data}
	if err := p.run(); err != nil {
		return nil, err
	}
	if len(p.problems) > 0 {
		return nil, &ValidationError{Problems: p.problems}
	}
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("decode config: %w", err)
	}
	c.unknownKeys = p.unknown
	return &c, nil
}

var (
	rawMessageType = reflect.TypeFor[json.RawMessage]()
	deniedToolType = reflect.TypeFor[DeniedTool]()
)

// prepass is the schema-guided token walk of Parse.
type prepass struct {
	data     []byte
	dec      *json.Decoder
	problems []FieldError
	unknown  []FieldError // keys no struct field declares; warnings
}

func (p *prepass) run() error {
	if !utf8.Valid(p.data) {
		off := 0
		for off < len(p.data) {
			r, size := utf8.DecodeRune(p.data[off:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			off += size
		}
		return p.syntaxError(int64(off), "invalid UTF-8")
	}
	if len(bytes.TrimSpace(p.data)) == 0 {
		return &SyntaxError{Line: 1, Column: 1, Msg: "the file is empty"}
	}
	p.dec = json.NewDecoder(bytes.NewReader(p.data))
	p.dec.UseNumber()
	tok, err := p.token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return &SyntaxError{Line: 1, Column: 1, Msg: "the config must be a JSON object"}
	}
	if err := p.object(reflect.TypeFor[Config](), ""); err != nil {
		return err
	}
	off := p.dec.InputOffset()
	if _, err := p.dec.Token(); !errors.Is(err, io.EOF) {
		return p.syntaxError(p.skipSpace(off), "unexpected data after the top-level object")
	}
	return nil
}

// token reads the next token, turning decoder errors into *SyntaxError.
func (p *prepass) token() (json.Token, error) {
	off := p.dec.InputOffset()
	tok, err := p.dec.Token()
	if err == nil {
		return tok, nil
	}
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return nil, p.syntaxError(se.Offset, se.Error())
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return nil, p.syntaxError(int64(len(p.data)), "unexpected end of JSON")
	default:
		return nil, p.syntaxError(p.skipSpace(off), err.Error())
	}
}

// skipSpace advances off past whitespace and separators to the next token.
func (p *prepass) skipSpace(off int64) int64 {
	for off < int64(len(p.data)) {
		switch p.data[off] {
		case ' ', '\t', '\r', '\n', ',', ':':
			off++
		default:
			return off
		}
	}
	return off
}

// position converts a byte offset to a 1-based line and character column.
func (p *prepass) position(off int64) (line, col int) {
	if off > int64(len(p.data)) {
		off = int64(len(p.data))
	}
	before := p.data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	start := bytes.LastIndexByte(before, '\n') + 1
	return line, utf8.RuneCount(before[start:]) + 1
}

func (p *prepass) syntaxError(off int64, msg string) error {
	line, col := p.position(off)
	return &SyntaxError{Line: line, Column: col, Msg: msg}
}

func (p *prepass) problem(off int64, path, problem, fix string) {
	line, col := p.position(off)
	p.problems = append(p.problems, FieldError{
		Path:    path,
		Problem: fmt.Sprintf("%s (line %d, column %d)", problem, line, col),
		Fix:     fix,
	})
}

// value checks the next JSON value against type t.
func (p *prepass) value(t reflect.Type, path string) error {
	off := p.skipSpace(p.dec.InputOffset())
	tok, err := p.token()
	if err != nil {
		return err
	}
	if tok == nil { // null leaves any field at its zero value
		return nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawMessageType || t.Kind() == reflect.Interface {
		return p.rest(tok, path)
	}
	if _, ok := tok.(string); ok && t == deniedToolType {
		return nil // the bare-pattern form of a denied_tools entry
	}
	want := ""
	switch t.Kind() {
	case reflect.Struct:
		if d, ok := tok.(json.Delim); ok && d == '{' {
			return p.object(t, path)
		}
		want = "an object"
	case reflect.Map:
		if d, ok := tok.(json.Delim); ok && d == '{' {
			return p.mapObject(t, path)
		}
		want = "an object"
	case reflect.Slice:
		if d, ok := tok.(json.Delim); ok && d == '[' {
			for i := 0; p.dec.More(); i++ {
				if err := p.value(t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
			_, err := p.token() // ']'
			return err
		}
		want = "an array"
	case reflect.String:
		if _, ok := tok.(string); ok {
			return nil
		}
		want = "a string"
	case reflect.Bool:
		if _, ok := tok.(bool); ok {
			return nil
		}
		want = "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32:
		if n, ok := tok.(json.Number); ok {
			if _, err := strconv.ParseInt(string(n), 10, strconv.IntSize); err == nil {
				return nil
			}
		}
		want = "a whole number"
	case reflect.Float64:
		if n, ok := tok.(json.Number); ok {
			if _, err := strconv.ParseFloat(string(n), 64); err == nil {
				return nil
			}
		}
		want = "a number"
	default:
		return fmt.Errorf("config: no schema check for %s", t) // programmer error
	}
	p.problem(off, path, fmt.Sprintf("must be %s, not %s", want, kindOf(tok)), "change the value to "+want)
	return p.rest(tok, path)
}

// kindOf names the JSON type of a token without revealing its value, which
// may be a secret.
func kindOf(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '{' {
			return "an object"
		}
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	default:
		return "null"
	}
}

// rest consumes the remainder of a value whose first token is tok, still
// rejecting duplicate keys inside it.
func (p *prepass) rest(tok json.Token, path string) error {
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	if d == '[' {
		for i := 0; p.dec.More(); i++ {
			if err := p.value(reflect.TypeFor[any](), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		_, err := p.token()
		return err
	}
	return p.mapObject(reflect.TypeFor[map[string]any](), path)
}

// keys reads the keys of an object whose '{' was consumed, calling each for
// every key with the decoder positioned at its value.
func (p *prepass) keys(each func(key string, off int64) error) error {
	for p.dec.More() {
		off := p.skipSpace(p.dec.InputOffset())
		tok, err := p.token()
		if err != nil {
			return err
		}
		key, ok := tok.(string)
		if !ok {
			return p.syntaxError(off, "object key must be a string")
		}
		if err := each(key, off); err != nil {
			return err
		}
	}
	_, err := p.token() // '}'
	return err
}

// mapObject checks an object decoded into a map: keys are data and match
// exactly, so only exact duplicates are rejected.
func (p *prepass) mapObject(t reflect.Type, path string) error {
	seen := make(map[string]bool)
	return p.keys(func(key string, off int64) error {
		kp := joinKey(path, key)
		if seen[key] {
			name := strconv.Quote(key)
			if path == "apikeys" {
				name = "for the same gateway key"
			}
			p.problem(off, kp, "duplicate key "+name, "remove one of the duplicates")
		}
		seen[key] = true
		return p.value(t.Elem(), kp)
	})
}

// object checks an object decoded into struct type t. Because encoding/json
// matches struct keys case-insensitively, case variants collide here.
func (p *prepass) object(t reflect.Type, path string) error {
	known := fieldsOf(t)
	folded := make(map[string]string, len(known))
	for k := range known {
		folded[foldKey(k)] = k
	}
	seen := make(map[string]string) // folded → key as written
	return p.keys(func(key string, off int64) error {
		kp := joinKey(path, key)
		fk := foldKey(key)
		if prev, ok := seen[fk]; ok {
			if prev == key {
				p.problem(off, kp, fmt.Sprintf("duplicate key %q", key), "remove one of the duplicates")
			} else {
				p.problem(off, kp, fmt.Sprintf("duplicate key %q (same as %q except for case)", key, prev),
					"remove one of them")
			}
		}
		seen[fk] = key
		if ft, ok := known[key]; ok {
			return p.value(ft, kp)
		}
		if want, ok := folded[fk]; ok {
			p.problem(off, kp, fmt.Sprintf("key %q differs only in case from %q", key, want),
				fmt.Sprintf("rename it to %q", want))
		} else {
			p.unknownKey(off, kp, key, t, known)
		}
		return p.value(reflect.TypeFor[any](), kp)
	})
}

// foldKey folds a key the way encoding/json matches struct field names.
func foldKey(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(unicode.ToUpper(unicode.ToLower(r)))
	}
	return b.String()
}

// joinKey appends an object key to a JSON path: as .key when it is a plain
// name, else as ["key"]. Keys of apikeys are gateway keys, so they appear
// only as a fingerprint.
func joinKey(path, key string) string {
	if path == "apikeys" {
		return path + "[" + keyFingerprint(key) + "]"
	}
	if plainKey(key) {
		if path == "" {
			return key
		}
		return path + "." + key
	}
	return path + "[" + strconv.Quote(key) + "]"
}

func plainKey(key string) bool {
	if key == "" {
		return false
	}
	for _, r := range key {
		if !(r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// keyFingerprint names an apikeys entry without revealing it: "fp:" and the
// first 8 hex digits of the SHA-256 of the plaintext key. For a hashed entry
// that is the start of its own digest, so both forms of a key print alike.
func keyFingerprint(key string) string {
	if h, ok := strings.CutPrefix(key, hashPrefix); ok && isHexDigest(h) {
		return "fp:" + strings.ToLower(h[:8])
	}
	sum := sha256.Sum256([]byte(key))
	return "fp:" + hex.EncodeToString(sum[:4])
}

// hashPrefix marks an apikeys entry stored as a SHA-256 digest.
const hashPrefix = "sha256:"

func isHexDigest(h string) bool {
	if len(h) != 64 {
		return false
	}
	for _, r := range h {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F') {
			return false
		}
	}
	return true
}
