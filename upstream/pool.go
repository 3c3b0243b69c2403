// Package upstream owns the gateway's sessions to upstream MCP servers: stdio
// children that it spawns lazily, in their own process group, with a minimal
// declared environment, and remote streamable-HTTP servers. It starts each
// server once however many callers ask at the same time, restarts it with
// exponential backoff after a crash, keeps a bounded and redacted tail of its
// stderr, and on Close kills every process it started, grandchildren
// included.
//
// The package must never know about guardrails, gateway keys or principals:
// it hands out sessions and nothing else. Above all, no part of the gateway's
// own environment reaches a child except the minimal base listed in the
// documentation of [Spec.Env], so the gateway key stays in the gateway.
package upstream

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/rs/zerolog"
	"golang.org/x/oauth2"

	"secure-mcp-gateway/internal/secret"
)

// Defaults for the zero fields of [Options].
const (
	// DefaultProtocolVersion is the MCP protocol version the pool offers
	// upstreams. It is pinned because a go-sdk v1.8.0 client left to its
	// default negotiates a draft version with a v1.8.0 server and then leaks
	// draft-only fields into results.
	DefaultProtocolVersion = "2025-11-25"
	// ModernProtocolVersion is the stateless MCP protocol version the pool
	// offers an upstream that refuses DefaultProtocolVersion.
	ModernProtocolVersion = "2026-07-28"
	// DefaultConnectTimeout bounds spawning a server and its initialize
	// handshake.
	DefaultConnectTimeout = 20 * time.Second
	// DefaultTerminateTimeout is how long a child has to exit after its stdin
	// is closed before it is sent SIGTERM.
	DefaultTerminateTimeout = 2 * time.Second
	// DefaultStderrBytes is the size of the stderr tail kept per server.
	DefaultStderrBytes = 64 << 10
	// DefaultMinBackoff is the delay before the first restart after a failure.
	DefaultMinBackoff = 250 * time.Millisecond
	// DefaultMaxBackoff caps the restart delay.
	DefaultMaxBackoff = 30 * time.Second
	// DefaultCrashLoopExits is how many exits (or failed starts) within
	// DefaultCrashLoopWindow make a crash loop, which restarts only after a
	// backoff.
	DefaultCrashLoopExits = 3
	// DefaultCrashLoopWindow is the window in which exits are counted.
	DefaultCrashLoopWindow = 30 * time.Second
	// stderrTailBytes is how much of the stderr tail an UnavailableError
	// carries.
	stderrTailBytes = 512
)

// ErrUnknownServer is returned by [Pool.Session] for a name that is not in the
// pool's specs.
var ErrUnknownServer = errors.New("unknown upstream server")

// ErrClosed is returned by [Pool.Session] once [Pool.Close] has been called.
var ErrClosed = errors.New("upstream pool closed")

// UnavailableError reports that an upstream server could not be reached: it
// could not be started, it keeps exiting (a crash loop), or the caller's
// budget ran out before its restart. Its message names the server, how many
// times it exited and how, and the last lines of its stderr, with every
// known secret value masked, so that the proxy may show it to the model.
type UnavailableError struct {
	// Server is the name of the upstream server.
	Server string
	// Exits is how many times the server exited or failed to start within
	// the crash-loop window; zero when that is not why it is unavailable.
	Exits int
	// Window is the crash-loop window Exits counts in.
	Window time.Duration
	// Status is the last exit status or signal ("exit status 3",
	// "signal: killed"), or "" when unknown.
	Status string
	// Stderr is the redacted tail of the server's stderr, or "".
	Stderr string
	// Err is the cause.
	Err error
}

