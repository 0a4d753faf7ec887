package web

import (
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
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// wfEnv is a customer with an on-premises and an AWS port, and its
// operations administrator, admin and user signed in to the panel.
type wfEnv struct {
	*idEnv
	cust             catalog.Customer
	onprem, aws      catalog.Port
	ops, admin, user *pageClient
}

func startWorkflowEnv(t *testing.T) *wfEnv {
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	_, err := e.cat.CreateRegion(e.seed, catalog.RegionInput{Code: "tokyo", NameEN: "Tokyo", NameJA: "東京", DataLocation: "Japan"})
	e.must("region", err)
	cu, onprem, aws := e.hubWithTwoPorts("Panel K.K.")
	const pw = "workflow pages passphrase 42"
	w := &wfEnv{idEnv: e, cust: cu, onprem: onprem, aws: aws}
	for _, a := range []struct {
		id   string
		role identity.Role
		c    **pageClient
	}{{"wf-ops", identity.RoleOpsAdmin, &w.ops}, {"wf-admin", identity.RoleAdmin, &w.admin}, {"wf-user", identity.RoleUser, &w.user}} {
		e.account(cu.ID, a.id, a.role, pw)
		*a.c = e.pageClient(e.customer)
		(*a.c).login(a.id, pw)
	}
	// The account's language setting decides over Accept-Language.
	for _, c := range []*pageClient{w.ops, w.user} {
		if p := c.post("/language", url.Values{"lang": {"en"}}); p.code != http.StatusSeeOther {
			t.Fatalf("language: %d", p.code)
		}
	}
	return w
}

func absent(t *testing.T, what string, p htmlPage, unwanted ...string) {
	t.Helper()
	for _, u := range unwanted {
		if strings.Contains(p.body, u) {
			t.Fatalf("%s: %q should not be shown\n%s", what, u, p.body)
		}
	}
}

// lockFragment is the part of /network that htmx refreshes: no page of
// its own, so it is read past the page checks.
func lockFragment(t *testing.T, c *pageClient) htmlPage {
	t.Helper()
	req, _ := http.NewRequest("GET", c.base+"/network/lock", nil)
	req.Header.Set("HX-Request", "true")
	res, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	p := htmlPage{code: res.StatusCode, body: string(b), hdr: res.Header}
	if strings.Contains(p.body, "<html") || p.hdr.Get("Content-Security-Policy") != pageCSP {
		t.Fatalf("lock fragment is a whole page or lacks the CSP: %s", p.body)
	}
	return p
}

// awsConnection is a valid connection form for the AWS private port.
func awsConnection() url.Values {
	return url.Values{"form": {"connection"}, "kind": {"cloud"}, "vlan": {"100"}, "peer_asn": {"64512"},
		"primary_hub_address": {"169.254.0.1"}, "primary_peer_address": {"169.254.0.2"}, "primary_prefix_length": {"30"},
		"secondary_hub_address": {"169.254.0.5"}, "secondary_peer_address": {"169.254.0.6"}, "secondary_prefix_length": {"30"},
		"type": {"DefaultRoute"}}
}

// TestWorkflowPages walks the edit workflow through the panel: the lock
// seen by a second administrator, a cloud port added with a firewall rule
// over an object, a refused rule, the review's diff and risk, apply, the
// history and a rollback; and a user who sees it all without controls.
func TestWorkflowPages(t *testing.T) {
	t.Parallel()
	w := startWorkflowEnv(t)
	ops, admin, user := w.ops, w.admin, w.user
	aws := w.aws.PortCode
	portPage := "/network/draft/ports/" + aws

	// Nobody is editing: the overview offers "start editing" to editors
	// only, in the viewer's language.
	p := ops.get("/network")
	expectPage(t, "overview (en)", p, 200, `id="start-editing"`, "Nobody is editing", aws, `id="view-`+aws+`"`)
	p = admin.get("/network")
	expectPage(t, "overview (ja)", p, 200, `<html lang="ja"`, "設定変更", "現在、編集している人はいません。", `id="start-editing"`)
	p = user.get("/network")
	expectPage(t, "overview (user)", p, 200, aws)
	absent(t, "overview (user)", p, `id="start-editing"`, `action="/network/lock"`, `id="break-lock"`)

	// The operations administrator starts editing; the admin sees who
	// holds the lock (also in the lock's refreshed part), cannot take it,
	// and has no break control (network.lock.break is not an admin's).
	expectRedirect(t, "start editing", ops.post("/network/lock", url.Values{}), "/network")
	p = ops.get("/network")
	expectPage(t, "overview (editing)", p, 200, "You are editing now.", `id="stop-editing"`, `id="add-`+aws+`"`, `id="discard-draft"`)
	p = admin.get("/network")
	expectPage(t, "overview (second admin)", p, 200, `<strong id="lock-holder">wf-ops</strong>`, "編集中")
	absent(t, "overview (second admin)", p, `id="start-editing"`, `id="break-lock"`, `id="add-`+aws+`"`)
	expectPage(t, "lock fragment", lockFragment(t, admin), 200, `id="lock-holder">wf-ops<`)
	p = admin.post("/network/lock", url.Values{})
	expectPage(t, "second admin starts editing", p, http.StatusConflict, "wf-ops")

	// The cloud port is added to the configuration from its page; a
	// refused connection names the field next to it and stores nothing.
	p = ops.get(portPage)
	expectPage(t, "port page", p, 200, `id="not-configured"`, `id="connection-vlan"`, `id="save-connection"`, `id="rule-new-sources"`)
	bad := awsConnection()
	bad.Set("primary_hub_address", "10.0.0.1")
	p = ops.post(portPage+"/connection", bad)
	expectPage(t, "refused connection", p, http.StatusBadRequest, `id="connection-primary_peer_address-error"`, "not in 10.0.0.0/30", `value="10.0.0.1"`)
	expectPage(t, "still not configured", ops.get(portPage), 200, `id="not-configured"`)
	expectRedirect(t, "save connection", ops.post(portPage+"/connection", awsConnection()), portPage+"#connection")
	p = ops.get(portPage)
	expectPage(t, "port configured", p, 200, `value="169.254.0.1"`)
	absent(t, "port configured", p, `id="not-configured"`)

	// A rule naming an object that does not exist is refused next to its
	// field; the rule is not added.
	rule := url.Values{"form": {"rule-new"}, "action": {"accept"}, "sources": {"office"}, "destinations": {"any"}, "log": {"on"}, "comment": {"from the office"}}
	p = ops.post(portPage+"/rules", rule)
	expectPage(t, "refused rule", p, http.StatusBadRequest, `id="rule-new-sources-error"`, `value="office"`)
	absent(t, "refused rule", ops.get(portPage), `id="rule-0"`)
	// The object is defined on the objects page, then the rule saves.
	expectRedirect(t, "add object", ops.post("/network/draft/objects/addresses", url.Values{"name": {"office"}, "prefixes": {"10.1.0.0/16"}}),
		"/network/draft/objects#addresses")
	expectPage(t, "objects page", ops.get("/network/draft/objects"), 200, `id="addresses-office"`, "10.1.0.0/16")
	p = ops.post("/network/draft/objects/applications", url.Values{"name": {"webapp"}, "services": {"nosuch"}})
	expectPage(t, "refused object", p, http.StatusBadRequest, `id="applications-new-services-error"`, `value="webapp"`)
	expectRedirect(t, "add rule", ops.post(portPage+"/rules", rule), portPage+"#rule")
	// An object a rule uses cannot go; the refusal names the rule.
	p = ops.post("/network/draft/objects/addresses/delete", url.Values{"original": {"office"}})
	expectPage(t, "object in use", p, http.StatusBadRequest, `id="form-error"`, "sources")
	p = ops.get(portPage)
	expectPage(t, "rule added", p, 200, `id="rule-0"`, `id="rule-0-sources" name="sources" type="text" value="office"`, `id="rule-0-delete"`)

	// The review shows the diff per port, the risk and what it affects.
	p = ops.get("/network/review")
	expectPage(t, "review", p, 200, `id="apply"`, `id="risk"`, "ports["+aws+"]", "+ added", `id="affected-ports">`+aws)
	// The apply form carries the revision it reviewed: a save since (here
	// the same account in another session, the same rule again) is
	// refused on the review page and applies nothing.
	reviewed := regexp.MustCompile(`name="reviewed" value="([0-9a-f]+)"`).FindStringSubmatch(p.body)
	if reviewed == nil {
		t.Fatalf("the review's apply form has no revision\n%s", p.body)
	}
	again := url.Values{}
	for k, v := range rule {
		again[k] = v
	}
	again.Set("form", "rule-0")
	expectRedirect(t, "save after review", ops.post(portPage+"/rules/0", again), portPage+"#rule")
	p = ops.post("/network/apply", url.Values{"reviewed": {reviewed[1]}})
	expectPage(t, "apply of a changed draft", p, http.StatusConflict, `id="form-error"`, "review it again")
	expectPage(t, "nothing applied", ops.get("/network/versions"), 200)
	absent(t, "nothing applied", ops.get("/network/versions"), `id="version-1"`)
	p = ops.get("/network/review")
	reviewed = regexp.MustCompile(`name="reviewed" value="([0-9a-f]+)"`).FindStringSubmatch(p.body)
	expectRedirect(t, "apply", ops.post("/network/apply", url.Values{"reviewed": {reviewed[1]}}), "/network/versions/1")
	p = ops.get("/network/versions/1")
	expectPage(t, "version 1", p, 200, "Applied: this is the new version.", `id="current"`, "office", "169.254.0.1")
	absent(t, "version 1", p, `id="rollback"`)
	expectPage(t, "history", admin.get("/network/versions"), 200, `id="version-1"`, "wf-ops")
	expectPage(t, "overview after apply", admin.get("/network"), 200, `id="applied-version">1<`, "現在、編集している人はいません。")

	// A second change moves nothing but the rule's comment; then version 1
	// is rolled back to, through the same review and apply.
	expectRedirect(t, "start editing again", ops.post("/network/lock", url.Values{}), "/network")
	rule.Set("form", "rule-0")
	rule.Set("comment", "office network")
	expectRedirect(t, "edit rule", ops.post(portPage+"/rules/0", rule), portPage+"#rule")
	expectRedirect(t, "apply 2", applyReviewed(t, ops), "/network/versions/2")
	p = ops.get("/network/versions/1")
	expectPage(t, "version 1 after 2", p, 200, `id="rollback"`, "Version 2 is applied now")
	expectRedirect(t, "rollback", ops.post("/network/versions/1/rollback", url.Values{}), "/network/review")
	p = ops.get("/network/review")
	expectPage(t, "rollback review", p, 200, "A rollback draft was made", "office network", "from the office", `id="apply"`)
	expectRedirect(t, "apply rollback", applyReviewed(t, ops), "/network/versions/3")
	expectPage(t, "version 3", ops.get("/network/versions/3"), 200, "from the office", `href="/network/versions/1">1<`)
	expectPage(t, "history", ops.get("/network/versions"), 200, `id="version-3"`, "Rollback to version 1")

	// The NAT view and the advanced editor render; the applied
	// configuration is shown on /network.
	expectPage(t, "nat", ops.get("/network/nat"), 200, "No port uses NAPT.")
	expectPage(t, "json (user)", user.get("/network/draft/json"), 200, `id="f-config"`, `&#34;port_code&#34;: &#34;`+aws+`&#34;`)
	expectPage(t, "applied config", user.get("/network"), 200, `id="applied-config"`, "169.254.0.1")

	// Every page renders in both languages (a missing text fails the
	// render), for an editor and for a reader.
	expectRedirect(t, "edit for the sweep", ops.post("/network/lock", url.Values{}), "/network")
	for _, path := range []string{"/network", "/network/draft/ports/" + aws, "/network/draft/ports/" + w.onprem.PortCode, "/network/draft/objects",
		"/network/draft/hubs", "/network/draft/json", "/network/review", "/network/versions", "/network/versions/1", "/network/nat"} {
		for _, c := range []*pageClient{ops, admin, user} {
			if p := c.get(path); p.code != http.StatusOK {
				t.Errorf("GET %s: %d\n%s", path, p.code, p.body)
			}
		}
	}
	expectPage(t, "review (ja)", admin.get("/network/review"), 200, "変更内容のレビュー")
}

// TestWorkflowPagesRefusals: a user has no edit controls and a forced post
// is 403; another customer's port is 404; a break of the lock by the
// operations administrator; the JSON editor's refusal is shown above it.
func TestWorkflowPagesRefusals(t *testing.T) {
	t.Parallel()
	w := startWorkflowEnv(t)
	ops, admin, user := w.ops, w.admin, w.user
	portPage := "/network/draft/ports/" + w.onprem.PortCode

	p := user.get(portPage)
	expectPage(t, "port page (user)", p, 200, "This account can view the configuration but not change it.", `id="connection-hub_address"`, "disabled")
	absent(t, "port page (user)", p, "<form method=\"post\" action=\"/network", `id="save-connection"`, `id="add-rule"`)
	for _, path := range []string{"/network/lock", portPage + "/connection", portPage + "/rules", "/network/apply", "/network/draft/json",
		"/network/draft/objects/addresses", "/network/versions/1/rollback", "/network/lock/break"} {
		if p := user.post(path, url.Values{}); p.code != http.StatusForbidden {
			t.Errorf("user POST %s: %d, want 403", path, p.code)
		}
	}
	// The admin may edit but not break a lock.
	if p := admin.post("/network/lock/break", url.Values{}); p.code != http.StatusForbidden {
		t.Errorf("admin breaks the lock: %d, want 403", p.code)
	}

	_, _, foreign := w.hubWithTwoPorts("Other K.K.")
	expectPage(t, "foreign port", ops.get("/network/draft/ports/"+foreign.PortCode), http.StatusNotFound)
	expectRedirect(t, "start editing", ops.post("/network/lock", url.Values{}), "/network")
	if p := ops.post("/network/draft/ports/"+foreign.PortCode+"/connection", url.Values{}); p.code != http.StatusNotFound {
		t.Errorf("foreign port save: %d, want 404", p.code)
	}

	// A speed change is asked for in the draft; a speed the port's kind
	// does not have is refused next to the field.
	awsPage := "/network/draft/ports/" + w.aws.PortCode
	p = ops.post(awsPage+"/speed", url.Values{"speed_mbps": {"300"}})
	expectPage(t, "bad speed", p, http.StatusBadRequest, `id="speed-speed_mbps-error"`)
	expectRedirect(t, "speed", ops.post(awsPage+"/speed", url.Values{"speed_mbps": {"2000"}}), awsPage+"#speed")
	expectPage(t, "speed in draft", ops.get(awsPage), 200, `id="speed-request"`, "2000 Mb/s", `id="remove-speed"`)
	expectPage(t, "speed in review", ops.get("/network/review"), 200, "ports["+w.aws.PortCode+"]", "speed_mbps", "2000")
	expectRedirect(t, "withdraw speed", ops.post(awsPage+"/speed/delete", url.Values{}), awsPage+"#speed")
	absent(t, "speed withdrawn", ops.get(awsPage), `id="speed-request"`)

	// An on-premises port with a bad MTU: the error is next to the field,
	// in Japanese for a Japanese viewer, and nothing is stored.
	ops.post("/language", url.Values{"lang": {"ja"}})
	form := url.Values{"form": {"connection"}, "hub_address": {"192.168.255.1"}, "customer_address": {"192.168.255.2"}, "prefix_length": {"30"},
		"peer_asn": {"65001"}, "bpdu_guard": {"on"}, "mtu": {"9000"}}
	p = ops.post(portPage+"/connection", form)
	expectPage(t, "bad mtu", p, http.StatusBadRequest, `<html lang="ja"`, `id="connection-mtu-error"`, `value="9000"`)
	expectPage(t, "not stored", ops.get(portPage), 200, `id="not-configured"`)
	form.Del("mtu")
	expectRedirect(t, "onprem", ops.post(portPage+"/connection", form), portPage+"#connection")
	ops.post("/language", url.Values{"lang": {"en"}})

	// The hub settings: a bad network is refused next to its hub's field,
	// a good one saved.
	hub := string(w.aws.HubID)
	expectPage(t, "hubs", ops.get("/network/draft/hubs"), 200, `id="hub-`+hub+`-internal_network"`, `id="asn-asn"`, "64600")
	p = ops.post("/network/draft/hubs/"+hub, url.Values{"internal_network": {"not-a-prefix"}, "monitoring_network": {"100.64.1.0/28"}})
	expectPage(t, "bad hub network", p, http.StatusBadRequest, `id="hub-`+hub+`-internal_network-error"`)
	p = ops.post("/network/draft/asn", url.Values{"asn": {"0"}})
	expectPage(t, "bad asn", p, http.StatusBadRequest, `id="asn-asn-error"`)
	expectRedirect(t, "hub network", ops.post("/network/draft/hubs/"+hub,
		url.Values{"internal_network": {"100.64.8.0/24"}, "monitoring_network": {"100.64.1.0/28"}}), "/network/draft/hubs")
	expectPage(t, "hub saved", ops.get("/network/draft/hubs"), 200, `value="100.64.8.0/24"`)
	expectPage(t, "foreign hub", ops.post("/network/draft/hubs/hub_nosuch", url.Values{}), http.StatusNotFound)

	// The JSON editor refuses a document that does not parse, above it,
	// and keeps what was sent.
	p = ops.post("/network/draft/json", url.Values{"config": {`{"ports": [`}})
	expectPage(t, "bad json", p, http.StatusBadRequest, `id="form-error"`, `{&#34;ports&#34;: [`)
	p = ops.post("/network/draft/json", url.Values{"config": {`{"asn": 64600, "hubs": [], "ports": [], "objects": {"addresses": [], "services": [], "applications": []}, "surprise": 1}`}})
	expectPage(t, "unknown field", p, http.StatusBadRequest, `id="form-error"`, "surprise")

	// The admin waits for the lock; the operations administrator breaks
	// the admin's lock after the explanation, and the draft stays.
	expectRedirect(t, "ops stops", ops.post("/network/lock/release", url.Values{}), "/network")
	expectRedirect(t, "admin edits", admin.post("/network/lock", url.Values{}), "/network")
	p = ops.get("/network")
	expectPage(t, "break offered", p, 200, `id="break-lock"`, "Breaking the lock ends its holder", "wf-admin")
	expectRedirect(t, "break", ops.post("/network/lock/break", url.Values{}), "/network")
	p = admin.get("/network")
	expectPage(t, "after break", p, 200, "現在、編集している人はいません。", `id="go-review"`)
	if !w.auditHas("network.lock.break", "ok") {
		t.Error("no audit of the break")
	}
}

// TestWorkflowPublicPort: a public cloud port is added with its firewall
// mode and first NAPT grade in one form; its grades can change but not all
// go; static NAT takes inside addresses.
func TestWorkflowPublicPort(t *testing.T) {
	t.Parallel()
	w := startWorkflowEnv(t)
	op := tenanttest.Operator(w.cust.ID)
	for name, n := range map[string]int64{"napt-grade": 3, "static-nat-address": 1} {
		_, err := w.cat.SetOption(w.seed, op, w.aws.ServiceCode, catalog.OptionInput{Name: name, Quantity: n})
		w.must("option", err)
	}
	pub, err := w.cat.CreatePort(w.seed, op, catalog.PortInput{ServiceCode: w.aws.ServiceCode, HubID: w.aws.HubID, Kind: "a-public", SpeedMbps: 1_000})
	w.must("port", err)
	ops := w.ops
	page := "/network/draft/ports/" + pub.PortCode
	expectRedirect(t, "start editing", ops.post("/network/lock", url.Values{}), "/network")
	expectPage(t, "new public port", ops.get(page), 200, `id="connection-mode"`, `id="connection-sessions"`, `id="napt-sessions-7"`, `id="static_nat-inside"`)
	form := url.Values{"form": {"connection"}, "kind": {"cloud"}, "vlan": {"102"}, "peer_asn": {"7224"},
		"primary_hub_address": {"203.0.113.0"}, "primary_peer_address": {"203.0.113.1"}, "primary_prefix_length": {"31"},
		"secondary_hub_address": {"203.0.113.2"}, "secondary_peer_address": {"203.0.113.3"}, "secondary_prefix_length": {"31"},
		"type": {"UserDefined"}, "prefixes": {"198.51.100.0/24"}, "mode": {"stateless"}, "sessions": {"30000"}}
	expectRedirect(t, "add public port", ops.post(page+"/connection", form), page+"#connection")
	p := ops.get(page)
	expectPage(t, "public port", p, 200, `<option value="stateless" selected>`, `<option value="30000" selected>`)
	absent(t, "public port", p, `id="connection-mode"`, `value="none"`)

	expectRedirect(t, "grades", ops.post(page+"/napt", url.Values{"sessions": {"30000", "", "60000"}}), page+"#napt")
	p = ops.post(page+"/napt", url.Values{"sessions": {"", ""}})
	expectPage(t, "no grade", p, http.StatusBadRequest, `id="e-napt"`, "NAPT cannot be removed")
	expectPage(t, "grades kept", ops.get(page), 200, `<option value="60000" selected>`)
	p = ops.post(page+"/napt", url.Values{"sessions": {"30000", "30000", "30000", "30000"}})
	expectPage(t, "over the option", p, http.StatusBadRequest, `id="form-error"`, "contracted")

	expectRedirect(t, "static nat", ops.post(page+"/static-nat", url.Values{"inside": {"10.10.0.5"}}), page+"#static_nat")
	p = ops.post(page+"/static-nat", url.Values{"inside": {"10.10.0.5\nnot-an-address"}})
	expectPage(t, "bad inside", p, http.StatusBadRequest, `id="static_nat-inside-error"`, "not-an-address</textarea>")
	expectPage(t, "static kept", ops.get(page), 200, "10.10.0.5</textarea>")
	p = ops.post(page+"/firewall", url.Values{"mode": {"none"}})
	expectPage(t, "firewall mandatory", p, http.StatusBadRequest, "mandatory")

	// Applied, the port's grades and inside address get public addresses
	// from the operator's pools, which the NAT page shows.
	for _, in := range []network.PoolInput{{Region: "tokyo", Prefix: "203.0.113.128/26", Purpose: "napt"},
		{Region: "tokyo", Prefix: "203.0.113.192/28", Purpose: "static"}} {
		_, err := w.srv.deps.NetOps.CreatePool(w.seed, in)
		w.must("pool", err)
	}
	expectRedirect(t, "apply", applyReviewed(t, ops), "/network/versions/1")
	p = w.user.get("/network/nat")
	expectPage(t, "nat", p, 200, `<th scope="row">`+pub.PortCode+`</th>`, "30000 sessions, 60000 sessions", "203.0.113.", "<code>10.10.0.5</code>")
	absent(t, "nat", p, "Not allocated")
}

// TestWorkflowPagesDataplane: /network says whether each hub's data plane
// runs the applied version, from the hub's own report only.
func TestWorkflowPagesDataplane(t *testing.T) {
	t.Parallel()
	w := startWorkflowEnv(t)
	n, err := w.cat.CreateNode(w.seed, catalog.NodeInput{Region: "tokyo", Name: "tyo-1"})
	w.must("node", err)
	other, otherPort, _ := w.hubWithTwoPorts("Other K.K.")
	hub := w.aws.HubID
	report := func(version int64, why string) {
		rep := observed.Report{Schema: observed.Schema, AgentVersion: "t", ObservedAt: time.Now().UTC(), Hubs: []observed.Hub{
			{HubID: string(hub), CustomerID: string(w.cust.ID), WantedVersion: 1, ConfigVersion: version, Error: why},
			{HubID: string(otherPort.HubID), CustomerID: string(other.ID), WantedVersion: 5, ConfigVersion: 5, Error: "the other's secret"}}}
		placed := fleet.Placed{hub: w.cust.ID, otherPort.HubID: other.ID}
		w.must("report", w.srv.deps.Fleet.Report(w.seed, fleet.Node{ID: n.ID, Name: n.Name}, rep, placed))
	}
	expectRedirect(t, "start editing", w.ops.post("/network/lock", url.Values{}), "/network")
	expectRedirect(t, "connection", w.ops.post("/network/draft/ports/"+w.aws.PortCode+"/connection", awsConnection()),
		"/network/draft/ports/"+w.aws.PortCode+"#connection")
	expectRedirect(t, "apply", applyReviewed(t, w.ops), "/network/versions/1")

	const why = "hub refused: interface eth9 does not exist on this node"
	report(0, why)
	p := w.user.get("/network")
	expectPage(t, "not in force", p, 200, `<span class="badge state-error">Error</span> `+why)
	absent(t, "not in force", p, `state-ok">In force`, "the other&#39;s secret", string(otherPort.HubID))
	report(1, "")
	expectPage(t, "in force", w.user.get("/network"), 200, `<span class="badge state-ok">In force</span>`)
}

// applyReviewed applies as the review page's button does: with the
// revision the review showed.
func applyReviewed(t *testing.T, c *pageClient) htmlPage {
	t.Helper()
	p := c.get("/network/review")
	m := regexp.MustCompile(`name="reviewed" value="([0-9a-f]+)"`).FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("the review has no apply form\n%s", p.body)
	}
	return c.post("/network/apply", url.Values{"reviewed": {m[1]}})
}
