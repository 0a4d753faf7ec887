package web

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fleet"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// catalogEnv is a customer A with a main hub in Tokyo (an on-premises port
// and an AWS private port, both placed on node tyo-1) and a sub hub in
// Osaka, a customer B with its own hub and ports, and signed-in page
// clients: A's operations administrator and A's user.
type catalogEnv struct {
	*idEnv
	a, b             catalog.Customer
	onprem, aws      catalog.Port // A's
	bPort            catalog.Port
	contract, bCode  string
	osaka            catalog.Hub
	ops, user        *pageClient
	node             catalog.Node
	hubA, hubB, hubC catalog.HubID // A's Tokyo, B's, A's Osaka
}

const catalogPW = "catalog pages passphrase 42"

func newCatalogEnv(t *testing.T) *catalogEnv {
	e := &catalogEnv{idEnv: startIDEnv(t, storetest.SQLite(t), identity.Config{})}
	ctx := e.seed
	for _, r := range []catalog.RegionInput{{Code: "tokyo", NameEN: "Tokyo", NameJA: "東京", DataLocation: "Japan (Tokyo)"},
		{Code: "osaka", NameEN: "Osaka", NameJA: "大阪", DataLocation: "Japan (Osaka)"}} {
		_, err := e.cat.CreateRegion(ctx, r)
		e.must("region", err)
	}
	var err error
	e.node, err = e.cat.CreateNode(ctx, catalog.NodeInput{Region: "tokyo", Name: "tyo-1", Ports: []catalog.PhysicalPort{
		{Name: "eth1", SpeedMbps: 10_000, Kind: "onprem"}, {Name: "eth2", SpeedMbps: 10_000, Kind: "onprem"},
		{Name: "eth3", SpeedMbps: 10_000, Kind: "cloud-aws"}, {Name: "eth5", SpeedMbps: 10_000, Kind: "cloud-aws"}}})
	e.must("node", err)
	e.a, e.onprem, e.aws = e.hubWithTwoPorts("A K.K.")
	e.b, e.bPort, _ = e.hubWithTwoPorts("B K.K.")
	e.contract, e.bCode = e.onprem.ServiceCode, e.bPort.ServiceCode
	e.hubA, e.hubB = e.onprem.HubID, e.bPort.HubID
	e.osaka, err = e.cat.CreateHub(ctx, tenanttest.Operator(e.a.ID), catalog.HubInput{ServiceCode: e.contract, Region: "osaka", Priority: "sub"})
	e.must("osaka hub", err)
	e.hubC = e.osaka.ID

	const pw = catalogPW
	e.account(e.a.ID, "cat-ops", identity.RoleOpsAdmin, pw)
	e.account(e.a.ID, "cat-user", identity.RoleUser, pw)
	e.account("", "cat-operator", identity.RoleOperator, pw)
	op := e.client(e.mgmt)
	op.login("cat-operator", pw)
	for _, code := range []string{e.onprem.PortCode, e.aws.PortCode} {
		op.expect(http.StatusCreated, "POST", "/api/v1/customers/"+string(e.a.ID)+"/ports/"+code+"/placement", map[string]any{})
	}
	op.expect(http.StatusCreated, "POST", "/api/v1/customers/"+string(e.a.ID)+"/ports/"+e.aws.PortCode+"/bandwidth-changes",
		map[string]any{"speed_mbps": 2000, "effective_date": "2099-01-01"})
	e.ops, e.user = e.pageClient(e.customer), e.pageClient(e.customer)
	e.ops.login("cat-ops", pw)
	e.user.login("cat-user", pw)
	return e
}

