package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/rs/zerolog"
	"github.com/urfave/cli/v3"
	"golang.org/x/time/rate"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/cache"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/internal/wire"
	"secure-mcp-gateway/serve"
)

// Defaults of the HTTP mode's flags.
const (
	DefaultListen             = "127.0.0.1:8000"
	DefaultSessionIdleTimeout = 10 * time.Minute
	DefaultMaxSessionsPerKey  = 16
	DefaultMaxSessions        = 256
	DefaultMaxUpstreamProcs   = 1024
	DefaultRatePerKey         = 100.0 // requests per second
	DefaultBurstPerKey        = 200
	DefaultMaxBodyBytes       = 4 << 20
	DefaultShutdownGrace      = 10 * time.Second
	DefaultReadHeaderTimeout  = 10 * time.Second
)

// httpFlags are the root command's flags for --http mode.
func httpFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Category: httpCategory, Name: "http", Usage: "serve MCP over streamable HTTP (for hosting one gateway for many users) instead of stdio"},
		&cli.StringFlag{Category: httpCategory, Name: "listen", Value: DefaultListen, Usage: "HTTP mode: address to listen on; a non-loopback address needs --tls-cert/--tls-key or --insecure-listen"},
		&cli.StringFlag{Category: httpCategory, Name: "tls-cert", Usage: "HTTP mode: TLS certificate file"},
		&cli.StringFlag{Category: httpCategory, Name: "tls-key", Usage: "HTTP mode: TLS key file"},
		&cli.BoolFlag{Category: httpCategory, Name: "insecure-listen", Usage: "HTTP mode: allow plain HTTP on a non-loopback address"},
		&cli.StringSliceFlag{Category: httpCategory, Name: "allowed-origin", Usage: "HTTP mode: a browser Origin allowed besides the listener's own (repeatable)"},
		&cli.DurationFlag{Category: httpCategory, Name: "session-idle-timeout", Value: DefaultSessionIdleTimeout, Usage: "HTTP mode: close a session (and reap its upstreams) after this long without requests"},
		&cli.IntFlag{Category: httpCategory, Name: "max-sessions-per-key", Value: DefaultMaxSessionsPerKey, Usage: "HTTP mode: open sessions allowed per gateway key; at the cap a new session closes the key's least recently used idle one"},
		&cli.IntFlag{Category: httpCategory, Name: "max-sessions", Value: DefaultMaxSessions, Usage: "HTTP mode: open sessions allowed across all keys; at the cap a new session closes the least recently used idle one"},
		&cli.IntFlag{Category: httpCategory, Name: "max-upstream-processes", Value: DefaultMaxUpstreamProcs, Usage: "HTTP mode: upstream processes the open sessions may run across all keys (each session counts its stdio servers); at the cap a new session closes the least recently used idle ones"},
		&cli.FloatFlag{Category: httpCategory, Name: "rate-limit", Value: DefaultRatePerKey, Usage: "HTTP mode: requests per second allowed per gateway key (token bucket)"},
		&cli.IntFlag{Category: httpCategory, Name: "rate-burst", Value: DefaultBurstPerKey, Usage: "HTTP mode: token bucket size per gateway key"},
		&cli.Int64Flag{Category: httpCategory, Name: "max-body-bytes", Value: DefaultMaxBodyBytes, Usage: "HTTP mode: largest request body accepted"},
		&cli.DurationFlag{Category: httpCategory, Name: "shutdown-grace", Value: DefaultShutdownGrace, Usage: "HTTP mode: on SIGTERM, how long in-flight requests may finish"},
	}
}

// sessionStarter builds the gateway for one HTTP session of principal: its
// own upstream pool, guardrails and caches, exactly as stdio mode does.
// stop reaps its upstreams; the server's client session is id.
type sessionStarter func(principal *authn.Principal, id string, onClose func()) (server *mcp.Server, stop func())

// httpSession is one MCP session and the principal that created it.
type httpSession struct {
	id      string
	keyFP   string
	server  *mcp.Server
	stop    func()
	created time.Time
	procs   int       // upstream processes it may run: its stdio servers
	used    time.Time // when a request of it last began or ended
	busy    int       // its requests in flight (a GET stream does not count)
}

