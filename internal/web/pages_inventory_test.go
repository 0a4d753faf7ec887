package web

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fleet"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// useLanguage switches the signed-in viewer's language, as the layout's
// buttons do (a staff account's own setting wins over Accept-Language).
func useLanguage(t *testing.T, c *pageClient, lang string) {
	t.Helper()
	c.Lang = lang
	if p := c.post("/language", url.Values{"lang": {lang}, "next": {"/"}}); p.code != http.StatusSeeOther {
		t.Fatalf("language %s: %d", lang, p.code)
	}
}

// getFragment asks for a part of a page as htmx does. It bypasses the page
// client's whole-page checks: a fragment has no <html>.
func getFragment(t *testing.T, c *pageClient, path string) htmlPage {
	t.Helper()
	req, _ := http.NewRequest("GET", c.base+path, nil)
	req.Header.Set("HX-Request", "true")
	res, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if csp := res.Header.Get("Content-Security-Policy"); csp != pageCSP {
		t.Errorf("%s: CSP %q", path, csp)
	}
	return htmlPage{code: res.StatusCode, body: string(b), hdr: res.Header}
}

var tokenRE = regexp.MustCompile(`id="enrolment-token">([^<]+)<`)

// TestInventoryPages walks the operator console's inventory through its
// pages as an operator would: a region, a node with its physical ports, an
// enrolment token shown once, the underlay, capacity with its bars and CSV,
// a NAT pool, the desired state, the affected customers, the job runs and a
// revocation. Each refused form shows its error next to the field and
// changes nothing.
func TestInventoryPages(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	const pw = "inventory pages passphrase 7"
	e.account("", "inv-op", identity.RoleOperator, pw)
	c := e.pageClient(e.mgmt)
	c.login("inv-op", pw)
	useLanguage(t, c, "en")
	ctx := e.seed

	// Without a region a node cannot be registered; the page says so.
	expectPage(t, "nodes, no region", c.get("/nodes"), 200, "Add a region before registering a node")

	// A region: a bad code is refused next to its field and adds nothing.
	p := c.post("/regions", url.Values{"code": {"Tokyo!"}, "name_ja": {"東京"}, "name_en": {"Tokyo"}, "data_location": {"Japan"}})
	expectPage(t, "bad region", p, http.StatusBadRequest, `id="region-code-error"`, `value="Tokyo!"`)
	if rs, _, _ := e.cat.ListRegions(ctx, catalog.Page{}); len(rs) != 0 {
		t.Fatalf("a refused region was added: %v", rs)
	}
	expectRedirect(t, "region", c.post("/regions", url.Values{"code": {"tokyo"}, "name_ja": {"東京"}, "name_en": {"Tokyo"},
		"data_location": {"Japan"}}), "/regions")
	expectPage(t, "regions", c.get("/regions"), 200, "The region was added.", "<code>tokyo</code>", "Japan")

	// A node: a bad name is refused next to its field.
	expectPage(t, "bad node", c.post("/nodes", url.Values{"name": {"Bad Name"}, "region": {"tokyo"}}), http.StatusBadRequest,
		`id="node-name-error"`, `aria-invalid="true"`)
	if ns, _, _ := e.cat.ListNodes(ctx, catalog.Page{}); len(ns) != 0 {
		t.Fatalf("a refused node was added: %v", ns)
	}
	expectRedirect(t, "node", c.post("/nodes", url.Values{"name": {"tyo-1"}, "region": {"tokyo"}}), "/nodes/tyo-1")
	expectPage(t, "new node", c.get("/nodes/tyo-1"), 200, "The node was registered.", "The node has no physical port yet.",
		`id="port-name"`, `id="issue-token"`, `data-confirm="Revoke node tyo-1?`)

	// Its physical ports, each refusal next to its field.
	for _, pp := range []url.Values{
		{"name": {"eth1"}, "speed_mbps": {"10000"}, "kind": {"onprem"}},
		{"name": {"eth3"}, "speed_mbps": {"10000"}, "kind": {"cloud-aws"}},
		{"name": {"eth5"}, "speed_mbps": {"10000"}, "kind": {"cloud-aws"}, "oversubscription": {"2"}},
	} {
		expectRedirect(t, "port "+pp.Get("name"), c.post("/nodes/tyo-1/physical-ports", pp), "/nodes/tyo-1")
	}
	for _, bad := range []struct {
		form url.Values
		code int
		want string
	}{
		{url.Values{"name": {"eth9"}, "speed_mbps": {"10000"}, "kind": {"satellite"}}, 400, `id="port-kind-error"`},
		{url.Values{"name": {"eth9"}, "speed_mbps": {"7"}, "kind": {"onprem"}}, 400, `id="port-speed-error"`},
		{url.Values{"name": {"a-very-long-interface"}, "speed_mbps": {"10000"}, "kind": {"onprem"}}, 400, `id="port-name-error"`},
		{url.Values{"name": {"eth9"}, "speed_mbps": {"10000"}, "kind": {"onprem"}, "oversubscription": {"20"}}, 400, `id="port-oversubscription-error"`},
		{url.Values{"name": {"eth9"}, "speed_mbps": {"10000"}, "kind": {"onprem"}, "oversubscription": {"NaN"}}, 400, `id="port-oversubscription-error"`},
		{url.Values{"name": {"eth1"}, "speed_mbps": {"10000"}, "kind": {"onprem"}}, 409, `id="form-error"`},
	} {
		expectPage(t, "bad port "+bad.want, c.post("/nodes/tyo-1/physical-ports", bad.form), bad.code, bad.want)
	}
	ns, _, err := e.cat.ListNodes(ctx, catalog.Page{})
	e.must("nodes", err)
	if len(ns) != 1 || len(ns[0].Ports) != 3 {
		t.Fatalf("nodes after the refusals: %+v", ns)
	}
	expectPage(t, "node", c.get("/nodes/tyo-1"), 200, "<code>eth1</code>", "<code>eth5</code>", "Cloud (AWS)", "10G", "No report")
	expectPage(t, "node list", c.get("/nodes"), 200, `href="/nodes/tyo-1"`, "No report")

	// The enrolment token is shown once, with how to use it, and never
	// again: not on the node's page, not in a cache.
	p = c.post("/nodes/tyo-1/enrolment-token", url.Values{})
	expectPage(t, "token", p, 200, "shown only this once", "tsunagi agent --controller https://&lt;controller&gt;:9444")
	m := tokenRE.FindStringSubmatch(p.body)
	if m == nil || !strings.Contains(p.body, "--token "+m[1]) {
		t.Fatalf("no token or command on the page:\n%s", p.body)
	}
	if p.hdr.Get("Cache-Control") != "no-store" {
		t.Errorf("token page Cache-Control %q", p.hdr.Get("Cache-Control"))
	}
	if p := c.get("/nodes/tyo-1"); strings.Contains(p.body, m[1]) {
		t.Fatal("the node's page shows the token again")
	}
	expectPage(t, "token, unknown node", c.post("/nodes/tyo-9/enrolment-token", url.Values{}), http.StatusNotFound)
	expectPage(t, "unknown node", c.get("/nodes/tyo-9"), http.StatusNotFound)

	// The underlay: a loopback address is refused next to the field.
	expectPage(t, "bad underlay", c.post("/nodes/tyo-1/underlay", url.Values{"address": {"127.0.0.1"}}), 400, `id="underlay-address-error"`)
	expectPage(t, "node, no underlay", c.get("/nodes/tyo-1"), 200, "Not set (this node")
	expectRedirect(t, "underlay", c.post("/nodes/tyo-1/underlay", url.Values{"address": {"192.0.2.10"}}), "/nodes/tyo-1")
	expectPage(t, "node, underlay", c.get("/nodes/tyo-1"), 200, "Current address: <code>192.0.2.10</code>", `value="192.0.2.10"`)

	// A customer's ports placed on the node fill the capacity report.
	cu, onprem, _ := e.hubWithTwoPorts("Inventory K.K.")
	api := e.client(e.mgmt)
	api.login("inv-op", pw)
	api.expect(http.StatusCreated, "POST", "/api/v1/customers/"+string(cu.ID)+"/ports/"+onprem.PortCode+"/placement", map[string]any{})
	// The node's agent reports a node-wide error and a hub behind its
	// version with a problem: the lists count them, the node's page says
	// what they are.
	ns, _, err = e.cat.ListNodes(ctx, catalog.Page{})
	e.must("nodes", err)
	rep := observed.Report{Schema: observed.Schema, AgentVersion: "0.9.1", ObservedAt: time.Now(), Error: "links could not be listed",
		Hubs: []observed.Hub{{HubID: string(onprem.HubID), CustomerID: string(cu.ID), WantedVersion: 2, ConfigVersion: 1,
			Problems: []observed.Problem{{PortCode: onprem.PortCode, Item: "session single", Reason: "peer unreachable"}}}}}
	e.must("report", e.srv.deps.Fleet.Report(ctx, fleet.Node{ID: ns[0].ID, Name: "tyo-1"}, rep,
		fleet.Placed{onprem.HubID: cu.ID}))
	expectPage(t, "node list, reported", c.get("/nodes"), 200, "<code>0.9.1</code>", `<span class="badge state-error">Error</span>`,
		`<td class="num">2</td>`)
	expectPage(t, "node, reported", c.get("/nodes/tyo-1"), 200, "links could not be listed", "peer unreachable", "session single",
		"Not yet reached", "Problems (1)", `hx-get="/nodes/tyo-1?part=report"`)
	p = getFragment(t, c, "/nodes/tyo-1?part=report")
	expectPage(t, "node report fragment", p, 200, `id="node-report-live"`, "<code>0.9.1</code>", "peer unreachable")
	if strings.Contains(p.body, "<html") || strings.Contains(p.body, `id="port-form"`) {
		t.Errorf("the report fragment is more than the report:\n%s", p.body)
	}

	p = c.get("/capacity")
	expectPage(t, "capacity", p, 200, `<meter min="0" max="100"`, `value="100"`, "Over the threshold",
		fmt.Sprintf("Allocated 100%% ≥ %.0f%%", network.DefaultSettings.CapacityThreshold*100),
		`href="/api/v1/capacity.csv"`, `class="flagged"`)
	if csv := c.get("/api/v1/capacity.csv"); csv.code != 200 || !strings.Contains(csv.body, "eth1") {
		t.Fatalf("capacity CSV with the session: %d %s", csv.code, csv.body)
	}
	expectPage(t, "home", c.get("/"), 200, `href="/nodes/tyo-1"`, "1 physical ports are over the threshold", "No job run has failed.")

	// The desired state needs a reason; the read is audited.
	expectPage(t, "desired form", c.get("/nodes/tyo-1/desired-state"), 200, `id="desired-reason"`)
	expectPage(t, "desired, no reason", c.get("/nodes/tyo-1/desired-state?reason="), 400, `id="desired-reason-error"`)
	expectPage(t, "desired", c.get("/nodes/tyo-1/desired-state?reason="+url.QueryEscape("capacity check")), 200,
		"Route limit", `id="desired-json"`, network.StaffSchema)
	if !e.auditHas("desired_state.read", "ok") {
		t.Error("the desired-state read is not in the audit log")
	}
	expectPage(t, "desired, unknown node", c.get("/nodes/tyo-9/desired-state?reason=x"), http.StatusNotFound)
	expectPage(t, "affected", c.get("/nodes/tyo-1/affected"), 200, string(cu.ID), onprem.PortCode, "Outage")
	expectPage(t, "affected port", c.get("/nodes/tyo-1/affected?physical_port=eth3"), 200, "No customer is affected.")
	expectPage(t, "affected, unknown port", c.get("/nodes/tyo-1/affected?physical_port=eth99"), http.StatusNotFound)

	// NAT pools: a private prefix is refused next to its field.
	expectPage(t, "bad pool", c.post("/nat-pools", url.Values{"region": {"tokyo"}, "prefix": {"10.0.0.0/24"}, "purpose": {"napt"}}), 400,
		`id="pool-prefix-error"`)
	expectRedirect(t, "pool", c.post("/nat-pools", url.Values{"region": {"tokyo"}, "prefix": {"203.0.113.0/24"}, "purpose": {"static"}}), "/nat-pools")
	expectPage(t, "pools", c.get("/nat-pools"), 200, "<code>203.0.113.0/24</code>", "Static NAT", "<td class=\"num\">256</td>")

	// Job runs, filtered and paged.
	_, err = e.jobs.RunDue(ctx)
	e.must("run jobs", err)
	expectPage(t, "jobs", c.get("/jobs"), 200, "<code>"+network.SpeedJobName+"</code>", "Succeeded")
	expectPage(t, "failed jobs", c.get("/jobs?outcome=failed"), 200, "No run matches.")
	p = c.get("/jobs?limit=1&job=" + network.SpeedJobName)
	next := regexp.MustCompile(`id="jobs-next" href="([^"]+)"`).FindStringSubmatch(p.body)
	if next == nil {
		t.Fatalf("a full page of runs has no next link:\n%s", p.body)
	}
	expectPage(t, "jobs, next page", c.get(html.UnescapeString(next[1])), 200, "No run matches.", `value="`+network.SpeedJobName+`"`)
	expectPage(t, "jobs, bad limit", c.get("/jobs?limit=0"), 400)

	// Revocation needs a reason.
	expectPage(t, "revoke, no reason", c.post("/nodes/tyo-1/revoke", url.Values{"reason": {""}}), 400, `id="revoke-reason-error"`)
	expectRedirect(t, "revoke", c.post("/nodes/tyo-1/revoke", url.Values{"reason": {"decommissioned"}}), "/nodes/tyo-1")
	if !e.auditHas("node.revoke", "ok") {
		t.Error("the revocation is not in the audit log")
	}
}

