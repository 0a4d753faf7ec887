package web

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestNodeLifecycleAPI drives planned migration and a node's drain and
// retirement through the management API (requests and answers checked
// against the OpenAPI document): a port move previewed then carried out,
// another customer's port not found, a target on another node refused;
// a hub move; a drained node refused as a hub's target; retiring a node
// refused while it carries a hub, accepted when empty; a security officer
// refused.
func TestNodeLifecycleAPI(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	e.tokyoNode([]catalog.PhysicalPort{{Name: "eth1", SpeedMbps: 10_000, Kind: "onprem"}, {Name: "eth2", SpeedMbps: 10_000, Kind: "onprem"},
		{Name: "eth3", SpeedMbps: 10_000, Kind: "cloud-aws"}, {Name: "eth5", SpeedMbps: 10_000, Kind: "cloud-aws"}})
	_, err := e.cat.CreateNode(e.seed, catalog.NodeInput{Region: "tokyo", Name: "tyo-2", Ports: []catalog.PhysicalPort{
		{Name: "eth1", SpeedMbps: 10_000, Kind: "onprem"}, {Name: "eth3", SpeedMbps: 10_000, Kind: "cloud-aws"}, {Name: "eth5", SpeedMbps: 10_000, Kind: "cloud-aws"}}})
	e.must("node", err)
	_, err = e.cat.CreateNode(e.seed, catalog.NodeInput{Region: "tokyo", Name: "tyo-3"})
	e.must("node", err)
	cu, onprem, aws := e.hubWithTwoPorts("Move K.K.")
	other, _, _ := e.hubWithTwoPorts("Other K.K.")
	const pw = "node lifecycle passphrase 42"
	e.account("", "mv-operator", identity.RoleOperator, pw)
	e.account("", "mv-officer", identity.RoleSecurityOfficer, pw)
	op, so := e.client(e.mgmt), e.client(e.mgmt)
	op.login("mv-operator", pw)
	so.login("mv-officer", pw)
	place := "/api/v1/customers/" + string(cu.ID) + "/ports/"
	op.expect(http.StatusCreated, "POST", place+onprem.PortCode+"/placement",
		map[string]any{"primary": map[string]any{"node": "tyo-1", "port": "eth1"}, "reason": "test"})
	op.expect(http.StatusCreated, "POST", place+aws.PortCode+"/placement", map[string]any{"primary": map[string]any{"node": "tyo-1", "port": "eth3"},
		"secondary": map[string]any{"node": "tyo-1", "port": "eth5"}, "reason": "test"})

	port := "/api/v1/customers/" + string(cu.ID) + "/ports/" + onprem.PortCode
	move := map[string]any{"primary": map[string]any{"node": "tyo-1", "port": "eth2"}, "reason": "optic replacement"}
	r := op.expect(http.StatusOK, "POST", port+"/move/preview", move)
	var plan struct {
		Moved bool              `json:"moved"`
		Legs  []json.RawMessage `json:"legs"`
	}
	if err := json.Unmarshal(r.body, &plan); err != nil || plan.Moved || len(plan.Legs) != 1 {
		t.Fatalf("preview = %s", r.body)
	}
	op.expectInvalid(http.StatusNotFound, "POST", "/api/v1/customers/"+string(other.ID)+"/ports/"+onprem.PortCode+"/move", move)
	r = op.expectInvalid(http.StatusBadRequest, "POST", port+"/move", map[string]any{"primary": map[string]any{"node": "tyo-2", "port": "eth1"}, "reason": "x"})
	if !strings.Contains(string(r.body), "move the hub to change nodes") {
		t.Errorf("refusal = %s", r.body)
	}
	so.expectInvalid(http.StatusForbidden, "POST", port+"/move", move)
	r = op.expect(http.StatusOK, "POST", port+"/move", move)
	if !strings.Contains(string(r.body), `"moved":true`) {
		t.Fatalf("move = %s", r.body)
	}
	r = op.expect(http.StatusOK, "GET", "/api/v1/customers/"+string(cu.ID)+"/placements", nil)
	if !strings.Contains(string(r.body), `"node":"tyo-1","physical_port":"eth2"`) {
		t.Fatalf("placements after the move = %s", r.body)
	}

	// tyo-3 drained (and empty) is no hub's target, and retires.
	so.expectInvalid(http.StatusForbidden, "POST", "/api/v1/nodes/tyo-3/drain", map[string]any{"reason": "refresh"})
	r = op.expect(http.StatusOK, "POST", "/api/v1/nodes/tyo-3/drain", map[string]any{"reason": "refresh"})
	if !strings.Contains(string(r.body), `"state":"draining"`) {
		t.Fatalf("drain = %s", r.body)
	}
	hub := "/api/v1/customers/" + string(cu.ID) + "/hubs/" + string(onprem.HubID)
	op.expectInvalid(http.StatusBadRequest, "POST", hub+"/move/preview", map[string]any{"node": "tyo-3", "reason": "x"})
	r = op.expect(http.StatusOK, "POST", hub+"/move/preview", map[string]any{"node": "tyo-2", "reason": "node refresh"})
	if !strings.Contains(string(r.body), `"to_node":"tyo-2"`) || !strings.Contains(string(r.body), `"moved":false`) {
		t.Fatalf("hub move preview = %s", r.body)
	}
	op.expect(http.StatusOK, "POST", hub+"/move", map[string]any{"node": "tyo-2", "reason": "node refresh"})

	// tyo-2 now carries the hub: retiring it is refused, naming it.
	r = op.expectInvalid(http.StatusConflict, "POST", "/api/v1/nodes/tyo-2/retire", map[string]any{"reason": "disposal"})
	if !strings.Contains(string(r.body), string(onprem.HubID)) {
		t.Errorf("retire refusal = %s", r.body)
	}
	r = op.expect(http.StatusOK, "GET", "/api/v1/nodes/tyo-2/lifecycle", nil)
	if !strings.Contains(string(r.body), `"state":"active"`) || !strings.Contains(string(r.body), onprem.PortCode) {
		t.Errorf("lifecycle = %s", r.body)
	}
	// tyo-1 is empty since the move.
	r = op.expect(http.StatusOK, "POST", "/api/v1/nodes/tyo-1/retire", map[string]any{"reason": "disposal"})
	if !strings.Contains(string(r.body), `"state":"retired"`) || !strings.Contains(string(r.body), `"remaining":[]`) {
		t.Fatalf("retire = %s", r.body)
	}
	op.expectInvalid(http.StatusConflict, "POST", "/api/v1/nodes/tyo-1/enrolment-token", map[string]any{})
}
