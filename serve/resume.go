package serve

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/rs/zerolog"

	"secure-mcp-gateway/cache"
)

// A legacy (2025-11-25 and older) session lives in the replica that
// answered its initialize. So that it outlives that replica, the replica
// stores in the Redis replicas share what any replica needs to open the
// session again: the hash of the gateway key that opened it and the
// client's initialize parameters (protocol version, capabilities, client
// info), under a hash of the session id. A replica that gets a request for
// a session it does not hold reads that state and, when the request's key
// is the one stored, re-creates the session under the same id by replaying
// the initialize handshake to itself; the request is then served as if
// nothing happened. What cannot travel is lost: the upstream processes (new
// ones start), resource subscriptions, and requests in flight when the
// first replica died. The id stays a short random string, so balancers'
// affinity tables hold it.
//
// A session ended on purpose (the client's DELETE, the idle timeout, an
// eviction at a cap) has its state deleted; one that ends because its
// replica shuts down keeps it, to be re-created elsewhere. Without Redis a
// session dies with its replica, as the spec's 404 tells the client.

// resumeTTL is how long after its initialize a session can be re-created
// on another replica.
const resumeTTL = 7 * 24 * time.Hour

// maxResumeParams bounds the initialize parameters stored; a client
// sending more gets a session that cannot move.
const maxResumeParams = 8 << 10

// resumeState is what a replica needs to re-create a session.
type resumeState struct {
	// Key is authn.HashKey of the gateway key that opened the session.
	Key string `json:"k"`
	// Params are the client's initialize parameters.
	Params json.RawMessage `json:"p"`
}

// sessionStates keeps resumeStates in the shared Redis, and remembers the
// sessions this replica ended on purpose.
type sessionStates struct {
	shared *cache.Shared // nil: sessions do not move
	log    *zerolog.Logger

	mu    sync.Mutex
	ended map[string]time.Time
}

// maxLocalEnded bounds the ended ids a replica remembers itself.
const maxLocalEnded = 100_000

func stateKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "session:" + hex.EncodeToString(sum[:16])
}

// save stores the state of session id before its initialize is answered.
// A failure (Redis down) leaves the session unable to move, nothing more.
func (s *sessionStates) save(ctx context.Context, id, keyHash string, params json.RawMessage) {
	if s == nil || s.shared == nil || keyHash == "" || len(params) == 0 || len(params) > maxResumeParams {
		return
	}
	b, err := json.Marshal(resumeState{Key: keyHash, Params: params})
	if err != nil {
		return
	}
	_ = s.shared.Set(ctx, stateKey(id), b, resumeTTL)
}

// load returns the state of session id when it may be re-created here.
func (s *sessionStates) load(ctx context.Context, id string) (*resumeState, bool) {
	if s == nil || s.shared == nil || s.wasEnded(id) {
		return nil, false
	}
	b, err := s.shared.Get(ctx, stateKey(id))
	if err != nil || b == nil {
		return nil, false
	}
	var st resumeState
	if json.Unmarshal(b, &st) != nil || st.Key == "" || len(st.Params) == 0 {
		return nil, false
	}
	return &st, true
}

