// Package api is the REST admin API: a thin HTTP adapter over package admin,
// the same operations the CLI runs, with an OpenAPI 3.1 document generated
// from the Go types (huma). Every route under /api/v1 needs the admin key as
// a bearer token; /health, the OpenAPI document and the docs are open.
package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"golang.org/x/time/rate"

	"secure-mcp-gateway/admin"
	"secure-mcp-gateway/internal/secret"
)

// Defaults of Options.
const (
	DefaultListen       = "127.0.0.1:8001"
	DefaultMaxBodyBytes = 1 << 20
	DefaultRate         = 20.0
	DefaultBurst        = 40
	maxClients          = 10000
	hashPrefix          = "sha256:"
)

// Options configure the API handler.
type Options struct {
	// Store runs every operation. The cache, OAuth token and health probe
	// routes need a Store opened with admin.OpenWith and the gateway's
	// runtime; without it they answer 501.
	Store *admin.Store
	// Version is the gateway's version, shown in the OpenAPI document.
	Version string
	// MaxBodyBytes caps a request body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Rate and Burst are each client's (remote IP's) token bucket; 0 means
	// DefaultRate and DefaultBurst.
	Rate  float64
	Burst int
	// OnChange, when set, is told of every write request (POST, PUT,
	// DELETE under /api/v1) after it ran, for the audit log.
	OnChange func(Change)
	// AllowedOrigins are the browser origins (scheme://host[:port]) that
	// get CORS answers and may send cross-origin writes. Empty: no CORS
	// headers at all, and cross-origin browser writes are refused.
	AllowedOrigins []string
}

// Change is one write request: who sent it, what it named, how it ended,
// and the SHA-256 of the config file before and after it. It holds no
// secret: the actor is the admin key's fingerprint, and a gateway key in
// the path is replaced by its fingerprint.
type Change struct {
	Actor        string
	Method       string
	Target       string
	Status       int
	BeforeSHA256 string
	AfterSHA256  string
	Correlation  string
}

// New returns the API's handler. An allowed origin that is not of the
// form scheme://host[:port] is an *OriginError.
func New(o Options) (http.Handler, error) {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Rate <= 0 {
		o.Rate = DefaultRate
	}
	if o.Burst <= 0 {
		o.Burst = DefaultBurst
	}
	orig, err := newOrigins(o.AllowedOrigins)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	h := &handlers{st: o.Store, maxBody: o.MaxBodyBytes}
	a := humago.New(mux, apiConfig(o.Version))
	h.register(a)
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, Envelope[map[string]string]{Status: "success", Message: "ok",
			Data: map[string]string{"status": "healthy"}, Timestamp: now(), CorrelationID: correlationID(r.Context())})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, newError(r.Context(), http.StatusNotFound,
			"no route "+r.Method+" "+r.URL.Path+"; the routes are listed in /openapi.json"))
	})
	g := &gate{store: o.Store, limiters: map[string]*rate.Limiter{}, rate: rate.Limit(o.Rate), burst: o.Burst,
		maxBody: o.MaxBodyBytes, onChange: o.OnChange, origins: orig}
	return g.wrap(mux), nil
}

// Spec returns the OpenAPI document of the API, for tools and tests.
func Spec(version string) *huma.OpenAPI {
	a := humago.New(http.NewServeMux(), apiConfig(version))
	(&handlers{}).register(a)
	return a.OpenAPI()
}

func init() {
	// huma's own errors (bad bodies, bad parameters) take the API's shape.
	huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
		return humaError(context.Background(), status, msg, errs...)
	}
	huma.NewErrorWithContext = func(hc huma.Context, status int, msg string, errs ...error) huma.StatusError {
		return humaError(hc.Context(), status, msg, errs...)
	}
}

func apiConfig(version string) huma.Config {
	if version == "" {
		version = "dev"
	}
	cfg := huma.DefaultConfig("secure-mcp-gateway admin API", version)
	cfg.CreateHooks = nil // no $schema links in bodies: the envelope is the Python gateway's
	cfg.Info.Description = "Manage MCP configs, servers, projects, users and gateway keys. " +
		"Every /api/v1 route needs `Authorization: Bearer <admin key>` (see `secure-mcp-gateway system rotate-admin-key`)."
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", Description: "the admin key (admin_apikey)"},
	}
	cfg.Security = []map[string][]string{{"bearer": {}}}
	return cfg
}

// gate runs before every route: correlation ID, body limit, per-client
// rate limit, and the admin key for /api/v1.
type gate struct {
	store    *admin.Store
	maxBody  int64
	rate     rate.Limit
	burst    int
	mu       sync.Mutex
	limiters map[string]*rate.Limiter
	onChange func(Change)
	origins  *origins
}

type ctxKey struct{}

