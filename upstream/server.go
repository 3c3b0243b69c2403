package upstream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/rs/zerolog"
)

// logTailBytes is how much of the stderr tail a failure log line carries.
const logTailBytes = 2 << 10

// server is one upstream server of a pool and the state of its current
// process.
type server struct {
	pool *Pool
	spec Spec
	log  zerolog.Logger
	ring *ring // stderr tail, kept across restarts

	mu       sync.Mutex
	cs       *mcp.ClientSession // nil unless running
	proc     *proc              // process of cs; nil for HTTP
	upSince  time.Time
	start    *startCall      // in progress, or nil
	lastErr  error           // cause of the last failure, redacted
	failures int             // consecutive failures, for the backoff
	retryAt  time.Time       // no start before this
	starts   int             // number of starts attempted, for tests
	httpT    *http.Transport // a remote server's, created on first use
}

// startCall is one start shared by every Session caller waiting for it.
type startCall struct {
	done chan struct{}
	cs   *mcp.ClientSession // set before done is closed
	err  error              // set before done is closed
}

func newServer(p *Pool, spec Spec) *server {
	return &server{
		pool: p,
		spec: spec,
		log:  p.log.With().Str("server", spec.Name).Logger(),
		ring: newRing(p.opts.StderrBytes),
	}
}

func (s *server) unavailable(err error) error {
	return &UnavailableError{Server: s.spec.Name, Err: err}
}

// session returns the running session or joins (or begins) a start.
func (s *server) session(ctx context.Context) (*mcp.ClientSession, error) {
	s.mu.Lock()
	if s.pool.closed.Load() {
		s.mu.Unlock()
		return nil, fmt.Errorf("session %q: %w", s.spec.Name, ErrClosed)
	}
	if cs := s.cs; cs != nil {
		s.mu.Unlock()
		return cs, nil
	}
	call := s.start
	if call == nil {
		if s.lastErr != nil && s.pool.now().Before(s.retryAt) {
			err := s.unavailable(s.lastErr)
			s.mu.Unlock()
			return nil, err
		}
		call = &startCall{done: make(chan struct{})}
		if !s.pool.track(func() { s.run(call) }) {
			s.mu.Unlock()
			return nil, fmt.Errorf("session %q: %w", s.spec.Name, ErrClosed)
		}
		s.start = call
		s.starts++
	}
	s.mu.Unlock()

	select {
	case <-call.done:
		return call.cs, call.err
	case <-ctx.Done():
		return nil, s.unavailable(ctx.Err())
	}
}

// run starts the server, publishes the outcome to call, and then, if the
// server came up, waits for its session to end and handles a crash.
func (s *server) run(call *startCall) {
	began := time.Now()
	cs, pr, err := s.connect()

	s.mu.Lock()
	s.start = nil
	closed := s.pool.closed.Load()
	if err == nil && !closed {
		s.cs, s.proc, s.upSince = cs, pr, s.pool.now()
		s.lastErr, call.cs = nil, cs
		s.mu.Unlock()
		close(call.done)
		ev := s.log.Info().Dur("took", time.Since(began))
		if pr != nil {
			ev = ev.Int("pid", pr.pid())
		}
		if res := cs.InitializeResult(); res != nil {
			ev = ev.Str("protocol", res.ProtocolVersion)
			if res.ServerInfo != nil {
				ev = ev.Str("upstream_name", res.ServerInfo.Name).Str("upstream_version", res.ServerInfo.Version)
			}
		}
		ev.Msg("upstream started")
		s.serve(cs, pr)
		return
	}
	if closed {
		call.err = fmt.Errorf("session %q: %w", s.spec.Name, ErrClosed)
	} else {
		err = s.pool.redactErr(err)
		s.fail(err)
		call.err = s.unavailable(err)
	}
	s.mu.Unlock()
	close(call.done)
	if closed {
		if cs != nil { // came up just as the pool closed
			_ = cs.Close()
			pr.teardown()
		}
		return
	}
	s.log.Warn().Err(err).Str("stderr_tail", s.ring.Tail(logTailBytes)).Msg("upstream failed to start")
}

// fail records a failure and schedules the next start. s.mu is held.
func (s *server) fail(err error) {
	s.lastErr = err
	s.failures++
	s.retryAt = s.pool.now().Add(s.pool.backoff(s.failures))
}

