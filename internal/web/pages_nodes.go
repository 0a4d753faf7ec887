package web

import (
	"net/http"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fleet"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// The operator console's node lifecycle and planned migration: a node's
// state in words with what remains on it, and its drain and retire forms
// (on the node's page, partial node-lifecycle); a customer port's move and
// its hub's move (on the port's page, partial node-move-forms), each
// previewed on a page of its own (node-move) whose confirmation carries the
// move out with the same input.
func (s *Server) nodesPages() []pageRoute {
	const (
		inv  = identity.ActInventoryManage
		port = "/api/v1/customers/{customer}/ports/{code}"
		hub  = "/api/v1/customers/{customer}/hubs/{hub}"
	)
	return []pageRoute{
		{"POST", "/nodes/{node}/drain", inv, []string{"POST /api/v1/nodes/{node}/drain"}, s.nodeDrain},
		{"POST", "/nodes/{node}/retire", inv, []string{"POST /api/v1/nodes/{node}/retire"}, s.nodeRetire},
		{"POST", "/customers/{customer}/ports/{code}/move/preview", identity.ActCapacityRead, []string{"POST " + port + "/move/preview"}, s.nodePortMovePreview},
		{"POST", "/customers/{customer}/ports/{code}/move", inv, []string{"POST " + port + "/move"}, s.nodePortMove},
		{"POST", "/customers/{customer}/ports/{code}/hub-move/preview", identity.ActCapacityRead, []string{"POST " + hub + "/move/preview"}, s.nodeHubMovePreview},
		{"POST", "/customers/{customer}/ports/{code}/hub-move", inv, []string{"POST " + hub + "/move"}, s.nodeHubMove},
	}
}

// nodeLifecycleView is the node's lifecycle for its page.
func (s *Server) nodeLifecycleView(r *http.Request, node string) (*fleet.Lifecycle, error) {
	l, err := s.deps.Fleet.NodeLifecycle(r.Context(), node)
	if err != nil {
		return nil, err
	}
	return &l, nil
}

func (s *Server) nodeDrain(w http.ResponseWriter, r *http.Request) error {
	return s.nodeForm(w, r, "node.flash.drained", func(node string) error {
		_, err := s.deps.Fleet.Drain(r.Context(), node, strings.TrimSpace(r.PostForm.Get("reason")))
		return err
	})
}

func (s *Server) nodeRetire(w http.ResponseWriter, r *http.Request) error {
	return s.nodeForm(w, r, "node.flash.retired", func(node string) error {
		_, err := s.deps.Fleet.Retire(r.Context(), node, strings.TrimSpace(r.PostForm.Get("reason")))
		return err
	})
}

// nodeMoveView is a move's preview: the plan and the input that made it,
// carried by the confirmation form.
type nodeMoveView struct {
	Customer catalog.Customer
	Port     catalog.Port
	Plan     network.MovePlan
	Action   string     // the confirmation form's target
	Input    formFields // the input, as hidden fields
}

// formFields are a form's fields in order, for hidden inputs.
type formFields []struct{ Name, Value string }

// portMoveInput reads a port move form.
func portMoveInput(r *http.Request) (network.PortMoveInput, formFields) {
	in := network.PortMoveInput{Primary: opcPhysRef(r, "primary"), Secondary: opcPhysRef(r, "secondary"),
		Reason: strings.TrimSpace(r.PostForm.Get("reason"))}
	var f formFields
	for _, n := range []string{"primary_node", "primary_port", "secondary_node", "secondary_port", "reason"} {
		f = append(f, struct{ Name, Value string }{n, r.PostForm.Get(n)})
	}
	return in, f
}

func hubMoveInput(r *http.Request) (network.HubMoveInput, formFields) {
	in := network.HubMoveInput{Node: strings.TrimSpace(r.PostForm.Get("node")), Reason: strings.TrimSpace(r.PostForm.Get("reason"))}
	return in, formFields{{"node", r.PostForm.Get("node")}, {"reason", r.PostForm.Get("reason")}}
}

// nodeMoveForm runs a move form of the port's page: plan (preview or
// carry out) with the parsed form. A refusal shows the port's page again
// with the error; a preview shows the plan with its confirmation; a move
// carried out goes back to the port's page.
func (s *Server) nodeMoveForm(w http.ResponseWriter, r *http.Request, confirm string,
	plan func(ops *network.Operations, op tenant.Operator, p catalog.Port) (network.MovePlan, formFields, error)) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	d, op, err := s.opcPortData(r)
	if err != nil {
		return err
	}
	ops, err := s.netOps()
	if err != nil {
		return err
	}
	p, fields, err := plan(ops, op, d.Port)
	if err != nil {
		return s.renderRefused(w, r, "opc-port", d, opcSentField(r, err))
	}
	back := "/customers/" + string(d.Customer.ID) + "/ports/" + d.Port.PortCode
	if p.Moved {
		return redirect(w, r, back, "node.flash.moved")
	}
	return s.render(w, r, "node-move", nodeMoveView{Customer: d.Customer, Port: d.Port, Plan: p, Action: back + confirm, Input: fields})
}

func (s *Server) nodePortMovePreview(w http.ResponseWriter, r *http.Request) error {
	return s.nodeMoveForm(w, r, "/move", func(ops *network.Operations, op tenant.Operator, p catalog.Port) (network.MovePlan, formFields, error) {
		in, f := portMoveInput(r)
		plan, err := ops.PreviewPortMove(r.Context(), op, p.PortCode, in)
		return plan, f, err
	})
}

func (s *Server) nodePortMove(w http.ResponseWriter, r *http.Request) error {
	return s.nodeMoveForm(w, r, "", func(ops *network.Operations, op tenant.Operator, p catalog.Port) (network.MovePlan, formFields, error) {
		in, f := portMoveInput(r)
		plan, err := ops.MovePort(r.Context(), op, p.PortCode, in)
		return plan, f, err
	})
}

func (s *Server) nodeHubMovePreview(w http.ResponseWriter, r *http.Request) error {
	return s.nodeMoveForm(w, r, "/hub-move", func(ops *network.Operations, op tenant.Operator, p catalog.Port) (network.MovePlan, formFields, error) {
		in, f := hubMoveInput(r)
		plan, err := ops.PreviewHubMove(r.Context(), op, p.HubID, in)
		return plan, f, err
	})
}

func (s *Server) nodeHubMove(w http.ResponseWriter, r *http.Request) error {
	return s.nodeMoveForm(w, r, "", func(ops *network.Operations, op tenant.Operator, p catalog.Port) (network.MovePlan, formFields, error) {
		in, f := hubMoveInput(r)
		plan, err := ops.MoveHub(r.Context(), op, p.HubID, in)
		return plan, f, err
	})
}
