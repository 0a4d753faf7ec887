package web

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
)

// MaxBody is the largest request body accepted.
const MaxBody = 1 << 20

// MaxReport bounds a hub node's status report: what it observed of every
// hub it runs (about 1–2 KB a hub, more with refused prefixes listed), so
// a node with thousands of hubs still reports.
const MaxReport = 32 << 20

// errorBody is the one shape of every error answer.
type errorBody struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		Field     string `json:"field,omitempty"`
		RequestID string `json:"request_id,omitempty"`
	} `json:"error"`
}

var statusOf = map[fault.Kind]int{
	fault.Invalid:      http.StatusBadRequest,
	fault.Unauthorized: http.StatusUnauthorized,
	fault.Forbidden:    http.StatusForbidden,
	fault.NotFound:     http.StatusNotFound,
	fault.BadMethod:    http.StatusMethodNotAllowed,
	fault.Conflict:     http.StatusConflict,
	fault.TooLarge:     http.StatusRequestEntityTooLarge,
	fault.RateLimited:  http.StatusTooManyRequests,
	fault.Unavailable:  http.StatusServiceUnavailable,
	fault.Internal:     http.StatusInternalServerError,
}

// classify turns any error into a user-safe fault. This is the one place where
// errors become HTTP; the store's errors are faults too, and anything unknown
// is an internal error whose detail stays in the log.
func classify(err error) *fault.Error {
	if f, ok := fault.As(err); ok {
		return f
	}
	return &fault.Error{Kind: fault.Internal, Message: "internal error", Err: err}
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	refused(r)
	f := classify(err)
	code := statusOf[f.Kind]
	if code == 0 {
		code = http.StatusInternalServerError
	}
	switch {
	case code == http.StatusServiceUnavailable:
		// Expected while the database is away; the outage itself is logged
		// once by setReady.
		s.deps.Log.DebugContext(r.Context(), "request refused: unavailable", "request_id", requestID(r), "err", err)
	case code >= 500:
		s.deps.Log.ErrorContext(r.Context(), "request failed", "request_id", requestID(r), "method", r.Method,
			"path", r.URL.Path, "err", err)
	}
	var b errorBody
	b.Error.Code, b.Error.Message, b.Error.Field, b.Error.RequestID = string(f.Kind), f.Message, f.Field, requestID(r)
	if f.Code != "" {
		b.Error.Code = f.Code
	}
	var wait interface{ RetryAfter() time.Duration }
	switch {
	case code == http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "5")
	case errors.As(err, &wait):
		// Whole seconds, rounded up: a client that waits exactly this long
		// is not refused again for the same reason.
		w.Header().Set("Retry-After", strconv.Itoa(int(max(1, (wait.RetryAfter()+time.Second-1)/time.Second))))
	}
	writeJSON(w, code, b)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

// decode reads exactly one JSON object of at most MaxBody bytes into v,
// refusing duplicate keys, invalid UTF-8, unknown fields, wrong types and
// trailing data (strictUnmarshal).
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeLimit(w, r, v, MaxBody)
}

// decodeLimit is decode with another size limit.
func decodeLimit(w http.ResponseWriter, r *http.Request, v any, limit int64) error {
	body, err := readJSONBody(w, r, limit)
	if err != nil {
		return err
	}
	return strictUnmarshal(body, v)
}

// readJSONBody reads a JSON request body of at most limit bytes.
func readJSONBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return nil, fault.New(fault.Invalid, "Content-Type must be application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return nil, fault.New(fault.TooLarge, "the body is larger than %d bytes", limit)
		}
		return nil, fault.Wrap(fault.Invalid, err, "the body could not be read")
	}
	return body, nil
}

// page reads ?limit= and ?after=.
func page(r *http.Request) (catalog.Page, error) {
	var p catalog.Page
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > catalog.MaxPage {
			return p, fault.Field("limit", "limit must be a number from 1 to %d", catalog.MaxPage)
		}
		p.Limit = n
	}
	p.After = r.URL.Query().Get("after")
	if len(p.After) > 200 {
		return p, fault.Field("after", "after is too long")
	}
	return p, nil
}

// list is the shape of every list answer: items and the key of the next page.
type list[T any] struct {
	Items []T     `json:"items"`
	Next  *string `json:"next_after"`
}

func newList[T any](items []T, next string) list[T] {
	l := list[T]{Items: items}
	if next != "" {
		l.Next = &next
	}
	return l
}

// listed answers one page of a list: it reads ?limit= and ?after=, asks
// fetch for the page, and writes the list envelope.
func listed[T any](w http.ResponseWriter, r *http.Request, fetch func(catalog.Page) ([]T, string, error)) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	items, next, err := fetch(p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(items, next))
	return nil
}

func splitComma(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