// httpGateway authenticates every request, binds each MCP session to the
// key that created it, caps sessions and request rates per key, and hands
// the rest to the SDK's streamable HTTP handler.
type httpGateway struct {
	path    string
	log     zerolog.Logger
	start   sessionStarter
	maxPer  int
	maxBody int64
	active  atomic.Int64 // POST requests in flight, which a shutdown drains
	rate    rate.Limit
	burst   int
	metrics *serve.Metrics

	cfgMu   sync.Mutex
	cfg     *config.Config
	cfgMod  time.Time
	handler http.Handler

	principals *cache.Memo[*authn.Principal] // resolved keys

	maxTotal int // sessions across keys
	maxProcs int // upstream processes across keys

	mu       sync.Mutex
	sessions map[string]*httpSession
	perKey   map[string]int // sessions per key, reserved ones included
	total    int            // sessions, reserved ones included
	procs    int            // upstream processes the sessions may run, reserved ones included
	limiters map[string]*rate.Limiter
	closed   bool
}

type ctxKey struct{}

// pending is what an authenticated request carries to getServer.
type pending struct {
	principal  *authn.Principal
	initialize bool // a verified initialize whose session slot is reserved
	procs      int  // the upstream processes reserved with it
	once       sync.Once
	server     *mcp.Server
}

// config returns the current config, re-read when the file changed, so
// that a disabled or rotated key is refused at its next request.
func (h *httpGateway) config() (*config.Config, error) {
	h.cfgMu.Lock()
	defer h.cfgMu.Unlock()
	st, err := os.Stat(h.path)
	if err == nil && !st.ModTime().Equal(h.cfgMod) {
		cfg, err := config.Load(h.path, checkDetectors)
		if err != nil {
			h.log.Error().Err(err).Msg("config changed but does not load; keeping the previous one")
		} else {
			h.cfg, h.cfgMod = cfg, st.ModTime()
			h.principals.Clear() // a key may have been disabled, rotated or moved
		}
	}
	return h.cfg, nil
}

func (h *httpGateway) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		closed := h.closed
		h.mu.Unlock()
		if cfg, _ := h.config(); cfg == nil || closed {
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

func (h *httpGateway) serveMCP(w http.ResponseWriter, r *http.Request) {
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
	if !h.limiter(fp).Allow() {
		w.Header().Set("Retry-After", strconv.Itoa(int(1/float64(h.rate))+1))
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
	if id := r.Header.Get("Mcp-Session-Id"); id != "" {
		h.mu.Lock()
		s, ok := h.sessions[id]
		if ok && s.keyFP == fp && r.Method != http.MethodGet {
			s.busy++
			s.used = time.Now()
		}
		h.mu.Unlock()
		if ok && s.keyFP != fp {
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
	} else if r.Method == http.MethodPost {
		// Only initialize opens a session; anything else without a session
		// id (a draft-protocol server/discover probe, say) is refused here,
		// before a gateway with its upstream pool is made for it.
		if req, ok := first.(*jsonrpc.Request); !ok || req.Method != "initialize" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Bad Request: no Mcp-Session-Id; a session starts with initialize"}}`)
			return
		}
		// The slot is reserved here, under the lock, so that concurrent
		// initializes cannot overshoot the caps; at a cap the least
		// recently used idle sessions make room. The slot is given back if
		// the SDK refuses the request before a session exists.
		procs := stdioServers(principal)
		h.mu.Lock()
		victims, refusal := h.reserve(fp, procs)
		h.mu.Unlock()
		h.evict(victims)
		if refusal != "" {
			w.Header().Set("Retry-After", "60")
			http.Error(w, "Too Many Requests: "+refusal, http.StatusTooManyRequests)
			return
		}
		p := &pending{principal: principal, initialize: true, procs: procs}
		defer func() {
			if p.server == nil {
				h.mu.Lock()
				h.release(fp, procs)
				h.mu.Unlock()
			}
		}()
		h.handler.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, p)))
		return
	} else {
		// A GET or DELETE needs the session it is about.
		http.Error(w, "Bad Request: Mcp-Session-Id required", http.StatusBadRequest)
		return
	}
	ctx := context.WithValue(r.Context(), ctxKey{}, &pending{principal: principal})
	h.handler.ServeHTTP(w, r.WithContext(ctx))
}

