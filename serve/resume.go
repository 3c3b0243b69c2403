package serve

import (
	"bufio"
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/rs/zerolog"

	"secure-mcp-gateway/cache"
)

// A legacy (2025-11-25 and older) session lives in the replica that
// answered its initialize. So that it outlives that replica, its id is a
// sealed token holding what any replica needs to open the session again:
// the hash of the gateway key that opened it and the client's initialize
// parameters (protocol version, capabilities, client info). A replica that
// gets a request for a session it does not hold opens the token and, when
// the request's key is the one sealed in it, re-creates the session under
// the same id by replaying the initialize handshake to itself; the request
// is then served as if nothing happened. What cannot travel is lost: the
// upstream processes (new ones start), resource subscriptions, and requests
// in flight when the first replica died.
//
// The sealing key is shared through the Redis replicas use (created by the
// first replica); without one it is this process's own, and a session dies
// with its replica as before.

// resumablePrefix marks a session id that is a sealed token.
const resumablePrefix = "r1."

// maxResumeParams bounds the initialize parameters sealed into an id; a
// client sending more gets a plain random id (its session cannot resume).
const maxResumeParams = 2048

// sessionSealKey names the shared document holding the sealing key.
const sessionSealKey = "session-seal-key"

// sealAAD binds sealed ids to their use.
var sealAAD = []byte("secure-mcp-gateway session v1")

// resumeState is what a sealed session id carries.
type resumeState struct {
	// Key is authn.HashKey of the gateway key that opened the session.
	Key string `json:"k"`
	// Params are the client's initialize parameters.
	Params json.RawMessage `json:"p"`
}

// sessionSealer mints and opens sealed session ids.
type sessionSealer struct {
	aead   cipher.AEAD
	shared bool // the key is the one every replica uses
}

// newSessionSealer returns the sealer with the key shared in shared (made
// there by the first replica), or a key of this process's own when shared
// is nil or cannot be reached (logged).
func newSessionSealer(ctx context.Context, shared *cache.Shared, log *zerolog.Logger) *sessionSealer {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	isShared := false
	if shared != nil {
		fresh := key
		err := shared.Update(ctx, sessionSealKey, 0, func(old []byte) ([]byte, error) {
			if len(old) == len(fresh) {
				key = old
				return old, nil
			}
			key = fresh
			return fresh, nil
		})
		if err != nil {
			key = fresh
			log.Warn().Err(err).Msg("sessions cannot outlive this replica: the shared session key is out of reach; they end with it, and clients initialize again elsewhere")
		} else {
			isShared = true
		}
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // a 32-byte key always makes a cipher
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return &sessionSealer{aead: aead, shared: isShared}
}

// mint returns a sealed session id for a session opened by the key with
// stored form keyHash and initialize params, or a random one when the
// params are too large to carry.
func (s *sessionSealer) mint(keyHash string, params json.RawMessage) string {
	if s == nil || len(params) == 0 || len(params) > maxResumeParams {
		return rand.Text()
	}
	plain, err := json.Marshal(resumeState{Key: keyHash, Params: params})
	if err != nil {
		return rand.Text()
	}
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	sealed := s.aead.Seal(nonce, nonce, plain, sealAAD)
	return resumablePrefix + base64.RawURLEncoding.EncodeToString(sealed)
}

// open returns what a sealed id carries; false for any id this gateway's
// key did not seal.
func (s *sessionSealer) open(id string) (*resumeState, bool) {
	rest, ok := strings.CutPrefix(id, resumablePrefix)
	if s == nil || !ok {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	n := s.aead.NonceSize()
	if err != nil || len(b) < n {
		return nil, false
	}
	plain, err := s.aead.Open(nil, b[:n], b[n:], sealAAD)
	if err != nil {
		return nil, false
	}
	var st resumeState
	if json.Unmarshal(plain, &st) != nil || st.Key == "" || len(st.Params) == 0 {
		return nil, false
	}
	return &st, true
}

// resume re-creates the session id for principal from its sealed state,
// replaying initialize and notifications/initialized to the SDK's handler
// in this process. It reports whether the session now exists. Concurrent
// requests for one id wait for a single replay.
func (h *httpHandler) resume(r *http.Request, id string, pr *pending, st *resumeState) bool {
	h.mu.Lock()
	if wait, ok := h.resuming[id]; ok {
		h.mu.Unlock()
		<-wait
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

// hasSession reports whether the session id is open here.
func (h *httpHandler) hasSession(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.sessions[id]
	return ok
}

// replay is a POST of body to r's endpoint with r's context, for the SDK's
// handler; sessionID is its Mcp-Session-Id, when not empty.
func replay(r *http.Request, body []byte, sessionID string) *http.Request {
	q := r.Clone(r.Context())
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
