package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"secure-mcp-gateway/internal/config"
)

// Operation kinds, the keys of timeout_settings without their _timeout
// suffix.
const (
	KindDefault       = "default"
	KindGuardrail     = "guardrail"
	KindAuth          = "auth"
	KindToolExecution = "tool_execution"
	KindDiscovery     = "discovery"
	KindCache         = "cache"
	KindConnectivity  = "connectivity"
)

// Kinds lists every operation kind, in timeout_settings order.
var Kinds = []string{KindDefault, KindGuardrail, KindAuth, KindToolExecution, KindDiscovery, KindCache, KindConnectivity}

// Escalation levels: the label an operation gets from the ratio of its
// elapsed time to its budget.
const (
	LevelNormal  = "normal"
	LevelWarn    = "warn"
	LevelTimeout = "timeout"
	LevelFail    = "fail"
)

// Default escalation ratios (timeout_settings.escalation_policies).
const (
	DefaultWarnRatio    = 0.8
	DefaultTimeoutRatio = 1.0
	DefaultFailRatio    = 1.2
)

// Budgets are the time budgets of each operation kind and the escalation
// ratios. A zero field means its config default.
type Budgets struct {
	// ByKind maps an operation kind to its budget. A missing or zero entry
	// means the config default of that kind (Default for unknown kinds).
	ByKind map[string]time.Duration
	// Warn, Timeout and Fail are the elapsed/budget ratios from which an
	// operation is labelled warn, timeout and fail. Zero means
	// DefaultWarnRatio, DefaultTimeoutRatio and DefaultFailRatio.
	Warn, Timeout, Fail float64
}

// BudgetsFromConfig returns the budgets of the config's timeout_settings,
// defaults filled.
func BudgetsFromConfig(t config.TimeoutSettings) Budgets {
	return Budgets{
		ByKind: map[string]time.Duration{
			KindDefault:       t.DefaultTimeout(),
			KindGuardrail:     t.GuardrailTimeout(),
			KindAuth:          t.AuthTimeout(),
			KindToolExecution: t.ToolExecutionTimeout(),
			KindDiscovery:     t.DiscoveryTimeout(),
			KindCache:         t.CacheTimeout(),
			KindConnectivity:  t.ConnectivityTimeout(),
		},
		Warn: t.Escalation.Warn, Timeout: t.Escalation.Timeout, Fail: t.Escalation.Fail,
	}
}

// Budget returns kind's budget, defaults filled.
func (b Budgets) Budget(kind string) time.Duration {
	if d := b.ByKind[kind]; d > 0 {
		return d
	}
	def := BudgetsFromConfig(config.TimeoutSettings{}).ByKind
	if d, ok := def[kind]; ok {
		return d
	}
	return def[KindDefault]
}

// ratios returns the escalation ratios, defaults filled.
func (b Budgets) ratios() (warn, timeout, fail float64) {
	warn, timeout, fail = b.Warn, b.Timeout, b.Fail
	if warn <= 0 {
		warn = DefaultWarnRatio
	}
	if timeout <= 0 {
		timeout = DefaultTimeoutRatio
	}
	if fail <= 0 {
		fail = DefaultFailRatio
	}
	return warn, timeout, fail
}

// Level returns the escalation label of an operation of kind that took
// elapsed.
func (b Budgets) Level(kind string, elapsed time.Duration) string {
	warn, timeout, fail := b.ratios()
	r := float64(elapsed) / float64(b.Budget(kind))
	switch {
	case r >= fail:
		return LevelFail
	case r >= timeout:
		return LevelTimeout
	case r >= warn:
		return LevelWarn
	}
	return LevelNormal
}

// TimeoutError says that an operation ran out of its budget. Its text names
// the operation, the budget and the timeout_settings key that sets it.
type TimeoutError struct {
	// Kind is the operation kind, one of the Kind… constants.
	Kind string
	// Operation names what timed out, e.g. `tool "sleep" on server "probe"`.
	Operation string
	// Budget is the budget that ran out.
	Budget time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%s timed out after %s (%s_timeout)", e.Operation, e.Budget, e.Kind)
}