// strictBody reads a POST body (up to the body cap) and holds it to the
// same strict parse as a stdio line (internal/wire): one JSON-RPC message,
// UTF-8, no duplicate keys, bounded depth, an id that comes back exactly
// as sent; a JSON-RPC batch is refused, as on stdio, so that every message
// is guarded and rate-limited alone. A refused body is answered 400 with a
// JSON-RPC error naming the cause (never quoting the body) and ok is false;
// otherwise r.Body is rewound for the SDK and the message is returned.
func (h *httpGateway) strictBody(w http.ResponseWriter, r *http.Request) (msg jsonrpc.Message, ok bool) {
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

// release gives back one of fp's session slots and its procs upstream
// process slots; h.mu must be held.
func (h *httpGateway) release(fp string, procs int) {
	h.perKey[fp]--
	if h.perKey[fp] <= 0 {
		delete(h.perKey, fp)
	}
	h.total--
	h.procs -= procs
	h.metrics.SetProcessSlots(h.procs)
}

// stdioServers is how many upstream processes a session of p may run.
func stdioServers(p *authn.Principal) int {
	n := 0
	if p != nil && p.MCPConfig != nil {
		for _, s := range p.MCPConfig.Servers {
			if s.Config.Command != "" {
				n++
			}
		}
	}
	return n
}

// eviction is an idle session closed to make room, and the cap that made
// it go.
type eviction struct {
	s      *httpSession
	reason string // per_key, sessions or upstream_processes
}

// reserve takes a session slot of key fp and procs upstream process slots.
// At a cap (per key, sessions, upstream processes), the least recently used
// sessions with no request in flight (of that key, for the per-key cap) are
// taken out of the books to make room, and returned for evict; when they
// cannot make room, nothing changes and refusal says why. h.mu is held.
func (h *httpGateway) reserve(fp string, procs int) (victims []eviction, refusal string) {
	if h.maxProcs > 0 && procs > h.maxProcs {
		return nil, fmt.Sprintf("a session of this key runs %d upstream processes, more than the gateway's --max-upstream-processes %d", procs, h.maxProcs)
	}
	var idle []*httpSession
	for _, s := range h.sessions {
		if s.busy == 0 {
			idle = append(idle, s)
		}
	}
	slices.SortFunc(idle, func(a, b *httpSession) int { return a.used.Compare(b.used) })
	chosen := map[*httpSession]bool{}
	pick := func(ok func(*httpSession) bool, reason string) bool {
		for _, s := range idle {
			if !chosen[s] && ok(s) {
				chosen[s] = true
				victims = append(victims, eviction{s, reason})
				return true
			}
		}
		return false
	}
	keyN, total, used := h.perKey[fp], h.total, h.procs
	if h.maxPer > 0 && keyN >= h.maxPer {
		if !pick(func(s *httpSession) bool { return s.keyFP == fp }, "per_key") {
			return nil, fmt.Sprintf("this key already has %d open sessions, each with a request in flight", keyN)
		}
		total, used = total-1, used-victims[len(victims)-1].s.procs
	}
	for h.maxTotal > 0 && total >= h.maxTotal {
		if !pick(func(*httpSession) bool { return true }, "sessions") {
			return nil, fmt.Sprintf("the gateway already has %d open sessions, each with a request in flight", total)
		}
		total, used = total-1, used-victims[len(victims)-1].s.procs
	}
	for h.maxProcs > 0 && used+procs > h.maxProcs {
		if !pick(func(s *httpSession) bool { return s.procs > 0 }, "upstream_processes") {
			return nil, fmt.Sprintf("the open sessions may already run %d upstream processes of the gateway's %d, and every other session has a request in flight", used, h.maxProcs)
		}
		used -= victims[len(victims)-1].s.procs
	}
	for _, v := range victims {
		delete(h.sessions, v.s.id)
		h.release(v.s.keyFP, v.s.procs)
		h.metrics.SessionClosed()
	}
	h.perKey[fp]++
	h.total++
	h.procs += procs
	h.metrics.SetProcessSlots(h.procs)
	return victims, ""
}

// evict closes sessions reserve took out of the books: their client
// sessions end (so their next request gets 404 and they initialize again)
// and their upstreams are reaped in the background.
func (h *httpGateway) evict(victims []eviction) {
	for _, v := range victims {
		h.metrics.Evicted(v.reason)
		h.log.Info().Str("key", v.s.keyFP).Str("reason", v.reason).Dur("idle", time.Since(v.s.used)).
			Msg("idle session evicted to make room for a new one")
		for ss := range v.s.server.Sessions() {
			_ = ss.Close()
		}
		go v.s.stop()
	}
}

// authenticate resolves cred against cfg, remembering successes (never
// failures) for enkrypt_gateway_cache_expiration, so that a request costs one
// hash, not a pass over every key of the config.
func (h *httpGateway) authenticate(cfg *config.Config, cred authn.Credentials) (*authn.Principal, error) {
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
func (h *httpGateway) getServer(r *http.Request) *mcp.Server {
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
		id := rand.Text()
		server, stop := h.start(p.principal, id, func() { h.endSession(id) })
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.closed {
			go stop()
			return
		}
		now := time.Now()
		h.sessions[id] = &httpSession{id: id, keyFP: p.principal.KeyFingerprint, server: server, stop: stop,
			created: now, used: now, procs: p.procs, busy: 1} // the initialize itself
		go func() {
			// The initialize's request ends after its answer is written.
			<-r.Context().Done()
			h.mu.Lock()
			if s := h.sessions[id]; s != nil {
				s.busy--
				s.used = time.Now()
			}
			h.mu.Unlock()
		}()
		h.metrics.SessionOpened()
		p.server = server
	})
	return p.server
}

