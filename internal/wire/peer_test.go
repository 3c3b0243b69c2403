package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// TestPeerConn reads what a server may write: strict lines, a line only the
// go-sdk's lenient decoder takes (duplicate keys), blank lines, and then
// garbage, which ends the connection with an error that does not quote it.
func TestPeerConn(t *testing.T) {
	in := strings.Join([]string{
		`{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hi"}]}}`,
		"",
		`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t","progress":1}}`,
		`{"jsonrpc":"2.0","id":2,"result":{"a":1,"a":2}}`,
		`{"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"unknown tool"}}`,
		`garbage with a secret sk-EXAMPLE`,
		`{"jsonrpc":"2.0","id":4,"result":{}}`,
	}, "\n") + "\n"
	var out bytes.Buffer
	closed := 0
	c := NewPeerConn(strings.NewReader(in), nopWriteCloser{&out}, &PeerOptions{Close: func() error { closed++; return nil }})
	ctx := context.Background()
	want := []func(jsonrpc.Message) bool{
		func(m jsonrpc.Message) bool {
			r, ok := m.(*jsonrpc.Response)
			return ok && r.ID.Raw() == int64(1) && strings.Contains(string(r.Result), `"hi"`)
		},
		func(m jsonrpc.Message) bool {
			r, ok := m.(*jsonrpc.Request)
			return ok && r.Method == "notifications/progress" && !r.ID.IsValid()
		},
		func(m jsonrpc.Message) bool {
			r, ok := m.(*jsonrpc.Response)
			return ok && r.ID.Raw() == int64(2)
		},
		func(m jsonrpc.Message) bool {
			r, ok := m.(*jsonrpc.Response)
			return ok && r.ID.Raw() == int64(3) && r.Error != nil && strings.Contains(r.Error.Error(), "unknown tool")
		},
	}
	for i, ok := range want {
		m, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !ok(m) {
			t.Fatalf("message %d: %#v", i, m)
		}
	}
	if _, err := c.Read(ctx); err == nil || strings.Contains(err.Error(), "sk-EXAMPLE") || strings.Contains(err.Error(), "garbage") {
		t.Fatalf("garbage line: err = %v, want an error that does not quote it", err)
	}
	if err := c.Write(ctx, &jsonrpc.Request{ID: mustID(t, 5), Method: "ping"}); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != `{"jsonrpc":"2.0","id":5,"method":"ping"}`+"\n" {
		t.Errorf("wrote %q", got)
	}
	_ = c.Close()
	_ = c.Close()
	if closed != 1 {
		t.Errorf("PeerOptions.Close ran %d times, want 1", closed)
	}
}

// TestPeerConnCap drops a line over the cap that answers no request of
// ours, and reads on.
func TestPeerConnCap(t *testing.T) {
	line := `{"jsonrpc":"2.0","id":1,"result":{"s":"` + strings.Repeat("a", 4096) + `"}}` + "\n"
	c := NewPeerConn(strings.NewReader(line), nopWriteCloser{io.Discard}, &PeerOptions{MaxMessageBytes: 1024})
	defer c.Close()
	if m, err := c.Read(context.Background()); !errors.Is(err, io.EOF) {
		t.Fatalf("Read = %#v, %v; want the line dropped, then EOF", m, err)
	}
}

