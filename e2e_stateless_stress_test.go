package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestE2EStatelessEveryRequestAnswered: concurrent MCP 2026-07-28 requests
// of one key, served by the key's one stateless gateway, each get their
// own answer in their own response body.
func TestE2EStatelessEveryRequestAnswered(t *testing.T) {
	f := newFixture(t, exampleServer("echo_server", "echo", nil))
	p := startHTTP(t, f, "--rate-limit", "100000", "--rate-burst", "100000")
	const workers, each = 16, 40
	var (
		mu     sync.Mutex
		failed []string
		wg     sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				id := w*each + i + 1
				body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",`+
					`"io.modelcontextprotocol/clientInfo":{"name":"stress","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}`, id)
				req, _ := http.NewRequest(http.MethodPost, p.url, strings.NewReader(body))
				req.Header = modernHeaders(f.key, "tools/list", "")
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					mu.Lock()
					failed = append(failed, err.Error())
					mu.Unlock()
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !strings.Contains(string(b), fmt.Sprintf(`"id":%d,"result"`, id)) {
					mu.Lock()
					failed = append(failed, fmt.Sprintf("id %d: %s %q: %.300s", id, resp.Status, resp.Header.Get("Content-Type"), b))
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("%d of %d requests not answered; the first: %s", len(failed), workers*each, failed[0])
	}
}
