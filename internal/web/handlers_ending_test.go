package web

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestEndingAPI: a customer removes a port through the draft (the review
// lists what stops, apply ends it, a rollback to before is refused); an
// operator ends a port on a date and cancels it, with bad input refused;
// a hub with ports is refused naming them and removed once they ended;
// another customer's port or hub is not found.
func TestEndingAPI(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	e.tokyoNode([]catalog.PhysicalPort{
		{Name: "eth1", SpeedMbps: 10_000, Kind: "onprem"},
		{Name: "eth3", SpeedMbps: 10_000, Kind: "cloud-aws"}, {Name: "eth4", SpeedMbps: 10_000, Kind: "cloud-aws"}})
	cu, onprem, aws := e.hubWithTwoPorts("Ending K.K.")
	other, otherOnprem, _ := e.hubWithTwoPorts("Other K.K.")
	const pw = "ending api passphrase 42"
	e.account(cu.ID, "en-ops", identity.RoleOpsAdmin, pw)
	e.account(cu.ID, "en-user", identity.RoleUser, pw)
	e.account("", "en-operator", identity.RoleOperator, pw)
	ops, user, op := e.client(e.customer), e.client(e.customer), e.client(e.mgmt)
	ops.login("en-ops", pw)
	user.login("en-user", pw)
	op.login("en-operator", pw)
	cust := "/api/v1/customers/" + string(cu.ID)
	op.expect(http.StatusCreated, "POST", cust+"/ports/"+aws.PortCode+"/placement", map[string]any{})

	// The customer removes the cloud port.
	removal := "/api/v1/network/draft/ports/" + aws.PortCode + "/removal"
	ops.expect(http.StatusOK, "POST", "/api/v1/network/lock", nil)
	user.expect(http.StatusForbidden, "PUT", removal, nil)
	ops.expect(http.StatusNotFound, "PUT", "/api/v1/network/draft/ports/"+otherOnprem.PortCode+"/removal", nil)
	ops.expect(http.StatusNotFound, "DELETE", removal, nil)
	var d network.Draft
	ops.expect(http.StatusOK, "PUT", removal, nil).json(t, &d)
	if !slices.Equal(d.PortRemovals, []string{aws.PortCode}) {
		t.Fatalf("draft removals = %v", d.PortRemovals)
	}
	var rv network.Review
	ops.expect(http.StatusOK, "GET", "/api/v1/network/draft/review", nil).json(t, &rv)
	if rv.Risk != "high" || len(rv.Removals) != 1 || len(rv.Removals[0].Legs) != 2 || rv.Removals[0].Configured {
		t.Fatalf("review = %+v", rv)
	}
	var v network.Version
	ops.expect(http.StatusCreated, "POST", "/api/v1/network/draft/apply", map[string]any{"reviewed": rv.Revision}).json(t, &v)
	var p catalog.Port
	user.expect(http.StatusOK, "GET", "/api/v1/ports/"+aws.PortCode, nil).json(t, &p)
	if p.Status != "cancelled" || p.EndedAt == nil {
		t.Fatalf("port after the apply = %+v", p)
	}
	ops.expect(http.StatusOK, "POST", "/api/v1/network/lock", nil)
	ops.expect(http.StatusConflict, "PUT", removal, nil)
	// Saving the ended port's configuration is refused too, not dropped.
	ops.expect(http.StatusConflict, "PUT", "/api/v1/network/draft/ports/"+aws.PortCode, map[string]any{})
	ops.expect(http.StatusConflict, "DELETE", "/api/v1/network/draft/ports/"+aws.PortCode, nil)

	// The operator ends the on-premises port on a date.
	end := cust + "/ports/" + onprem.PortCode + "/end"
	today := clock.Today()
	op.expectInvalid(http.StatusBadRequest, "POST", end, map[string]any{"end_date": "2020-01-01", "reason": "x"})
	op.expectInvalid(http.StatusBadRequest, "POST", end, map[string]any{"end_date": today, "reason": ""})
	op.expect(http.StatusNotFound, "POST", cust+"/ports/shc99999999/end", map[string]any{"end_date": today, "reason": "x"})
	op.expect(http.StatusNotFound, "POST", cust+"/ports/"+otherOnprem.PortCode+"/end", map[string]any{"end_date": today, "reason": "x"})
	var ends struct{ Items []network.PortEnd }
	op.expect(http.StatusOK, "GET", end, nil).json(t, &ends)
	if len(ends.Items) != 0 {
		t.Fatalf("ends = %+v", ends.Items)
	}
	var pe network.PortEnd
	op.expect(http.StatusCreated, "POST", end, map[string]any{"end_date": today, "reason": "contract item ends"}).json(t, &pe)
	if pe.EndDate != today || pe.EndsOn <= today {
		t.Fatalf("end = %+v", pe)
	}
	op.expect(http.StatusConflict, "POST", end, map[string]any{"end_date": today, "reason": "again"})
	op.expect(http.StatusOK, "GET", end, nil).json(t, &ends)
	if len(ends.Items) != 1 || ends.Items[0].State != "pending" {
		t.Fatalf("ends = %+v", ends.Items)
	}
	op.expect(http.StatusOK, "POST", end+"/cancel", nil)
	op.expect(http.StatusNotFound, "POST", end+"/cancel", nil)

	// The hub still has the on-premises port.
	hub := cust + "/hubs/" + string(onprem.HubID)
	r := op.expect(http.StatusConflict, "DELETE", hub, nil)
	if !strings.Contains(string(r.body), onprem.PortCode) {
		t.Fatalf("refusal = %s", r.body)
	}
	op.expect(http.StatusNotFound, "DELETE", cust+"/hubs/"+string(otherOnprem.HubID), nil)
	op.expect(http.StatusNotFound, "DELETE", "/api/v1/customers/"+string(other.ID)+"/hubs/hub_nosuchhubnosuchhubnosuchh", nil)
	ops.expect(http.StatusOK, "PUT", "/api/v1/network/draft/ports/"+onprem.PortCode+"/removal", nil)
	ops.expect(http.StatusCreated, "POST", "/api/v1/network/draft/apply", nil)
	op.expect(http.StatusNoContent, "DELETE", hub, nil)
	op.expect(http.StatusConflict, "DELETE", hub, nil)
	var h catalog.Hub
	user.expect(http.StatusOK, "GET", "/api/v1/hubs/"+string(onprem.HubID), nil).json(t, &h)
	if h.EndedAt == nil {
		t.Fatalf("hub after removal = %+v", h)
	}
}