// correlationID is the request's correlation ID.
func correlationID(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

func newCorrelationID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (g *gate) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Correlation-ID")
		if id == "" || len(id) > 128 || strings.ContainsFunc(id, func(c rune) bool { return c < 0x21 || c > 0x7e }) {
			id = newCorrelationID()
		}
		ctx := context.WithValue(r.Context(), ctxKey{}, id)
		r = r.WithContext(ctx)
		w.Header().Set("X-Correlation-ID", id)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		answered, refused := g.origins.handle(w, r)
		if answered {
			return
		}
		if refused {
			writeJSON(w, http.StatusForbidden, newError(ctx, http.StatusForbidden,
				"origin "+strconv.Quote(r.Header.Get("Origin"))+" is not allowed; start the API with --allowed-origin for it"))
			return
		}
		if err := g.origins.check(r); err != nil {
			writeJSON(w, http.StatusForbidden, newError(ctx, http.StatusForbidden,
				"cross-origin request refused ("+err.Error()+"); start the API with --allowed-origin for the page's origin"))
			return
		}
		if !g.allow(clientOf(r)) {
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusTooManyRequests, newError(ctx, http.StatusTooManyRequests,
				fmt.Sprintf("too many requests from this client (limit %g/s, burst %d); retry after a second", float64(g.rate), g.burst)))
			return
		}
		if r.ContentLength > g.maxBody {
			writeJSON(w, http.StatusRequestEntityTooLarge, newError(ctx, http.StatusRequestEntityTooLarge,
				"request body of "+strconv.FormatInt(r.ContentLength, 10)+" bytes is over the limit of "+strconv.FormatInt(g.maxBody, 10)))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, g.maxBody)
		if strings.HasPrefix(r.URL.Path, "/api/") {
			if err := g.authorize(ctx, r); err != nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="secure-mcp-gateway admin API"`)
				writeJSON(w, err.GetStatus(), err)
				return
			}
			if g.onChange != nil && r.Method != http.MethodGet && r.Method != http.MethodHead {
				g.recordChange(w, r, next)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// authorize checks the bearer token against the config's admin_apikey,
// read on every request so that a rotated key takes effect at once. The
// SHA-256 of the token and of the stored key are compared in constant
// time; admin_apikey may be stored hashed ("sha256:<hex>") or, as the
// Python gateway wrote it, in plain text.
func (g *gate) authorize(ctx context.Context, r *http.Request) *Error {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return newError(ctx, http.StatusUnauthorized, "missing admin key: send the header \"Authorization: Bearer <admin key>\"")
	}
	c, err := g.store.Load(ctx)
	if err != nil {
		return newError(ctx, http.StatusInternalServerError, "cannot read the config to check the admin key: "+err.Error())
	}
	want, ok := storedDigest(c.AdminAPIKey)
	if !ok {
		return newError(ctx, http.StatusUnauthorized, "the config has no usable admin_apikey; create one with \"secure-mcp-gateway system rotate-admin-key\"")
	}
	got := sha256.Sum256([]byte(tok))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return newError(ctx, http.StatusUnauthorized, "wrong admin key: use the key \"system rotate-admin-key\" printed")
	}
	return nil
}

// recordChange serves a write request and tells onChange about it.
func (g *gate) recordChange(w http.ResponseWriter, r *http.Request, next http.Handler) {
	before := fileSHA256(g.store.Path())
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	next.ServeHTTP(sw, r)
	_, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	g.onChange(Change{
		Actor:        "admin key fp:" + secret.Fingerprint(strings.TrimSpace(tok)) + " from " + clientOf(r),
		Method:       r.Method,
		Target:       shownPath(r.URL.Path),
		Status:       sw.status,
		BeforeSHA256: before,
		AfterSHA256:  fileSHA256(g.store.Path()),
		Correlation:  correlationID(r.Context()),
	})
}

// shownPath is a request path safe to record: a gateway key given in an
// /api-keys path becomes its fingerprint.
func shownPath(p string) string {
	const keys = v1 + "/api-keys/"
	rest, ok := strings.CutPrefix(p, keys)
	if !ok || rest == "rotate" {
		return p
	}
	key, tail, _ := strings.Cut(rest, "/")
	if tail != "" {
		tail = "/" + tail
	}
	if l := strings.ToLower(key); !strings.HasPrefix(l, "fp:") && !strings.HasPrefix(l, hashPrefix) {
		key = "fp:" + secret.Fingerprint(key) // the key itself: record its fingerprint only
	}
	return keys + key + tail
}

func fileSHA256(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// storedDigest is the SHA-256 an admin_apikey entry stands for.
func storedDigest(entry string) ([sha256.Size]byte, bool) {
	var d [sha256.Size]byte
	if entry == "" {
		return d, false
	}
	if h, found := strings.CutPrefix(entry, hashPrefix); found {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != sha256.Size {
			return d, false
		}
		copy(d[:], b)
		return d, true
	}
	return sha256.Sum256([]byte(entry)), true
}

// clientOf is the client a rate limit applies to: the remote IP.
func clientOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (g *gate) allow(client string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	l := g.limiters[client]
	if l == nil {
		if len(g.limiters) >= maxClients { // forget idle clients rather than grow without bound
			for k, v := range g.limiters {
				if v.TokensAt(time.Now()) >= float64(g.burst) {
					delete(g.limiters, k)
				}
			}
		}
		l = rate.NewLimiter(g.rate, g.burst)
		g.limiters[client] = l
	}
	return l.Allow()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
