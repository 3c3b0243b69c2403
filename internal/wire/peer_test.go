package wire

import (
	"bytes"
	"context"
	"io"
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

// TestPeerConnCap ends the connection at a line over the cap.
func TestPeerConnCap(t *testing.T) {
	line := `{"jsonrpc":"2.0","id":1,"result":{"s":"` + strings.Repeat("a", 4096) + `"}}` + "\n"
	c := NewPeerConn(strings.NewReader(line), nopWriteCloser{io.Discard}, &PeerOptions{MaxMessageBytes: 1024})
	defer c.Close()
	if _, err := c.Read(context.Background()); err == nil || !strings.Contains(err.Error(), "1024-byte cap") {
		t.Fatalf("err = %v, want the cap", err)
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
