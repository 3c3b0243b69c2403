package api

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// CORS answers of the API, for the allowed origins only.
var (
	corsMethods = strings.Join([]string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete}, ", ")
	corsHeaders = "Authorization, Content-Type, X-Correlation-ID"
	corsExpose  = "X-Correlation-ID, Retry-After, WWW-Authenticate"
)

// corsMaxAge is how long a browser may reuse a preflight answer, in seconds.
const corsMaxAge = 600

// OriginError is an allowed origin the API refuses: not of the form
// scheme://host[:port].
type OriginError struct {
	Origin string
	Err    error
}

func (e *OriginError) Error() string {
	return "allowed origin " + strconv.Quote(e.Origin) + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *OriginError) Unwrap() error { return e.Err }

// origins is the browser policy of the API. Cross-origin browser writes
// are refused by net/http's CrossOriginProtection, which trusts exactly
// the allowed origins, as serve's --http does; those origins also get CORS
// answers (preflight included), and no other origin does.
type origins struct {
	allowed []string
	cop     *http.CrossOriginProtection
}

// CheckOrigins refuses an allowed origin that is not of the form
// scheme://host[:port] (an *OriginError), as New would.
func CheckOrigins(allowed []string) error {
	_, err := newOrigins(allowed)
	return err
}

func newOrigins(allowed []string) (*origins, error) {
	o := &origins{allowed: slices.Clone(allowed), cop: http.NewCrossOriginProtection()}
	for _, a := range allowed {
		if err := o.cop.AddTrustedOrigin(a); err != nil {
			return nil, &OriginError{Origin: a, Err: err}
		}
	}
	return o, nil
}

// handle sets the CORS headers for an allowed origin and answers its
// preflight requests; it reports whether it answered. A preflight from
// any other origin is refused.
func (o *origins) handle(w http.ResponseWriter, r *http.Request) (answered bool, refused bool) {
	origin := r.Header.Get("Origin")
	preflight := r.Method == http.MethodOptions && origin != "" && r.Header.Get("Access-Control-Request-Method") != ""
	if len(o.allowed) > 0 {
		w.Header().Add("Vary", "Origin")
	}
	if origin == "" || !slices.Contains(o.allowed, origin) {
		return false, preflight
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", corsExpose)
	if !preflight {
		return false, false
	}
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	h.Set("Access-Control-Allow-Methods", corsMethods)
	h.Set("Access-Control-Allow-Headers", corsHeaders)
	h.Set("Access-Control-Max-Age", strconv.Itoa(corsMaxAge))
	w.WriteHeader(http.StatusNoContent)
	return true, false
}

// check refuses a cross-origin browser request from an origin not allowed
// (CrossOriginProtection: unsafe methods only).
func (o *origins) check(r *http.Request) error { return o.cop.Check(r) }