// Error implements error.
func (e *UnavailableError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "upstream %q unavailable", e.Server)
	if e.Exits > 0 {
		times := "times"
		if e.Exits == 1 {
			times = "time"
		}
		fmt.Fprintf(&b, " (exited %d %s in %v", e.Exits, times, e.Window)
		if e.Status != "" {
			fmt.Fprintf(&b, ", last with %s", e.Status)
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	if e.Stderr != "" {
		fmt.Fprintf(&b, "; stderr tail: %q", e.Stderr)
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *UnavailableError) Unwrap() error { return e.Err }

// Spec describes one upstream server. Exactly one of Command and URL is set.
type Spec struct {
	// Name identifies the server in the pool, in logs and in errors.
	Name string
	// Command is the program of a stdio server. It is run directly, never
	// through a shell. A name without a path separator is looked up in the
	// PATH the child will get (Env's PATH if declared, else the gateway's).
	Command string
	// Args are passed to Command literally: shell metacharacters mean nothing.
	Args []string
	// Env is the declared environment of a stdio server. The child gets
	// exactly these variables plus a minimal base copied from the gateway's
	// environment: PATH, HOME, USER, LOGNAME, LANG, LC_*, TZ, TMPDIR, TEMP,
	// TMP and, on Windows, the variables that programs need to run there
	// (SystemRoot, ComSpec, PATHEXT, APPDATA, USERPROFILE, ProgramFiles…).
	// Declared variables override the base. Every value is treated as a
	// secret and masked in stderr logs and errors.
	Env map[string]string
	// URL is the endpoint of a remote streamable-HTTP server.
	URL string
	// Headers are added to every HTTP request to URL's origin (never to a
	// redirect elsewhere). Every value is treated as a secret.
	Headers map[string]string
	// TokenSource, if set, supplies the bearer token of a remote server: it
	// is asked before connecting (so that a token failure is the start's
	// error), its token is sent as Authorization: Bearer to URL's origin
	// only, and a 401 answer makes the pool tell the source (when it has an
	// Invalidate(token string) method), get a new token and retry the
	// request once. Nil means no token.
	TokenSource oauth2.TokenSource
	// MaxMessageBytes caps one message from a stdio server. A larger reply
	// is read to its end and discarded without being kept, its call gets an
	// error naming the server, the size and the cap, and the server stays
	// up. Zero means wire.DefaultMaxMessageBytes (16 MiB).
	MaxMessageBytes int
	// EnvFunc, if set, is called before each start of a stdio server for
	// further environment variables (an OAuth token, for example); Env wins
	// over them. An error fails the start. The caller must register any
	// secret it returns with Options.Redactor. Nil means none.
	EnvFunc func(ctx context.Context) (map[string]string, error)
	// Sandbox isolates and limits a stdio server; nil means neither.
	Sandbox *Sandbox
}

// Options configures a [Pool]. The zero value is ready to use.
type Options struct {
	// Logger receives the pool's logs, each with a field server=<name>.
	// Nil means zerolog.Nop().
	Logger *zerolog.Logger
	// Client is the implementation the pool announces to upstreams. Nil means
	// {Name: "secure-mcp-gateway", Version: "dev"}.
	Client *mcp.Implementation
	// ProtocolVersion is offered in initialize. Empty means
	// DefaultProtocolVersion.
	ProtocolVersion string
	// ConnectTimeout bounds spawning a server and initializing it. The start
	// is shared by every caller waiting for it and runs detached from their
	// contexts; a caller may stop waiting sooner. Zero means
	// DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// TerminateTimeout is how long a child has after its stdin is closed
	// before it is sent SIGTERM (and SIGKILL after as long again). Zero means
	// DefaultTerminateTimeout.
	TerminateTimeout time.Duration
	// StderrBytes is the size of the stderr tail kept per server. Zero means
	// DefaultStderrBytes.
	StderrBytes int
	// Redactor scrubs stderr lines and errors before they are logged or
	// returned, in addition to the pool's own redactor, which knows every
	// Spec.Env and Spec.Headers value. Nil means only the pool's own.
	Redactor *secret.Redactor
	// ClientOptions, if set, returns the client options (notification
	// handlers and the like) for a server's session; it is called at every
	// start of that server and may return nil. Nil means SDK defaults.
	ClientOptions func(server string) *mcp.ClientOptions
	// NewClient, if set, returns the client (with its options and
	// middleware) for a server's session; it is called at every start of that
	// server and takes precedence over Client and ClientOptions when it
	// returns non-nil.
	NewClient func(server string) *mcp.Client
	// WrapConnection, if set, wraps each connection to a stdio server, so
	// that the caller can see messages in wire order (the SDK dispatches
	// incoming notifications asynchronously to responses). Remote servers'
	// connections are not wrapped: the SDK's HTTP client connection relies on
	// unexported methods a wrapper would hide. Nil means no wrapping.
	WrapConnection func(server string, c mcp.Connection) mcp.Connection
	// MinBackoff is the delay before restarting a server in a crash loop
	// (see CrashLoopExits); it doubles, with jitter, at every further exit
	// inside the window. A server that exited fewer times restarts at once,
	// on the next Session call. Zero means DefaultMinBackoff.
	MinBackoff time.Duration
	// MaxBackoff caps that delay. Zero means DefaultMaxBackoff.
	MaxBackoff time.Duration
	// CrashLoopExits is how many exits or failed starts within
	// CrashLoopWindow make a crash loop. Zero means DefaultCrashLoopExits.
	CrashLoopExits int
	// CrashLoopWindow is the window exits are counted in. Zero means
	// DefaultCrashLoopWindow.
	CrashLoopWindow time.Duration
	// DialTimeout bounds connecting to a remote server (the config's
	// connectivity_timeout). Zero means DefaultDialTimeout.
	DialTimeout time.Duration
	// Supervisor is an argv prefix under which each stdio child is started on
	// Linux, for example {"/path/secure-mcp-gateway", "upstream-supervisor",
	// "--"}; the program it names must call Supervise. The supervisor leads
	// the child's process group and kills the whole group when the gateway
	// dies, even by SIGKILL, so that grandchildren (npx → node) never
	// outlive it. Nil means children are started directly, and only the
	// direct child dies with the gateway. Ignored on other platforms.
	Supervisor []string
	// OnEvent, when set, is told of every start, failed start and
	// unexpected exit of a server, for metrics. It is called without locks
	// held and must not block. Nil means nobody is told.
	OnEvent func(Event)
}

// Kinds of Event.
const (
	EventStarted     = "started"      // the server came up (again, after an exit)
	EventStartFailed = "start_failed" // the server could not be started or initialised
	EventExited      = "exited"       // the server's session ended without the gateway closing it
)

// Event is one change in an upstream server's life.
type Event struct {
	// Server is the server's name.
	Server string
	// Kind is EventStarted, EventStartFailed or EventExited.
	Kind string
	// Took is how long the start took (EventStarted, EventStartFailed).
	Took time.Duration
}

// Pool hands out sessions to upstream servers, starting each on first use.
// It is safe for concurrent use.
type Pool struct {
	opts     Options
	log      zerolog.Logger
	redactor secret.Redactor // the Spec.Env and Spec.Headers values
	names    []string
	servers  map[string]*server

	// ctx is the parent of every start; Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex // guards wg.Add against Close
	closed atomic.Bool
	wg     sync.WaitGroup // one per process lifetime: start, serve, reap

	closeOnce sync.Once
	closeErr  error

	now func() time.Time // replaced in tests
}

// NewPool returns a pool for specs. It starts nothing: each server is started
// by the first Session call that names it. A spec with an empty or duplicate
// name is skipped and logged (configuration validation should have rejected
// it).
func NewPool(specs []Spec, opts *Options) *Pool {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		nop := zerolog.Nop()
		o.Logger = &nop
	}
	if o.Client == nil {
		o.Client = &mcp.Implementation{Name: "secure-mcp-gateway", Version: "dev"}
	}
	if o.ProtocolVersion == "" {
		o.ProtocolVersion = DefaultProtocolVersion
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.TerminateTimeout <= 0 {
		o.TerminateTimeout = DefaultTerminateTimeout
	}
	if o.StderrBytes <= 0 {
		o.StderrBytes = DefaultStderrBytes
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.CrashLoopExits <= 0 {
		o.CrashLoopExits = DefaultCrashLoopExits
	}
	if o.CrashLoopWindow <= 0 {
		o.CrashLoopWindow = DefaultCrashLoopWindow
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Pool{
		opts:    o,
		log:     *o.Logger,
		servers: make(map[string]*server, len(specs)),
		ctx:     ctx,
		cancel:  cancel,
		now:     time.Now,
	}
	for _, spec := range specs {
		if _, dup := p.servers[spec.Name]; dup || spec.Name == "" {
			p.log.Error().Str("server", spec.Name).Msg("upstream spec skipped: empty or duplicate name")
			continue
		}
		spec.Args = slices.Clone(spec.Args)
		spec.Env = maps.Clone(spec.Env)
		spec.Headers = maps.Clone(spec.Headers)
		for _, v := range spec.Env {
			p.redactor.Add(v)
		}
		for _, v := range spec.Headers {
			p.redactor.Add(v)
		}
		p.redactor.Add(URLSecrets(spec.URL)...)
		p.names = append(p.names, spec.Name)
		p.servers[spec.Name] = newServer(p, spec)
	}
	return p
}

// Names returns the names of the pool's servers in the order of the specs.
func (p *Pool) Names() []string { return slices.Clone(p.names) }

// Session returns the session to the named server, starting the server if it
// is not running. Concurrent callers share one start.
//
// A session may die at any time. Calls in flight then fail at once with an
// error wrapping io.EOF, later calls on it with one wrapping
// mcp.ErrConnectionClosed, and the next Session call restarts the server at
// once. Only a crash loop (Options.CrashLoopExits exits or failed starts
// within Options.CrashLoopWindow) delays a restart, by a backoff; Session
// then waits for it within ctx, and fails at once when ctx's deadline comes
// before the restart. A start that fails is retried while the server is not
// in a crash loop. Session returns an *UnavailableError naming the exit
// count, the last exit status and the stderr tail when the server keeps
// dying, when its program cannot be started at all (during its backoff), or
// when ctx ends first; a start in progress then carries on for the next
// caller.
func (p *Pool) Session(ctx context.Context, name string) (*mcp.ClientSession, error) {
	s, ok := p.servers[name]
	if !ok {
		return nil, fmt.Errorf("session %q: %w", name, ErrUnknownServer)
	}
	return s.session(ctx)
}

// Stderr returns the redacted tail of the named server's stderr, across its
// restarts, or "" for an unknown server. Only complete lines are included
// while the server runs.
func (p *Pool) Stderr(name string) string {
	s, ok := p.servers[name]
	if !ok {
		return ""
	}
	return s.ring.String()
}

// Close closes every session, kills every process group the pool started and
// waits for them, all servers in parallel. A child that exits when its stdin
// closes is reaped at once; one that does not gets SIGTERM after
// TerminateTimeout. Close is idempotent; later calls return the first
// result. Session calls after Close return ErrClosed.
func (p *Pool) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed.Store(true)
		p.mu.Unlock()
		p.cancel() // aborts starts in progress
		errs := make([]error, len(p.names))
		var wg sync.WaitGroup
		for i, name := range p.names {
			wg.Go(func() { errs[i] = p.servers[name].close() })
		}
		wg.Wait()
		p.wg.Wait()
		p.closeErr = errors.Join(errs...)
	})
	return p.closeErr
}

// track runs f in a goroutine that Close waits for. It reports false, without
// running f, once the pool is closed.
func (p *Pool) track(f func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return false
	}
	p.wg.Go(f)
	return true
}

