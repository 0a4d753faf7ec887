package web

import (
	"encoding/json"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/fleet"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network"
)

// The operator console's hub nodes: the list and registration, one node's
// reported status with its physical ports, enrolment token, revocation and
// underlay, and the node's desired state and affected customers.

// invNodeRow is a node as the lists show it: its inventory and what its
// agent last reported, summed up.
type invNodeRow struct {
	Node   catalog.Node
	Status *fleet.Status // nil while the node has never reported
	// State is the summary: unknown (no report), error (a node-wide or hub
	// error), warning (problems reported), ok.
	State    string
	Problems int
}

// nodeSummary sums up a node's last report: every problem, hub error and
// node-wide error counts as one.
func nodeSummary(st *fleet.Status) (state string, problems int) {
	if st == nil {
		return "unknown", 0
	}
	errs := 0
	if st.Error != "" {
		errs++
	}
	for _, h := range st.Hubs {
		problems += len(h.Problems)
		if h.Error != "" {
			errs++
		}
	}
	switch {
	case errs > 0:
		return "error", problems + errs
	case problems > 0:
		return "warning", problems
	}
	return "ok", 0
}

// reportedStatus is the node's last report, nil when it has none. The caller
// knows the node exists, so a NotFound means no report yet.
func (s *Server) reportedStatus(r *http.Request, name string) (*fleet.Status, error) {
	st, err := s.deps.Fleet.NodeStatus(r.Context(), name)
	if fault.Is(err, fault.NotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &st, nil
}

func (s *Server) invNodeRows(r *http.Request, nodes []catalog.Node) ([]invNodeRow, error) {
	out := make([]invNodeRow, 0, len(nodes))
	for _, n := range nodes {
		st, err := s.reportedStatus(r, n.Name)
		if err != nil {
			return nil, err
		}
		row := invNodeRow{Node: n, Status: st}
		row.State, row.Problems = nodeSummary(st)
		out = append(out, row)
	}
	return out, nil
}

// findNode is the named hub node, or NotFound. The catalogue lists nodes
// by name after a key, so the search starts just before the name (after
// its prefix without the last letter) and ends at the first later name.
func (s *Server) findNode(r *http.Request, name string) (catalog.Node, error) {
	if name == "" {
		return catalog.Node{}, fault.New(fault.NotFound, "node not found")
	}
	p := catalog.Page{Limit: catalog.MaxPage, After: name[:len(name)-1]}
	for {
		nodes, next, err := s.deps.Catalog.ListNodes(r.Context(), p)
		if err != nil {
			return catalog.Node{}, err
		}
		for _, n := range nodes {
			switch {
			case n.Name == name:
				return n, nil
			case n.Name > name:
				return catalog.Node{}, fault.New(fault.NotFound, "node not found")
			}
		}
		if next == "" {
			return catalog.Node{}, fault.New(fault.NotFound, "node not found")
		}
		p.After = next
	}
}

type invNodesView struct {
	Nodes   []invNodeRow
	Next    string
	Regions []catalog.Region
}

func (s *Server) invNodesData(r *http.Request) (invNodesView, error) {
	p, err := page(r)
	if err != nil {
		return invNodesView{}, err
	}
	nodes, next, err := s.deps.Catalog.ListNodes(r.Context(), p)
	if err != nil {
		return invNodesView{}, err
	}
	d := invNodesView{Next: next}
	if d.Nodes, err = s.invNodeRows(r, nodes); err != nil {
		return invNodesView{}, err
	}
	d.Regions, err = s.allRegions(r)
	return d, err
}

func (s *Server) invNodes(w http.ResponseWriter, r *http.Request) error {
	d, err := s.invNodesData(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "inv-nodes", d)
}

// invCreateNode registers a node without physical ports; the node's page
// adds them one by one, each refused next to its own field.
func (s *Server) invCreateNode(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	n, err := s.deps.Catalog.CreateNode(r.Context(), catalog.NodeInput{Name: r.PostForm.Get("name"), Region: r.PostForm.Get("region")})
	if err != nil {
		d, lerr := s.invNodesData(r)
		if lerr != nil {
			return lerr
		}
		return s.renderRefused(w, r, "inv-nodes", d, err)
	}
	return redirect(w, r, "/nodes/"+url.PathEscape(n.Name), "inv.flash.node_created")
}

// invSpeed is a value with a speed in bit/s, which the page shows as the
// contracts name speeds (10G); the inventory counts in Mbit/s.
type invSpeed[T any] struct {
	V   T
	BPS int64
}

// invNodeView is one node's page.
type invNodeView struct {
	invNodeRow
	Ports   []invSpeed[catalog.PhysicalPort]
	Kinds   []string
	Speeds  []invSpeed[int64]
	CanRead bool // capacity.read: the desired state and affected customers
	Href    string
	// Underlay is the node's tunnel endpoint, "" while none is set.
	Underlay string
	// Lifecycle is the node's state and what remains on it (pages_nodes.go).
	Lifecycle *fleet.Lifecycle
}

func (s *Server) invNodeData(r *http.Request) (invNodeView, error) {
	n, err := s.findNode(r, r.PathValue("node"))
	if err != nil {
		return invNodeView{}, err
	}
	st, err := s.reportedStatus(r, n.Name)
	if err != nil {
		return invNodeView{}, err
	}
	d := invNodeView{invNodeRow: invNodeRow{Node: n, Status: st}, Kinds: catalog.PhysicalKinds,
		CanRead: can(r, identity.ActCapacityRead), Href: "/nodes/" + url.PathEscape(n.Name)}
	for _, p := range n.Ports {
		d.Ports = append(d.Ports, invSpeed[catalog.PhysicalPort]{p, p.SpeedMbps * 1e6})
	}
	for _, mbps := range catalog.PhysicalSpeeds {
		d.Speeds = append(d.Speeds, invSpeed[int64]{mbps, mbps * 1e6})
	}
	d.State, d.Problems = nodeSummary(st)
	if d.Lifecycle, err = s.nodeLifecycleView(r, n.Name); err != nil {
		return invNodeView{}, err
	}
	if s.deps.NetOps != nil {
		u, err := s.deps.NetOps.Underlay(r.Context(), n.Name)
		switch {
		case err == nil:
			d.Underlay = u.Address
		case !fault.Is(err, fault.NotFound): // NotFound: none set yet
			return invNodeView{}, err
		}
	}
	return d, nil
}

func (s *Server) invNode(w http.ResponseWriter, r *http.Request) error {
	d, err := s.invNodeData(r)
	if err != nil {
		return err
	}
	// The page's report section reloads itself with htmx (?part=report).
	if r.URL.Query().Get("part") == "report" {
		return s.fragment(w, r, "inv-node", "inv-node-report", d)
	}
	return s.render(w, r, "inv-node", d)
}

// nodeForm runs a form of the node's page: do with the parsed form; a
// refusal shows the node's page again with the error next to its field.
func (s *Server) nodeForm(w http.ResponseWriter, r *http.Request, flash string, do func(node string) error) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	d, err := s.invNodeData(r)
	if err != nil {
		return err
	}
	// A refusal changed nothing: the page read before it is still true.
	if err := do(d.Node.Name); err != nil {
		return s.renderRefused(w, r, "inv-node", d, err)
	}
	return redirect(w, r, d.Href, flash)
}

