// Package fault holds the typed errors that domain packages return and that the
// web layer maps to HTTP in one place. A fault's message is written for the
// user and is safe to show; internal detail (SQL, file paths) never goes into
// one and stays in the wrapped error for the logs.
package fault

import (
	"errors"
	"fmt"
)

// Kind says what went wrong from the caller's side.
type Kind string

const (
	Invalid      Kind = "invalid"            // 400/422: the input breaks a rule
	Unauthorized Kind = "unauthorized"       // 401: who are you?
	Forbidden    Kind = "forbidden"          // 403: not allowed
	NotFound     Kind = "not_found"          // 404: absent, or another customer's
	BadMethod    Kind = "method_not_allowed" // 405: the path exists, not with this method
	Conflict     Kind = "conflict"           // 409: clashes with the current state
	TooLarge     Kind = "too_large"          // 413: request body over the limit
	RateLimited  Kind = "rate_limited"       // 429: too many attempts
	Unavailable  Kind = "unavailable"        // 503: a dependency is down; retry
	Internal     Kind = "internal_error"     // 500: a bug; detail only in the logs
)

// Error is a fault with a user-safe message and, for invalid input, the field.
type Error struct {
	Kind    Kind
	Message string
	Field   string
	// Code, when set, is a machine-readable reason finer than Kind (e.g.
	// "reauth_required"); the web layer answers it as error.code.
	Code string
	Err  error // internal cause, never shown
}

func (e *Error) Error() string {
	s := string(e.Kind) + ": " + e.Message
	if e.Field != "" {
		s += " (field " + e.Field + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Field reports invalid input in one field.
func Field(field, format string, args ...any) error {
	return &Error{Kind: Invalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// New makes a fault of kind k.
func New(k Kind, format string, args ...any) error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Coded makes a fault of kind k with the machine-readable code, for a
// refusal that a client must tell apart from others of its kind (a 403
// that asks for a re-authentication rather than another role).
func Coded(k Kind, code, format string, args ...any) error {
	return &Error{Kind: k, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap makes a fault of kind k that keeps err for the logs.
func Wrap(k Kind, err error, format string, args ...any) error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...), Err: err}
}

// As returns the fault in err's chain, if any.
func As(err error) (*Error, bool) {
	var f *Error
	ok := errors.As(err, &f)
	return f, ok
}

// Is reports whether err is a fault of kind k.
func Is(err error, k Kind) bool {
	f, ok := As(err)
	return ok && f.Kind == k
}
