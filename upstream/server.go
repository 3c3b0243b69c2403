package upstream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
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
	conn     *connState         // state of cs's connection; nil for HTTP
	ended    chan struct{}      // closed once serve has handled the end of cs
	start    *startCall         // in progress, or nil
	lastErr  error              // cause of the last failure, redacted
	spawnErr bool               // the last failure was the program not starting at all
	status   string             // last exit status or signal, "" if unknown
	exits    []time.Time        // exits and failed starts inside the crash-loop window
	retryAt  time.Time          // no start before this
	starts   int                // number of starts attempted, for tests
	httpT    *http.Transport    // a remote server's, created on first use
}

// startCall is one start shared by every Session caller waiting for it.
type startCall struct {
	done  chan struct{}
	cs    *mcp.ClientSession // set before done is closed
	err   error              // set before done is closed
	retry bool               // set before done is closed: the child exited during its start, so another start may work
}

func newServer(p *Pool, spec Spec) *server {
	return &server{
		pool: p,
		spec: spec,
		log:  p.log.With().Str("server", spec.Name).Logger(),
		ring: newRing(p.opts.StderrBytes),
	}
}

// unavailable returns an *UnavailableError for cause with what is known of
// the server's recent exits. s.mu is held.
func (s *server) unavailable(cause error) error {
	e := &UnavailableError{Server: s.spec.Name, Err: cause, Status: s.status, Stderr: s.ring.Tail(stderrTailBytes)}
	if n := len(s.recentExits()); n > 0 && !s.spawnErr {
		e.Exits, e.Window = n, s.pool.opts.CrashLoopWindow
	}
	return e
}

// recentExits drops the exits older than the crash-loop window and returns
// the rest. s.mu is held.
func (s *server) recentExits() []time.Time {
	cutoff := s.pool.now().Add(-s.pool.opts.CrashLoopWindow)
	i := 0
	for i < len(s.exits) && !s.exits[i].After(cutoff) {
		i++
	}
	s.exits = s.exits[i:]
	return s.exits
}

// session returns the running session, or joins (or begins) a start. A
// failed start is retried at once unless the server is in a crash loop;
// during a crash loop's backoff the caller waits for the restart within ctx,
// and a caller that has already seen a start fail gives up.
func (s *server) session(ctx context.Context) (*mcp.ClientSession, error) {
	failed := false // this caller has seen a start fail
	for {
		s.mu.Lock()
		if s.pool.closed.Load() {
			s.mu.Unlock()
			return nil, fmt.Errorf("session %q: %w", s.spec.Name, ErrClosed)
		}
		if cs := s.cs; cs != nil {
			if !s.conn.isDead() {
				s.mu.Unlock()
				return cs, nil
			}
			// The child is gone but serve has not seen it yet: wait for
			// it, so that this call restarts the server rather than fail
			// on the dead session.
			ended := s.ended
			s.mu.Unlock()
			select {
			case <-ended:
			case <-ctx.Done():
				s.mu.Lock()
				err := s.unavailable(ctx.Err())
				s.mu.Unlock()
				return nil, err
			case <-s.pool.ctx.Done():
			}
			continue
		}
		call := s.start
		if call == nil {
			if wait := s.retryAt.Sub(s.pool.now()); s.lastErr != nil && wait > 0 {
				deadline, ok := ctx.Deadline()
				if failed || s.spawnErr || ok && time.Until(deadline) < wait {
					err := s.unavailable(s.lastErr)
					s.mu.Unlock()
					return nil, err
				}
				s.mu.Unlock()
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					s.mu.Lock()
					err := s.unavailable(fmt.Errorf("waiting for the restart: %w", ctx.Err()))
					s.mu.Unlock()
					return nil, err
				case <-s.pool.ctx.Done():
					t.Stop()
				}
				continue
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
		case <-ctx.Done():
			s.mu.Lock()
			err := s.unavailable(ctx.Err())
			s.mu.Unlock()
			return nil, err
		}
		if call.err == nil || !call.retry {
			return call.cs, call.err
		}
		failed = true
	}
}

