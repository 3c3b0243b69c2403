package oauthx

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
)

// The loopback redirect that ends a login in the browser.

// callback is the loopback redirect handler. It accepts exactly one
// request to the redirect path; its state must match, and its iss must
// match the issuer when the server sends one (RFC 9207).
type callback struct {
	state, issuer string
	issRequired   bool
	result        chan callbackResult
	mu            sync.Mutex
	used          bool
}

type callbackResult struct {
	code string
	err  error
}

func newCallback(state, issuer string, issRequired bool) *callback {
	return &callback{state: state, issuer: issuer, issRequired: issRequired, result: make(chan callbackResult, 1)}
}

// ServeHTTP implements http.Handler.
func (c *callback) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != redirectPath || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	c.mu.Lock()
	used := c.used
	c.used = true
	c.mu.Unlock()
	if used {
		http.Error(w, "This login link was already used.", http.StatusBadRequest)
		return
	}
	q := r.URL.Query()
	var res callbackResult
	switch {
	case subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(c.state)) != 1:
		res.err = errors.New("the redirect's state does not match the request (a forged or stale redirect); refused")
	case q.Get("error") != "":
		res.err = fmt.Errorf("the authorization server refused: %s", printable(q.Get("error"), 64))
	case q.Get("iss") != "" && strings.TrimSuffix(q.Get("iss"), "/") != strings.TrimSuffix(c.issuer, "/"):
		res.err = errors.New("the redirect's iss is not the authorization server's issuer (RFC 9207, a mix-up attack); refused")
	case q.Get("iss") == "" && c.issRequired:
		res.err = errors.New("the redirect lacks the iss the authorization server promised (RFC 9207); refused")
	case q.Get("code") == "":
		res.err = errors.New("the redirect carries no authorization code")
	default:
		res.code = q.Get("code")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if res.err != nil {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintln(w, "Login failed: "+res.err.Error())
	} else {
		fmt.Fprintln(w, "Login complete. You can close this tab and return to the terminal.")
	}
	c.result <- res
}

// printable keeps the first n printable ASCII characters of s.
func printable(s string, n int) string {
	var b bytes.Buffer
	for _, r := range s {
		if b.Len() >= n {
			break
		}
		if r >= 0x20 && r < 0x7f {
			b.WriteRune(r)
		}
	}
	return b.String()
}
