package serve

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/authn"
)

// StatelessProtocolVersion is the first MCP version without sessions: a
// request whose Mcp-Protocol-Version header is this or later is served
// statelessly (no initialize, no Mcp-Session-Id), everything else by the
// session lifecycle of 2025-11-25 and older.
const StatelessProtocolVersion = "2026-07-28"

// statelessRequest reports whether r, whose POST body is msg (nil for
// other methods), is for the stateless protocol: its Mcp-Protocol-Version
// header says so, or it has no header and no session and its body's _meta
// names a protocol version (the SDK's stateless handler then refuses it
// 400 for the missing header, as the spec wants). The header only picks
// the handler: the SDK holds the body to it (the method and name headers,
// the _meta version), answering a mismatch 400.
func statelessRequest(r *http.Request, msg jsonrpc.Message) bool {
	if v := r.Header.Get("Mcp-Protocol-Version"); v != "" {
		return v >= StatelessProtocolVersion
	}
	req, ok := msg.(*jsonrpc.Request)
	if !ok || r.Header.Get("Mcp-Session-Id") != "" || len(req.Params) == 0 {
		return false
	}
	var p struct {
		Meta map[string]json.RawMessage `json:"_meta"`
	}
	if json.Unmarshal(req.Params, &p) != nil {
		return false
	}
	_, ok = p.Meta[mcp.MetaKeyProtocolVersion]
	return ok
}

// principalKey identifies the principal a stateless request acts for: the
// whole key's hash, keyHash (authn.HashKey; not the short fingerprint of
// logs, which two keys may share), its project, user and MCP config, and
// that config's load (a re-read config makes new principals, so a changed
// server list is never served by a gateway built from the old one). Client-supplied _meta
// (clientInfo, capabilities) plays no part: identity is the gateway key.
func principalKey(keyHash string, p *authn.Principal) string {
	return fmt.Sprintf("%s\x00%s\x00%s\x00%s\x00%p", keyHash, p.ProjectID, p.UserID, p.MCPConfigID, p.MCPConfig)
}

// statelessServer is the stateless SDK handler's hook: the gateway that
// serveStateless resolved for this request's authenticated principal.
func statelessServer(r *http.Request) *mcp.Server {
	if p, ok := r.Context().Value(ctxKey{}).(*pending); ok {
		return p.server
	}
	return nil
}

// serveStateless serves one request of the stateless protocol (MCP
// 2026-07-28) for principal, already authenticated and rate-limited by
// this request's own key. Every such request of the principal shares one
// gateway (its upstream pool, pins, guardrail and toxic-flow state), made
// at its first request and kept like a session: it counts against the
// same caps, idles out after SessionIdleTimeout and is the first to go,
// least recently used, when a cap needs room. The SDK opens a session on
// it for the request alone and closes it with the answer.
func (h *httpHandler) serveStateless(w http.ResponseWriter, r *http.Request, principal *authn.Principal, key, keyHash string) {
	s, refusal := h.acquire(principal, key, keyHash)
	if s == nil {
		if refusal == "" {
			http.Error(w, "Service Unavailable: shutting down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Retry-After", strconv.Itoa(60))
		http.Error(w, "Too Many Requests: "+refusal, http.StatusTooManyRequests)
		return
	}
	defer func() {
		h.mu.Lock()
		s.busy--
		s.used = time.Now()
		h.mu.Unlock()
	}()
	ctx := context.WithValue(r.Context(), ctxKey{}, &pending{principal: principal, server: s.server})
	h.stateless.ServeHTTP(w, r.WithContext(ctx))
}

// acquire returns the stateless gateway of the principal known as key
// (whose gateway key has the authn.HashKey keyHash), made if it has none, with one more request in flight. At a cap it is
// nil and refusal says why; while shutting down both are zero.
func (h *httpHandler) acquire(principal *authn.Principal, key, keyHash string) (s *session, refusal string) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ""
	}
	if id, ok := h.byPrincipal[key]; ok {
		s := h.sessions[id]
		s.busy++
		s.used = time.Now()
		h.mu.Unlock()
		<-s.ready
		return s, ""
	}
	fp := principal.KeyFingerprint
	procs := stdioServers(principal)
	victims, refusal := h.reserve(keyHash, procs)
	if refusal != "" {
		h.mu.Unlock()
		return nil, refusal
	}
	now := time.Now()
	s = &session{id: rand.Text(), keyFP: fp, keyHash: keyHash, created: now, used: now, procs: procs, busy: 1,
		stateless: true, principal: key, ready: make(chan struct{})}
	h.sessions[s.id] = s
	h.byPrincipal[key] = s.id
	h.mu.Unlock()
	h.evict(victims)
	// No session id (events carry none) and no end of session to watch:
	// the gateway lives until it idles out, is evicted or serving stops.
	s.server, s.stop = h.start(principal, "", nil)
	var inflight requestContexts
	s.server.AddReceivingMiddleware(inflight.remember)
	s.server.AddSendingMiddleware(inflight.relate)
	close(s.ready)
	h.metrics.SessionOpened()
	h.log.Debug().Str("key", fp).Msg("stateless gateway made for the key")
	return s, ""
}

// requestContexts maps each stateless session to the context of the one
// request it serves. A stateless session has no stream of its own: a
// notification reaches the client only on the stream of the request it
// relates to, which the SDK reads from the context it is sent with. The
// gateway relays an upstream's notifications (progress, say) from the
// upstream's side, with no such context, so relate sends each
// notification to a stateless session with its request's context.
type requestContexts struct {
	m sync.Map // *mcp.ServerSession → context.Context
}

// remember is a receiving middleware: it records the request's context for
// its session while the request is handled.
func (rc *requestContexts) remember(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		ss, ok := req.GetSession().(*mcp.ServerSession)
		if !ok || ss == nil {
			return next(ctx, method, req)
		}
		rc.m.Store(ss, ctx)
		defer rc.m.CompareAndDelete(ss, ctx)
		return next(ctx, method, req)
	}
}

// relate is a sending middleware: a notification to a session whose
// request is in flight is sent with that request's context. Requests to
// the client are left alone (a stateless session cannot make them).
func (rc *requestContexts) relate(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if strings.HasPrefix(method, "notifications/") {
			if ss, ok := req.GetSession().(*mcp.ServerSession); ok && ss != nil {
				if rctx, ok := rc.m.Load(ss); ok {
					ctx = rctx.(context.Context)
				}
			}
		}
		return next(ctx, method, req)
	}
}