// endSession reaps a session's upstreams once its client session is over.
func (h *httpGateway) endSession(id string) {
	h.mu.Lock()
	s, ok := h.sessions[id]
	if ok {
		delete(h.sessions, id)
		h.release(s.keyFP, s.procs)
		h.metrics.SessionClosed()
	}
	h.mu.Unlock()
	if ok {
		s.stop()
		h.log.Debug().Str("key", s.keyFP).Msg("session ended; upstreams reaped")
	}
}

// sweep ends sessions whose client never completed initialization (the
// SDK closes them on idle timeout without the gateway hearing of it).
func (h *httpGateway) sweep(idle time.Duration) {
	h.mu.Lock()
	var stale []string
	for id, s := range h.sessions {
		live := false
		for range s.server.Sessions() {
			live = true
		}
		if !live && time.Since(s.created) > idle {
			stale = append(stale, id)
		}
	}
	h.mu.Unlock()
	for _, id := range stale {
		h.endSession(id)
	}
}

func (h *httpGateway) limiter(fp string) *rate.Limiter {
	h.mu.Lock()
	defer h.mu.Unlock()
	l, ok := h.limiters[fp]
	if !ok {
		l = rate.NewLimiter(h.rate, h.burst)
		h.limiters[fp] = l
	}
	return l
}

// closeAll reaps every session's upstreams; new sessions are refused.
func (h *httpGateway) closeAll() {
	h.mu.Lock()
	h.closed = true
	ids := make([]string, 0, len(h.sessions))
	for id := range h.sessions {
		ids = append(ids, id)
	}
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() { h.endSession(id) })
	}
	wg.Wait()
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

