package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
)

// TestNodePages walks the node lifecycle and the planned migration
// through the operator console, in Japanese and English: the node's state
// in words, a refused drain (no reason) that changes nothing, a drain, a
// retire refused while the node carries a hub, a port move previewed and
// confirmed, a refused preview, another customer's port (404), a security
// officer (403), and a retire of an empty node.
func TestNodePages(t *testing.T) {
	t.Parallel()
	o := startOpcEnv(t)
	for _, p := range []catalog.PhysicalPort{{Name: "eth1", SpeedMbps: 10_000, Kind: "onprem"}, {Name: "eth2", SpeedMbps: 10_000, Kind: "onprem"}} {
		_, err := o.cat.AddPhysicalPort(o.seed, "tyo-1", p)
		o.must("port", err)
	}
	_, err := o.cat.CreateNode(o.seed, catalog.NodeInput{Region: "tokyo", Name: "tyo-2", Ports: []catalog.PhysicalPort{{Name: "eth1", SpeedMbps: 10_000, Kind: "onprem"}}})
	o.must("node", err)
	cu, onprem, _ := o.hubWithTwoPorts("Node K.K.")
	other, _, _ := o.hubWithTwoPorts("Other K.K.")
	o.opAPI.expect(http.StatusCreated, "POST", "/api/v1/customers/"+string(cu.ID)+"/ports/"+onprem.PortCode+"/placement",
		map[string]any{"primary": map[string]any{"node": "tyo-1", "port": "eth1"}, "reason": "test"})
	state := func(node string) string {
		var l struct{ State string }
		o.opAPI.expect(http.StatusOK, "GET", "/api/v1/nodes/"+node+"/lifecycle", nil).json(t, &l)
		return l.State
	}
	portPath := "/customers/" + string(cu.ID) + "/ports/" + onprem.PortCode
	move := url.Values{"form": {"move"}, "primary_node": {"tyo-1"}, "primary_port": {"eth2"}, "reason": {"optic replacement"}}

	for _, lang := range []struct{ code, active, plan string }{{"ja", "稼働中", "移設の計画"}, {"en", "Active", "Migration plan"}} {
		opcPost(t, o.op, "/language", url.Values{"lang": {lang.code}, "next": {"/"}}, http.StatusSeeOther)
		opcGet(t, o.op, "/nodes/tyo-1", http.StatusOK, `<html lang="`+lang.code+`">`, `id="node-state-badge">`+lang.active, string(onprem.HubID), `id="drain-form"`)
		opcGet(t, o.op, portPath, http.StatusOK, `id="node-move-port"`, `id="node-move-hub"`)
		opcPost(t, o.op, portPath+"/move/preview", move, http.StatusOK, "<h1>"+lang.plan+"</h1>", "tyo-1/eth1", "tyo-1/eth2", `id="node-plan-confirm"`)
	}

	// Refusals change nothing.
	opcPost(t, o.op, "/nodes/tyo-2/drain", url.Values{"form": {"drain"}, "reason": {""}}, http.StatusBadRequest, "reason")
	opcPost(t, o.op, "/nodes/tyo-1/retire", url.Values{"form": {"retire"}, "reason": {"disposal"}}, http.StatusConflict, string(onprem.HubID))
	if state("tyo-1") != "active" || state("tyo-2") != "active" {
		t.Fatal("a refused form changed a node")
	}
	bad := url.Values{"form": {"move"}, "primary_node": {"tyo-1"}, "primary_port": {"eth9"}, "reason": {"x"}}
	opcPost(t, o.op, portPath+"/move/preview", bad, http.StatusBadRequest, "no physical port tyo-1/eth9")
	opcPost(t, o.op, "/customers/"+string(other.ID)+"/ports/"+onprem.PortCode+"/move", move, http.StatusNotFound)
	opcPost(t, o.so, "/nodes/tyo-2/drain", url.Values{"form": {"drain"}, "reason": {"x"}}, http.StatusForbidden)
	opcPost(t, o.so, portPath+"/move", move, http.StatusForbidden)
	if r := o.opAPI.expect(http.StatusOK, "GET", "/api/v1/customers/"+string(cu.ID)+"/placements", nil); !strings.Contains(string(r.body), `"physical_port":"eth1"`) {
		t.Fatalf("a refused move moved the port: %s", r.body)
	}

	// The move confirmed; a drained node is no hub's target; an empty node retires.
	opcPost(t, o.op, portPath+"/move", move, http.StatusSeeOther)
	if r := o.opAPI.expect(http.StatusOK, "GET", "/api/v1/customers/"+string(cu.ID)+"/placements", nil); !strings.Contains(string(r.body), `"physical_port":"eth2"`) {
		t.Fatalf("placements after the move: %s", r.body)
	}
	opcPost(t, o.op, "/nodes/tyo-2/drain", url.Values{"form": {"drain"}, "reason": {"refresh"}}, http.StatusSeeOther)
	opcGet(t, o.op, "/nodes/tyo-2", http.StatusOK, `id="node-state-badge">Draining`)
	opcPost(t, o.op, portPath+"/hub-move/preview", url.Values{"form": {"hubmove"}, "node": {"tyo-2"}, "reason": {"x"}}, http.StatusBadRequest, "draining")
	opcPost(t, o.op, "/nodes/tyo-2/retire", url.Values{"form": {"retire"}, "reason": {"disposal"}}, http.StatusSeeOther)
	opcGet(t, o.op, "/nodes/tyo-2", http.StatusOK, `id="node-state-badge">Retired`)
	if state("tyo-2") != "retired" {
		t.Fatal("tyo-2 is not retired")
	}
}