// Is makes errors.Is(err, context.DeadlineExceeded) hold for a TimeoutError.
func (e *TimeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// TimeoutTracker applies the budgets to operations and keeps their metrics:
// totals, timeouts, cancellations, escalation counts and the operations in
// flight. Escalations above normal are logged. A TimeoutTracker is safe for
// concurrent use and may be shared by the gateways of one process.
type TimeoutTracker struct {
	budgets Budgets
	log     zerolog.Logger

	mu         sync.Mutex
	next       uint64
	total      int
	ok         int
	timeouts   int
	cancelled  int
	failed     int
	escalation map[string]int
	byKind     map[string]int
	active     map[uint64]*Operation
}

// NewTimeoutTracker returns a tracker applying b. A nil log means no logs.
func NewTimeoutTracker(b Budgets, log *zerolog.Logger) *TimeoutTracker {
	t := &TimeoutTracker{budgets: b, log: zerolog.Nop(),
		escalation: map[string]int{LevelNormal: 0, LevelWarn: 0, LevelTimeout: 0, LevelFail: 0},
		byKind:     map[string]int{}, active: map[uint64]*Operation{}}
	if log != nil {
		t.log = *log
	}
	return t
}

// Budgets returns the tracker's budgets.
func (t *TimeoutTracker) Budgets() Budgets { return t.budgets }

// Operation is one tracked operation. End it exactly once.
type Operation struct {
	t       *TimeoutTracker
	id      uint64
	kind    string
	name    string
	budget  time.Duration
	start   time.Time
	ctx     context.Context
	cancel  context.CancelFunc
	endOnce sync.Once
}

// logger is the log of op's tracker; nil when it has none.
func (op *Operation) logger() *zerolog.Logger {
	if op == nil || op.t == nil {
		return nil
	}
	return &op.t.log
}

// Start begins an operation of kind named name: it returns ctx bounded by
// the kind's budget and the Operation to End when it is over.
func (t *TimeoutTracker) Start(ctx context.Context, kind, name string) (context.Context, *Operation) {
	op := &Operation{t: t, kind: kind, name: name, budget: t.budgets.Budget(kind), start: time.Now()}
	op.ctx, op.cancel = context.WithTimeout(ctx, op.budget)
	t.mu.Lock()
	t.next++
	op.id = t.next
	t.active[op.id] = op
	t.mu.Unlock()
	return op.ctx, op
}

// Begin tracks an operation that bounds itself (an OAuth token request has
// its own client timeout): it is labelled and counted, not cancelled.
func (t *TimeoutTracker) Begin(kind, name string) *Operation {
	_, op := t.Start(context.Background(), kind, name)
	return op
}

// Budget returns the operation's budget.
func (op *Operation) Budget() time.Duration { return op.budget }

// TimedOut reports whether the operation's budget ran out.
func (op *Operation) TimedOut() bool {
	return errors.Is(op.ctx.Err(), context.DeadlineExceeded)
}

// Err returns a *TimeoutError when the operation's budget ran out, else nil.
func (op *Operation) Err() error {
	if !op.TimedOut() {
		return nil
	}
	return &TimeoutError{Kind: op.kind, Operation: op.name, Budget: op.budget}
}

// End records the operation's outcome: err nil is a success; a timeout is an
// exceeded budget (or an error that says so); a cancellation is the caller
// going away. It returns the escalation label, which is logged when above
// normal.
func (op *Operation) End(err error) string {
	level := LevelNormal
	op.endOnce.Do(func() {
		elapsed := time.Since(op.start)
		timedOut := op.TimedOut() || errors.Is(err, context.DeadlineExceeded)
		op.cancel()
		level = op.t.budgets.Level(op.kind, elapsed)
		if timedOut && level == LevelNormal || timedOut && level == LevelWarn {
			level = LevelTimeout // a deadline set by the caller, shorter than the budget
		}
		t := op.t
		t.mu.Lock()
		delete(t.active, op.id)
		t.total++
		t.byKind[op.kind]++
		t.escalation[level]++
		switch {
		case timedOut:
			t.timeouts++
		case err == nil:
			t.ok++
		case errors.Is(err, context.Canceled):
			t.cancelled++
		default:
			t.failed++
		}
		t.mu.Unlock()
		if level == LevelNormal {
			return
		}
		ev := t.log.Warn()
		if level == LevelFail {
			ev = t.log.Error()
		}
		ev.Str("kind", op.kind).Str("operation", op.name).Dur("elapsed", elapsed).Dur("budget", op.budget).
			Str("escalation", level).Bool("timed_out", timedOut).Msg("operation escalated: slow or timed out")
	})
	return level
}

// ActiveOperation is an operation in flight, as metrics report it.
type ActiveOperation struct {
	ID        uint64 `json:"id"`
	Kind      string `json:"kind"`
	Operation string `json:"operation"`
	ElapsedMS int64  `json:"elapsed_ms"`
	BudgetMS  int64  `json:"budget_ms"`
	Status    string `json:"status"`
}

// TimeoutMetrics are the tracker's counters, with the field names of the
// Python gateway's enkrypt_get_timeout_metrics.
type TimeoutMetrics struct {
	TotalOperations      int            `json:"total_operations"`
	SuccessfulOperations int            `json:"successful_operations"`
	TimeoutOperations    int            `json:"timeout_operations"`
	CancelledOperations  int            `json:"cancelled_operations"`
	FailedOperations     int            `json:"failed_operations"`
	EscalationCounts     map[string]int `json:"escalation_counts"`
	OperationsByKind     map[string]int `json:"operations_by_kind"`
	SuccessRate          float64        `json:"success_rate"`
	ActiveOperations     int            `json:"active_operations"`
}

// Metrics returns a snapshot of the counters and the operations in flight,
// oldest first.
func (t *TimeoutTracker) Metrics() (TimeoutMetrics, []ActiveOperation) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := TimeoutMetrics{TotalOperations: t.total, SuccessfulOperations: t.ok, TimeoutOperations: t.timeouts,
		CancelledOperations: t.cancelled, FailedOperations: t.failed, ActiveOperations: len(t.active),
		EscalationCounts: make(map[string]int, len(t.escalation)), OperationsByKind: make(map[string]int, len(t.byKind))}
	for k, v := range t.escalation {
		m.EscalationCounts[k] = v
	}
	for k, v := range t.byKind {
		m.OperationsByKind[k] = v
	}
	if t.total > 0 {
		m.SuccessRate = float64(t.ok) / float64(t.total)
	}
	active := make([]ActiveOperation, 0, len(t.active))
	now := time.Now()
	for _, op := range t.active {
		active = append(active, ActiveOperation{ID: op.id, Kind: op.kind, Operation: op.name,
			ElapsedMS: now.Sub(op.start).Milliseconds(), BudgetMS: op.budget.Milliseconds(), Status: "running"})
	}
	sort.Slice(active, func(i, j int) bool { return active[i].ID < active[j].ID })
	return m, active
}

