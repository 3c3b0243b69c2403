package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want error // nil, a sentinel, or errSyntax for any *SyntaxError
	}{
		{"object", `{"a":[1,-2.5e3,true,false,null,"x\u00e9\ud83d\ude00"]}`, nil},
		{"case variants are distinct keys", `{"name":"a__read","Name":"b__delete"}`, nil},
		{"duplicate key", `{"name":"a__read","name":"b__delete"}`, ErrDuplicateKey},
		{"duplicate through an escape", `{"name":1,"n\u0061me":2}`, ErrDuplicateKey},
		{"nested duplicate", `{"p":{"x":1,"x":2}}`, ErrDuplicateKey},
		{"same key in sibling objects", `[{"x":1},{"x":2}]`, nil},
		{"lone high surrogate", `{"a":"\ud800"}`, ErrLoneSurrogate},
		{"lone low surrogate", `{"a":"\udc00x"}`, ErrLoneSurrogate},
		{"high then non-low", `{"a":"\ud800\u0041"}`, ErrLoneSurrogate},
		{"invalid UTF-8", "{\"a\":\"\xff\"}", ErrInvalidUTF8},
		{"invalid UTF-8 in a key", "{\"\xc3\x28\":1}", ErrInvalidUTF8},
		{"too deep", strings.Repeat("[", DefaultMaxDepth+1) + strings.Repeat("]", DefaultMaxDepth+1), ErrTooDeep},
		{"deep enough", strings.Repeat("[", DefaultMaxDepth) + strings.Repeat("]", DefaultMaxDepth), nil},
		{"not JSON", `hello`, errSyntax},
		{"trailing data", `{} {}`, errSyntax},
		{"control char", "\"a\x01\"", errSyntax},
		{"bad number", `01`, errSyntax},
		{"unterminated", `{"a":`, errSyntax},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check([]byte(tc.in), 0)
			var se *SyntaxError
			switch {
			case tc.want == errSyntax:
				if !errors.As(err, &se) {
					t.Errorf("Check = %v, want a syntax error", err)
				}
			case !errors.Is(err, tc.want):
				t.Errorf("Check = %v, want %v", err, tc.want)
			}
		})
	}
}

var errSyntax = errors.New("syntax")

// TestCheckMillionKeys refuses a million-key object without building a map.
func TestCheckMillionKeys(t *testing.T) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i := range 1_000_000 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k`)
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString(itoa(i))
		b.WriteString(`":0`)
	}
	b.WriteByte('}')
	if err := Check(b.Bytes(), 0); !errors.Is(err, ErrTooManyKeys) {
		t.Fatalf("Check(1M keys) = %v, want ErrTooManyKeys", err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

type nopCloser struct{ io.Reader }

func (nopCloser) Close() error { return nil }

// filterRun feeds input through a Filter and returns what it passed on and
// the error replies it wrote.
func filterRun(t *testing.T, input string, opts *Options) (passed []string, replies []map[string]any) {
	t.Helper()
	var out bytes.Buffer
	f := NewFilter(nopCloser{strings.NewReader(input)}, NewLockedWriter(&out), opts)
	for {
		msg, err := f.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := jsonrpc.EncodeMessage(msg)
		if err != nil {
			t.Fatalf("encode %#v: %v", msg, err)
		}
		passed = append(passed, string(b))
	}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("reply %q: %v", l, err)
		}
		replies = append(replies, m)
	}
	return passed, replies
}

