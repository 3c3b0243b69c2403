package proxy

//lint:file-ignore SA1019 The gateway forwards sampling, roots and logging, which clients of protocol 2025-11-25 use; only the draft 2026-07-28 deprecates them.

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/time/rate"
)

// Forwarding of everything MCP carries besides tools: resources, prompts,
// completion, logging, progress, and the requests an upstream sends to the
// client (sampling, elicitation, roots).
//
// A gateway serves exactly one client session (stdio is 1:1; HTTP mode makes
// a gateway per session), and owns one upstream session per server, so a
// request from an upstream always belongs to this gateway's client.

// Policy values for server→client requests (config key client_requests).
const (
	PolicyForward = "forward"
	PolicyDeny    = "deny"
)

// client returns the client session this gateway serves, or nil before the
// client has connected.
func (g *Gateway) client() *mcp.ServerSession {
	for ss := range g.server.Sessions() {
		return ss
	}
	return nil
}

// NewUpstreamClient returns the MCP client for server's session: it relays
// the upstream's notifications to the client, forwards or denies its
// requests per the server's client_requests policy, and advertises to the
// upstream only the capabilities the client has and the policy allows.
// It is meant for upstream.Options.NewClient.
func (g *Gateway) NewUpstreamClient(server string) *mcp.Client {
	caps := &mcp.ClientCapabilities{}
	modern := modernSession(g.client())
	if ss := g.client(); ss != nil && ss.InitializeParams() != nil && ss.InitializeParams().Capabilities != nil {
		dc := ss.InitializeParams().Capabilities
		if dc.Sampling != nil && g.policy(server, "sampling") == PolicyForward {
			caps.Sampling = dc.Sampling
		}
		if dc.Elicitation != nil && g.policy(server, "elicitation") == PolicyForward {
			caps.Elicitation = dc.Elicitation
		}
		if g.policy(server, "roots") == PolicyForward && (dc.RootsV2 != nil || dc.Roots.ListChanged) {
			caps.RootsV2 = &mcp.RootCapabilities{ListChanged: dc.Roots.ListChanged || (dc.RootsV2 != nil && dc.RootsV2.ListChanged)}
		}
	}
	opts := &mcp.ClientOptions{
		Capabilities: caps,
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			g.UpstreamToolsChanged(server)
		},
		PromptListChangedHandler: func(context.Context, *mcp.PromptListChangedRequest) {
			g.notifyPromptListChanged()
		},
		ResourceListChangedHandler: func(context.Context, *mcp.ResourceListChangedRequest) {
			g.notifyResourceListChanged()
		},
		ResourceUpdatedHandler: func(ctx context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
			if req.Params == nil || g.chk.out(ctx, server, "A resource update", req.Params) != nil {
				g.notes.drop(server, "resource update blocked by the output guardrails")
				return
			}
			if err := g.server.ResourceUpdated(ctx, req.Params); err != nil {
				g.log.Debug().Str("server", server).Err(err).Msg("relay resource update")
			}
		},
		LoggingMessageHandler: func(ctx context.Context, req *mcp.LoggingMessageRequest) {
			g.relayLog(ctx, server, req.Params)
		},
		// Stdio upstreams' progress is relayed in wire order by the
		// connection tap (WrapConnection) and never reaches this handler;
		// remote upstreams' progress arrives here.
		ProgressNotificationHandler: func(ctx context.Context, req *mcp.ProgressNotificationClientRequest) {
			g.relayProgress(ctx, server, req.Params)
		},
	}
	if modern {
		// A 2026-07-28 client answers an upstream's input_required itself:
		// the result reaches it as is and its retry carries the answers
		// (pipeline.forward).
		opts.MultiRoundTrip = &mcp.MultiRoundTripOptions{Disabled: true}
	} else {
		// The SDK fulfils an upstream's input_required by calling these
		// handlers, then retries the call: they ask the client the way a
		// server-initiated request does. A handler is set only for what
		// the client may be asked, since a handler also advertises its
		// capability.
		if caps.Elicitation != nil {
			opts.ElicitationHandler = func(ctx context.Context, r *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
				return relayed[*mcp.ElicitResult](g.relayRequest(ctx, server, "elicitation/create", r))
			}
		}
		if caps.Sampling != nil {
			opts.CreateMessageWithToolsHandler = func(ctx context.Context, r *mcp.CreateMessageWithToolsRequest) (*mcp.CreateMessageWithToolsResult, error) {
				return relayed[*mcp.CreateMessageWithToolsResult](g.relayRequest(ctx, server, "sampling/createMessage", r))
			}
		}
	}
	c := mcp.NewClient(&mcp.Implementation{Name: g.opts.Name, Version: g.opts.Version}, opts)
	c.AddReceivingMiddleware(g.upstreamRequests(server))
	return c
}