// run starts the server, publishes the outcome to call, and then, if the
// server came up, waits for its session to end and handles a crash.
func (s *server) run(call *startCall) {
	began := time.Now()
	cs, pr, status, err := s.connect()

	s.mu.Lock()
	s.start = nil
	closed := s.pool.closed.Load()
	if err == nil && !closed {
		s.cs, s.proc, s.conn, s.ended = cs, pr, status, make(chan struct{})
		s.lastErr, s.spawnErr, call.cs = nil, false, cs
		ended := s.ended
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
		s.emit(EventStarted, time.Since(began))
		s.serve(cs, pr, ended)
		return
	}
	if closed {
		call.err = fmt.Errorf("session %q: %w", s.spec.Name, ErrClosed)
	} else {
		err = s.pool.redactErr(err)
		s.spawnErr = s.spec.URL == "" && (pr == nil || !pr.started())
		s.fail(err, status.get())
		call.err = s.unavailable(err)
		var te *initTimeoutError
		call.retry = s.spec.URL == "" && !s.spawnErr && !errors.As(err, &te)
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
	s.emit(EventStartFailed, time.Since(began))
}

// emit tells Options.OnEvent, if set. No lock is held.
func (s *server) emit(kind string, took time.Duration) {
	if f := s.pool.opts.OnEvent; f != nil {
		f(Event{Server: s.spec.Name, Kind: kind, Took: took})
	}
}

// fail records an exit or a failed start and schedules the next start: at
// once, unless the exits inside the crash-loop window reach
// CrashLoopExits, which backs off. s.mu is held.
func (s *server) fail(err error, status string) {
	now := s.pool.now()
	s.lastErr = err
	if status != "" {
		s.status = status
	}
	s.exits = append(s.recentExits(), now)
	s.retryAt = now
	if over := len(s.exits) - s.pool.opts.CrashLoopExits; over >= 0 || s.spawnErr {
		s.retryAt = now.Add(s.pool.backoff(max(over+1, 1)))
	}
}

// serve waits for cs to end. If it ends while still the server's session,
// the server crashed (or the remote hung up): it is torn down and marked for
// a restart, at once or, in a crash loop, after a backoff.
func (s *server) serve(cs *mcp.ClientSession, pr *proc, ended chan struct{}) {
	defer close(ended)
	waitErr := cs.Wait()

	s.mu.Lock()
	if s.cs != cs { // closed on purpose
		s.mu.Unlock()
		return
	}
	s.cs, s.proc, s.conn = nil, nil, nil
	err := errors.New("connection closed by server")
	if waitErr != nil {
		err = fmt.Errorf("server exited: %w", waitErr)
	}
	err = s.pool.redactErr(err)
	s.spawnErr = false
	s.fail(err, describeExit(waitErr))
	retryIn := max(s.retryAt.Sub(s.pool.now()), 0)
	exits := len(s.exits)
	s.mu.Unlock()

	_ = cs.Close()
	pr.teardown()
	s.log.Warn().Err(err).Int("exits", exits).Dur("retry_in", retryIn).Str("stderr_tail", s.ring.Tail(logTailBytes)).
		Msg("upstream session ended unexpectedly")
	s.emit(EventExited, 0)
}

// connState is what the gateway knows of a stdio child's connection beyond
// its session: whether its input has ended (the child is gone, though the
// session may not have noticed yet) and how the child exited, as the close
// of the connection (which reaps it) reports it.
type connState struct {
	dead   atomic.Bool
	mu     sync.Mutex
	status string
}

// isDead reports whether the connection's input has ended; false for nil.
func (e *connState) isDead() bool { return e != nil && e.dead.Load() }

func (e *connState) set(err error) {
	if e == nil {
		return
	}
	if d := describeExit(err); d != "" {
		e.mu.Lock()
		e.status = d
		e.mu.Unlock()
	}
}

func (e *connState) get() string {
	if e == nil {
		return ""
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.status
}

// describeExit returns the exit status or signal err reports ("exit status
// 3", "signal: killed"), or "".
func describeExit(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.String()
	}
	return ""
}

// statusTransport wraps the connections of a stdio child's transport in a
// statusConn.
type statusTransport struct {
	mcp.Transport
	status *connState
}

// Connect implements mcp.Transport.
func (t *statusTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	c, err := t.Transport.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &statusConn{Connection: c, status: t.status}, nil
}

// statusConn records the error of closing a stdio child's connection, which
// is how the child exited.
type statusConn struct {
	mcp.Connection
	status *connState
}

// Read implements mcp.Connection.
func (c *statusConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	msg, err := c.Connection.Read(ctx)
	if err != nil {
		c.status.dead.Store(true)
	}
	return msg, err
}

// Close implements mcp.Connection.
func (c *statusConn) Close() error {
	err := c.Connection.Close()
	c.status.set(err)
	return err
}

// close closes the running session, if any, and kills its process group.
func (s *server) close() error {
	s.mu.Lock()
	cs, pr := s.cs, s.proc
	s.cs, s.proc, s.conn = nil, nil, nil
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
// survives, and status tells how a stdio child exited, when it did.
//
// The pool offers o.ProtocolVersion first. An upstream that refuses it with
// the unsupported-protocol-version error (an upstream that speaks only
// 2026-07-28 answers the 2025 initialize that way) is reached again, within
// the same ConnectTimeout, offering [ModernProtocolVersion]: the go-sdk
// client then opens with server/discover and serves the session statelessly
// (per-request _meta, input_required retries fulfilled by the client's
// handlers).
func (s *server) connect() (*mcp.ClientSession, *proc, *connState, error) {
	o := &s.pool.opts
	ctx, cancel := context.WithTimeout(s.pool.ctx, o.ConnectTimeout)
	defer cancel()
	cs, pr, status, err := s.connectVersion(ctx, o.ProtocolVersion)
	if err == nil || o.ProtocolVersion >= ModernProtocolVersion || !refusedVersion(err) {
		return cs, pr, status, err
	}
	s.log.Info().Str("offered", o.ProtocolVersion).Str("retry", ModernProtocolVersion).Msg("upstream refused the protocol version; offering the stateless one")
	return s.connectVersion(ctx, ModernProtocolVersion)
}

// refusedVersion reports whether err is an upstream's
// unsupported-protocol-version answer.
func refusedVersion(err error) bool {
	var werr *jsonrpc.Error
	return errors.As(err, &werr) && werr.Code == mcp.CodeUnsupportedProtocolVersion
}

// connectVersion is one connection attempt of connect, offering version.
func (s *server) connectVersion(ctx context.Context, version string) (*mcp.ClientSession, *proc, *connState, error) {
	o := &s.pool.opts

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
	sopts := &mcp.ClientSessionOptions{ProtocolVersion: version}

	switch {
	case s.spec.URL != "" && s.spec.Command != "":
		return nil, nil, nil, errors.New("spec sets both command and url")
	case s.spec.URL != "":
		cs, err := s.connectRemote(ctx, client, sopts)
		return cs, nil, nil, err
	case s.spec.Command == "":
		return nil, nil, nil, errors.New("spec sets neither command nor url")
	}

	env, err := s.env(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	t, pr, err := s.command(env)
	if err != nil {
		return nil, nil, nil, err
	}
	s.log.Debug().Str("command", t.Command.Path).Int("args", len(s.spec.Args)).Msg("starting upstream")
	// A start that outlives ctx is killed outright: a child that does not
	// answer initialize cannot be trusted to exit when its stdin closes.
	stop := context.AfterFunc(ctx, pr.kill)
	status := &connState{}
	cs, err := client.Connect(ctx, s.wrap(&statusTransport{Transport: t, status: status}), sopts)
	if !stop() && err == nil {
		_ = cs.Close()
		err = ctx.Err()
	}
	if err != nil {
		pr.teardown()
		if !pr.started() {
			return nil, pr, nil, err // exec's own error names the command
		}
		return nil, pr, status, s.connectErr(ctx, err)
	}
	return cs, pr, status, nil
}

// connectErr describes a failure after the server was reached.
func (s *server) connectErr(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &initTimeoutError{timeout: s.pool.opts.ConnectTimeout, err: err}
	}
	return fmt.Errorf("initialize: %w", err)
}

// initTimeoutError reports a server that did not answer initialize within
// the connect timeout. Such a start is not retried for the same caller,
// whose budget it has mostly spent.
type initTimeoutError struct {
	timeout time.Duration
	err     error
}

func (e *initTimeoutError) Error() string {
	return fmt.Sprintf("no initialize response within %v: %v", e.timeout, e.err)
}

func (e *initTimeoutError) Unwrap() error { return e.err }

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
