package web

// The review with its diff and risk, apply, the version history with
// rollback, and the NAT view.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/network"
)

// netReview is /network/review.
type netReview struct {
	netEditState
	Review   network.Review
	Groups   []netChangeGroup
	Problems []netProblem
}

// netChangeGroup is the diff's changes of one port, hub or object.
type netChangeGroup struct {
	Object  string
	Changes []netChange
}

type netChange struct {
	Path, Op, Before, After string
}

type netProblem struct{ Field, Message string }

// groupChanges groups a diff by the object a change is in: the path up to
// its first keyed list element ("ports[shc00000001]",
// "objects.addresses[web]") or its first element ("asn").
func groupChanges(cs []network.Change) []netChangeGroup {
	var out []netChangeGroup
	for _, c := range cs {
		obj, rest := c.Path, ""
		if i := strings.Index(c.Path, "]"); i >= 0 {
			obj, rest = c.Path[:i+1], strings.TrimPrefix(c.Path[i+1:], ".")
		} else if i := strings.Index(c.Path, "."); i >= 0 {
			obj, rest = c.Path[:i], c.Path[i+1:]
		}
		if len(out) == 0 || out[len(out)-1].Object != obj {
			out = append(out, netChangeGroup{Object: obj})
		}
		g := &out[len(out)-1]
		// A whole object added or removed is shown field by field, so
		// that a port's new settings read as a list, not as one line of
		// JSON.
		switch {
		case c.Op == "added" && isObject(c.After):
			for _, l := range leaves(rest, c.After) {
				g.Changes = append(g.Changes, netChange{Path: l[0], Op: c.Op, After: l[1]})
			}
		case c.Op == "removed" && isObject(c.Before):
			for _, l := range leaves(rest, c.Before) {
				g.Changes = append(g.Changes, netChange{Path: l[0], Op: c.Op, Before: l[1]})
			}
		default:
			g.Changes = append(g.Changes, netChange{Path: rest, Op: c.Op, Before: showValue(c.Before), After: showValue(c.After)})
		}
	}
	return out
}

func isObject(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		return true
	case []any:
		return len(x) > 0 && isObject(x[0])
	}
	return false
}

// leaves lists the scalar fields of a diff value (decoded JSON) with
// their paths under path; a list of scalars is one field.
func leaves(path string, v any) [][2]string {
	var out [][2]string
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			out = append(out, leaves(joinPath(path, k), x[k])...)
		}
	case []any:
		if !isObject(x) {
			return [][2]string{{path, showValue(x)}}
		}
		for i, e := range x {
			out = append(out, leaves(fmt.Sprintf("%s[%d]", path, i), e)...)
		}
	default:
		out = append(out, [2]string{path, showValue(x)})
	}
	return out
}