// relayLog relays an upstream's log message to the client: within the
// server's log rate, after its output policy (logger name and data), and
// through the bounded notification queue; anything else is dropped and
// counted.
func (g *Gateway) relayLog(ctx context.Context, server string, p *mcp.LoggingMessageParams) {
	ss := g.client()
	if ss == nil || p == nil {
		return
	}
	if !g.notes.allow(server) {
		g.notes.drop(server, "log message over the rate limit")
		return
	}
	q := *p
	if q.Logger == "" {
		q.Logger = server
	} else {
		q.Logger = server + "/" + q.Logger
	}
	if err := g.chk.out(ctx, server, "A log message", &q); err != nil {
		g.notes.drop(server, "log message blocked by the output guardrails")
		g.chk.note(err, server, fmt.Sprintf("a log message of server %q", server))
		return
	}
	g.notes.send(server, func(ctx context.Context) error { return ss.Log(ctx, &q) })
}

// progressRelay maps the progress tokens the gateway sends upstream to the
// client's own, so that two calls with the same client token on different
// upstreams never cross.
type progressRelay struct {
	next atomic.Uint64
	mu   sync.Mutex
	m    map[string]progressTarget
}

type progressTarget struct {
	// ctx is the client call's: a notification sent with it goes out on
	// that request's own stream (its SSE response over HTTP), where the
	// client waits for it, whatever context the upstream's arrived in.
	ctx    context.Context
	ss     *mcp.ServerSession
	token  any
	server string        // the upstream the call went to
	lim    *rate.Limiter // caps what one call relays
}

// Progress relayed per call: a burst, then a steady rate. An upstream that
// floods progress has the excess dropped (progress is advisory), so that it
// can neither flood the client nor starve other calls.
const (
	DefaultProgressBurst = 20
	DefaultProgressRate  = 20 // per second
)

// track registers the client's token for a call and returns the token to
// send upstream and a function that forgets it once the call is over.
func (p *progressRelay) track(ctx context.Context, ss *mcp.ServerSession, server string, token any) (string, func()) {
	t := "smg-" + strconv.FormatUint(p.next.Add(1), 10)
	p.mu.Lock()
	if p.m == nil {
		p.m = make(map[string]progressTarget)
	}
	p.m[t] = progressTarget{ctx: ctx, ss: ss, token: token, server: server, lim: rate.NewLimiter(DefaultProgressRate, DefaultProgressBurst)}
	p.mu.Unlock()
	return t, func() {
		p.mu.Lock()
		delete(p.m, t)
		p.mu.Unlock()
	}
}