func TestFilter(t *testing.T) {
	ok := `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	for _, tc := range []struct {
		name     string
		in       string
		passed   int
		wantCode float64 // 0: no reply
		wantID   any
	}{
		{"valid", ok + "\n", 1, 0, nil},
		{"CRLF and trailing spaces", ok + "  \r\n", 1, 0, nil},
		{"blank lines skipped", "\n \r\n" + ok + "\n", 1, 0, nil},
		{"no final newline", ok, 1, 0, nil},
		{"not JSON", "hello\n" + ok + "\n", 1, CodeParseError, nil},
		{"lone surrogate keeps the id", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x","arguments":{"s":"\ud800"}}}` + "\n", 0, CodeParseError, 7.0},
		{"invalid UTF-8 keeps the id", "{\"jsonrpc\":\"2.0\",\"id\":\"s\",\"method\":\"tools/call\",\"params\":{\"arguments\":{\"s\":\"\xff\"}}}\n", 0, CodeParseError, "s"},
		{"duplicate name", `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"a__read","name":"b__delete"}}` + "\n", 0, CodeInvalidRequest, 3.0},
		{"no jsonrpc", `{"id":1,"method":"ping"}` + "\n", 0, CodeInvalidRequest, 1.0},
		{"object id", `{"jsonrpc":"2.0","id":{},"method":"ping"}` + "\n", 0, CodeInvalidRequest, nil},
		{"bool id", `{"jsonrpc":"2.0","id":true,"method":"ping"}` + "\n", 0, CodeInvalidRequest, nil},
		{"method not a string", `{"jsonrpc":"2.0","id":2,"method":5}` + "\n", 0, CodeInvalidRequest, 2.0},
		{"batch", "[" + ok + "]\n", 0, CodeInvalidRequest, nil},
		{"malformed error response keeps the id", `{"jsonrpc":"2.0","id":6,"error":"sk-EXAMPLE-not-an-object"}` + "\n", 0, CodeInvalidRequest, 6.0},
		{"bad notification gets no reply", "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\",\"params\":{\"s\":\"\xff\"}}\n", 0, 0, nil},
		{"too deep", `{"jsonrpc":"2.0","id":4,"method":"x","params":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + "}\n", 0, CodeInvalidRequest, 4.0},
		{"too deep for encoding/json keeps the id", `{"jsonrpc":"2.0","id":"d","method":"x","params":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "}\n", 0, CodeInvalidRequest, "d"},
		{"oversized then valid", `{"jsonrpc":"2.0","id":5,"method":"x","params":"` + strings.Repeat("a", 70<<10) + `"}` + "\n" + ok + "\n", 1, CodeInvalidRequest, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			passed, replies := filterRun(t, tc.in, &Options{MaxMessageBytes: 64 << 10})
			if len(passed) != tc.passed {
				t.Errorf("passed %d lines %q, want %d", len(passed), passed, tc.passed)
			}
			for _, p := range passed {
				if p != ok {
					t.Errorf("passed %q, want %q", p, ok)
				}
			}
			if tc.wantCode == 0 {
				if len(replies) != 0 {
					t.Errorf("replies = %v, want none", replies)
				}
				return
			}
			if len(replies) != 1 {
				t.Fatalf("replies = %v, want one", replies)
			}
			e, _ := replies[0]["error"].(map[string]any)
			if e["code"] != tc.wantCode || replies[0]["id"] != tc.wantID || replies[0]["jsonrpc"] != "2.0" {
				t.Errorf("reply = %v, want code %v id %v", replies[0], tc.wantCode, tc.wantID)
			}
		})
	}
}

// TestFilterOversizedBoundedMemory streams a 64 MiB line through a 1 MiB
// cap: the filter never holds more than the cap.
func TestFilterOversizedBoundedMemory(t *testing.T) {
	big := io.MultiReader(strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"x","params":"`),
		io.LimitReader(repeatReader('a'), 64<<20), strings.NewReader("\"}\n{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}\n"))
	var out bytes.Buffer
	f := NewFilter(nopCloser{big}, NewLockedWriter(&out), &Options{MaxMessageBytes: 1 << 20})
	msg, err := f.Next()
	if err != nil {
		t.Fatal(err)
	}
	if req, ok := msg.(*jsonrpc.Request); !ok || req.Method != "ping" || req.ID.Raw() != int64(2) {
		t.Errorf("passed %#v", msg)
	}
	if msg, err := f.Next(); err != io.EOF {
		t.Errorf("after the last line: %#v, %v; want io.EOF", msg, err)
	}
	if cap(f.buf) > 2<<20 {
		t.Errorf("line buffer grew to %d bytes for a 1 MiB cap", cap(f.buf))
	}
	if !strings.Contains(out.String(), `"code":-32600`) {
		t.Errorf("reply = %q", out.String())
	}
}

