package upstream_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/oauth2"

	"secure-mcp-gateway/upstream"
)

// tokenSource hands out tok-1, tok-2… and counts fetches; Invalidate makes
// the next Token call return a new token.
type tokenSource struct {
	mu          sync.Mutex
	n           int
	cur         string
	invalidated int
	err         error
}

func (s *tokenSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	if s.cur == "" {
		s.n++
		s.cur = fmt.Sprintf("tok-%d", s.n)
	}
	return &oauth2.Token{AccessToken: s.cur, TokenType: "Bearer"}, nil
}

func (s *tokenSource) Invalidate(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invalidated++
	if s.cur == tok {
		s.cur = ""
	}
}

func (s *tokenSource) counts() (fetches, invalidated int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n, s.invalidated
}

// bearerServer is a go-sdk streamable server behind auth.RequireBearerToken
// that accepts the tokens in accept.
func bearerServer(t *testing.T, accept func(string) bool) *httptest.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "remote", Version: "v1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "hello"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "hi"}}}, nil, nil
	})
	verify := func(_ context.Context, tok string, _ *http.Request) (*auth.TokenInfo, error) {
		if !accept(tok) {
			return nil, auth.ErrInvalidToken
		}
		return &auth.TokenInfo{Expiration: time.Now().Add(time.Hour)}, nil
	}
	h := auth.RequireBearerToken(verify, nil)(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

func TestRemoteBearerToken(t *testing.T) {
	ts := bearerServer(t, func(tok string) bool { return tok == "tok-1" })
	src := &tokenSource{}
	p := newPool(t, []upstream.Spec{{Name: "remote", URL: ts.URL, TokenSource: src}}, nil)
	if got := textOf(call(t, session(t, p, "remote"), "hello", nil, nil)); got != "hi" {
		t.Errorf("hello = %q, want hi", got)
	}
	if f, inv := src.counts(); f != 1 || inv != 0 {
		t.Errorf("fetches=%d invalidations=%d, want 1 and 0", f, inv)
	}
}

// TestRemote401RefreshesOnce: the first token is refused; the pool gets a
// second one and retries once. A server refusing every token costs one
// refresh per request, never a loop.
func TestRemote401RefreshesOnce(t *testing.T) {
	t.Run("second token accepted", func(t *testing.T) {
		ts := bearerServer(t, func(tok string) bool { return tok != "tok-1" })
		src := &tokenSource{}
		p := newPool(t, []upstream.Spec{{Name: "remote", URL: ts.URL, TokenSource: src}}, nil)
		if got := textOf(call(t, session(t, p, "remote"), "hello", nil, nil)); got != "hi" {
			t.Errorf("hello = %q, want hi", got)
		}
		if f, inv := src.counts(); f != 2 || inv != 1 {
			t.Errorf("fetches=%d invalidations=%d, want 2 and 1", f, inv)
		}
	})
	t.Run("every token refused", func(t *testing.T) {
		var mu sync.Mutex
		requests := 0
		ts := bearerServer(t, func(string) bool { mu.Lock(); requests++; mu.Unlock(); return false })
		src := &tokenSource{}
		p := newPool(t, []upstream.Spec{{Name: "remote", URL: ts.URL, TokenSource: src}}, nil)
		_, err := p.Session(t.Context(), "remote")
		var ue *upstream.UnavailableError
		if !errors.As(err, &ue) {
			t.Fatalf("Session = %v, want *UnavailableError", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if f, inv := src.counts(); requests != 2 || f != 2 || inv != 1 {
			t.Errorf("requests=%d fetches=%d invalidations=%d, want 2, 2, 1", requests, f, inv)
		}
	})
}

func TestRemoteTokenFailureIsTheStartError(t *testing.T) {
	ts := bearerServer(t, func(string) bool { return true })
	src := &tokenSource{err: errors.New(`oauth token for server "remote" from http://auth/token: the token endpoint answered 500`)}
	p := newPool(t, []upstream.Spec{{Name: "remote", URL: ts.URL, TokenSource: src}}, nil)
	_, err := p.Session(t.Context(), "remote")
	if err == nil || !strings.Contains(err.Error(), "answered 500") || !strings.Contains(err.Error(), `"remote"`) {
		t.Fatalf("Session = %v, want the token error", err)
	}
}

// TestRemoteTokenStaysWithItsOrigin: a redirect to another host carries
// neither the token nor the configured headers.
func TestRemoteTokenStaysWithItsOrigin(t *testing.T) {
	var mu sync.Mutex
	var leaked []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		leaked = append(leaked, r.Header.Get("Authorization")+r.Header.Get("X-Key"))
		mu.Unlock()
		http.Error(w, "nope", http.StatusNotFound)
	}))
	t.Cleanup(other.Close)
	// 127.0.0.1 and localhost are different origins.
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	redir := httptest.NewServer(http.RedirectHandler(otherURL, http.StatusTemporaryRedirect))
	t.Cleanup(redir.Close)
	p := newPool(t, []upstream.Spec{{Name: "remote", URL: redir.URL, TokenSource: &tokenSource{}, Headers: map[string]string{"X-Key": "hdr-secret"}}}, nil)
	if _, err := p.Session(t.Context(), "remote"); err == nil {
		t.Fatal("Session succeeded against a redirect to a 404")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(leaked) == 0 {
		t.Fatal("the redirect was not followed; the test proves nothing")
	}
	for _, l := range leaked {
		if l != "" {
			t.Errorf("credentials sent to another origin: %q", l)
		}
	}
}

func TestRemoteSSEFallback(t *testing.T) {
	srv := mcp.NewServer(&mcp.Implementation{Name: "old", Version: "v1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "hello"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "hi from sse"}}}, nil, nil
	})
	sse := mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// An old server: GET opens the event stream, POST only with a session.
		if r.Method == http.MethodPost && r.URL.Query().Get("sessionid") == "" {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		sse.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	p := newPool(t, []upstream.Spec{{Name: "old", URL: ts.URL}}, nil)
	if got := textOf(call(t, session(t, p, "old"), "hello", nil, nil)); got != "hi from sse" {
		t.Errorf("hello = %q", got)
	}
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://mcp.example.com/mcp", true},
		{"http://127.0.0.1:8080/mcp", true},
		{"http://localhost:8080/mcp", true},
		{"http://[::1]:8080/mcp", true},
		{"http://mcp.example.com/mcp", false},
		{"https://169.254.169.254/latest/meta-data", false},
		{"https://[fe80::1]/", false},
		{"https://[fd00:ec2::254]/", false},
		{"https://100.100.100.200/", false},
		{"https://0.0.0.0/", false},
		{"ftp://mcp.example.com/", false},
		{"https:///nohost", false},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		err = upstream.CheckURL(u)
		if (err == nil) != tt.ok {
			t.Errorf("CheckURL(%s) = %v, want ok=%v", tt.url, err, tt.ok)
		}
		if err != nil && !errors.Is(err, upstream.ErrRefusedAddress) {
			t.Errorf("CheckURL(%s) error does not wrap ErrRefusedAddress", tt.url)
		}
	}
}

// TestDialerRefusesMetadata: the address check runs after resolution, so a
// name (or a redirect) cannot reach a link-local address.
func TestDialerRefusesMetadata(t *testing.T) {
	c := &http.Client{Transport: upstream.NewHTTPTransport(0), Timeout: 5 * time.Second}
	_, err := c.Get("https://169.254.169.254/latest/meta-data")
	if !errors.Is(err, upstream.ErrRefusedAddress) {
		t.Fatalf("GET metadata = %v, want ErrRefusedAddress", err)
	}
}

// stepUpSource is a tokenSource that records step-up requests.
type stepUpSource struct {
	tokenSource
	scopes []string
}

var errNeedLogin = errors.New("run the login command")

func (s *stepUpSource) StepUp(scopes []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scopes = append(s.scopes, scopes...)
	return errNeedLogin
}

// TestRemoteInsufficientScope: a 403 insufficient_scope challenge reaches
// a step-up source with the scopes asked for, and its error is the
// request's error; a plain 403 is left alone.
func TestRemoteInsufficientScope(t *testing.T) {
	for _, tt := range []struct {
		name   string
		header string
		stepUp bool
	}{
		{"insufficient_scope", `Bearer error="insufficient_scope", scope="mcp admin", resource_metadata="http://x/.well-known/oauth-protected-resource"`, true},
		{"other 403", `Bearer error="invalid_request"`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("WWW-Authenticate", tt.header)
				http.Error(w, "forbidden", http.StatusForbidden)
			}))
			t.Cleanup(ts.Close)
			src := &stepUpSource{}
			p := newPool(t, []upstream.Spec{{Name: "remote", URL: ts.URL, TokenSource: src}}, nil)
			_, err := p.Session(t.Context(), "remote")
			if err == nil {
				t.Fatal("Session succeeded against a 403")
			}
			src.mu.Lock()
			defer src.mu.Unlock()
			if got := errors.Is(err, errNeedLogin); got != tt.stepUp {
				t.Errorf("Session = %v; step-up error returned: %v, want %v", err, got, tt.stepUp)
			}
			if tt.stepUp && strings.Join(src.scopes, " ") != "mcp admin" {
				t.Errorf("step-up scopes = %v, want [mcp admin]", src.scopes)
			}
			if !tt.stepUp && len(src.scopes) != 0 {
				t.Errorf("a plain 403 asked for step-up: %v", src.scopes)
			}
		})
	}
}
