package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"secure-mcp-gateway/admin"
	"secure-mcp-gateway/internal/config"
)

// Envelope is every success body: the union of the two shapes the Python
// gateway's admin API shipped, so its clients keep working.
type Envelope[T any] struct {
	Status        string `json:"status" enum:"success" doc:"always success; errors carry error"`
	Message       string `json:"message" doc:"what the request did, for people"`
	Data          T      `json:"data"`
	Timestamp     string `json:"timestamp" doc:"UTC time of the response, RFC 3339"`
	CorrelationID string `json:"correlation_id" doc:"the request's X-Correlation-ID, or one made up for it"`
}

// Reply is a handler's output: an Envelope as the response body.
type Reply[T any] struct {
	Body Envelope[T]
}

// reply wraps data in the success envelope.
func reply[T any](ctx context.Context, msg string, data T) (*Reply[T], error) {
	return &Reply[T]{Body: Envelope[T]{Status: "success", Message: msg, Data: data,
		Timestamp: now(), CorrelationID: correlationID(ctx)}}, nil
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// Problem is an RFC 9457 problem details object.
type Problem struct {
	Type     string         `json:"type" doc:"a URI naming the kind of problem; about:blank for plain HTTP statuses"`
	Title    string         `json:"title" doc:"the HTTP status text"`
	Status   int            `json:"status" doc:"the HTTP status code"`
	Detail   string         `json:"detail" doc:"what is wrong and how to fix it"`
	Instance string         `json:"instance,omitempty" doc:"the request path"`
	Errors   []*FieldDetail `json:"errors,omitempty" doc:"one entry per field at fault"`
}

// FieldDetail is one field at fault. The value sent is never echoed: it
// may be a secret.
type FieldDetail struct {
	Location string `json:"location,omitempty" doc:"where: body.field, path.name, query.name"`
	Message  string `json:"message" doc:"what is wrong with it"`
}

// Error is every error body: the envelope with status "error", the message
// naming the field and the fix, the RFC 9457 problem in error, and detail
// (the message again) for clients of the Python gateway, which read
// FastAPI's {"detail": ...}.
type Error struct {
	Status        string  `json:"status" enum:"error"`
	Message       string  `json:"message"`
	Detail        string  `json:"detail"`
	Problem       Problem `json:"error"`
	Timestamp     string  `json:"timestamp"`
	CorrelationID string  `json:"correlation_id"`
}

// Error implements error.
func (e *Error) Error() string { return e.Message }

// GetStatus is the HTTP status of the response.
func (e *Error) GetStatus() int { return e.Problem.Status }

// newError builds an Error; fields list the fields at fault.
func newError(ctx context.Context, status int, msg string, fields ...*FieldDetail) *Error {
	return &Error{Status: "error", Message: msg, Detail: msg,
		Problem:   Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: msg, Errors: fields},
		Timestamp: now(), CorrelationID: correlationID(ctx)}
}

// humaError turns huma's own errors (schema validation, unreadable bodies)
// into Error, naming every field and what to send instead.
func humaError(ctx context.Context, status int, msg string, errs ...error) huma.StatusError {
	var fields []*FieldDetail
	var parts []string
	for _, err := range errs {
		if err == nil {
			continue
		}
		f := &FieldDetail{Message: err.Error()}
		var d huma.ErrorDetailer
		if errors.As(err, &d) {
			ed := d.ErrorDetail()
			f = &FieldDetail{Location: ed.Location, Message: ed.Message}
		}
		fields = append(fields, f)
		if f.Location != "" {
			parts = append(parts, f.Location+": "+f.Message)
		} else {
			parts = append(parts, f.Message)
		}
	}
	if len(parts) > 0 {
		msg += ": " + strings.Join(parts, "; ")
		if status == http.StatusUnprocessableEntity {
			msg += " (the request schema is in /openapi.json)"
		}
	}
	return newError(ctx, status, msg, fields...)
}

// fail maps an admin error to its HTTP status with errors.As: a request
// problem is 422, a name not found 404, a clash with the current state
// 409; anything else is 500.
func fail(ctx context.Context, err error) error {
	var (
		nf  *admin.NotFoundError
		knf *admin.KeyNotFoundError
		cf  *admin.ConflictError
		amb *admin.AmbiguousError
		rf  *admin.RefusedError
		req *admin.RequestError
		inv *admin.InvalidError
		em  *admin.InvalidEmailError
		ve  *config.ValidationError
		ae  *Error
		ua  *admin.UnavailableError
		rv  *admin.RevokeError
		us  *admin.UnsharedError
	)
	switch {
	case errors.As(err, &ae): // a handler's own answer
		return ae
	case errors.As(err, &nf):
		msg := err.Error()
		if nf.DidYouMean != "" {
			msg += "; did you mean " + quote(nf.DidYouMean) + "?"
		}
		return newError(ctx, http.StatusNotFound, msg)
	case errors.As(err, &knf):
		return newError(ctx, http.StatusNotFound, err.Error()+"; give the key or its fingerprint (fp:xxxxxxxx) from GET /api/v1/api-keys")
	case errors.As(err, &amb):
		return newError(ctx, http.StatusConflict, err.Error()+"; use one of the IDs instead of the name")
	case errors.As(err, &cf), errors.As(err, &rf):
		return newError(ctx, http.StatusConflict, err.Error())
	case errors.As(err, &req):
		fields := make([]*FieldDetail, len(req.Fields))
		for i, f := range req.Fields {
			fields[i] = &FieldDetail{Location: "body." + f, Message: req.Problem}
		}
		return newError(ctx, http.StatusUnprocessableEntity, err.Error(), fields...)
	case errors.As(err, &em):
		return newError(ctx, http.StatusUnprocessableEntity, err.Error(), &FieldDetail{Location: "body." + em.Field, Message: "not an email address"})
	case errors.As(err, &inv):
		return newError(ctx, http.StatusUnprocessableEntity, err.Error(), &FieldDetail{Location: "body." + inv.Field, Message: inv.Err.Error()})
	case errors.As(err, &ve):
		fields := make([]*FieldDetail, len(ve.Problems))
		parts := make([]string, len(ve.Problems))
		for i, p := range ve.Problems {
			m := p.Problem
			if p.Fix != "" {
				m += " (" + p.Fix + ")"
			}
			fields[i] = &FieldDetail{Location: p.Path, Message: m}
			parts[i] = p.Path + ": " + m
		}
		return newError(ctx, http.StatusUnprocessableEntity, "the change would make the config invalid: "+strings.Join(parts, "; "), fields...)
	case errors.As(err, &ua):
		return newError(ctx, http.StatusNotImplemented, err.Error()+" in this API server")
	case errors.As(err, &us):
		return newError(ctx, http.StatusBadGateway, err.Error())
	case errors.As(err, &rv):
		return newError(ctx, http.StatusBadGateway, err.Error()+"; check the issuer, then revoke again")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return newError(ctx, http.StatusServiceUnavailable, "the request was cancelled; retry it")
	}
	return newError(ctx, http.StatusInternalServerError, err.Error())
}

func quote(s string) string { return `"` + s + `"` }