func (p *progressRelay) lookup(token any) (progressTarget, bool) {
	s, ok := token.(string)
	if !ok {
		return progressTarget{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.m[s]
	return t, ok
}

// relayProgress sends an upstream progress notification to the client with
// the client's token. Notifications for calls that are over, or with tokens
// the gateway never issued, are dropped: the spec forbids progress after
// the response, and so is a call's progress beyond its rate limit. A
// message the output policy blocks is left out (the numbers still go), and
// so is a notification from another server than the call's.
func (g *Gateway) relayProgress(ctx context.Context, server string, p *mcp.ProgressNotificationParams) {
	if p == nil {
		return
	}
	t, ok := g.progress.lookup(p.ProgressToken)
	if !ok || t.server != server {
		return
	}
	if !t.lim.Allow() || !g.notes.allowProgress(server) {
		g.notes.drop(server, "progress over the rate limit")
		return
	}
	q := *p
	q.ProgressToken = t.token
	if q.Message != "" || q.Meta != nil {
		if err := g.chk.out(ctx, server, "A progress message", &q); err != nil {
			g.notes.drop(server, "progress message blocked by the output guardrails")
			g.chk.note(err, server, fmt.Sprintf("a progress message of server %q", server))
			q.Message, q.Meta = "", nil
		}
	}
	if err := t.ss.NotifyProgress(t.ctx, &q); err != nil {
		g.log.Debug().Err(err).Msg("relay progress")
	}
}

// WrapConnection taps a stdio upstream connection so that its progress
// notifications are relayed in wire order, before the response they precede
// is even read; the SDK would otherwise dispatch them after the call
// returned. It is meant for upstream.Options.WrapConnection.
func (g *Gateway) WrapConnection(server string, c mcp.Connection) mcp.Connection {
	return &tapConn{Connection: c, g: g, server: server}
}

type tapConn struct {
	mcp.Connection
	g      *Gateway
	server string
}

// Read implements mcp.Connection.
func (c *tapConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	for {
		msg, err := c.Connection.Read(ctx)
		if err != nil {
			return msg, err
		}
		req, ok := msg.(*jsonrpc.Request)
		if ok && req.Method == "notifications/tools/list_changed" {
			c.g.cat.markChanged(c.server) // in wire order: before the reply it may precede is read
		}
		if !ok || req.IsCall() || req.Method != "notifications/progress" {
			return msg, nil
		}
		var p mcp.ProgressNotificationParams
		if err := json.Unmarshal(req.Params, &p); err != nil {
			return msg, nil // let the SDK report it
		}
		c.g.relayProgress(ctx, c.server, &p)
	}
}

// inflightCalls remembers the contexts of the client calls in flight per
// server, so that a request an upstream sends during a call goes out in that
// call's context.
type inflightCalls struct {
	mu sync.Mutex
	m  map[string][]*context.Context
}

// push records ctx as in flight on server and returns a function that
// forgets it.
func (f *inflightCalls) push(server string, ctx context.Context) func() {
	p := &ctx
	f.mu.Lock()
	if f.m == nil {
		f.m = make(map[string][]*context.Context)
	}
	f.m[server] = append(f.m[server], p)
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		s := f.m[server]
		for i, q := range s {
			if q == p {
				f.m[server] = append(s[:i:i], s[i+1:]...)
				break
			}
		}
	}
}

// latest returns the most recent in-flight call context on server, or nil.
func (f *inflightCalls) latest(server string) context.Context {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.m[server]; len(s) > 0 {
		return *s[len(s)-1]
	}
	return nil
}

// Limits of what the gateway relays from upstreams to the client besides
// responses. An upstream that floods log messages has the excess dropped
// (logs are advisory) and counted; the notifications waiting for a client
// that does not read are bounded, so that gateway memory stays flat.
const (
	// DefaultLogRate and DefaultLogBurst cap the log messages relayed per
	// upstream (per second, and at once).
	DefaultLogRate  = 50
	DefaultLogBurst = 100
	// DefaultUpstreamProgressRate and DefaultUpstreamProgressBurst cap the
	// progress notifications relayed per upstream, over all its calls
	// (each call also has its own cap, DefaultProgressRate).
	DefaultUpstreamProgressRate  = 100
	DefaultUpstreamProgressBurst = 100
	// DefaultNotificationQueue is how many notifications may wait for
	// the client; more are dropped.
	DefaultNotificationQueue = 256
	// DefaultStuckClient is how long the client may accept nothing while
	// notifications pile up before the gateway ends its session.
	DefaultStuckClient = 30 * time.Second
)

// notifier relays notifications to the client through a bounded queue,
// drained by one goroutine that runs only while there is something to
// send, and keeps per-upstream rate limits and drop counts.
type notifier struct {
	g *Gateway

	mu        sync.Mutex
	q         []func(context.Context) error
	running   bool      // a drain goroutine is running
	busySince time.Time // when the write in progress began; zero if none
	lims      map[string]*rate.Limiter
	dropped   map[string]uint64
	failOnce  sync.Once

	stuckAfter time.Duration // zero means DefaultStuckClient
	onStuck    func()        // nil means end the client session
}

// allow reports whether server may relay one more log message now.
func (n *notifier) allow(server string) bool {
	return n.allowAt("log\x00"+server, DefaultLogRate, DefaultLogBurst)
}

// allowProgress reports whether server may relay one more progress
// notification now, whatever call it belongs to.
func (n *notifier) allowProgress(server string) bool {
	return n.allowAt("progress\x00"+server, DefaultUpstreamProgressRate, DefaultUpstreamProgressBurst)
}

func (n *notifier) allowAt(key string, r rate.Limit, burst int) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.lims == nil {
		n.lims = map[string]*rate.Limiter{}
	}
	l := n.lims[key]
	if l == nil {
		l = rate.NewLimiter(r, burst)
		n.lims[key] = l
	}
	return l.Allow()
}