type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// FuzzCheck compares Check with encoding/json: whatever Check accepts is
// valid JSON for the standard library too, and re-encodes losslessly.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{"name":"a__read","Name":"b__delete"}`, `{"a":"\ud800"}`, `[1,{"x":[null]}]`, "\"\xff\"", `{"a":1,"a":2}`, `"\ud83d\ude00"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if Check(b, 16) != nil {
			return
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("Check accepted %q, encoding/json: %v", b, err)
		}
		// Strict input round-trips: no replacement characters appear.
		if !bytes.Contains(b, []byte("\ufffd")) && !bytes.Contains(b, []byte(`\ufffd`)) && !bytes.Contains(b, []byte(`\uFFFD`)) {
			out, _ := json.Marshal(v)
			if bytes.Contains(out, []byte("\ufffd")) {
				t.Fatalf("accepted %q decodes with a replacement character", b)
			}
		}
	})
}

// FuzzFilter feeds arbitrary streams through the Filter: every line it
// passes on is strict JSON-RPC and every reply is a JSON-RPC error.
func FuzzFilter(f *testing.F) {
	f.Add("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a__read\",\"Name\":\"b__delete\"}}\n")
	f.Add("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":{\"name\":\"a\",\"name\":\"b\"}}\r\nnot json\n[1]\n")
	f.Fuzz(func(t *testing.T, in string) {
		passed, replies := filterRun(t, in, &Options{MaxMessageBytes: 512, MaxDepth: 8})
		for _, p := range passed {
			if code, msg, _, _ := Inspect([]byte(p), 8); code != 0 {
				t.Fatalf("passed %q: %s", p, msg)
			}
		}
		for _, r := range replies {
			if _, ok := r["error"].(map[string]any); !ok {
				t.Fatalf("reply %v is not an error", r)
			}
		}
	})
}

// FuzzParse compares the Filter's decoding with the go-sdk's own: every
// line the strict scan accepts decodes, through jsonrpc.DecodeMessage, to
// the same message (id, method, params; result and error of responses).
func FuzzParse(f *testing.F) {
	for _, l := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"x":[1,2]}}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":"s\u00e9","method":"m\u0065thod","params":null}`,
		`{"id":1.5,"jsonrpc":"2.0","method":"ping","params":[]}`,
		`{"jsonrpc":"2.0","id":-7e2,"method":"x"}`,
		`{"jsonrpc":"2.0","id":3,"result":{"content":[]}}`,
		`{"jsonrpc":"2.0","id":3,"result":null}`,
		`{"jsonrpc":"2.0","id":"r","error":{"code":-1,"message":"no","data":{"k":1}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"x","extra":{"a":1}}`,
	} {
		f.Add([]byte(l))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var s scanner
		got, code, _, _, _ := s.parse(line, 16)
		if code != 0 {
			return
		}
		want, err := jsonrpc.DecodeMessage(line)
		if err != nil {
			t.Fatalf("accepted %q, which the go-sdk refuses: %v", line, err)
		}
		switch w := want.(type) {
		case *jsonrpc.Request:
			g, ok := got.(*jsonrpc.Request)
			if !ok || g.ID != w.ID || g.Method != w.Method || !bytes.Equal(g.Params, w.Params) {
				t.Fatalf("%q: decoded %#v, the go-sdk %#v", line, got, want)
			}
		case *jsonrpc.Response:
			g, ok := got.(*jsonrpc.Response)
			if !ok || g.ID != w.ID || !bytes.Equal(g.Result, w.Result) || fmt.Sprint(g.Error) != fmt.Sprint(w.Error) {
				t.Fatalf("%q: decoded %#v, the go-sdk %#v", line, got, want)
			}
		}
	})
}