func (s *Server) invAddPort(w http.ResponseWriter, r *http.Request) error {
	return s.nodeForm(w, r, "inv.flash.port_added", func(node string) error {
		f := r.PostForm
		p := catalog.PhysicalPort{Name: f.Get("name"), Kind: f.Get("kind")}
		var err error
		if p.SpeedMbps, err = strconv.ParseInt(f.Get("speed_mbps"), 10, 64); err != nil {
			return fault.Field("speed_mbps", "speed_mbps must be one of %v", catalog.PhysicalSpeeds)
		}
		if v := f.Get("oversubscription"); v != "" {
			// JSON cannot carry NaN or infinity, a form can: neither is a
			// ratio (and NaN would slip past the range check).
			if p.Oversubscription, err = strconv.ParseFloat(v, 64); err != nil || math.IsNaN(p.Oversubscription) || math.IsInf(p.Oversubscription, 0) {
				return fault.Field("oversubscription", "oversubscription must be between 1.0 and 10.0")
			}
		}
		_, err = s.deps.Catalog.AddPhysicalPort(r.Context(), node, p)
		return err
	})
}

func (s *Server) invRevoke(w http.ResponseWriter, r *http.Request) error {
	return s.nodeForm(w, r, "inv.flash.node_revoked", func(node string) error {
		_, err := s.deps.Fleet.Revoke(r.Context(), node, r.PostForm.Get("reason"))
		return err
	})
}