// redact masks every known secret value in s.
func (p *Pool) redact(s string) string {
	return p.opts.Redactor.Redact(p.redactor.Redact(s))
}

// redactErr returns err with its message redacted; errors.Is and errors.As
// still see the original chain.
func (p *Pool) redactErr(err error) error {
	if err == nil {
		return nil
	}
	msg := p.redact(err.Error())
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

// backoff returns the restart delay after the given number of consecutive
// crash-loop failures (at least 1): MinBackoff doubled per further failure, plus up to a
// quarter of jitter, capped at MaxBackoff.
func (p *Pool) backoff(failures int) time.Duration {
	d := p.opts.MinBackoff
	for i := 1; i < failures && d < p.opts.MaxBackoff; i++ {
		d *= 2
	}
	d += rand.N(d/4 + 1)
	return min(d, p.opts.MaxBackoff)
}

// redactedError carries a redacted message for an error whose own message
// may hold a secret.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// URLSecrets returns the parts of a remote upstream's URL that may hold a
// credential: the userinfo password and every query value, raw and decoded,
// since errors from the HTTP client quote the URL.
func URLSecrets(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		return nil
	}
	var out []string
	if pw, ok := u.User.Password(); ok {
		out = append(out, pw, url.QueryEscape(pw))
	}
	for _, vs := range u.Query() {
		for _, v := range vs {
			out = append(out, v, url.QueryEscape(v))
		}
	}
	return out
}