// TimeoutConfig returns the budgets in seconds under the timeout_settings
// key names, for reports.
func (b Budgets) TimeoutConfig() map[string]float64 {
	out := make(map[string]float64, len(Kinds))
	for _, k := range Kinds {
		out[k+"_timeout"] = b.Budget(k).Seconds()
	}
	return out
}

// within runs fn under op's budget and returns its result, or op's
// TimeoutError as soon as the budget runs out even if fn ignores its
// context (local scanners, disk I/O): the caller then proceeds as on a
// failure, and fn's late result is dropped.
func within[T any](ctx context.Context, op *Operation, fn func(context.Context) (T, error)) (T, error) {
	type out struct {
		v   T
		err error
	}
	ch := make(chan out, 1)
	go func() {
		v, err := guarded(op.logger(), op.name, func() (T, error) { return fn(ctx) })
		ch <- out{v, err}
	}()
	select {
	case o := <-ch:
		return o.v, o.err
	case <-ctx.Done():
		var zero T
		if err := op.Err(); err != nil {
			return zero, err
		}
		return zero, ctx.Err()
	}
}

// inline runs fn on the caller's goroutine under op's budget, for work that
// is short and bounded (see promptGuard); a result that comes after the budget ran out is
// refused just as within refuses it. It saves within's goroutine, whose
// stack would grow from scratch for every call.
func inline[T any](ctx context.Context, op *Operation, fn func(context.Context) (T, error)) (T, error) {
	v, err := guarded(op.logger(), op.name, func() (T, error) { return fn(ctx) })
	if time.Since(op.start) >= op.budget {
		// The context's deadline may not have fired yet; the clock decides.
		var zero T
		return zero, &TimeoutError{Kind: op.kind, Operation: op.name, Budget: op.budget}
	}
	return v, err
}

// timedCache bounds every ToolCache operation by the cache budget: a load
// that does not answer in time is a miss, a store that does not finish in
// time is abandoned.
type timedCache struct {
	tc ToolCache
	t  *TimeoutTracker
}

var _ ToolCache = timedCache{}

// LoadTools implements ToolCache.
func (c timedCache) LoadTools(ctx context.Context, configID string, s *config.Server) (json.RawMessage, bool, bool) {
	type loaded struct {
		tools     json.RawMessage
		stale, ok bool
	}
	ctx, op := c.t.Start(ctx, KindCache, fmt.Sprintf("discovery cache load of server %q", s.Name))
	v, err := within(ctx, op, func(ctx context.Context) (loaded, error) {
		tools, stale, ok := c.tc.LoadTools(ctx, configID, s)
		return loaded{tools, stale, ok}, nil
	})
	op.End(err)
	if err != nil {
		return nil, false, false
	}
	return v.tools, v.stale, v.ok
}

// StoreTools implements ToolCache.
func (c timedCache) StoreTools(ctx context.Context, configID string, s *config.Server, tools json.RawMessage) {
	ctx, op := c.t.Start(context.WithoutCancel(ctx), KindCache, fmt.Sprintf("discovery cache store of server %q", s.Name))
	_, err := within(ctx, op, func(ctx context.Context) (struct{}, error) {
		c.tc.StoreTools(ctx, configID, s, tools)
		return struct{}{}, nil
	})
	op.End(err)
}
