package serve

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/rs/zerolog"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/cache"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/internal/secret"
	"secure-mcp-gateway/internal/wire"
)

// HTTP serves MCP over streamable HTTP at /mcp until ctx is cancelled: one
// gateway process for many users, each MCP session with its own principal
// and upstreams. Every request is authenticated by its own gateway key (the
// apikey or Authorization header; never the query string, never the
// process environment); a session answers only the key that created it;
// cross-origin browser requests are refused unless allowed; sessions,
// upstream processes and request rates are capped, the least recently used
// idle sessions making room; the config file is re-read when it changes,
// so that a disabled or rotated key is refused at its next request.
// /healthz, /readyz and /metrics (Prometheus) are served beside /mcp.
//
// Cancelling ctx stops accepting connections, lets in-flight calls finish
// for ShutdownGrace and reaps every upstream; it returns nil. Refused
// options are *OptionError, an audit log that cannot be opened is
// *ConfigError.
func HTTP(ctx context.Context, opts *HTTPOptions) error {
	if opts == nil {
		panic("serve: HTTP needs options")
	}
	if err := opts.CheckFlags(); err != nil {
		return err
	}
	h, routes, closeHandler, err := newHTTPHandler(opts)
	if err != nil {
		return err
	}
	defer closeHandler()
	listen := cmp.Or(opts.Listen, DefaultListen)
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return &OptionError{"listen", fmt.Errorf("listen on %s: %w", listen, err)}
	}
	srv := &http.Server{Handler: routes, ReadHeaderTimeout: DefaultReadHeaderTimeout, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() {
		if opts.TLSCert != "" {
			errc <- srv.ServeTLS(ln, opts.TLSCert, opts.TLSKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	scheme := "http"
	if opts.TLSCert != "" {
		scheme = "https"
	}
	log := h.log
	log.Info().Str("addr", ln.Addr().String()).Str("endpoint", scheme+"://"+ln.Addr().String()+"/mcp").Msg("listening")
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	if opts.DrainDelay > 0 {
		// Readiness goes first: the balancer's health check sees 503 and
		// stops sending new requests while this replica still serves them.
		h.draining.Store(true)
		log.Info().Dur("drain_delay", opts.DrainDelay).Msg("stopping: /readyz answers 503; still serving until the drain delay ends")
		<-time.After(opts.DrainDelay)
	}
	log.Info().Msg("stopping: no new connections; draining in-flight requests")
	// Shutdown stops accepting at once; it would also wait for every
	// connection to go idle, which a client's standalone SSE stream never
	// does, so the drain waits for in-flight POSTs (the calls) instead, up
	// to the grace period, and then closes what is left.
	grace := opts.ShutdownGrace
	shutdownCtx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	go srv.Shutdown(shutdownCtx)
	deadline := time.Now().Add(grace)
	for h.active.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := h.active.Load(); n > 0 {
		log.Warn().Int64("requests", n).Msg("grace period over; closing the remaining connections")
	}
	srv.Close()
	h.closeAll()
	log.Info().Msg("stopped; every upstream reaped")
	return nil
}

// NewHTTPHandler returns the HTTP mode's handler (/mcp, /healthz, /readyz
// and /metrics, as HTTP serves them) for a caller's own http.Server, and a
// function that reaps every session's upstreams and closes what sessions
// share, to call once the server has stopped. The listener options
// (Listen, TLSCert, TLSKey, InsecureListen, ShutdownGrace) are the
// caller's business and not used. A refused allowed origin is an
// *OptionError, an audit log that cannot be opened a *ConfigError.
func NewHTTPHandler(opts *HTTPOptions) (http.Handler, func(), error) {
	if opts == nil {
		panic("serve: NewHTTPHandler needs options")
	}
	_, routes, closeHandler, err := newHTTPHandler(opts)
	return routes, closeHandler, err
}

// newHTTPHandler builds the handler of opts, opens what its sessions share
// and starts the sweep of sessions that never initialized; the returned
// function stops the sweep, reaps every session and closes the rest.
func newHTTPHandler(opts *HTTPOptions) (*httpHandler, http.Handler, func(), error) {
	o := *opts
	if o.RateLimit == 0 {
		o.RateLimit = DefaultRatePerKey
	}
	if o.RateBurst == 0 {
		o.RateBurst = DefaultBurstPerKey
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Config == nil {
		panic("serve: Options.Config is required")
	}
	cfg := o.Config
	metrics := NewMetrics()
	h := &httpHandler{
		path: o.ConfigPath, loadOpts: o.ConfigOptions, cfg: cfg, maxPer: o.MaxSessionsPerKey, maxBody: o.MaxBodyBytes,
		maxTotal: o.MaxSessions, maxProcs: o.MaxUpstreamProcesses,
		rate: o.RateLimit, metrics: metrics,
		sessions: map[string]*session{}, perKey: map[string]int{},
		byPrincipal: map[string]string{},
	}
	if st, err := os.Stat(o.ConfigPath); err == nil {
		h.cfgMod = st.ModTime()
	}
	ttl := time.Duration(cfg.Common.GatewayCacheExpiration * float64(time.Hour))
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	var err error
	if h.principals, err = cache.NewMemo[*authn.Principal](ttl, 0); err != nil {
		return nil, nil, nil, err
	}
	shared, closeShared, err := open(&o.Options)
	if err != nil {
		h.principals.Close()
		return nil, nil, nil, err
	}
	cleanup := func() {
		closeShared()
		h.principals.Close()
	}
	h.log = shared.log
	// One bucket per key: in Redis when the config names one (the
	// discovery cache's), so that every replica draws on the same bucket.
	if h.limits, err = cache.NewLimiter(cache.LimiterOptions{Rate: o.RateLimit, Burst: o.RateBurst,
		Redis: cache.RedisFromConfig(&cfg.Common), Logger: &h.log}); err != nil {
		cleanup()
		return nil, nil, nil, &OptionError{"rate-limit", err}
	}
	h.resuming = map[string]chan struct{}{}
	h.states = &sessionStates{shared: o.SharedState, log: &h.log}
	stopWatch := func() {}
	if o.SharedState != nil {
		ctx, cancel := context.WithCancel(context.Background())
		done := h.revoked.watch(ctx, o.SharedState, &h.log)
		stopWatch = func() { cancel(); <-done }
	}
	cleanup = func() {
		stopWatch()
		closeShared()
		h.principals.Close()
		_ = h.limits.Close()
	}
	shared.observers = append(shared.observers, metrics)
	shared.onUpstream = metrics.UpstreamEvent
	h.start = func(p *authn.Principal, id string, onClose func()) (*mcp.Server, func()) {
		gw, pool := shared.newSession(p, id, onClose)
		return gw.Server(), func() {
			// The upstreams go first, so that no call in flight holds the
			// SDK's side of the session, which then goes with ours (an
			// evicted or shut-down session would otherwise wait for its
			// idle timeout).
			pool.Close()
			for ss := range gw.Server().Sessions() {
				_ = ss.Close()
			}
		}
	}
	cop := http.NewCrossOriginProtection()
	for _, origin := range o.AllowedOrigins {
		if err := cop.AddTrustedOrigin(origin); err != nil {
			cleanup()
			return nil, nil, nil, &OptionError{"allowed-origin", fmt.Errorf("--allowed-origin %q: %w", origin, err)}
		}
	}
	idle := o.SessionIdleTimeout
	h.idle = idle
	h.streamable = cop.Handler(mcp.NewStreamableHTTPHandler(h.getServer, &mcp.StreamableHTTPOptions{
		SessionTimeout:      idle,
		MaxRequestBodyBytes: o.MaxBodyBytes,
	}))
	h.stateless = cop.Handler(mcp.NewStreamableHTTPHandler(statelessServer, &mcp.StreamableHTTPOptions{
		Stateless:           true,
		MaxRequestBodyBytes: o.MaxBodyBytes,
		// The POST is the whole request: a client that hangs up cancels
		// it, and the upstream call it started.
		PropagateRequestCancellation: true,
	}))
	stop := make(chan struct{})
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		sweep := time.NewTicker(max(idle/2, time.Second))
		defer sweep.Stop()
		for {
			select {
			case <-sweep.C:
				h.sweep(idle)
			case <-stop:
				return
			}
		}
	}()
	var once sync.Once
	return h, h.routes(), func() {
		once.Do(func() {
			close(stop)
			<-swept
			h.closeAll()
			cleanup()
		})
	}, nil
}

// sessionStarter builds the gateway for one HTTP session of principal: its
// own upstream pool, guardrails and caches, exactly as stdio mode does.
// stop reaps its upstreams; the server's client session is id.
type sessionStarter func(principal *authn.Principal, id string, onClose func()) (server *mcp.Server, stop func())

// sameKey reports, in constant time, whether two authn.HashKey values are
// of one key; an empty one matches nothing.
func sameKey(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// session is one MCP session and the principal that created it, or (when
// stateless) the gateway that serves every stateless request of one
// principal. Both kinds share the caps and the least-recently-used
// eviction.
type session struct {
	id    string
	keyFP string // the key's short fingerprint, for logs
	// keyHash is authn.HashKey of the key that opened the session: only
	// that key may use it (a stateless gateway, none), and the per-key cap
	// counts it. The fingerprint is 32 bits, too short to tell keys apart.
	keyHash string
	server  *mcp.Server
	stop    func()
	created time.Time
	procs   int       // upstream processes it may run: its stdio servers
	used    time.Time // when a request of it last began or ended
	busy    int       // its requests in flight (a GET stream does not count)

	// stateless marks a principal's gateway for 2026-07-28 requests: no
	// client ever learns its id, and principal is its key in byPrincipal.
	stateless bool
	principal string
	ready     chan struct{} // closed once server and stop are set
}

// httpHandler authenticates every request, binds each MCP session to the
// key that created it, caps sessions and request rates per key, and hands
// the rest to the SDK's streamable HTTP handler.
type httpHandler struct {
	path     string
	loadOpts []config.Option // for config.Load when the file changes
	log      zerolog.Logger
	start    sessionStarter
	maxPer   int
	maxBody  int64
	active   atomic.Int64             // POST requests in flight, which a shutdown drains
	rate     float64                  // requests per second per key
	limits   *cache.Limiter           // one token bucket per key, shared through Redis when configured
	revoked  revocations              // keys revoked through other copies of the config (Redis)
	states   *sessionStates           // what lets a session move to another replica (Redis)
	resuming map[string]chan struct{} // sessions being re-created, by id
	draining atomic.Bool              // /readyz answers 503: the server is about to stop accepting
	metrics  *Metrics

	cfgMu      sync.Mutex
	cfg        *config.Config
	cfgMod     time.Time
	streamable http.Handler // the SDK's handler behind cross-origin protection
	stateless  http.Handler // the SDK's stateless handler (MCP 2026-07-28), likewise
	idle       time.Duration

	principals *cache.Memo[*authn.Principal] // resolved keys

	maxTotal int // sessions across keys
	maxProcs int // upstream processes across keys

	mu       sync.Mutex
	sessions map[string]*session
	perKey   map[string]int // sessions per key, reserved ones included
	total    int            // sessions, reserved ones included
	procs    int            // upstream processes the sessions may run, reserved ones included
	closed   bool
	// byPrincipal maps a principal's identity (principalKey) to the id of
	// its stateless gateway in sessions.
	byPrincipal map[string]string
}

type ctxKey struct{}

// pending is what an authenticated request carries to getServer.
type pending struct {
	principal  *authn.Principal
	initialize bool            // a verified initialize whose session slot is reserved
	procs      int             // the upstream processes reserved with it
	keyHash    string          // authn.HashKey of the request's key, stored for the session in Redis
	params     json.RawMessage // the initialize's params, stored for the session in Redis
	presetID   string          // the id of a session being re-created (resume)
	once       sync.Once
	server     *mcp.Server
	id         string // the session the initialize made
}

// config returns the current config, re-read when the file changed, so
// that a disabled or rotated key is refused at its next request.
func (h *httpHandler) config() (*config.Config, error) {
	h.cfgMu.Lock()
	defer h.cfgMu.Unlock()
	st, err := os.Stat(h.path)
	if err == nil && !st.ModTime().Equal(h.cfgMod) {
		cfg, err := config.Load(h.path, h.loadOpts...)
		if err != nil {
			h.log.Error().Err(err).Msg("config changed but does not load; keeping the previous one")
		} else {
			h.cfg, h.cfgMod = cfg, st.ModTime()
			h.principals.Clear() // a key may have been disabled, rotated or moved
		}
	}
	return h.cfg, nil
}

func (h *httpHandler) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		closed := h.closed
		h.mu.Unlock()
		if cfg, _ := h.config(); cfg == nil || closed || h.draining.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", h.metrics.Handler())
	mux.Handle("/mcp", h.metrics.Count(http.HandlerFunc(h.serveMCP)))
	mux.Handle("/mcp/", h.metrics.Count(http.HandlerFunc(h.serveMCP)))
	return mux
}

// unauthorized answers 401 with a WWW-Authenticate challenge.
func unauthorized(w http.ResponseWriter, why string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="secure-mcp-gateway", error="invalid_token", error_description="`+why+`"`)
	http.Error(w, "Unauthorized: "+why, http.StatusUnauthorized)
}

func (h *httpHandler) serveMCP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		h.active.Add(1)
		defer h.active.Add(-1)
	}
	q := r.URL.Query()
	for _, k := range []string{"apikey", "api_key", "access_token", "token", "key"} {
		if q.Has(k) {
			http.Error(w, "Bad Request: credentials in the query string are refused; send the apikey or Authorization header", http.StatusBadRequest)
			return
		}
	}
	// No fallback to the process environment: a request without a key is
	// unauthenticated, whatever the gateway's own env holds.
	cred := authn.FromHeader(r.Header)
	if cred.Key.IsZero() {
		unauthorized(w, "missing gateway key (send the apikey header or Authorization: Bearer)")
		return
	}
	cfg, _ := h.config()
	principal, err := h.authenticate(cfg, cred)
	if err != nil {
		h.log.Info().Str("remote", r.RemoteAddr).Err(err).Msg("request refused")
		unauthorized(w, "gateway key refused")
		return
	}
	fp := principal.KeyFingerprint
	keyHash := authn.HashKey(cred.Key.Reveal())
	if !h.limits.Allow(r.Context(), limitKey(cred)) {
		w.Header().Set("Retry-After", strconv.Itoa(int(1/h.rate)+1))
		http.Error(w, "Too Many Requests", http.StatusTooManyRequests)
		return
	}
	var first jsonrpc.Message // the POST body's message, once strictly parsed
	if r.Method == http.MethodPost {
		var ok bool
		if first, ok = h.strictBody(w, r); !ok {
			return
		}
	}
	if statelessRequest(r, first) {
		h.serveStateless(w, r, principal, principalKey(keyHash, principal), keyHash)
		return
	}
	if id := r.Header.Get("Mcp-Session-Id"); id != "" {
		// A session another replica opened (it died, or the balancer moved
		// the client) is re-created here from the state stored in Redis, for the key
		// that opened it only.
		if !h.hasSession(id) {
			if st, ok := h.states.load(r.Context(), id); ok && sameKey(st.Key, keyHash) {
				if r.Method == http.MethodDelete {
					// Its client ends it here: it is never re-created.
					h.states.forget(id)
					w.WriteHeader(http.StatusNoContent)
					return
				}
				h.resume(r, id, &pending{principal: principal, keyHash: st.Key, params: st.Params}, st)
			}
		}
		h.mu.Lock()
		s, ok := h.sessions[id]
		if ok && s.stateless {
			ok = false // never a client's session
		}
		owner := ok && sameKey(s.keyHash, keyHash)
		if owner && r.Method != http.MethodGet {
			s.busy++
			s.used = time.Now()
		}
		h.mu.Unlock()
		if ok && !owner {
			// Another key presenting this session id gets no sign that it
			// exists.
			h.log.Warn().Str("remote", r.RemoteAddr).Str("key", fp).Msg("session presented by a key that did not create it")
			http.Error(w, "Not Found: session not found", http.StatusNotFound)
			return
		}
		if !ok {
			// Ended, evicted or never made: the client starts a new
			// session, as the spec says it must on 404.
			http.Error(w, "Not Found: session not found", http.StatusNotFound)
			return
		}
		if r.Method != http.MethodGet {
			defer func() {
				h.mu.Lock()
				s.busy--
				s.used = time.Now()
				h.mu.Unlock()
			}()
		}
		if req, isReq := first.(*jsonrpc.Request); isReq && req.IsCall() && req.Method == "tools/call" &&
			!h.states.claimCall(r.Context(), id, req.ID.Raw(), cfg.Common.Timeouts.ToolExecutionTimeout()) {
			h.log.Warn().Str("key", fp).Msg("a resent tool call refused: it reached a replica before and may have run")
			h.metrics.CallResent()
			resentCall(w, req.ID.Raw())
			return
		}
		if req, isReq := first.(*jsonrpc.Request); isReq && req.IsCall() {
			defer h.cancelIfAbandoned(r, id, req)
		}
	} else if r.Method == http.MethodPost {
		// Only initialize opens a session; anything else without a session
		// id (a draft-protocol server/discover probe, say) is refused here,
		// before a gateway with its upstream pool is made for it.
		req, ok := first.(*jsonrpc.Request)
		if !ok || req.Method != "initialize" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Bad Request: no Mcp-Session-Id; a session starts with initialize"}}`)
			return
		}
		h.initialize(w, r, &pending{principal: principal, keyHash: keyHash, params: req.Params})
		return
	} else {
		// A GET or DELETE needs the session it is about.
		http.Error(w, "Bad Request: Mcp-Session-Id required", http.StatusBadRequest)
		return
	}
	ctx := context.WithValue(r.Context(), ctxKey{}, &pending{principal: principal})
	h.streamable.ServeHTTP(w, r.WithContext(ctx))
}

