package web

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

const opcPW = "operator console passphrase 7"

// opcEnv is a controller with a region, a node with room for cloud ports,
// an operator and a security officer signed in to the management panel.
type opcEnv struct {
	*idEnv
	op, so       *pageClient
	opAPI, soAPI *client // the same people through the API, to check what a form changed
}

func startOpcEnv(t *testing.T) opcEnv {
	t.Helper()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	e.tokyoNode([]catalog.PhysicalPort{
		{Name: "eth3", SpeedMbps: 10_000, Kind: "cloud-aws"}, {Name: "eth4", SpeedMbps: 10_000, Kind: "cloud-aws"}})
	e.account("", "opc-op", identity.RoleOperator, opcPW)
	e.account("", "opc-so", identity.RoleSecurityOfficer, opcPW)
	o := opcEnv{idEnv: e, op: e.pageClient(e.mgmt), so: e.pageClient(e.mgmt), opAPI: e.client(e.mgmt), soAPI: e.client(e.mgmt)}
	o.op.login("opc-op", opcPW)
	o.so.login("opc-so", opcPW)
	o.opAPI.login("opc-op", opcPW)
	o.soAPI.login("opc-so", opcPW)
	return o
}

// count is the number of items the API lists at path.
func (o opcEnv) count(c *client, path string) int {
	o.t.Helper()
	var l struct{ Items []map[string]any }
	c.expect(http.StatusOK, "GET", path, nil).json(o.t, &l)
	return len(l.Items)
}

// opcGet asks for path and checks the status and that every want is in
// the body.
func opcGet(t *testing.T, c *pageClient, path string, code int, want ...string) htmlPage {
	t.Helper()
	p := c.get(path)
	if p.code != code {
		t.Fatalf("GET %s: %d, want %d\n%s", path, p.code, code, p.body)
	}
	for _, w := range want {
		if !strings.Contains(p.body, w) {
			t.Fatalf("GET %s: no %q in\n%s", path, w, p.body)
		}
	}
	opcUniqueIDs(t, path, p.body)
	return p
}

var opcIDRE = regexp.MustCompile(`\sid="([^"]+)"`)

// opcUniqueIDs fails on an element id used twice: the pages hold several forms
// with fields of the same name, and a label must find its own control.
func opcUniqueIDs(t *testing.T, path, body string) {
	t.Helper()
	seen := map[string]bool{}
	for _, m := range opcIDRE.FindAllStringSubmatch(body, -1) {
		if seen[m[1]] {
			t.Errorf("%s: id %q is used twice", path, m[1])
		}
		seen[m[1]] = true
	}
}

// opcPost sends a form and checks the status (and, for a 303, where it
// goes); every want must be in the body.
func opcPost(t *testing.T, c *pageClient, path string, form url.Values, code int, want ...string) htmlPage {
	t.Helper()
	p := c.post(path, form)
	if p.code != code {
		t.Fatalf("POST %s %v: %d, want %d\n%s", path, form, p.code, code, p.body)
	}
	for _, w := range want {
		if !strings.Contains(p.body, w) {
			t.Fatalf("POST %s: no %q in\n%s", path, w, p.body)
		}
	}
	opcUniqueIDs(t, path, p.body)
	return p
}