// TestInventoryPagesLanguages renders every inventory page in Japanese and
// English.
func TestInventoryPagesLanguages(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	ctx := e.seed
	_, err := e.cat.CreateRegion(ctx, catalog.RegionInput{Code: "tokyo", NameEN: "Tokyo", NameJA: "東京", DataLocation: "Japan"})
	e.must("region", err)
	_, err = e.cat.CreateNode(ctx, catalog.NodeInput{Region: "tokyo", Name: "tyo-1", Ports: []catalog.PhysicalPort{
		{Name: "eth1", SpeedMbps: 10_000, Kind: "onprem"}, {Name: "eth3", SpeedMbps: 10_000, Kind: "cloud-aws"}}})
	e.must("node", err)
	const pw = "inventory languages passphrase 3"
	e.account("", "inv-lang", identity.RoleOperator, pw)
	c := e.pageClient(e.mgmt)
	c.login("inv-lang", pw)
	pages := []struct{ path, ja, en string }{
		{"/", "概要", "Overview"},
		{"/regions", "データ保管場所", "Data location"},
		{"/nodes", "ノードを登録", "Register a node"},
		{"/nodes/tyo-1", "登録トークンを発行", "Issue an enrolment token"},
		{"/nodes/tyo-1/desired-state", "参照する理由", "Reason for reading it"},
		{"/nodes/tyo-1/affected", "ノード全体", "The whole node"},
		{"/capacity", "収容状況", "Capacity"},
		{"/nat-pools", "NATプール", "NAT pools"},
		{"/jobs", "ジョブ実行履歴", "Job runs"},
	}
	for _, lang := range []string{"ja", "en"} {
		useLanguage(t, c, lang)
		for _, pg := range pages {
			want := pg.ja
			if lang == "en" {
				want = pg.en
			}
			expectPage(t, lang+" "+pg.path, c.get(pg.path), 200, `<html lang="`+lang+`">`, want)
		}
		// A refusal is shown next to its field in the viewer's language.
		expectPage(t, lang+" bad region", c.post("/regions", url.Values{"code": {"X"}, "name_ja": {"大阪"}, "name_en": {"Osaka"},
			"data_location": {"Japan"}}), http.StatusBadRequest, `<html lang="`+lang+`">`, `id="region-code-error"`)
	}
	// Lists page: a page of one node links to the next.
	_, err = e.cat.CreateNode(ctx, catalog.NodeInput{Region: "tokyo", Name: "tyo-2"})
	e.must("node", err)
	expectPage(t, "nodes page 1", c.get("/nodes?limit=1"), 200, `href="/nodes/tyo-1"`, `id="node-next" href="/nodes?after=tyo-1"`)
	if p := c.get("/nodes?after=tyo-1"); !strings.Contains(p.body, `href="/nodes/tyo-2"`) || strings.Contains(p.body, `href="/nodes/tyo-1"`) {
		t.Errorf("second page of nodes:\n%s", p.body)
	}
	expectPage(t, "node by name past a page", c.get("/nodes/tyo-2"), 200, "tyo-2")
	if rs, _, _ := e.cat.ListRegions(ctx, catalog.Page{}); len(rs) != 1 {
		t.Fatalf("a refused region was added: %v", rs)
	}
}