// serve waits for cs to end. If it ends while still the server's session,
// the server crashed (or the remote hung up): it is torn down and marked
// for a restart after backoff.
func (s *server) serve(cs *mcp.ClientSession, pr *proc) {
	waitErr := cs.Wait()

	s.mu.Lock()
	if s.cs != cs { // closed on purpose
		s.mu.Unlock()
		return
	}
	s.cs, s.proc = nil, nil
	if s.pool.now().Sub(s.upSince) >= s.pool.opts.MaxBackoff {
		s.failures = 0 // it was healthy for a while: not a crash loop
	}
	err := errors.New("connection closed by server")
	if waitErr != nil {
		err = fmt.Errorf("server exited: %w", waitErr)
	}
	err = s.pool.redactErr(err)
	s.fail(err)
	retryIn := s.retryAt.Sub(s.pool.now())
	s.mu.Unlock()

	_ = cs.Close()
	pr.teardown()
	s.log.Warn().Err(err).Dur("retry_in", retryIn).Str("stderr_tail", s.ring.Tail(logTailBytes)).
		Msg("upstream session ended unexpectedly")
}

// close closes the running session, if any, and kills its process group.
func (s *server) close() error {
	s.mu.Lock()
	cs, pr := s.cs, s.proc
	s.cs, s.proc = nil, nil
	s.mu.Unlock()
	defer s.closeIdle()
	if cs == nil {
		return nil
	}
	err := cs.Close()
	pr.teardown()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return fmt.Errorf("close upstream %q: %w", s.spec.Name, s.pool.redactErr(err))
	}
	if err != nil {
		s.log.Debug().Err(s.pool.redactErr(err)).Msg("upstream exit status at close")
	}
	return nil
}

// connect starts the server and initializes a session, within
// ConnectTimeout and until the pool closes. On failure nothing it started
// survives.
func (s *server) connect() (*mcp.ClientSession, *proc, error) {
	o := &s.pool.opts
	ctx, cancel := context.WithTimeout(s.pool.ctx, o.ConnectTimeout)
	defer cancel()

	var client *mcp.Client
	if o.NewClient != nil {
		client = o.NewClient(s.spec.Name)
	}
	if client == nil {
		var copts *mcp.ClientOptions
		if o.ClientOptions != nil {
			copts = o.ClientOptions(s.spec.Name)
		}
		client = mcp.NewClient(o.Client, copts)
	}
	sopts := &mcp.ClientSessionOptions{ProtocolVersion: o.ProtocolVersion}

	switch {
	case s.spec.URL != "" && s.spec.Command != "":
		return nil, nil, errors.New("spec sets both command and url")
	case s.spec.URL != "":
		cs, err := s.connectRemote(ctx, client, sopts)
		return cs, nil, err
	case s.spec.Command == "":
		return nil, nil, errors.New("spec sets neither command nor url")
	}

	env, err := s.env(ctx)
	if err != nil {
		return nil, nil, err
	}
	t, pr, err := s.command(env)
	if err != nil {
		return nil, nil, err
	}
	s.log.Debug().Str("command", t.Command.Path).Int("args", len(s.spec.Args)).Msg("starting upstream")
	// A start that outlives ctx is killed outright: a child that does not
	// answer initialize cannot be trusted to exit when its stdin closes.
	stop := context.AfterFunc(ctx, pr.kill)
	cs, err := client.Connect(ctx, s.wrap(t), sopts)
	if !stop() && err == nil {
		_ = cs.Close()
		err = ctx.Err()
	}
	if err != nil {
		pr.teardown()
		if !pr.started() {
			return nil, nil, err // exec's own error names the command
		}
		return nil, nil, s.connectErr(ctx, err)
	}
	return cs, pr, nil
}

// connectErr describes a failure after the server was reached.
func (s *server) connectErr(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no initialize response within %v: %w", s.pool.opts.ConnectTimeout, err)
	}
	return fmt.Errorf("initialize: %w", err)
}

// headerTransport adds fixed headers to every request to origin (nil means
// any).
type headerTransport struct {
	base    http.RoundTripper
	headers map[string]string
	origin  *url.URL
}

// RoundTrip implements http.RoundTripper.
func (t *headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if len(t.headers) > 0 && sameOrigin(req.URL, t.origin) {
		req = req.Clone(req.Context())
		for k, v := range t.headers {
			req.Header.Set(k, v)
		}
	}
	return t.base.RoundTrip(req)
}

// logURL returns u without user info, query or fragment, which may carry
// credentials.
func logURL(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	parsed.User, parsed.RawQuery, parsed.Fragment, parsed.RawFragment = nil, "", "", ""
	return parsed.String()
}

// wrap applies Options.WrapConnection to the connections t makes.
func (s *server) wrap(t mcp.Transport) mcp.Transport {
	if s.pool.opts.WrapConnection == nil {
		return t
	}
	return &wrappedTransport{Transport: t, wrap: func(c mcp.Connection) mcp.Connection {
		return s.pool.opts.WrapConnection(s.spec.Name, c)
	}}
}

// wrappedTransport hands out connections wrapped by wrap.
type wrappedTransport struct {
	mcp.Transport
	wrap func(mcp.Connection) mcp.Connection
}

// Connect implements mcp.Transport.
func (t *wrappedTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	c, err := t.Transport.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return t.wrap(c), nil
}