// TestOpcCustomerFlow creates a customer, a contract, a hub and a port
// through the pages, places the port, schedules and cancels a speed change,
// sets an option and cancels the contract; each form's refusal shows next to
// its field and changes nothing.
func TestOpcCustomerFlow(t *testing.T) {
	t.Parallel()
	o := startOpcEnv(t)
	op := o.op

	p := opcPost(t, op, "/customers", url.Values{"form": {"customer"}, "name": {""}}, http.StatusBadRequest, `id="customer-name-error"`)
	if !strings.Contains(p.body, `aria-invalid="true"`) {
		t.Fatalf("refused name not marked invalid:\n%s", p.body)
	}
	if cs, _, _ := o.cat.ListCustomers(o.seed, opcAll); len(cs) != 0 {
		t.Fatalf("a refused form created %d customers", len(cs))
	}
	p = opcPost(t, op, "/customers", url.Values{"form": {"customer"}, "name": {"Opc K.K."}}, http.StatusSeeOther)
	base := p.location()
	if !strings.HasPrefix(base, "/customers/cus_") {
		t.Fatalf("created customer → %q", base)
	}
	cust := catalog.CustomerID(strings.TrimPrefix(base, "/customers/"))
	p = opcGet(t, op, base, http.StatusOK, "Opc K.K.", `id="opc-contract-create"`, `id="opc-account-invite"`)
	if strings.Contains(p.body, `id="opc-hub-create"`) {
		t.Fatal("a hub form is offered before there is a contract")
	}

	// Contract: a bad plan is refused on its field, in its own form only.
	p = opcPost(t, op, base+"/contracts", url.Values{"form": {"contract"}, "plan": {"gold"}}, http.StatusBadRequest, `id="contract-plan-error"`)
	opcPost(t, op, base+"/contracts", url.Values{"form": {"contract"}, "plan": {"smart-hub"}}, http.StatusSeeOther)
	ks, _, err := o.cat.ListContracts(o.seed, tenanttest.Operator(cust), opcAll)
	if err != nil || len(ks) != 1 {
		t.Fatalf("contracts = %v, %v", ks, err)
	}
	code := ks[0].ServiceCode
	opcGet(t, op, base, http.StatusOK, `id="opc-hub-create"`, `<option value="`+code+`">`)

	// Hub: the refusal names the hub form's service code, not the port's.
	p = opcPost(t, op, base+"/hubs", url.Values{"form": {"hub"}, "service_code": {"nope"}, "region": {"tokyo"}, "priority": {"main"}},
		http.StatusBadRequest, `id="hub-service_code-error"`)
	if strings.Contains(p.body, `id="port-service_code-error"`) {
		t.Fatal("a hub refusal shows on the port form")
	}
	opcPost(t, op, base+"/hubs", url.Values{"form": {"hub"}, "service_code": {code}, "region": {"tokyo"}, "priority": {"main"}}, http.StatusSeeOther)
	hubs, _, _ := o.cat.ListHubs(o.seed, tenanttest.Operator(cust), opcAll)
	if len(hubs) != 1 {
		t.Fatalf("hubs = %v", hubs)
	}

	// Port: a speed that is not a number, then one the kind does not offer.
	portForm := url.Values{"form": {"port"}, "service_code": {code}, "hub_id": {string(hubs[0].ID)}, "kind": {"a-private"}, "speed_mbps": {"fast"}}
	opcPost(t, op, base+"/ports", portForm, http.StatusBadRequest, `id="port-speed_mbps-error"`)
	portForm.Set("speed_mbps", "300")
	opcPost(t, op, base+"/ports", portForm, http.StatusBadRequest, `id="port-speed_mbps-error"`)
	if ps, _, _ := o.cat.ListPorts(o.seed, tenanttest.Operator(cust), "", opcAll); len(ps) != 0 {
		t.Fatalf("refused forms created ports: %v", ps)
	}
	portForm.Set("speed_mbps", "1000")
	opcPost(t, op, base+"/ports", portForm, http.StatusSeeOther)
	ps, _, _ := o.cat.ListPorts(o.seed, tenanttest.Operator(cust), "", opcAll)
	if len(ps) != 1 {
		t.Fatalf("ports = %v", ps)
	}
	port := ps[0].PortCode
	opcGet(t, op, base, http.StatusOK, port, code, `id="opc-placements"`)

	// Placement: the proposal, then the port placed as proposed.
	portPath := base + "/ports/" + port
	opcGet(t, op, portPath, http.StatusOK, `id="opc-proposal"`, "eth3", `id="opc-not-placed"`)
	opcPost(t, op, portPath+"/placement", url.Values{"form": {"place"}}, http.StatusSeeOther)
	p = opcGet(t, op, portPath, http.StatusOK, "tyo-1")
	if strings.Contains(p.body, `id="opc-not-placed"`) {
		t.Fatal("a placed port still shows as not placed")
	}
	opcGet(t, op, base, http.StatusOK, `id="opc-placement-list"`, "eth3", "eth4")

	// Bandwidth: a refused date, a scheduled change, then its cancellation.
	opcPost(t, op, portPath+"/bandwidth-changes", url.Values{"form": {"bandwidth"}, "speed_mbps": {"2000"}, "effective_date": {"soon"}},
		http.StatusBadRequest, `id="bandwidth-effective_date-error"`)
	opcPost(t, op, portPath+"/bandwidth-changes", url.Values{"form": {"bandwidth"}, "speed_mbps": {"2000"}, "effective_date": {"2099-01-01"}},
		http.StatusSeeOther)
	p = opcGet(t, op, portPath, http.StatusOK, "2099-01-01", "state-scheduled")
	m := regexp.MustCompile(`/bandwidth-changes/([^/"]+)/cancel`).FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no cancel control for the scheduled change:\n%s", p.body)
	}
	opcPost(t, op, portPath+"/bandwidth-changes/"+m[1]+"/cancel", url.Values{}, http.StatusSeeOther)
	opcGet(t, op, portPath, http.StatusOK, "state-cancelled")

	// Contract: an option, a refused cancellation, then the cancellation
	// with its date on the page.
	kPath := base + "/contracts/" + code
	opcGet(t, op, kPath, http.StatusOK, `id="opc-option-set"`, `data-confirm=`)
	opcPost(t, op, kPath+"/options", url.Values{"form": {"option"}, "name": {"static-nat-address"}, "quantity": {"2"}}, http.StatusSeeOther)
	opcPost(t, op, kPath+"/cancel", url.Values{"form": {"cancel"}, "termination_date": {"someday"}, "reason": {"moving"}},
		http.StatusBadRequest, `id="cancel-termination_date-error"`)
	if k, _ := o.cat.GetContract(o.seed, tenanttest.Operator(cust), code); k.Status != "active" {
		t.Fatalf("a refused cancellation changed the contract: %+v", k)
	}
	// A year ahead: a termination date is at most five years away.
	today, _ := clock.ParseDate(clock.Today())
	term := today.AddDate(1, 0, 0).Format(clock.DateLayout)
	opcPost(t, op, kPath+"/cancel", url.Values{"form": {"cancel"}, "termination_date": {term}, "reason": {"moving"}}, http.StatusSeeOther)
	opcGet(t, op, kPath, http.StatusOK, `<dd id="opc-contract-termination">`+term+`</dd>`, "state-cancelled", "moving")
}

