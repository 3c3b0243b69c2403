package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestKeyProxyRelaysWholeAnswer holds keyProxy to relaying a streamed
// answer whole when the upstream starts it before the transport's last
// read of the request body (the read past Content-Length): the order that
// cut answers short under load, forced here. The upstream answers with a
// notification, then with the result once that read is made; a proxy that
// lets the server close the body fails the read, drops the upstream
// connection and ends the answer after the notification.
func TestKeyProxyRelaysWholeAnswer(t *testing.T) {
	probed := make(chan error, 1) // what the transport's last read of the body got
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Apikey") != "the-key" {
			http.Error(w, "no key", http.StatusUnauthorized)
			return
		}
		if _, err := io.ReadAll(r.Body); err != nil {
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1,\"progress\":0}}\n\n")
		_ = http.NewResponseController(w).Flush()
		if err := <-probed; err != io.EOF {
			<-r.Context().Done() // the transport drops the connection
			return
		}
		fmt.Fprint(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n")
	}))
	defer upstream.Close()
	target, _ := url.Parse(upstream.URL)
	proxy := keyProxy(target, "the-key")
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started := make(chan struct{})
		r.Body = &lastReadAfter{ReadCloser: r.Body, left: r.ContentLength, after: started, got: probed}
		proxy.ServeHTTP(&startSignal{ResponseWriter: w, started: started}, r)
	}))
	defer front.Close()

	resp, err := http.Post(front.URL+"/mcp", "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || err != nil || !strings.Contains(string(body), `"result"`) {
		t.Fatalf("the answer was cut short: HTTP %d, read error %v, body %q", resp.StatusCode, err, body)
	}
}

// lastReadAfter is a request body whose read past its Content-Length waits
// for after to close, and sends what it got to got.
type lastReadAfter struct {
	io.ReadCloser
	left  int64
	after <-chan struct{}
	got   chan<- error
}

func (b *lastReadAfter) Read(p []byte) (int, error) {
	if b.left > 0 {
		n, err := b.ReadCloser.Read(p)
		b.left -= int64(n)
		return n, err
	}
	<-b.after
	n, err := b.ReadCloser.Read(p)
	b.got <- err
	return n, err
}

// startSignal closes started once the answer's start has been flushed to
// the client.
type startSignal struct {
	http.ResponseWriter
	started chan struct{}
	once    bool
}

func (w *startSignal) Flush() {
	_ = http.NewResponseController(w.ResponseWriter).Flush()
	if !w.once {
		w.once = true
		close(w.started)
	}
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *startSignal) Unwrap() http.ResponseWriter { return w.ResponseWriter }