// TestInventoryPagesRefused: a security officer (staff without
// inventory.manage, capacity.read or jobs.read) is refused every inventory
// page and form, and the start page and the regions show it no inventory
// and no control.
func TestInventoryPagesRefused(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	ctx := e.seed
	_, err := e.cat.CreateRegion(ctx, catalog.RegionInput{Code: "tokyo", NameEN: "Tokyo", NameJA: "東京", DataLocation: "Japan"})
	e.must("region", err)
	_, err = e.cat.CreateNode(ctx, catalog.NodeInput{Region: "tokyo", Name: "tyo-1"})
	e.must("node", err)
	const pw = "inventory refused passphrase 5"
	e.account("", "inv-so", identity.RoleSecurityOfficer, pw)
	c := e.pageClient(e.mgmt)
	c.login("inv-so", pw)
	useLanguage(t, c, "en")
	for _, path := range []string{"/nodes", "/nodes/tyo-1", "/nodes/tyo-1/desired-state", "/nodes/tyo-1/affected", "/capacity", "/nat-pools", "/jobs"} {
		expectPage(t, "GET "+path, c.get(path), http.StatusForbidden, "your role does not allow this")
	}
	for _, path := range []string{"/regions", "/nodes", "/nodes/tyo-1/physical-ports", "/nodes/tyo-1/enrolment-token", "/nodes/tyo-1/revoke",
		"/nodes/tyo-1/underlay", "/nat-pools"} {
		expectPage(t, "POST "+path, c.post(path, url.Values{"name": {"x"}, "code": {"osaka"}, "reason": {"x"}}), http.StatusForbidden)
	}
	p := c.get("/")
	expectPage(t, "home", p, 200, "Choose a task from the menu.")
	for _, hidden := range []string{"tyo-1", `href="/nodes"`, `href="/capacity"`, `href="/jobs"`} {
		if strings.Contains(p.body, hidden) {
			t.Errorf("the officer's start page shows %q", hidden)
		}
	}
	p = c.get("/regions")
	expectPage(t, "regions", p, 200, "<code>tokyo</code>")
	if strings.Contains(p.body, `id="region-form"`) {
		t.Error("the officer is offered the region form")
	}
	if ns, _, _ := e.cat.ListNodes(ctx, catalog.Page{}); len(ns) != 1 || len(ns[0].Ports) != 0 {
		t.Fatalf("a refused form changed the nodes: %+v", ns)
	}
	if !e.refusedBy("access.denied", "POST /nodes/{node}/revoke", "inv-so", "") {
		t.Error("the refused revocation is not audited")
	}
}