// TestOpcOtherCustomer: a customer's contract or port named under another
// customer's path is 404, as in the API, and so is an unknown customer.
func TestOpcOtherCustomer(t *testing.T) {
	t.Parallel()
	o := startOpcEnv(t)
	a, _, _ := o.hubWithTwoPorts("A K.K.")
	_, bPort, _ := o.hubWithTwoPorts("B K.K.")
	bks, _, _ := o.cat.ListContracts(o.seed, tenanttest.Operator(bPort.CustomerID), opcAll)
	aBase := "/customers/" + string(a.ID)
	for _, path := range []string{aBase + "/ports/" + bPort.PortCode, aBase + "/contracts/" + bks[0].ServiceCode,
		"/customers/cus_aaaaaaaaaaaaaaaaaaaaaaaaaa", "/customers/cus_aaaaaaaaaaaaaaaaaaaaaaaaaa/break-glass"} {
		opcGet(t, o.op, path, http.StatusNotFound)
	}
	opcPost(t, o.op, aBase+"/contracts/"+bks[0].ServiceCode+"/cancel",
		url.Values{"form": {"cancel"}, "termination_date": {clock.Today()}, "reason": {"wrong customer"}}, http.StatusNotFound)
	if k, _ := o.cat.GetContract(o.seed, tenanttest.Operator(bPort.CustomerID), bks[0].ServiceCode); k.Status != "active" {
		t.Fatalf("another customer's contract was cancelled: %+v", k)
	}
}