func (s *Server) invSetUnderlay(w http.ResponseWriter, r *http.Request) error {
	ops, err := s.netOps()
	if err != nil {
		return err
	}
	return s.nodeForm(w, r, "inv.flash.underlay_set", func(node string) error {
		_, err := ops.SetUnderlay(r.Context(), node, network.UnderlayInput{Address: r.PostForm.Get("address")})
		return err
	})
}

// invTokenView is an enrolment token, shown once: it is stored only as a
// hash, so this answer is the only place it ever appears.
type invTokenView struct {
	Token     fleet.EnrolToken
	AgentPort string
	Href      string
}

// invIssueToken answers the form with the token itself rather than a
// redirect: a page reached by GET could be reloaded, bookmarked or kept in
// history, and the token must not be.
func (s *Server) invIssueToken(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	n, err := s.findNode(r, r.PathValue("node"))
	if err != nil {
		return err
	}
	t, err := s.deps.Fleet.IssueEnrolToken(r.Context(), n.Name)
	if err != nil {
		return err
	}
	port := "9444"
	if _, p, err := net.SplitHostPort(s.cfg.AgentAddr); err == nil && p != "" {
		port = p
	}
	w.Header().Set("Cache-Control", "no-store")
	return s.render(w, r, "inv-token", invTokenView{Token: t, AgentPort: port, Href: "/nodes/" + url.PathEscape(n.Name)})
}

// invDesiredView is the node's desired state as staff see it, once read
// with a reason.
type invDesiredView struct {
	Node   string
	Href   string
	Reason string
	State  *network.StaffState
	JSON   string
}

// invDesiredState reads the staff view of the node's desired state. Like
// the API, the read needs a stated reason and is audited; without one the
// page shows only the form asking for it.
func (s *Server) invDesiredState(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.compiler()
	if err != nil {
		return err
	}
	n, err := s.findNode(r, r.PathValue("node"))
	if err != nil {
		return err
	}
	d := invDesiredView{Node: n.Name, Href: "/nodes/" + url.PathEscape(n.Name), Reason: r.URL.Query().Get("reason")}
	if _, sent := r.URL.Query()["reason"]; !sent {
		return s.render(w, r, "inv-desired", d)
	}
	grants, err := s.staffGrants(r)
	if err != nil {
		return err
	}
	doc, _, err := svc.DesiredStateForStaff(r.Context(), n.Name, d.Reason, grants)
	if fault.Is(err, fault.Invalid) {
		return s.renderRefused(w, r, "inv-desired", d, err)
	}
	if err != nil {
		return err
	}
	var st network.StaffState
	if err := json.Unmarshal(doc, &st); err != nil {
		return err
	}
	d.State, d.JSON = &st, string(doc)
	return s.render(w, r, "inv-desired", d)
}

type invAffectedView struct {
	Node   string
	Href   string
	Port   string   // the physical port asked about, "" for the whole node
	Ports  []string // the node's physical ports, for the choice
	Report network.AffectedReport
}

// invAffected lists who work on the node, or one of its physical ports,
// would affect. The node's ports to choose from come from the capacity
// report, which the same permission reads.
func (s *Server) invAffected(w http.ResponseWriter, r *http.Request) error {
	ops, err := s.netOps()
	if err != nil {
		return err
	}
	name := r.PathValue("node")
	d := invAffectedView{Node: name, Href: "/nodes/" + url.PathEscape(name), Port: r.URL.Query().Get("physical_port")}
	if d.Report, err = ops.Affected(r.Context(), name, d.Port); err != nil {
		return err
	}
	rep, err := ops.Capacity(r.Context())
	if err != nil {
		return err
	}
	for _, row := range rep.Rows {
		if row.Node == name {
			d.Ports = append(d.Ports, row.Port)
		}
	}
	return s.render(w, r, "inv-affected", d)
}