func mustID(t *testing.T, v float64) jsonrpc.ID {
	t.Helper()
	id, err := jsonrpc.MakeID(v)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestPeerConnMultiLine reads a server that pretty-prints its messages, as
// the go-sdk's stream decoder does, and then a normal line.
func TestPeerConnMultiLine(t *testing.T) {
	in := "{\n  \"jsonrpc\": \"2.0\",\n\n  \"id\": 7,\n  \"result\": {\"content\": []}\n}\n" +
		`{"jsonrpc":"2.0","id":8,"result":{}}` + "\n" +
		"{\n  \"jsonrpc\": \"2.0\",\n  \"id\": 9,\n"
	c := NewPeerConn(strings.NewReader(in), nopWriteCloser{io.Discard}, nil)
	defer c.Close()
	for _, want := range []int64{7, 8} {
		m, err := c.Read(context.Background())
		if err != nil {
			t.Fatalf("id %d: %v", want, err)
		}
		if r, ok := m.(*jsonrpc.Response); !ok || r.ID.Raw() != want {
			t.Fatalf("got %#v, want the response %d", m, want)
		}
	}
	// A value cut short by the end of the stream is an error, not a hang.
	if _, err := c.Read(context.Background()); err == nil {
		t.Fatal("a truncated message at EOF was accepted")
	}
}

// hugeReader yields head, then n filler bytes, then tail, without ever
// holding the filler in memory.
type hugeReader struct {
	parts [][]byte
	fill  int
}

func (h *hugeReader) Read(p []byte) (int, error) {
	for len(h.parts) > 0 {
		if len(h.parts[0]) > 0 {
			n := copy(p, h.parts[0])
			h.parts[0] = h.parts[0][n:]
			return n, nil
		}
		if len(h.parts) > 1 && h.fill > 0 {
			n := min(len(p), h.fill)
			for i := range p[:n] {
				p[i] = 'x'
			}
			h.fill -= n
			return n, nil
		}
		h.parts = h.parts[1:]
	}
	return 0, io.EOF
}

// TestPeerConnOversizedReply: a reply over the cap is discarded, without
// being kept, and the request it answers gets an error answer naming the
// server, the size and the cap; the connection goes on. The id is found
// before or after the huge result, and a value spread over lines is skipped
// to its end.
func TestPeerConnOversizedReply(t *testing.T) {
	const limit = 1 << 20
	const fill = 5 << 20
	next := `{"jsonrpc":"2.0","id":9,"result":{}}` + "\n"
	tests := []struct {
		name, method string
		head, tail   string
		id           int64
		toolError    bool // a tool result with isError rather than a JSON-RPC error
		dropped      bool // no answer: the message was not a reply to us
	}{
		{name: "id first", method: "tools/call", id: 1, toolError: true,
			head: `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"`, tail: `"}]}}` + "\n"},
		{name: "id last", method: "tools/call", id: 2, toolError: true,
			head: `{"result":{"content":[{"type":"text","text":"`, tail: `"}]},"jsonrpc":"2.0","id":2}` + "\n"},
		{name: "not a call", method: "tools/list", id: 3,
			head: `{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"`, tail: `"}]}}` + "\n"},
		{name: "over several lines", method: "tools/call", id: 4, toolError: true,
			head: "{\n  \"jsonrpc\": \"2.0\",\n  \"id\": 4,\n  \"result\": {\"text\": \"", tail: "\"\n  }\n}\n"},
		{name: "notification", dropped: true,
			head: `{"jsonrpc":"2.0","method":"notifications/message","params":{"data":"`, tail: `"}}` + "\n"},
		{name: "unknown id", dropped: true,
			head: `{"jsonrpc":"2.0","id":77,"result":{"x":"`, tail: `"}}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &hugeReader{parts: [][]byte{[]byte(tt.head), []byte(tt.tail + next)}, fill: fill}
			c := NewPeerConn(r, nopWriteCloser{io.Discard}, &PeerOptions{Name: "big", MaxMessageBytes: limit})
			defer c.Close()
			ctx := context.Background()
			if tt.method != "" {
				id, _ := jsonrpc.MakeID(float64(tt.id))
				if err := c.Write(ctx, &jsonrpc.Request{ID: id, Method: tt.method}); err != nil {
					t.Fatal(err)
				}
			}
			size := fmt.Sprint(len(tt.head) + fill + len(tt.tail))
			if strings.Count(tt.head+tt.tail, "\n") > 1 {
				size = "bytes" // lines are trimmed: the count is approximate
			}
			if !tt.dropped {
				m, err := c.Read(ctx)
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				r, ok := m.(*jsonrpc.Response)
				if !ok || r.ID.Raw() != tt.id {
					t.Fatalf("got %#v, want a response to id %d", m, tt.id)
				}
				var text string
				if tt.toolError {
					var res struct {
						IsError bool `json:"isError"`
						Content []struct {
							Text string `json:"text"`
						} `json:"content"`
					}
					if r.Error != nil || json.Unmarshal(r.Result, &res) != nil || !res.IsError || len(res.Content) != 1 {
						t.Fatalf("got %s / %v, want a tool error result", r.Result, r.Error)
					}
					text = res.Content[0].Text
				} else {
					if r.Error == nil {
						t.Fatalf("got result %.80s, want a JSON-RPC error", r.Result)
					}
					text = r.Error.Error()
				}
				for _, want := range []string{`"big"`, size, fmt.Sprint(limit), "max_message_bytes"} {
					if !strings.Contains(text, want) {
						t.Errorf("answer %q lacks %q", text, want)
					}
				}
			}
			m, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("Read after the oversized message: %v", err)
			}
			if r, ok := m.(*jsonrpc.Response); !ok || r.ID.Raw() != int64(9) {
				t.Fatalf("after the oversized message: %#v, want the next response", m)
			}
		})
	}
}

// TestPeerConnOversizedReplyIsNotKept: reading a 40 MiB reply under a
// 1 MiB cap allocates about the cap, not the reply.
func TestPeerConnOversizedReplyIsNotKept(t *testing.T) {
	const limit = 1 << 20
	r := &hugeReader{parts: [][]byte{[]byte(`{"jsonrpc":"2.0","id":1,"result":{"t":"`), []byte(`"}}` + "\n")}, fill: 40 << 20}
	c := NewPeerConn(r, nopWriteCloser{io.Discard}, &PeerOptions{MaxMessageBytes: limit})
	defer c.Close()
	id, _ := jsonrpc.MakeID(float64(1))
	if err := c.Write(context.Background(), &jsonrpc.Request{ID: id, Method: "tools/call"}); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := c.Read(context.Background()); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 8*limit {
		t.Errorf("reading a 40 MiB reply allocated %d bytes; want at most %d", got, 8*limit)
	}
}
