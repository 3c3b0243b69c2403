// Package admin holds the typed operations over the gateway's config file
// that the CLI (and later the REST API) adapt: each one loads the file under
// its lock, changes it, validates it and saves it atomically with a backup,
// then returns a typed result. Requests and results carry json tags so that
// they can serve as API bodies; failures are typed errors to test with
// errors.As.
package admin

import (
	"fmt"
	"strings"
)

// NotFoundError says that no entity of Kind ("config", "server", ...) is
// named (or has the ID) Name. In, when set, names the container searched
// (`MCP config "x"`). DidYouMean is the closest existing name, if any.
type NotFoundError struct {
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	In         string `json:"in,omitempty"`
	DidYouMean string `json:"did_you_mean,omitempty"`
}

func (e *NotFoundError) Error() string {
	if e.In != "" {
		return fmt.Sprintf("%s %q not found in %s", e.Kind, e.Name, e.In)
	}
	return fmt.Sprintf("%s %q not found", e.Kind, e.Name)
}

// ConflictError refuses a change that clashes with the current state: a
// name already taken, an entity still in use. Detail is the full message.
type ConflictError struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Detail string `json:"detail"`
}

func (e *ConflictError) Error() string { return e.Detail }

// AmbiguousError says that Name matches several entities of Kind; the
// caller must pass one of IDs instead.
type AmbiguousError struct {
	Kind string   `json:"kind"`
	Name string   `json:"name"`
	IDs  []string `json:"ids"`
}

func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("%d %ss are named %q (IDs %s)", len(e.IDs), e.Kind, e.Name, strings.Join(e.IDs, ", "))
}

// RequestError is a request that is incomplete or malformed before the
// config is looked at. Fields are the request's json field names at fault;
// with several, Problem is "missing" (one is required) or "exclusive"
// (only one may be given).
type RequestError struct {
	Fields  []string `json:"fields"`
	Problem string   `json:"problem"`
}

// Request problems.
const (
	ProblemMissing   = "missing"
	ProblemExclusive = "exclusive"
)

func (e *RequestError) Error() string {
	if e.Problem == ProblemExclusive {
		return "give only one of " + strings.Join(e.Fields, " and ")
	}
	if len(e.Fields) > 1 {
		return "either " + strings.Join(e.Fields, " or ") + " is required"
	}
	return strings.Join(e.Fields, ", ") + " is required"
}

// RefusedError is a change the config's current content does not allow
// (sandboxing a remote server, ...). Detail is the full message.
type RefusedError struct {
	Detail string `json:"detail"`
}

func (e *RefusedError) Error() string { return e.Detail }

// InvalidError is a request field whose value is unusable; Err says why
// (for a sandbox, every problem joined).
type InvalidError struct {
	Field string `json:"field"`
	Err   error  `json:"-"`
}

func (e *InvalidError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *InvalidError) Unwrap() error { return e.Err }

// UnsharedError means a change was saved in the config file but could not
// be shared with the replicas that serve other copies of it (Redis
// unreachable): they learn of it only when their copy changes. Running the
// operation again, once Redis is back, shares it.
type UnsharedError struct {
	// What was not shared: "key revocation".
	What string
	// Where it should have gone: "Redis 10.0.0.5:6379".
	Where string
	Err   error
}

func (e *UnsharedError) Error() string {
	return "saved in the config file, but the " + e.What + " could not be shared through " + e.Where +
		" with replicas serving other copies of the config (" + e.Err.Error() + "); run the command again once Redis is reachable"
}

func (e *UnsharedError) Unwrap() error { return e.Err }