// report has tyo-1 report A's Tokyo hub: the AWS port's primary session up
// with a refused prefix and its secondary down, the on-premises port's
// link up; with guard set, the on-premises port held by a layer-2 guard
// (recorded as the agent API records it).
func (e *catalogEnv) report(guard bool) {
	e.t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	hub := observed.Hub{HubID: string(e.hubA), CustomerID: string(e.a.ID), WantedVersion: 0, ConfigVersion: 0,
		Problems: []observed.Problem{{PortCode: e.aws.PortCode, Item: "session secondary", Reason: "peer address unreachable"}},
		Ports: []observed.Port{
			{PortCode: e.aws.PortCode, Sessions: []observed.Session{
				{Name: "primary", State: "up", Info: "Established", Since: now, Imported: 12, Filtered: 1, Exported: 3,
					Refused: []observed.Refused{{Prefix: "192.0.2.0/24", Reason: "overlaps the hub's internal network"}}},
				{Name: "secondary", State: "down", Info: "Active", Since: now, Refused: []observed.Refused{}}},
				Links: []observed.Link{{Connection: "primary", Carrier: true}, {Connection: "secondary", Carrier: false}}},
			{PortCode: e.onprem.PortCode, Sessions: []observed.Session{}, Links: []observed.Link{{Connection: "single", Carrier: true}}},
		},
		Backbone: []observed.Session{{Name: "sub", State: "up", Info: "Established", Since: now, Refused: []observed.Refused{}}}}
	var holds []observed.Hold
	if guard {
		holds = []observed.Hold{{Kind: observed.HoldL2Guard, PortCode: e.onprem.PortCode, Reason: "bpdu", Since: now}}
		hub.Holds = holds
	}
	rep := observed.Report{Schema: observed.Schema, AgentVersion: "t", ObservedAt: now, Hubs: []observed.Hub{hub}}
	e.must("report", e.srv.deps.Fleet.Report(e.seed, fleet.Node{ID: e.node.ID, Name: e.node.Name}, rep, fleet.Placed{e.hubA: e.a.ID}))
	if guard {
		e.must("holds", e.srv.deps.Compiler.NodeReportsHolds(e.seed, e.node.Name, holds))
	}
}

// setLanguage switches the signed-in account's language as the page
// header's switch does.
func (c *pageClient) setLanguage(lang string) {
	c.t.Helper()
	if p := c.post("/language", url.Values{"lang": {lang}, "next": {"/"}}); p.code != http.StatusSeeOther {
		c.t.Fatalf("language %s: %d", lang, p.code)
	}
}

// fragment gets a part of a page as htmx does: no layout, hence not held
// to checkHTML's whole-page rules.
func (c *pageClient) fragment(path string) htmlPage {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.base+path, nil)
	req.Header.Set("HX-Request", "true")
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if csp := res.Header.Get("Content-Security-Policy"); csp != pageCSP {
		c.t.Errorf("%s: CSP %q", path, csp)
	}
	return htmlPage{code: res.StatusCode, body: string(b), hdr: res.Header}
}

func wantPage(t *testing.T, what string, p htmlPage, code int, texts ...string) {
	t.Helper()
	if p.code != code {
		t.Fatalf("%s: %d, want %d\n%.2000s", what, p.code, code, p.body)
	}
	for _, s := range texts {
		if !strings.Contains(p.body, s) {
			t.Errorf("%s lacks %q", what, s)
		}
	}
}

func wantNot(t *testing.T, what string, p htmlPage, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if strings.Contains(p.body, s) {
			t.Errorf("%s shows %q", what, s)
		}
	}
}