func joinPath(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// showValue is a diff value as compact JSON (a string without its quotes).
func showValue(v any) string {
	if v == nil {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func (s *Server) netReviewData(r *http.Request) (netReview, error) {
	var rv netReview
	n, err := s.network()
	if err != nil {
		return rv, err
	}
	if rv.netEditState, err = s.netEditState(r, n); err != nil {
		return rv, err
	}
	if rv.Review, err = n.Review(r.Context(), principal(r).Scope()); err != nil {
		return rv, err
	}
	rv.Groups = groupChanges(rv.Review.Changes)
	// The validation's messages are the API's English; the viewer reads
	// them in its language, as a refused form's.
	lang := s.language(r)
	for _, p := range rv.Review.Problems {
		rv.Problems = append(rv.Problems, netProblem{Field: p.Field, Message: s.pages().Catalogue().Fault(lang, string(fault.Invalid), p.Message)})
	}
	return rv, nil
}

func (s *Server) netReviewPage(w http.ResponseWriter, r *http.Request) error {
	rv, err := s.netReviewData(r)
	if fault.Is(err, fault.NotFound) {
		// Nothing to review: the page says so rather than show an error.
		return s.render(w, r, "net-review", nil)
	}
	if err != nil {
		return err
	}
	return s.render(w, r, "net-review", &rv)
}

func (s *Server) netApplyPage(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	n, err := s.network()
	if err != nil {
		return err
	}
	// The review page sends the revision it showed: what is applied is
	// what was reviewed, or nothing. A form without one reviewed nothing.
	reviewed := r.PostForm.Get("reviewed")
	if reviewed == "" {
		return fault.Field("reviewed", "open the review and apply from there")
	}
	v, err := n.ApplyReviewed(r.Context(), principal(r).Scope(), reviewed)
	if err != nil {
		rv, rerr := s.netReviewData(r)
		if fault.Is(rerr, fault.NotFound) {
			return err
		}
		if rerr != nil {
			return rerr
		}
		return s.renderRefused(w, r, "net-review", &rv, wholeFormFault(err))
	}
	return redirect(w, r, "/network/versions/"+strconv.FormatInt(v.Version, 10), "net.flash_applied")
}

// netVersions is /network/versions, newest first, 50 a page.
type netVersions struct {
	Versions []netVersionRow
	Older    int64 // the "before" of the next page; 0 = none
}

// netVersionRow is a version in the list; Rollback is the version it
// rolled back to, 0 for none (a number for the catalogue's %d).
type netVersionRow struct {
	network.VersionSummary
	Rollback int64
}

const netVersionsPage = 50

func (s *Server) netVersionsPage(w http.ResponseWriter, r *http.Request) error {
	n, err := s.network()
	if err != nil {
		return err
	}
	var before int64
	if b := r.URL.Query().Get("before"); b != "" {
		if before, err = strconv.ParseInt(b, 10, 64); err != nil || before < 1 {
			return fault.Field("before", "before must be a version number")
		}
	}
	vs, err := n.ListVersions(r.Context(), principal(r).Scope(), before, netVersionsPage)
	if err != nil {
		return err
	}
	var out netVersions
	for _, v := range vs {
		row := netVersionRow{VersionSummary: v}
		if v.RollbackOf != nil {
			row.Rollback = *v.RollbackOf
		}
		out.Versions = append(out.Versions, row)
	}
	if len(vs) == netVersionsPage {
		out.Older = vs[len(vs)-1].Version
	}
	return s.render(w, r, "net-versions", out)
}

// netVersion is /network/versions/{version}.
type netVersion struct {
	netEditState
	Version network.Version
	Current int64
	Groups  []netChangeGroup
}

func (s *Server) netVersionData(r *http.Request) (netVersion, error) {
	var out netVersion
	n, err := s.network()
	if err != nil {
		return out, err
	}
	num, err := versionParam(r)
	if err != nil {
		return out, err
	}
	if out.Version, err = n.GetVersion(r.Context(), principal(r).Scope(), num); err != nil {
		return out, err
	}
	cur, err := n.Applied(r.Context(), principal(r).Scope())
	if err != nil {
		return out, err
	}
	out.Current = cur.Version
	if out.Version.Review != nil {
		out.Groups = groupChanges(out.Version.Review.Changes)
	}
	out.netEditState, err = s.netEditState(r, n)
	return out, err
}

func (s *Server) netVersionPage(w http.ResponseWriter, r *http.Request) error {
	out, err := s.netVersionData(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "net-version", out)
}

// netRollbackPage makes a draft of an earlier version and goes to its
// review: a rollback is reviewed and applied like any change. It takes the
// edit lock first when the viewer does not hold it, as "start editing" does
// (refused, with the holder, when someone else edits).
func (s *Server) netRollbackPage(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	n, err := s.network()
	if err != nil {
		return err
	}
	num, err := versionParam(r)
	if err != nil {
		return err
	}
	ctx, sc := r.Context(), principal(r).Scope()
	// A version the customer does not have is refused before anything is
	// taken: a refused form leaves no lock behind.
	if _, err := n.GetVersion(ctx, sc, num); err != nil {
		return err
	}
	held := false
	if l, err := n.GetLock(ctx, sc); err == nil && l.Mine {
		held = true
	}
	_, err = n.StartEditing(ctx, sc)
	if err == nil {
		if _, err = n.Rollback(ctx, sc, num); err != nil && !held {
			// The lock this request took goes back with the refusal.
			err = errors.Join(err, n.ReleaseLock(ctx, sc))
		}
	}
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			return err
		}
		out, verr := s.netVersionData(r)
		if verr != nil {
			return verr
		}
		return s.renderRefused(w, r, "net-version", out, err)
	}
	return redirect(w, r, "/network/review", "net.flash_rollback")
}

// netNAT is /network/nat: the public addresses per port with the grades
// and inside addresses of the applied configuration.
type netNAT struct {
	Ports  []netNATPort
	Static []netStaticNAT
}

type netNATPort struct {
	PortCode string
	Grades   []network.NAPTGrade
	Public   []string
}

type netStaticNAT struct{ PortCode, Inside, Public string }

func (s *Server) netNATPage(w http.ResponseWriter, r *http.Request) error {
	n, err := s.network()
	if err != nil {
		return err
	}
	ctx, sc := r.Context(), principal(r).Scope()
	addrs, err := n.NAT(ctx, sc)
	if err != nil {
		return err
	}
	v, err := n.Applied(ctx, sc)
	if err != nil {
		return err
	}
	var out netNAT
	for _, p := range v.Config.Ports {
		if len(p.NAPT) > 0 || len(addrs.NAPT[p.PortCode]) > 0 {
			out.Ports = append(out.Ports, netNATPort{PortCode: p.PortCode, Grades: p.NAPT, Public: addrs.NAPT[p.PortCode]})
		}
		for _, sn := range p.StaticNAT {
			out.Static = append(out.Static, netStaticNAT{PortCode: p.PortCode, Inside: sn.Inside, Public: addrs.Static[sn.Inside]})
		}
	}
	return s.render(w, r, "net-nat", out)
}