// TestOpcPermissions: each page answers 403 to a role without its action,
// and the menu offers only what the role may open.
func TestOpcPermissions(t *testing.T) {
	t.Parallel()
	o := startOpcEnv(t)
	cu, _, _ := o.hubWithTwoPorts("Perm K.K.")
	for _, path := range []string{"/officers", "/recoveries", "/audit", "/audit/verify"} {
		opcGet(t, o.op, path, http.StatusForbidden)
	}
	for _, path := range []string{"/customers", "/customers/" + string(cu.ID), "/staff", "/mail", "/customers/" + string(cu.ID) + "/break-glass"} {
		opcGet(t, o.so, path, http.StatusForbidden)
	}
	opcPost(t, o.so, "/customers", url.Values{"name": {"Sneaky K.K."}}, http.StatusForbidden)
	p := opcGet(t, o.so, "/audit", http.StatusOK)
	for _, bad := range []string{`href="/customers"`, `href="/staff"`, `href="/mail"`} {
		if strings.Contains(p.body, bad) {
			t.Errorf("security officer's menu offers %s", bad)
		}
	}
	p = opcGet(t, o.op, "/customers", http.StatusOK)
	for _, bad := range []string{`href="/officers"`, `href="/recoveries"`, `href="/audit"`} {
		if strings.Contains(p.body, bad) {
			t.Errorf("operator's menu offers %s", bad)
		}
	}
}

// TestOpcLanguages renders every page of the part in Japanese and English.
func TestOpcLanguages(t *testing.T) {
	t.Parallel()
	o := startOpcEnv(t)
	cu, _, aws := o.hubWithTwoPorts("Lang K.K.")
	ks, _, _ := o.cat.ListContracts(o.seed, tenanttest.Operator(cu.ID), opcAll)
	base := "/customers/" + string(cu.ID)
	opPages := []string{"/customers", base, base + "/contracts/" + ks[0].ServiceCode, base + "/ports/" + aws.PortCode,
		base + "/recovery", base + "/break-glass", "/staff", "/mail"}
	soPages := []string{"/officers", "/recoveries", "/audit", "/audit/verify"}
	for _, lang := range []struct{ code, op, so string }{
		{"en", "Customers", "Security officers"}, {"ja", "顧客", "セキュリティ責任者"}} {
		for _, c := range []*pageClient{o.op, o.so} {
			opcPost(t, c, "/language", url.Values{"lang": {lang.code}, "next": {"/"}}, http.StatusSeeOther)
		}
		for _, path := range opPages {
			opcGet(t, o.op, path, http.StatusOK, `<html lang="`+lang.code+`">`)
		}
		for _, path := range soPages {
			opcGet(t, o.so, path, http.StatusOK, `<html lang="`+lang.code+`">`)
		}
		opcGet(t, o.op, "/customers", http.StatusOK, "<h1>"+lang.op+"</h1>")
		opcGet(t, o.so, "/officers", http.StatusOK, "<h1>"+lang.so+"</h1>")
	}
}