// Every catalog page renders in Japanese and English with the customer's
// own data, the live state the node reported (in words, not only colour),
// and never another customer's objects.
func TestCatalogPages(t *testing.T) {
	t.Parallel()
	e := newCatalogEnv(t)
	e.report(true)
	c := e.ops
	aws, onprem := e.aws.PortCode, e.onprem.PortCode
	for _, lang := range []struct {
		code                                     string
		topology, held, degraded, traffic, hubIn string
	}{
		{"ja", "ネットワーク構成図", "閉塞中", "冗長性低下", "トラフィックグラフ", "東京のハブ"},
		{"en", "Network topology", "Held down", "Degraded", "Traffic graphs", "Hub in Tokyo"},
	} {
		c.setLanguage(lang.code)
		home := c.get("/")
		wantPage(t, lang.code+" /", home, http.StatusOK, `<html lang="`+lang.code+`"`, e.contract, aws, onprem, lang.topology,
			`<svg class="topology" role="img"`, lang.held, lang.degraded, lang.traffic, lang.hubIn, `id="topo-port-`+onprem+`"`)
		wantPage(t, "/", home, http.StatusOK, "<h1>A K.K.</h1>")
		wantNot(t, "/", home, e.bCode, e.bPort.PortCode, "B K.K.")
		wantPage(t, lang.code+" /contracts", c.get("/contracts"), http.StatusOK, e.contract, "/contracts/"+e.contract)
		k := c.get("/contracts/" + e.contract)
		wantPage(t, lang.code+" contract", k, http.StatusOK, e.contract, aws, onprem, string(e.hubC))
		hubs := c.get("/hubs")
		wantPage(t, lang.code+" /hubs", hubs, http.StatusOK, "Japan (Osaka)", "Japan (Tokyo)", "/hubs/"+string(e.hubA), `<svg class="topology"`)
		hub := c.get("/hubs/" + string(e.hubA))
		wantPage(t, lang.code+" hub", hub, http.StatusOK, `hx-get="/hubs/`+string(e.hubA)+`/live"`, `hx-trigger="every 15s"`, aws, lang.held)
		live := c.fragment("/hubs/" + string(e.hubA) + "/live")
		wantPage(t, lang.code+" hub live", live, http.StatusOK, aws, "Established", "session secondary", "peer address unreachable")
		wantNot(t, "hub live fragment", live, "<html")
		ports := c.get("/ports")
		wantPage(t, lang.code+" /ports", ports, http.StatusOK, aws, onprem, lang.held, lang.degraded)
		pa := c.get("/ports/" + aws)
		wantPage(t, lang.code+" aws port", pa, http.StatusOK, "192.0.2.0/24", "overlaps the hub&#39;s internal network", "2099-01-01",
			"Established", ">12<", lang.traffic)
		wantNot(t, "aws port (route limit not hit)", pa, "/bgp/reenable")
		po := c.get("/ports/" + onprem)
		wantPage(t, lang.code+" onprem port", po, http.StatusOK, `action="/ports/`+onprem+`/l2-guard/reenable"`, "data-confirm=")
	}

	// The API answers the same name to the customer's own credential.
	api := e.client(e.customer)
	api.login("cat-user", catalogPW)
	if r := api.expect(http.StatusOK, "GET", "/api/v1/customer", nil); !strings.Contains(string(r.body), `"name":"A K.K."`) {
		t.Errorf("GET /api/v1/customer = %s", r.body)
	}

	// Another customer's contract, hub and port are not found, and neither
	// is a re-enable of its port.
	for _, path := range []string{"/contracts/" + e.bCode, "/hubs/" + string(e.hubB), "/hubs/" + string(e.hubB) + "/live",
		"/ports/" + e.bPort.PortCode, "/ports/shc00000000", "/contracts/nonsense"} {
		p := c.get(path)
		wantPage(t, "foreign "+path, p, http.StatusNotFound)
		wantNot(t, "foreign "+path, p, "B K.K.", e.bPort.PortCode+"</")
	}
	for _, path := range []string{"/ports/" + e.bPort.PortCode + "/l2-guard/reenable", "/ports/" + e.bPort.PortCode + "/bgp/reenable"} {
		wantPage(t, "foreign POST "+path, c.post(path, url.Values{}), http.StatusNotFound)
	}
}

