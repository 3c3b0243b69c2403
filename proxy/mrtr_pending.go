package proxy

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Translation of an old upstream's server-initiated request (elicitation,
// sampling, roots) during a call of a 2026-07-28 client, which takes no
// server-initiated requests: the upstream call goes on in the background,
// the client gets input_required with the question and a requestState the
// gateway signs, and its retry carries the answer, which the gateway gives
// the waiting upstream request; then the call ends, or asks again.
//
// The pending call lives in this gateway's memory, so the retry must reach
// the same process (always so over stdio); it lives at most the call's
// tool_execution_timeout, like any call.

// askID is the key of the one question an input_required result of the
// gateway carries.
const askID = "gateway"

// statePrefix marks a requestState the gateway minted.
const statePrefix = "smg1."

// errUnknownState is the answer to a retry whose requestState the gateway
// minted but no longer knows (the call ended) or never did (forged).
var errUnknownState = errors.New("the call this retry continues is unknown: it ended, or the requestState is not the gateway's")

// errNoAnswer is the answer to a retry that continues a call without
// answering its question.
var errNoAnswer = errors.New("the retry carries no answer to the question (inputResponses." + askID + "); the call is abandoned")

// errTooManyPending refuses to park one more call.
var errTooManyPending = errors.New("too many calls are waiting for answers; answer or abandon one first")

// maxPendingCalls bounds the calls a gateway keeps waiting for its client's
// answers; each holds an upstream call open until it is answered or its
// tool_execution_timeout ends it.
const maxPendingCalls = 64

// pendingCalls are the calls waiting for a 2026-07-28 client's answer, by
// nonce.
type pendingCalls struct {
	once sync.Once
	key  []byte // the requestState MAC key, random per gateway

	mu sync.Mutex
	m  map[string]*pendingCall
}

// pendingCall is one upstream call that may ask its client questions.
type pendingCall struct {
	rt     route
	ctx    context.Context // the upstream call's; ends with it
	cancel context.CancelFunc
	asks   chan *pendingAsk // questions of the upstream, one at a time
	done   chan struct{}    // closed when the upstream call returned
	res    *mcp.CallToolResult
	err    error

	mu     sync.Mutex
	asking *pendingAsk // the question the client was given, until answered
}

// pendingAsk is one question of the upstream and the channel its answer
// comes back on.
type pendingAsk struct {
	method   string
	question mcp.InputRequest
	answer   chan mcp.InputResponse // buffered: one answer
}

// pendingKey is the context key of an upstream call's *pendingCall.
type pendingKey struct{}

// pendingOf returns the pending call ctx belongs to, or nil.
func pendingOf(ctx context.Context) *pendingCall {
	if ctx == nil {
		return nil
	}
	pc, _ := ctx.Value(pendingKey{}).(*pendingCall)
	return pc
}

func (t *pendingCalls) init() {
	t.once.Do(func() {
		t.key = make([]byte, 32)
		_, _ = rand.Read(t.key) // never fails (crypto/rand)
		t.m = map[string]*pendingCall{}
	})
}

// sign returns the requestState for pc parked under nonce.
func (t *pendingCalls) sign(nonce string, rt route) string {
	mac := hmac.New(sha256.New, t.key)
	mac.Write([]byte(nonce + "\x00" + rt.server + "\x00" + rt.tool))
	return statePrefix + nonce + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// park keeps pc until the client's retry, and returns its requestState.
func (t *pendingCalls) park(pc *pendingCall) (string, error) {
	t.init()
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	nonce := base64.RawURLEncoding.EncodeToString(b)
	t.mu.Lock()
	if len(t.m) >= maxPendingCalls {
		t.mu.Unlock()
		return "", errTooManyPending
	}
	t.m[nonce] = pc
	t.mu.Unlock()
	go func() {
		<-pc.done
		t.mu.Lock()
		delete(t.m, nonce)
		t.mu.Unlock()
	}()
	return t.sign(nonce, pc.rt), nil
}

// resume returns, and forgets, the call parked under state for a retry of
// rt's tool.
func (t *pendingCalls) resume(state string, rt route) (*pendingCall, error) {
	t.init()
	nonce, _, ok := strings.Cut(strings.TrimPrefix(state, statePrefix), ".")
	if !ok || !hmac.Equal([]byte(t.sign(nonce, rt)), []byte(state)) {
		return nil, errUnknownState
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	pc := t.m[nonce]
	if pc == nil {
		return nil, errUnknownState
	}
	delete(t.m, nonce)
	return pc, nil
}

// gatewayState reports whether a retry's requestState is one the gateway
// minted (rather than an upstream's, passed through).
func gatewayState(s string) bool { return strings.HasPrefix(s, statePrefix) }

// callAsking runs a 2026-07-28 client's call on cs: a retry with the
// gateway's requestState continues the call it parked; otherwise the
// upstream call starts in the background. It returns the upstream's result,
// or input_required with the upstream's next question.
func (p *pipeline) callAsking(ctx context.Context, c *callState, cs *mcp.ClientSession, params *mcp.CallToolParams) (*mcp.CallToolResult, error) {
	var pc *pendingCall
	if state := c.req.Params.RequestState; gatewayState(state) {
		var err error
		if pc, err = p.pending.resume(state, c.rt); err != nil {
			return nil, err
		}
		pc.mu.Lock()
		ask := pc.asking
		pc.asking = nil
		pc.mu.Unlock()
		answer, ok := c.req.Params.InputResponses[askID]
		if ask == nil || !ok || answer == nil {
			pc.cancel()
			return nil, errNoAnswer
		}
		ask.answer <- answer
	} else {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.callTimeout)
		pc = &pendingCall{rt: c.rt, cancel: cancel, asks: make(chan *pendingAsk), done: make(chan struct{})}
		uctx = context.WithValue(uctx, pendingKey{}, pc)
		pc.ctx = uctx
		forget := p.inflight.push(c.rt.server, uctx)
		go func() {
			defer close(pc.done)
			defer cancel()
			defer forget()
			pc.res, pc.err = cs.CallTool(uctx, params)
		}()
	}
	select {
	case <-pc.done:
		return pc.res, pc.err
	case ask := <-pc.asks:
		pc.mu.Lock()
		pc.asking = ask
		pc.mu.Unlock()
		state, err := p.pending.park(pc)
		if err != nil {
			pc.cancel()
			<-pc.done
			return nil, err
		}
		return inputRequired(ask.question, state)
	case <-ctx.Done():
		pc.cancel()
		<-pc.done
		return nil, ctx.Err()
	}
}

// inputRequired is the input_required result asking question, continued
// by state.
func inputRequired(question mcp.InputRequest, state string) (*mcp.CallToolResult, error) {
	qs, err := json.Marshal(mcp.InputRequestMap{askID: question})
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(map[string]any{"resultType": "input_required", "inputRequests": json.RawMessage(qs), "requestState": state})
	if err != nil {
		return nil, err
	}
	var res mcp.CallToolResult
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// ask hands the question of an upstream request (already past the policy
// and the output guardrails) to pc's client call, and waits for the answer
// the client's retry brings.
func (pc *pendingCall) ask(ctx context.Context, method string, question mcp.InputRequest) (mcp.InputResponse, error) {
	a := &pendingAsk{method: method, question: question, answer: make(chan mcp.InputResponse, 1)}
	select {
	case pc.asks <- a:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-pc.ctx.Done():
		return nil, pc.ctx.Err()
	}
	select {
	case ans := <-a.answer:
		return ans, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-pc.ctx.Done():
		return nil, pc.ctx.Err()
	}
}