// remember marks id as ended on purpose on this replica, at once (the
// shared state goes in forget, which does I/O).
func (s *sessionStates) remember(id string) {
	if s == nil || s.shared == nil {
		return
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended == nil {
		s.ended = map[string]time.Time{}
	}
	if len(s.ended) >= maxLocalEnded {
		// Expired ids first, then any, down to nine tenths of the bound,
		// so the sweep runs once per tenth of the bound, not per id.
		for k, at := range s.ended {
			if now.Sub(at) > resumeTTL {
				delete(s.ended, k)
			}
		}
		for k := range s.ended {
			if len(s.ended) < maxLocalEnded*9/10 {
				break
			}
			delete(s.ended, k)
		}
	}
	s.ended[id] = now
}

// forget ends session id for good: remembered here, its state deleted.
func (s *sessionStates) forget(id string) {
	if s == nil || s.shared == nil {
		return
	}
	s.remember(id)
	// Best effort: with Redis down another replica may re-create the
	// session for the key that opened it, which could open one anew anyway.
	_ = s.shared.Delete(context.Background(), stateKey(id))
}

func (s *sessionStates) wasEnded(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.ended[id]
	return ok
}

// resume re-creates the session id for principal from its stored state,
// replaying initialize and notifications/initialized to the SDK's handler
// in this process. It reports whether the session now exists. Concurrent
// requests for one id wait for a single replay.
func (h *httpHandler) resume(r *http.Request, id string, pr *pending, st *resumeState) bool {
	h.mu.Lock()
	if _, ok := h.sessions[id]; ok {
		h.mu.Unlock()
		return true // another request re-created it meanwhile
	}
	if wait, ok := h.resuming[id]; ok {
		h.mu.Unlock()
		select {
		case <-wait:
		case <-r.Context().Done():
		}
		return h.hasSession(id)
	}
	done := make(chan struct{})
	h.resuming[id] = done
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.resuming, id)
		h.mu.Unlock()
		close(done)
	}()

	init := &captureWriter{header: http.Header{}}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": "resume", "method": "initialize", "params": st.Params})
	pr.presetID = id
	h.initialize(init, replay(r, body, ""), pr)
	version, ok := init.initializeResult()
	if !ok || !h.hasSession(id) {
		h.log.Info().Str("key", pr.principal.KeyFingerprint).Int("status", init.status).Msg("a session of another replica could not be re-created here; the client initializes again")
		return false
	}
	ack := &captureWriter{header: http.Header{}}
	note := replay(r, []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`), id)
	note.Header.Set("Mcp-Protocol-Version", version)
	h.streamable.ServeHTTP(ack, note.WithContext(context.WithValue(note.Context(), ctxKey{}, &pending{principal: pr.principal})))
	if ack.status != http.StatusAccepted && ack.status != http.StatusOK {
		h.log.Warn().Int("status", ack.status).Msg("a re-created session refused notifications/initialized")
	}
	h.metrics.SessionResumed()
	h.log.Info().Str("key", pr.principal.KeyFingerprint).Str("protocol", version).Msg("session of another replica re-created here")
	return true
}

// cancelIfAbandoned cancels req, a request of session id whose POST r is
// over, when r's client went away before the answer: the gateway keeps no
// event store, so the answer could never reach it. The session is told as
// the client would tell it (notifications/cancelled), so the upstream call
// the request started is cancelled too, rather than running on to its
// timeout and holding a shutdown past its grace.
func (h *httpHandler) cancelIfAbandoned(r *http.Request, id string, req *jsonrpc.Request) {
	if r.Context().Err() == nil || !h.hasSession(id) {
		return
	}
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": "notifications/cancelled",
		"params": map[string]any{"requestId": req.ID.Raw(), "reason": "the client's connection closed before the answer"}})
	if err != nil {
		return
	}
	note := replay(r, body, id)
	if v := r.Header.Get("Mcp-Protocol-Version"); v != "" {
		note.Header.Set("Mcp-Protocol-Version", v)
	}
	h.streamable.ServeHTTP(&captureWriter{header: http.Header{}}, note)
	h.log.Debug().Str("method", req.Method).Msg("a request whose client went away is cancelled")
}

// hasSession reports whether the session id is open here.
func (h *httpHandler) hasSession(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.sessions[id]
	return ok
}

// replay is a POST of body to r's endpoint with r's values, for the SDK's
// handler; sessionID is its Mcp-Session-Id, when not empty.
func replay(r *http.Request, body []byte, sessionID string) *http.Request {
	// The replay serves every request waiting for the session, so the
	// hang-up of the one that leads it must not abort it.
	q := r.Clone(context.WithoutCancel(r.Context()))
	q.Method = http.MethodPost
	q.ContentLength = int64(len(body))
	q.Body = readCloser{bytes.NewReader(body)}
	q.Header = http.Header{}
	q.Header.Set("Content-Type", "application/json")
	q.Header.Set("Accept", "application/json, text/event-stream")
	if sessionID != "" {
		q.Header.Set("Mcp-Session-Id", sessionID)
	}
	return q
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// captureWriter keeps the SDK handler's answer to a replayed request.
type captureWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (c *captureWriter) Header() http.Header { return c.header }

func (c *captureWriter) WriteHeader(status int) {
	if c.status == 0 {
		c.status = status
	}
}

func (c *captureWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	return c.body.Write(b)
}

// Flush implements http.Flusher, which the SDK's event stream needs.
func (c *captureWriter) Flush() {}

// initializeResult returns the protocol version of a successful initialize
// answer, sent as JSON or as one server-sent event.
func (c *captureWriter) initializeResult() (string, bool) {
	if c.status != http.StatusOK {
		return "", false
	}
	msg := bytes.TrimSpace(c.body.Bytes())
	if len(msg) > 0 && msg[0] != '{' {
		msg = nil
		sc := bufio.NewScanner(bytes.NewReader(c.body.Bytes()))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if data, ok := bytes.CutPrefix(sc.Bytes(), []byte("data:")); ok {
				msg = bytes.TrimSpace(data)
				break
			}
		}
	}
	var res struct {
		Result *struct {
			ProtocolVersion string `json:"protocolVersion"`
		} `json:"result"`
	}
	if json.Unmarshal(msg, &res) != nil || res.Result == nil || res.Result.ProtocolVersion == "" {
		return "", false
	}
	return res.Result.ProtocolVersion, true
}

// A tool call in flight when its replica died may have run. A balancer that
// resends it to another replica (HAProxy's retry-on empty-response) would
// have it run twice, on a session that another replica re-created from
// Redis. So each tools/call of a legacy session claims its request id in
// Redis before it is forwarded; a call whose id is already claimed is
// answered with a tool error saying it may have run, and is not run again.
// JSON-RPC ids are unique within a session, so a claimed id is always a
// resend. Without Redis the resend gets the 404 of an unknown session. A
// call taken while Redis cannot be reached goes on unclaimed (the outage is
// warned once): its resend could run.

// callClaimSlack is how long a claim outlives the tool timeout: a resend
// comes as soon as the balancer sees the replica fail.
const callClaimSlack = 2 * time.Minute

func callKey(sessionID string, rpcID any) string {
	idJSON, _ := json.Marshal(rpcID)
	sum := sha256.Sum256(append([]byte(sessionID+"\x00"), idJSON...))
	return "call:" + hex.EncodeToString(sum[:16])
}

// claimCall reports whether the call rpcID of session id is new. With
// Redis absent or down every call is new (the outage is warned once).
func (s *sessionStates) claimCall(ctx context.Context, id string, rpcID any, toolTimeout time.Duration) bool {
	if s == nil || s.shared == nil {
		return true
	}
	first, err := s.shared.Claim(ctx, callKey(id, rpcID), []byte("1"), toolTimeout+callClaimSlack)
	return err != nil || first
}

// resentCall answers a resent tool call with a tool error, as JSON.
func resentCall(w http.ResponseWriter, rpcID any) {
	res := map[string]any{
		"content": []map[string]string{{"type": "text", "text": "secure-mcp-gateway: this tool call reached the gateway before, " +
			"on a replica that went away (or through a balancer's retry) before it answered, so it may already have run. " +
			"It is not run a second time; call the tool again if it should run."}},
		"isError": true,
	}
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": rpcID, "result": res})
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}