// A user reads everything but sees no re-enable form, and a forced POST is
// refused 403 and changes nothing; the operations administrator's
// re-enable of a port that is not held is refused next to its section
// with the refusal's status; the held port comes back with a re-enable.
func TestCatalogReenable(t *testing.T) {
	t.Parallel()
	e := newCatalogEnv(t)
	e.report(true)
	onprem, aws := e.onprem.PortCode, e.aws.PortCode
	e.user.setLanguage("en")
	e.ops.setLanguage("en")

	p := e.user.get("/ports/" + onprem)
	wantPage(t, "user's port page", p, http.StatusOK, "Shut", "A BPDU was received")
	wantNot(t, "user's port page", p, "/l2-guard/reenable", "<form method=\"post\" action=\"/ports/")
	wantPage(t, "user's forced re-enable", e.user.post("/ports/"+onprem+"/l2-guard/reenable", url.Values{}), http.StatusForbidden)
	wantPage(t, "still shut", e.ops.get("/ports/"+onprem), http.StatusOK, "l2-guard/reenable")

	// Not held: refused in place (409), nothing changes.
	r := e.ops.post("/ports/"+aws+"/bgp/reenable", url.Values{})
	wantPage(t, "re-enable of a port not held", r, http.StatusConflict, `id="e-bgp_reenable"`, aws)
	if !strings.Contains(r.body, "field-error") {
		t.Errorf("refusal not next to the BGP section:\n%s", r.body)
	}
	e.ops.setLanguage("ja")
	r = e.ops.post("/ports/"+onprem+"/bgp/reenable", url.Values{})
	wantPage(t, "ja refusal", r, http.StatusConflict, `id="e-bgp_reenable"`, `<html lang="ja"`)

	// Held: the re-enable clears the hold and says so once.
	r = e.ops.post("/ports/"+onprem+"/l2-guard/reenable", url.Values{})
	if r.code != http.StatusSeeOther || r.location() != "/ports/"+onprem {
		t.Fatalf("re-enable: %d → %q", r.code, r.location())
	}
	p = e.ops.get("/ports/" + onprem)
	wantPage(t, "after re-enable", p, http.StatusOK, "ポートの再開を指示しました。", "稼働中")
	wantNot(t, "after re-enable", p, "/l2-guard/reenable\"")

	// A route-limit hold: the BGP section offers the restart to whoever
	// may edit, and the restart clears it.
	e.must("route limit", e.srv.deps.Compiler.NodeReportsHolds(e.seed, e.node.Name, []observed.Hold{{Kind: observed.HoldRouteLimit,
		PortCode: aws, Session: "primary", Reason: "limit", Prefixes: 2001, Limit: 2000, Since: time.Now().UTC()}}))
	p = e.ops.get("/ports/" + aws)
	wantPage(t, "route-limited port", p, http.StatusOK, `action="/ports/`+aws+`/bgp/reenable"`, "上限超過により停止中", ">2001<")
	wantNot(t, "user's route-limited port", e.user.get("/ports/"+aws), "/bgp/reenable")
	wantPage(t, "user's forced restart", e.user.post("/ports/"+aws+"/bgp/reenable", url.Values{}), http.StatusForbidden)
	if r := e.ops.post("/ports/"+aws+"/bgp/reenable", url.Values{}); r.code != http.StatusSeeOther {
		t.Fatalf("restart: %d", r.code)
	}
	wantNot(t, "restarted port", e.ops.get("/ports/"+aws), `action="/ports/`+aws+`/bgp/reenable"`, "上限超過により停止中")
}

// A customer with a contract and nothing built yet sees its pages say so,
// in both languages, rather than empty tables or a broken picture.
func TestCatalogPagesEmpty(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	cu, err := e.cat.CreateCustomer(e.seed, catalog.CustomerInput{Name: "Empty K.K."})
	e.must("customer", err)
	k, err := e.cat.CreateContract(e.seed, tenanttest.Operator(cu.ID), catalog.ContractInput{Plan: "smart-hub"})
	e.must("contract", err)
	e.account(cu.ID, "empty-admin", identity.RoleAdmin, catalogPW)
	c := e.pageClient(e.customer)
	c.login("empty-admin", catalogPW)
	for _, lang := range []struct{ code, noHubs, noPorts string }{
		{"ja", "ハブはまだありません。", "ポートはありません。"}, {"en", "There are no hubs yet.", "There are no ports."},
	} {
		c.setLanguage(lang.code)
		wantPage(t, lang.code+" empty /", c.get("/"), http.StatusOK, "Empty K.K.", k.ServiceCode, lang.noHubs, lang.noPorts)
		wantPage(t, lang.code+" empty /hubs", c.get("/hubs"), http.StatusOK, lang.noHubs)
		wantPage(t, lang.code+" empty /ports", c.get("/ports"), http.StatusOK, lang.noPorts)
		wantPage(t, lang.code+" empty contract", c.get("/contracts/"+k.ServiceCode), http.StatusOK, lang.noPorts)
	}
}
