package proxy

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/rs/zerolog"
)

// PanicError is a panic in the gateway's own code (a guardrail, a detector,
// a check, a handler) caught while it served one request. That request
// fails closed with it: a call not yet forwarded is not forwarded, a result
// not yet checked does not reach the client. The process and every other
// session go on.
type PanicError struct {
	// Op names what was running.
	Op string
	// Cause says what panicked: a runtime error's own message (which
	// quotes no data), else only the type of the panic value, which may
	// hold what the request carried.
	Cause string
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("internal error in %s (%s); the request failed closed and nothing more of it ran; the gateway log has the stack", e.Op, e.Cause)
}

// caught makes a *PanicError of v, recovered while op ran, and logs it with
// its stack.
func caught(log *zerolog.Logger, op string, v any) *PanicError {
	cause := fmt.Sprintf("a panic with a value of type %T", v)
	if re, ok := v.(runtime.Error); ok {
		cause = re.Error()
	}
	if log != nil {
		log.Error().Str("op", op).Str("cause", cause).Str("stack", string(debug.Stack())).Msg("panic caught; the request failed closed")
	}
	return &PanicError{Op: op, Cause: cause}
}

// guarded runs fn and turns a panic in it into a *PanicError (see caught).
func guarded[T any](log *zerolog.Logger, op string, fn func() (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			var zero T
			v, err = zero, caught(log, op, r)
		}
	}()
	return fn()
}
