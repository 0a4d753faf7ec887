package web

import (
	"net/http"
	"net/url"
	"regexp"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// TestEndingPagesCustomer: the draft's port page marks a port for removal
// (a user without network.edit is refused, a form without the lock changes
// nothing, another customer's port is not found), the review shows what
// stops (English for the operations administrator, Japanese for the admin),
// and after the apply the port page says the port has ended.
func TestEndingPagesCustomer(t *testing.T) {
	t.Parallel()
	w := startWorkflowEnv(t)
	_, other, _ := w.hubWithTwoPorts("Other K.K.")
	code := w.aws.PortCode
	page := "/network/draft/ports/" + code
	mark := page + "/end-removal"

	// Without the lock: refused, nothing stored.
	expectPage(t, "mark without the lock", w.ops.post(mark, nil), http.StatusConflict, "start editing first")
	if n := w.count(`SELECT COUNT(*) FROM net_drafts WHERE port_removals <> '[]'`); n != 0 {
		t.Fatalf("refused form stored %d removals", n)
	}
	expectRedirect(t, "start editing", w.ops.post("/network/lock", nil), "/network")
	expectPage(t, "port page", w.ops.get(page), http.StatusOK, `id="end-removal-mark"`, "Remove this port")
	expectPage(t, "user", w.user.post(mark, nil), http.StatusForbidden)
	expectPage(t, "another customer's port", w.ops.post("/network/draft/ports/"+other.PortCode+"/end-removal", nil), http.StatusNotFound)
	expectRedirect(t, "mark", w.ops.post(mark, nil), "/network/review")
	expectPage(t, "port page marked", w.ops.get(page), http.StatusOK, `id="end-removal-marked"`, `id="end-removal-withdraw"`)

	rv := w.ops.get("/network/review")
	expectPage(t, "review", rv, http.StatusOK, "What stops with the ports removed", `id="end-review-`+code+`"`, "Physical ports released", "Not configured: no traffic stops")
	expectPage(t, "review ja", w.admin.get("/network/review"), http.StatusOK, "撤去するポートで止まるもの")
	m := regexp.MustCompile(`name="reviewed" value="([^"]+)"`).FindStringSubmatch(rv.body)
	if m == nil {
		t.Fatalf("no reviewed revision on the review page")
	}
	if p := w.ops.post("/network/apply", url.Values{"reviewed": {m[1]}}); p.code != http.StatusSeeOther {
		t.Fatalf("apply: %d\n%s", p.code, p.body)
	}
	expectPage(t, "port page after", w.ops.get(page), http.StatusOK, `id="end-removal-ended"`, "This port has ended.")
	// Removing it again is refused as the API refuses it (409), not "not found".
	expectRedirect(t, "start editing again", w.ops.post("/network/lock", nil), "/network")
	expectPage(t, "mark an ended port", w.ops.post(mark, nil), http.StatusConflict, "has already ended")
	expectPage(t, "remove an ended port", w.ops.post(page+"/remove", nil), http.StatusConflict, "has already ended")
	p, err := w.cat.GetPort(w.seed, tenanttest.Customer(w.cust.ID), code)
	if err != nil || p.Status != "cancelled" {
		t.Fatalf("port = %+v, %v", p, err)
	}
}

// TestEndingPagesOperator: the operator's dated end of a port (a refused
// form shows the field's message and stores nothing; the end is shown and
// cancelled), the hub list's remove action (refused while the hub has
// ports, naming them; done for an empty hub), a role without
// catalog.manage refused, another customer's port not found.
func TestEndingPagesOperator(t *testing.T) {
	t.Parallel()
	w := startWorkflowEnv(t)
	e := w.idEnv
	other, otherPort, _ := e.hubWithTwoPorts("Other K.K.")
	const pw = "ending pages passphrase 42"
	e.account("", "end-op", identity.RoleOperator, pw)
	e.account("", "end-officer", identity.RoleSecurityOfficer, pw)
	op, officer := e.pageClient(e.mgmt), e.pageClient(e.mgmt)
	op.login("end-op", pw)
	officer.login("end-officer", pw)
	cust := "/customers/" + string(w.cust.ID)
	end := cust + "/ports/" + w.onprem.PortCode + "/end"

	expectPage(t, "port page link", op.get(cust+"/ports/"+w.onprem.PortCode), http.StatusOK, `id="end-port-link"`)
	expectPage(t, "end page", op.get(end), http.StatusOK, `id="end-port-form"`, "ポート "+w.onprem.PortCode+" の終了")
	expectPage(t, "officer", officer.get(end), http.StatusForbidden)
	expectPage(t, "another customer's port", op.get(cust+"/ports/"+otherPort.PortCode+"/end"), http.StatusNotFound)
	expectPage(t, "past date", op.post(end, url.Values{"form": {"end"}, "end_date": {"2020-01-01"}, "reason": {"x"}}),
		http.StatusBadRequest, `id="end-end_date-error"`)
	if n := e.count(`SELECT COUNT(*) FROM port_ends`); n != 0 {
		t.Fatalf("refused form stored %d ends", n)
	}
	today := clock.Today()
	expectRedirect(t, "end", op.post(end, url.Values{"form": {"end"}, "end_date": {today}, "reason": {"contract item ends"}}), end)
	expectPage(t, "pending", op.get(end), http.StatusOK, `id="end-pending-date">`+today, `id="end-cancel"`)
	expectRedirect(t, "cancel", op.post(end+"/cancel", url.Values{"form": {"cancel"}}), end)
	expectPage(t, "cancelled", op.get(end), http.StatusOK, `id="end-port-form"`)

	// The hub list: a hub with ports is refused, naming them.
	expectPage(t, "hub remove refused", op.post(cust+"/hubs/"+string(w.onprem.HubID)+"/remove", nil), http.StatusConflict, w.onprem.PortCode)
	expectPage(t, "other's hub", op.post(cust+"/hubs/"+string(otherPort.HubID)+"/remove", nil), http.StatusNotFound)
	_, err := e.cat.CreateRegion(e.seed, catalog.RegionInput{Code: "osaka", NameEN: "Osaka", NameJA: "大阪", DataLocation: "Japan"})
	e.must("region", err)
	k, _, err := e.cat.ListContracts(e.seed, tenanttest.Customer(w.cust.ID), catalog.Page{})
	e.must("contracts", err)
	h, err := e.cat.CreateHub(e.seed, tenanttest.Operator(w.cust.ID), catalog.HubInput{ServiceCode: k[0].ServiceCode, Region: "osaka", Priority: "sub"})
	e.must("hub", err)
	expectPage(t, "hub list", op.get(cust), http.StatusOK, `id="end-hub-remove-`+string(h.ID)+`"`)
	expectRedirect(t, "hub remove", op.post(cust+"/hubs/"+string(h.ID)+"/remove", nil), cust)
	expectPage(t, "hub list after", op.get(cust), http.StatusOK, "撤去済み")
	expectPage(t, "other customer's hub list", op.get("/customers/"+string(other.ID)), http.StatusOK)
}

// count runs a COUNT(*) query.
func (e *idEnv) count(query string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.QueryRow(e.seed, query, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}