// initialize serves r, an initialize request, opening a session for
// p.principal. The slot is reserved here, under the lock, so that
// concurrent initializes cannot overshoot the caps; at a cap the least
// recently used idle sessions make room, and with none a 429 is written.
// The slot is given back if the SDK refuses the request before a session
// exists.
func (h *httpHandler) initialize(w http.ResponseWriter, r *http.Request, p *pending) {
	procs := stdioServers(p.principal)
	h.mu.Lock()
	victims, refusal := h.reserve(p.keyHash, procs)
	h.mu.Unlock()
	h.evict(victims)
	if refusal != "" {
		w.Header().Set("Retry-After", "60")
		http.Error(w, "Too Many Requests: "+refusal, http.StatusTooManyRequests)
		return
	}
	p.initialize, p.procs = true, procs
	defer func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if p.server == nil {
			h.release(p.keyHash, procs)
			return
		}
		// The answer is written: the session is idle from now, before
		// the client can send its next request (a mark made later, off
		// this goroutine, could make it look more recently used than a
		// session the client touched since).
		if s := h.sessions[p.id]; s != nil {
			s.busy--
			s.used = time.Now()
		}
	}()
	h.streamable.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, p)))
}

// strictBody reads a POST body (up to the body cap) and holds it to the
// same strict parse as a stdio line (internal/wire): one JSON-RPC message,
// UTF-8, no duplicate keys, bounded depth, an id that comes back exactly
// as sent; a JSON-RPC batch is refused, as on stdio, so that every message
// is guarded and rate-limited alone. A refused body is answered 400 with a
// JSON-RPC error naming the cause (never quoting the body) and ok is false;
// otherwise r.Body is rewound for the SDK and the message is returned.
func (h *httpHandler) strictBody(w http.ResponseWriter, r *http.Request) (msg jsonrpc.Message, ok bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		http.Error(w, "Request Entity Too Large", http.StatusRequestEntityTooLarge)
		return nil, false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	m, code, why, id, _ := wire.Parse(bytes.TrimSpace(body), 0)
	if code != 0 {
		h.log.Warn().Str("remote", r.RemoteAddr).Int("bytes", len(body)).Str("reason", why).Msg("client message refused")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write(wire.ErrorReply(id, code, why))
		return nil, false
	}
	return m, true
}