// serveHTTP is --http mode: one gateway process for many users, each MCP
// session with its own principal and upstreams.
func serveHTTP(ctx context.Context, cmd *cli.Command, path string) error {
	cfg, err := config.Load(path, checkDetectors)
	if err != nil {
		return &exitError{exitConfig, err}
	}
	if err := strictUnknownKeys(cmd, cfg, path); err != nil {
		return err
	}
	st, _ := os.Stat(path)
	redactor := secretsOf(cfg, authn.Credentials{})
	log, closeLog, err := newLogger(cmd, cfg.Common.LogLevel, redactor)
	if err != nil {
		return &exitError{exitUsage, err}
	}
	defer closeLog.Close()

	root := cmd.Root()
	listen := root.String("listen")
	tlsCert, tlsKey := root.String("tls-cert"), root.String("tls-key")
	if (tlsCert == "") != (tlsKey == "") {
		return &exitError{exitUsage, errors.New("--tls-cert and --tls-key go together")}
	}
	if !isLoopback(listen) && tlsCert == "" && !root.Bool("insecure-listen") {
		return &exitError{exitUsage, fmt.Errorf("--listen %s is not a loopback address: pass --tls-cert and --tls-key, or --insecure-listen if a TLS proxy sits in front", listen)}
	}
	metrics := serve.NewMetrics()
	h := &httpGateway{
		path: path, log: log, cfg: cfg, maxPer: int(root.Int("max-sessions-per-key")), maxBody: root.Int64("max-body-bytes"),
		maxTotal: int(root.Int("max-sessions")), maxProcs: int(root.Int("max-upstream-processes")),
		rate: rate.Limit(root.Float("rate-limit")), burst: int(root.Int("rate-burst")), metrics: metrics,
		sessions: map[string]*httpSession{}, perKey: map[string]int{}, limiters: map[string]*rate.Limiter{},
	}
	if st != nil {
		h.cfgMod = st.ModTime()
	}
	ttl := time.Duration(cfg.Common.GatewayCacheExpiration * float64(time.Hour))
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	if h.principals, err = cache.NewMemo[*authn.Principal](ttl, 0); err != nil {
		return err
	}
	defer h.principals.Close()
	deps, closeDeps, err := newSessionDeps(cfg, path, log, redactor)
	if err != nil {
		return err
	}
	defer closeDeps()
	deps.observers = append(deps.observers, metrics)
	deps.relist = relistInterval(cmd)
	h.start = func(p *authn.Principal, id string, onClose func()) (*mcp.Server, func()) {
		gw, pool := deps.newSession(p, id, onClose)
		return gw.Server(), func() { pool.Close() }
	}
	cop := http.NewCrossOriginProtection()
	for _, o := range root.StringSlice("allowed-origin") {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return &exitError{exitUsage, fmt.Errorf("--allowed-origin %q: %w", o, err)}
		}
	}
	idle := root.Duration("session-idle-timeout")
	h.handler = cop.Handler(mcp.NewStreamableHTTPHandler(h.getServer, &mcp.StreamableHTTPOptions{
		SessionTimeout:      idle,
		MaxRequestBodyBytes: root.Int64("max-body-bytes"),
	}))

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return &exitError{exitUsage, fmt.Errorf("listen on %s: %w", listen, err)}
	}
	srv := &http.Server{Handler: h.routes(), ReadHeaderTimeout: DefaultReadHeaderTimeout, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() {
		if tlsCert != "" {
			errc <- srv.ServeTLS(ln, tlsCert, tlsKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	scheme := "http"
	if tlsCert != "" {
		scheme = "https"
	}
	log.Info().Str("addr", ln.Addr().String()).Str("endpoint", scheme+"://"+ln.Addr().String()+"/mcp").Msg("listening")
	sweep := time.NewTicker(max(idle/2, time.Second))
	defer sweep.Stop()
	for {
		select {
		case err := <-errc:
			h.closeAll()
			return fmt.Errorf("http server: %w", err)
		case <-sweep.C:
			h.sweep(idle)
			continue
		case <-ctx.Done():
		}
		break
	}
	log.Info().Msg("stopping: no new connections; draining in-flight requests")
	// Shutdown stops accepting at once; it would also wait for every
	// connection to go idle, which a client's standalone SSE stream never
	// does, so the drain waits for in-flight POSTs (the calls) instead, up
	// to the grace period, and then closes what is left.
	grace := root.Duration("shutdown-grace")
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