// TestOpcAccess: the customer's first operations administrator invited from
// the page, whose setup link never shows on the mail page; a recovery
// requested by the operator and decided by a security officer; a
// break-glass grant opened with a reason, its configuration read, and
// closed.
func TestOpcAccess(t *testing.T) {
	t.Parallel()
	o := startOpcEnv(t)
	cu, _, _ := o.hubWithTwoPorts("Access K.K.")
	base := "/customers/" + string(cu.ID)

	opcPost(t, o.op, base+"/accounts", url.Values{"form": {"account"}, "login_id": {"acc-ops"}, "display_name": {"Ops"},
		"email": {"not-an-address"}, "language": {"ja"}}, http.StatusBadRequest, `id="account-email-error"`)
	opcPost(t, o.op, base+"/accounts", url.Values{"form": {"account"}, "login_id": {"acc-ops"}, "display_name": {"Ops"},
		"email": {"acc-ops@example.co.jp"}, "language": {"ja"}}, http.StatusSeeOther)
	opcGet(t, o.op, base, http.StatusOK, "acc-ops", "state-invited")
	tok := o.linkFromMail("acc-ops@example.co.jp", "account.invite")
	p := opcGet(t, o.op, "/mail", http.StatusOK, "acc-ops@example.co.jp", "account.invite")
	for _, leak := range []string{tok, "token=", "tsu_", "/setup"} {
		if strings.Contains(p.body, leak) {
			t.Fatalf("the mail page shows %q", leak)
		}
	}
	opcGet(t, o.op, "/mail?status=bogus", http.StatusBadRequest, `id="e-status"`)
	_, err := o.idn.CompleteSetup(o.seed, identity.CustomerSide, identity.SetupInput{Token: tok, Password: opcPW})
	o.must("setup", err)

	// Recovery: requested by the operator, decided by the officer.
	opcGet(t, o.op, base+"/recovery", http.StatusOK, `id="opc-recovery-request"`)
	opcPost(t, o.op, base+"/recovery", url.Values{"form": {"recovery"}, "reason": {"short"}, "login_id": {"acc-new"},
		"display_name": {"New"}, "email": {"acc-new@example.co.jp"}}, http.StatusBadRequest, `id="recovery-reason-error"`)
	if n := o.count(o.soAPI, "/api/v1/recoveries"); n != 0 {
		t.Fatalf("a refused request was recorded: %d", n)
	}
	opcPost(t, o.op, base+"/recovery", url.Values{"form": {"recovery"}, "reason": {"called back on the registered number"},
		"login_id": {"acc-new"}, "display_name": {"New"}, "email": {"acc-new@example.co.jp"}, "language": {"en"}}, http.StatusSeeOther)
	p = opcGet(t, o.so, "/recoveries", http.StatusOK, "acc-new", "state-requested")
	m := regexp.MustCompile(`/recoveries/([^/"]+)/approve`).FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no approve control:\n%s", p.body)
	}
	opcPost(t, o.so, "/recoveries/"+m[1]+"/reject", url.Values{"note": {""}}, http.StatusBadRequest, `class="error"`)
	opcPost(t, o.so, "/recoveries/"+m[1]+"/approve", url.Values{}, http.StatusSeeOther)
	opcGet(t, o.so, "/recoveries", http.StatusOK, "state-approved")

	// Break-glass: the reason is required; under the grant the page shows
	// the configuration read-only; closing it ends the access.
	opcGet(t, o.op, base+"/break-glass", http.StatusOK, `id="opc-breakglass-open"`)
	opcPost(t, o.op, base+"/break-glass", url.Values{"form": {"breakglass"}, "reason": {""}}, http.StatusBadRequest,
		`id="breakglass-reason-error"`)
	if n := o.count(o.opAPI, "/api/v1/break-glass"); n != 0 {
		t.Fatalf("a refused form opened %d grants", n)
	}
	opcPost(t, o.op, base+"/break-glass", url.Values{"form": {"breakglass"}, "reason": {"incident 42: routes missing"}, "minutes": {"30"}},
		http.StatusSeeOther)
	p = opcGet(t, o.op, base+"/break-glass", http.StatusOK, `id="opc-config"`, "incident 42: routes missing", `id="opc-grant-close"`)
	opcGet(t, o.op, base, http.StatusOK, "Access K.K.", `class="warning"`)
	p = opcGet(t, o.op, "/customers", http.StatusOK, `id="opc-grant-list"`, "incident 42: routes missing")
	m = regexp.MustCompile(`/break-glass/([^/"]+)/close`).FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no close control:\n%s", p.body)
	}
	if !o.auditHas("breakglass.access", "") {
		t.Fatal("the configuration was read without an audit record")
	}
	opcPost(t, o.op, "/break-glass/"+m[1]+"/close", url.Values{"next": {"/customers"}}, http.StatusSeeOther)
	p = opcGet(t, o.op, base+"/break-glass", http.StatusOK, `id="opc-breakglass-open"`)
	if strings.Contains(p.body, `id="opc-config"`) {
		t.Fatal("the configuration shows after the grant was closed")
	}
	opcPost(t, o.op, "/break-glass/"+m[1]+"/close", url.Values{}, http.StatusNotFound)
}