// authenticate resolves cred against cfg, remembering successes (never
// failures) for enkrypt_gateway_cache_expiration, so that a request costs one
// hash, not a pass over every key of the config.
func (h *httpHandler) authenticate(cfg *config.Config, cred authn.Credentials) (*authn.Principal, error) {
	if at, ok := h.revoked.revoked(cred.Key.Reveal()); ok {
		return nil, fmt.Errorf("%w: key %s was revoked at %s through another copy of the config (the shared list in Redis)",
			authn.ErrDisabledKey, secret.Fingerprint(cred.Key.Reveal()), at)
	}
	sum := sha256.Sum256([]byte(cred.Key.Reveal() + "\x00" + cred.ProjectID + "\x00" + cred.UserID))
	k := string(sum[:])
	if p, ok := h.principals.Get(k); ok {
		return p, nil
	}
	p, err := authn.Authenticate(cfg, cred)
	if err == nil {
		h.principals.Set(k, p)
	}
	return p, err
}

// getServer is the SDK's hook: the existing session's server, or a new
// gateway for the request's principal (made once per request).
func (h *httpHandler) getServer(r *http.Request) *mcp.Server {
	if id := r.Header.Get("Mcp-Session-Id"); id != "" {
		h.mu.Lock()
		defer h.mu.Unlock()
		if s, ok := h.sessions[id]; ok {
			return s.server
		}
		return nil
	}
	p, ok := r.Context().Value(ctxKey{}).(*pending)
	if !ok || !p.initialize {
		return nil // only a verified initialize opens a session
	}
	p.once.Do(func() {
		id := p.presetID
		if id == "" {
			id = rand.Text()
			// Stored before the initialize is answered, so that the
			// client's next request may reach any replica.
			h.states.save(r.Context(), id, p.keyHash, p.params)
		}
		server, stop := h.start(p.principal, id, func() { h.endSession(id) })
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.closed {
			go stop()
			return
		}
		if _, taken := h.sessions[id]; taken {
			// A replay raced another that already re-created the
			// session: never replace a live session.
			go stop()
			return
		}
		now := time.Now()
		h.sessions[id] = &session{id: id, keyFP: p.principal.KeyFingerprint, keyHash: p.keyHash, server: server, stop: stop,
			created: now, used: now, procs: p.procs, busy: 1} // the initialize itself
		p.id = id // serveMCP marks it idle once the initialize's answer is written
		h.metrics.SessionOpened()
		p.server = server
	})
	return p.server
}