// TestNodeUnderlayAPI: a node's tunnel endpoint reads back as set; before
// it is set, and for an unknown node, the answer is 404; a staff role
// without inventory.manage is refused.
func TestNodeUnderlayAPI(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	_, err := e.cat.CreateRegion(e.seed, catalog.RegionInput{Code: "tokyo", NameEN: "Tokyo", NameJA: "東京", DataLocation: "Japan"})
	e.must("region", err)
	_, err = e.cat.CreateNode(e.seed, catalog.NodeInput{Region: "tokyo", Name: "tyo-1"})
	e.must("node", err)
	const pw = "underlay api passphrase 9"
	e.account("", "ul-op", identity.RoleOperator, pw)
	e.account("", "ul-so", identity.RoleSecurityOfficer, pw)
	op, so := e.client(e.mgmt), e.client(e.mgmt)
	op.login("ul-op", pw)
	so.login("ul-so", pw)
	op.expect(http.StatusNotFound, "GET", "/api/v1/nodes/tyo-1/underlay", nil)
	op.expect(http.StatusOK, "PUT", "/api/v1/nodes/tyo-1/underlay", map[string]any{"address": "192.0.2.20"})
	var u network.Underlay
	op.expect(http.StatusOK, "GET", "/api/v1/nodes/tyo-1/underlay", nil).json(t, &u)
	if u != (network.Underlay{Node: "tyo-1", Address: "192.0.2.20"}) {
		t.Fatalf("underlay = %+v", u)
	}
	op.expect(http.StatusNotFound, "GET", "/api/v1/nodes/tyo-9/underlay", nil)
	so.expect(http.StatusForbidden, "GET", "/api/v1/nodes/tyo-1/underlay", nil)
}