// TestOpcStaff: inviting, refusing and deleting staff from the pages, with
// the separation of duties shown as a refusal.
func TestOpcStaff(t *testing.T) {
	t.Parallel()
	o := startOpcEnv(t)
	opcPost(t, o.op, "/staff", url.Values{"form": {"invite"}, "login_id": {"opc-op2"}, "display_name": {"Op Two"},
		"email": {"bad"}, "role": {"operator"}, "language": {"ja"}}, http.StatusBadRequest, `id="invite-email-error"`)
	opcPost(t, o.op, "/staff", url.Values{"form": {"invite"}, "login_id": {"opc-op2"}, "display_name": {"Op Two"},
		"email": {"opc-op2@example.co.jp"}, "role": {"operator"}, "language": {"ja"}}, http.StatusSeeOther)
	// An officer is active: an operator may not invite another.
	p := opcPost(t, o.op, "/staff", url.Values{"form": {"invite"}, "login_id": {"opc-so2"}, "display_name": {"SO Two"},
		"email": {"opc-so2@example.co.jp"}, "role": {"security-officer"}, "language": {"ja"}}, http.StatusForbidden)
	if !strings.Contains(p.body, `class="error"`) && !strings.Contains(p.body, `id="invite-role-error"`) {
		t.Fatalf("the refusal is not shown:\n%s", p.body)
	}
	var staff struct{ Items []identity.Account }
	o.opAPI.expect(http.StatusOK, "GET", "/api/v1/staff", nil).json(t, &staff)
	var op2, so string
	for _, a := range staff.Items {
		switch a.LoginID {
		case "opc-op2":
			op2 = a.ID
		case "opc-so":
			so = a.ID
		case "opc-so2":
			t.Fatal("a refused invitation created an account")
		}
	}
	p = opcGet(t, o.op, "/staff", http.StatusOK, "opc-op2", `id="opc-delete-`+op2+`"`)
	if strings.Contains(p.body, `id="opc-delete-`+so+`"`) {
		t.Fatal("the operators' page offers to delete a security officer")
	}
	opcPost(t, o.op, "/staff/"+so+"/delete", url.Values{}, http.StatusForbidden, `class="error"`)
	// No role change makes a security officer: refused, shown, unchanged.
	opcPost(t, o.op, "/staff/"+op2+"/role", url.Values{"role": {"security-officer"}}, http.StatusForbidden, `class="error"`)
	o.opAPI.expect(http.StatusOK, "GET", "/api/v1/staff", nil).json(t, &staff)
	for _, a := range staff.Items {
		if a.ID == op2 && a.Role != identity.RoleOperator {
			t.Fatalf("a refused role change made %s a %s", a.LoginID, a.Role)
		}
	}
	opcPost(t, o.op, "/staff/"+op2+"/delete", url.Values{}, http.StatusSeeOther)
	p = opcGet(t, o.op, "/staff", http.StatusOK)
	if strings.Contains(p.body, "opc-op2") {
		t.Fatal("a deleted operator is still listed")
	}

	// Officers: the last active one cannot be deleted.
	opcGet(t, o.so, "/officers", http.StatusOK, `id="opc-delete-`+so+`"`)
	opcPost(t, o.so, "/officers/"+so+"/delete", url.Values{}, http.StatusConflict, `class="error"`)
	opcPost(t, o.so, "/officers", url.Values{"form": {"invite"}, "login_id": {"opc-so3"}, "display_name": {"SO Three"},
		"email": {"opc-so3@example.co.jp"}, "role": {"security-officer"}, "language": {"en"}}, http.StatusSeeOther)
}

