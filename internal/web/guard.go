package web

import (
	"context"
	"net/http"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/audit"
)

// The audit guard: every change is audited, and the router checks it.
//
// Each request of a state-changing method (anything but GET and HEAD)
// carries an audit tally (audit.WithTally) that counts the events recorded
// under its context. A handler that answered such a request with a success
// (status below 400) and recorded nothing has changed something the audit
// log does not know of (unless it said there was nothing to change:
// audit.Unchanged): the router then records request.unrecorded itself
// (who, which route, the status), so that production never loses the fact,
// logs the defect at error level, and calls Deps.OnUnrecorded, which the
// tests set to fail. The guard counts events, not their meaning: which
// event a route records is the walk's business (guard_walk_test.go).

// unrecordedAction is the fallback event of a change its handler did not
// record.
const unrecordedAction = "request.unrecorded"

// notChanges are the routes of a state-changing method whose success
// changes nothing the audit log is for, each with why. The guard leaves
// them alone; every other POST, PUT, PATCH and DELETE of every listener is
// guarded.
var notChanges = map[string]string{
	// A node reports what it observes every few seconds: the status of
	// its hubs as it sees them, replacing its previous report. That is an
	// observation, not a change of anyone's data or configuration, and
	// auditing it would bury every chain under reports (fleet.Report).
	// What a report sets off that is a change — a port shut by its layer-2
	// guard, a BGP session stopped at its route limit — is recorded where
	// it is decided (nodeHolds, network), and the node's enrolment,
	// revocation and decommissioning are audited.
	"POST /agent/v1/status": "a node's report of what it observes",
	// The answer to a customer's looking-glass read: what BIRD says of the
	// customer's own session, kept minutes for the read that waits for it
	// (package lookingglass). A read of one's own data is not audited.
	"POST /agent/v1/queries/{id}": "a node's answer to a customer's read",
	// Flow records are observations too, stored by the thousand a minute
	// (flows.Store.Ingest); their expiry is audited (records.expire).
	"POST /agent/v1/flows": "a node's flow records: observations",
	// The first step of a ceremony keeps a challenge, or a TOTP secret not
	// yet confirmed, that grants nothing by itself; the step that
	// completes it is audited (mfa.totp.enrol, mfa.webauthn.register,
	// mfa.verify, session.reauth), and so is every failed attempt.
	"POST /api/v1/me/totp":                       "a ceremony's first step",
	"POST /api/v1/me/webauthn/register/begin":    "a ceremony's first step",
	"POST /api/v1/session/webauthn/begin":        "a ceremony's first step",
	"POST /api/v1/session/reauth/webauthn/begin": "a ceremony's first step",
	"POST /me/totp":                              "a ceremony's first step",
	// Previews compute what a move would do and change nothing; the move
	// itself is audited.
	"POST /api/v1/customers/{customer}/hubs/{hub}/move/preview":   "a preview changes nothing",
	"POST /api/v1/customers/{customer}/ports/{code}/move/preview": "a preview changes nothing",
	"POST /customers/{customer}/ports/{code}/move/preview":        "a preview changes nothing",
	"POST /customers/{customer}/ports/{code}/hub-move/preview":    "a preview changes nothing",
}

// guarded wraps the handler of route ("METHOD /pattern") in the audit guard.
func (s *Server) guarded(route string, h http.HandlerFunc) http.HandlerFunc {
	method, _, _ := strings.Cut(route, " ")
	if method == http.MethodGet || method == http.MethodHead {
		return h
	}
	if _, ok := notChanges[route]; ok {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, tally := audit.WithTally(r.Context())
		r = r.WithContext(ctx)
		h(w, r)
		st, _ := ctx.Value(keyState).(*reqState)
		if st == nil || st.w == nil {
			return // not under outer: nothing to learn the status from
		}
		code := st.w.code
		if code == 0 {
			code = http.StatusOK // net/http's answer to a handler that wrote nothing
		}
		if s.onServed != nil && !st.failed {
			s.onServed(route, code)
		}
		if code >= 400 || st.failed || tally.Load() > 0 {
			return
		}
		s.recordUnrecorded(ctx, st, route, code)
	}
}

// refused marks r as answered with an error: writeError and pageError
// call it, so that the guard never takes a refusal for a success.
func refused(r *http.Request) {
	if st, ok := r.Context().Value(keyState).(*reqState); ok {
		st.failed = true
	}
}

// recordUnrecorded records the fallback event of a change route's handler
// answered with code without recording it.
func (s *Server) recordUnrecorded(ctx context.Context, st *reqState, route string, code int) {
	ctx = context.WithoutCancel(ctx)
	ev := audit.Event{Action: unrecordedAction, Target: route, Detail: map[string]any{"status": code}}
	if st.principal != nil {
		a := audit.ActorFrom(ctx)
		ctx = audit.WithActor(ctx, st.principal.Actor(a.SourceIP, a.RequestID))
		ev.CustomerID = string(st.principal.CustomerID)
	}
	s.deps.Log.ErrorContext(ctx, "a change was not audited", "route", route, "status", code,
		"request_id", audit.ActorFrom(ctx).RequestID)
	if err := s.deps.Audit.Record(ctx, ev); err != nil {
		s.deps.Log.ErrorContext(ctx, "audit of an unrecorded change failed", "route", route, "err", err)
	}
	if s.deps.OnUnrecorded != nil {
		s.deps.OnUnrecorded(route)
	}
}