// endSession reaps a session's upstreams once its client session is over.
func (h *httpHandler) endSession(id string) {
	h.mu.Lock()
	s, ok := h.sessions[id]
	// Ended on purpose unless the replica is shutting down: its state goes,
	// and it is marked ended under the lock, before any request can
	// re-create it.
	purposeful := ok && !h.closed && !s.stateless
	if ok {
		h.forget(s)
		if purposeful {
			h.states.remember(id)
		}
		h.release(s.keyHash, s.procs)
		h.metrics.SessionClosed()
	}
	h.mu.Unlock()
	if purposeful {
		h.states.forget(id)
	}
	if ok {
		if s.ready != nil {
			<-s.ready
		}
		s.stop()
		h.log.Debug().Str("key", s.keyFP).Msg("session ended; upstreams reaped")
	}
}

// CheckFlags checks the listener options before anything is opened: TLSCert
// and TLSKey go together, and a non-loopback Listen needs TLS or
// InsecureListen. A refusal is an *OptionError. HTTP validates too; a
// caller validates first to refuse bad flags before it does anything else.
func (o *HTTPOptions) CheckFlags() error {
	listen := o.Listen
	if listen == "" {
		listen = DefaultListen
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return &OptionError{"tls-cert", errors.New("--tls-cert and --tls-key go together")}
	}
	if !isLoopback(listen) && o.TLSCert == "" && !o.InsecureListen {
		return &OptionError{"listen", fmt.Errorf("--listen %s is not a loopback address: pass --tls-cert and --tls-key, or --insecure-listen if a TLS proxy sits in front", listen)}
	}
	if o.DrainDelay < 0 || o.ShutdownGrace < 0 {
		return &OptionError{"drain-delay", errors.New("--drain-delay and --shutdown-grace cannot be negative")}
	}
	return nil
}

// isLoopback reports whether addr's host is a loopback address or
// "localhost".
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