// TestOpcAudit: the audit log's filters and paging (the platform's chain,
// or a customer's for a stated purpose), a refused filter, and the chains'
// verdicts as a page and as an htmx fragment.
func TestOpcAudit(t *testing.T) {
	t.Parallel()
	o := startOpcEnv(t)
	cu, _, _ := o.hubWithTwoPorts("Audit K.K.")
	opcGet(t, o.so, "/audit", http.StatusOK, `id="opc-audit-list"`, "session.login")
	p := opcGet(t, o.so, "/audit?limit=1", http.StatusOK, `id="opc-audit-next"`)
	if n := strings.Count(p.body, `<th scope="row" class="num">`); n != 1 {
		t.Fatalf("limit=1 shows %d entries", n)
	}
	opcGet(t, o.so, "/audit?customer="+string(cu.ID), http.StatusOK, string(cu.ID), `id="opc-audit-ask"`)
	opcGet(t, o.so, "/audit?purpose=review&customer="+string(cu.ID), http.StatusOK, "customer.create", "audit.read")
	opcGet(t, o.so, "/audit?limit=x", http.StatusBadRequest, `id="e-limit"`)
	opcGet(t, o.so, "/audit/verify", http.StatusOK, `id="opc-verdict"`, "state-", `id="opc-audit-list"`)
	req, _ := http.NewRequest("GET", o.so.base+"/audit/verify", nil)
	req.Header.Set("HX-Request", "true")
	// Sent past pageClient.do, which holds every answer to being a whole
	// page: this one is a fragment.
	res, err := o.so.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || !strings.Contains(string(b), `id="opc-verdict"`) || strings.Contains(string(b), "<html") {
		t.Fatalf("htmx verdict: %d\n%s", res.StatusCode, b)
	}
}

// TestBreakGlassListAPI: GET /api/v1/break-glass lists the caller's own open
// grants, and a closed one is gone.
func TestBreakGlassListAPI(t *testing.T) {
	t.Parallel()
	o := startOpcEnv(t)
	cu, _, _ := o.hubWithTwoPorts("List K.K.")
	o.account("", "opc-op3", identity.RoleOperator, opcPW)
	op, other := o.client(o.mgmt), o.client(o.mgmt)
	op.login("opc-op", opcPW)
	other.login("opc-op3", opcPW)
	var g identity.Grant
	op.expect(http.StatusCreated, "POST", "/api/v1/customers/"+string(cu.ID)+"/break-glass",
		map[string]any{"reason": "list test: checking the grants"}).json(t, &g)
	var l struct{ Items []identity.Grant }
	op.expect(http.StatusOK, "GET", "/api/v1/break-glass", nil).json(t, &l)
	if len(l.Items) != 1 || l.Items[0].ID != g.ID || l.Items[0].Reason != "list test: checking the grants" {
		t.Fatalf("open grants = %+v", l.Items)
	}
	other.expect(http.StatusOK, "GET", "/api/v1/break-glass", nil).json(t, &l)
	if len(l.Items) != 0 {
		t.Fatalf("another operator sees %+v", l.Items)
	}
	so := o.client(o.mgmt)
	so.login("opc-so", opcPW)
	so.expect(http.StatusForbidden, "GET", "/api/v1/break-glass", nil)
	other.expect(http.StatusNotFound, "DELETE", "/api/v1/break-glass/"+g.ID, nil)
	op.expect(http.StatusNoContent, "DELETE", "/api/v1/break-glass/"+g.ID, nil)
	op.expect(http.StatusOK, "GET", "/api/v1/break-glass", nil).json(t, &l)
	if len(l.Items) != 0 {
		t.Fatalf("a closed grant is listed: %+v", l.Items)
	}
}