// TestConn drives the stdio connection: a request read, a refused line
// answered without reaching Read, a response written as one line, and a
// Read blocked on a quiet client released by Close.
func TestConn(t *testing.T) {
	pr, pw := io.Pipe()
	var out bytes.Buffer
	tr := Stdio(pr, &out, nil)
	c, err := tr.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_, _ = io.WriteString(pw, "not json\n"+`{"jsonrpc":"2.0","id":9,"method":"tools/list","params":{}}`+"\n")
	}()
	msg, err := c.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	req, ok := msg.(*jsonrpc.Request)
	if !ok || req.Method != "tools/list" || req.ID.Raw() != int64(9) || string(req.Params) != "{}" {
		t.Fatalf("read %#v", msg)
	}
	if !strings.Contains(out.String(), `"code":-32700`) {
		t.Errorf("refused line not answered: %q", out.String())
	}
	out.Reset()
	if err := c.Write(context.Background(), &jsonrpc.Response{ID: req.ID, Result: json.RawMessage(`{"tools":[]}`)}); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), `{"jsonrpc":"2.0","id":9,"result":{"tools":[]}}`+"\n"; got != want {
		t.Errorf("wrote %q, want %q", got, want)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(context.Background())
		done <- err
	}()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil {
		t.Error("Read after Close returned no error")
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestInspectReasonQuotesNothing: a refusal's reason, which is logged and
// sent back, never carries the message's text.
func TestInspectReasonQuotesNothing(t *testing.T) {
	for _, line := range []string{
		`{"jsonrpc":"2.0","id":6,"error":"sk-EXAMPLE-secret-value"}`,
		`{"jsonrpc":"2.0","id":6,"error":{"code":"sk-EXAMPLE-secret-value"}}`,
		`{"jsonrpc":"2.0","id":6,"method":"x","params":{"k":"sk-EXAMPLE-secret-value","k":1}}`,
		`sk-EXAMPLE-secret-value`,
	} {
		code, msg, _, _ := Inspect([]byte(line), 0)
		if code == 0 {
			t.Errorf("%s: accepted", line)
		}
		if strings.Contains(msg, "sk-EXAMPLE") || strings.Contains(msg, "secret") {
			t.Errorf("%s: reason %q quotes the message", line, msg)
		}
	}
}

// TestIDRoundTrip: every id is answered exactly as it was sent, or the
// request is refused with an error under that same id; none is altered or
// left unanswered.
func TestIDRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		id     string
		accept bool
	}{
		{`1`, true},
		{`0`, true},
		{`-42`, true},
		{`9007199254740991`, true},
		{`-9007199254740991`, true},
		{`"abc"`, true},
		{`"1.5"`, true},
		{`""`, true},
		{`1.5`, false},
		{`1.0`, false},
		{`1e3`, false},
		{`-0`, false},
		{`9007199254740993`, false},
		{`9223372036854775807`, false},
		{`9223372036854775808`, false},
		{`18446744073709551616`, false},
		{`-9223372036854775809`, false},
	} {
		t.Run(tc.id, func(t *testing.T) {
			var out bytes.Buffer
			tr := Stdio(io.NopCloser(strings.NewReader(`{"jsonrpc":"2.0","id":`+tc.id+`,"method":"ping"}`+"\n")), &out, nil)
			c, err := tr.Connect(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			msg, err := c.Read(context.Background())
			if tc.accept {
				if err != nil {
					t.Fatalf("read: %v (reply %q)", err, out.String())
				}
				if err := c.Write(context.Background(), &jsonrpc.Response{ID: msg.(*jsonrpc.Request).ID, Result: json.RawMessage(`{}`)}); err != nil {
					t.Fatal(err)
				}
			} else if err == nil {
				t.Fatalf("accepted id %s as %v", tc.id, msg.(*jsonrpc.Request).ID.Raw())
			}
			var reply struct {
				ID    json.RawMessage `json:"id"`
				Error *struct {
					Code int `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal(out.Bytes(), &reply); err != nil {
				t.Fatalf("reply %q: %v", out.String(), err)
			}
			if string(reply.ID) != tc.id {
				t.Errorf("answered under id %s, sent %s", reply.ID, tc.id)
			}
			if got := reply.Error != nil; got == tc.accept {
				t.Errorf("error reply = %v, want %v (%q)", got, !tc.accept, out.String())
			}
		})
	}
}