// drop counts a notification of server that was not relayed, logging the
// first drop and every thousandth (with the count, never the content).
func (n *notifier) drop(server, why string) {
	n.mu.Lock()
	if n.dropped == nil {
		n.dropped = map[string]uint64{}
	}
	n.dropped[server]++
	c := n.dropped[server]
	n.mu.Unlock()
	if c == 1 || c%1000 == 0 {
		n.g.log.Warn().Str("server", server).Uint64("dropped", c).Str("reason", why).Msg("upstream notifications dropped")
	}
}

// Dropped returns how many notifications of server were not relayed (rate
// limit, guardrails, a full queue) so far.
func (g *Gateway) Dropped(server string) uint64 {
	g.notes.mu.Lock()
	defer g.notes.mu.Unlock()
	return g.notes.dropped[server]
}

// send queues fn, which writes one notification of server to the client.
// A full queue drops it; a full queue behind a write that has not ended for
// DefaultStuckClient ends the client session.
func (n *notifier) send(server string, fn func(context.Context) error) {
	n.mu.Lock()
	if len(n.q) >= DefaultNotificationQueue {
		after := n.stuckAfter
		if after <= 0 {
			after = DefaultStuckClient
		}
		stuck := !n.busySince.IsZero() && time.Since(n.busySince) > after
		n.mu.Unlock()
		n.drop(server, "the queue to the client is full (the client does not read)")
		if stuck {
			n.failOnce.Do(func() {
				n.g.log.Error().Dur("stuck", after).Msg("the client accepts no messages; ending its session")
				if n.onStuck != nil {
					n.onStuck()
				} else if ss := n.g.client(); ss != nil {
					_ = ss.Close()
				}
			})
		}
		return
	}
	n.q = append(n.q, fn)
	if !n.running {
		n.running = true
		go n.drain()
	}
	n.mu.Unlock()
}

func (n *notifier) drain() {
	for {
		n.mu.Lock()
		if len(n.q) == 0 {
			n.running, n.busySince = false, time.Time{}
			n.q = nil
			n.mu.Unlock()
			return
		}
		fn := n.q[0]
		n.q[0] = nil
		n.q = n.q[1:]
		n.busySince = time.Now()
		n.mu.Unlock()
		if err := fn(context.Background()); err != nil {
			n.g.log.Debug().Err(err).Msg("relay notification")
		}
	}
}
