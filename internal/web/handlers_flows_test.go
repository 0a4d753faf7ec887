package web

import (
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fleet"
	"github.com/tsunagi-net/tsunagi/internal/flows"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network/flowrec"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// seedFlow stores one NAPT connection of hub (customer cust) from inside
// address in, translated to public, that ended a minute ago.
func (e *idEnv) seedFlow(cust catalog.CustomerID, hub catalog.HubID, in, public string) {
	e.t.Helper()
	end := clock.Now().Add(-time.Minute)
	orig := flowrec.Tuple{Src: netip.MustParseAddr(in), Dst: netip.MustParseAddr("198.51.100.80"), SrcPort: 41000, DstPort: 443}
	reply := flowrec.Tuple{Src: orig.Dst, Dst: netip.MustParseAddr(public), SrcPort: 443, DstPort: 62000}
	b := flowrec.Batch{Schema: flowrec.Schema, SentAt: end, Records: []flowrec.Record{{HubID: string(hub), CustomerID: string(cust),
		Start: end.Add(-2 * time.Second), End: end, Protocol: 6, Original: orig, Reply: reply, Translated: flowrec.TranslatedSource,
		OrigBytes: 640, OrigPackets: 8, ReplyBytes: 4200, ReplyPackets: 6}},
		Dropped: []flowrec.Dropped{{HubID: string(hub), CustomerID: string(cust), Count: 2}}}
	e.must("flows", e.flows.Ingest(e.seed, "node_sweep", fleet.Placed{hub: cust}, b))
}

// The flow records' part of the cross-customer sweep: A has a record whose
// addresses B must never see.
func init() {
	sweepFixtures = append(sweepFixtures, func(t *testing.T, f *sweepFixture) {
		t.Helper()
		e := f.A.e
		f.A.e.seedFlow(catalog.CustomerID(f.ids["customer"][0]), catalog.HubID(f.ids["hub"][0]), "10.211.7.9", "203.0.113.211")
		var p flows.Page
		f.A.expect(http.StatusOK, "GET", "/api/v1/flows", nil).json(t, &p)
		if len(p.Flows) != 1 {
			e.t.Fatalf("A's flows: %+v", p)
		}
		f.Add("flow", p.Flows[0].ID)
		f.private = append(f.private, "10.211.7.9", "203.0.113.211")
	})
}

// TestFlowsAPI: the customer reads its records as JSON and CSV, filtered
// by an address on either side of the translation; bad input is refused by
// field; a role without flows.read is forbidden.
func TestFlowsAPI(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	a, c := flowCustomer(e, "Flows K.K.", "fl")
	e.seedFlow(a, "hub_flows", "10.9.0.5", "203.0.113.50")
	e.seedFlow(a, "hub_flows", "10.9.0.6", "203.0.113.50")
	var p flows.Page
	c.expect(http.StatusOK, "GET", "/api/v1/flows", nil).json(t, &p)
	if len(p.Flows) != 2 || p.Counts != (flows.Counts{Stored: 2, NodeDropped: 4}) {
		t.Fatalf("page %+v", p)
	}
	f := p.Flows[0]
	if f.OrigSrc != "10.9.0.6" || f.ReplyDst != "203.0.113.50" || f.Translated != "source" || f.OrigBytes != 640 || f.ReplyPackets != 6 {
		t.Fatalf("newest record %+v", f)
	}
	for addr, want := range map[string]int{"10.9.0.5": 1, "203.0.113.50": 2, "192.0.2.1": 0} {
		var q flows.Page
		c.expect(http.StatusOK, "GET", "/api/v1/flows?address="+addr, nil).json(t, &q)
		if len(q.Flows) != want {
			t.Errorf("address %s: %d records, want %d", addr, len(q.Flows), want)
		}
	}
	var one flows.Page
	c.expect(http.StatusOK, "GET", "/api/v1/flows?limit=1", nil).json(t, &one)
	if len(one.Flows) != 1 || one.Next == "" {
		t.Fatalf("limit 1: %+v", one)
	}
	var rest flows.Page
	c.expect(http.StatusOK, "GET", "/api/v1/flows?limit=1&cursor="+one.Next, nil).json(t, &rest)
	if len(rest.Flows) != 1 || rest.Flows[0].OrigSrc != "10.9.0.5" || rest.Next != "" {
		t.Fatalf("second page: %+v", rest)
	}
	csv := c.expect(http.StatusOK, "GET", "/api/v1/flows?format=csv", nil)
	lines := strings.Split(strings.TrimSpace(string(csv.body)), "\n")
	if ct := csv.hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") || len(lines) != 3 ||
		!strings.HasPrefix(lines[0], "id,hub_id,start,end") || !strings.Contains(lines[1], ",10.9.0.6,41000,198.51.100.80,443,") ||
		!strings.Contains(lines[1], "+09:00") {
		t.Fatalf("CSV %s:\n%s", ct, csv.body)
	}
	now := time.Now().UTC()
	for q, field := range map[string]string{
		"from=yesterday": "from",
		"from=" + url.QueryEscape(now.Format(time.RFC3339)) + "&to=" + url.QueryEscape(now.Add(-2*time.Hour).Format(time.RFC3339)): "to",
		"from=" + url.QueryEscape(now.AddDate(0, -2, 0).Format(time.RFC3339)):                                                      "to",
		"address=10.0.0.0/8": "address",
		"limit=1001":         "limit",
		"cursor=nonsense":    "cursor",
		"format=xml":         "format",
	} {
		r := c.expect(http.StatusBadRequest, "GET", "/api/v1/flows?"+q, nil)
		if !strings.Contains(string(r.body), `"field":"`+field+`"`) {
			t.Errorf("%s: %s, want a refusal of field %s", q, r.body, field)
		}
	}
	e.account(a, "fl-user", identity.RoleUser, flowPW)
	u := e.client(e.customer)
	u.login("fl-user", flowPW)
	u.expect(http.StatusForbidden, "GET", "/api/v1/flows", nil)
}

// TestFlowsPage: the page lists the records with the translation, the
// dropped counts and the CSV link in Japanese and English; bad input is
// shown next to its field; another customer's records are not shown.
func TestFlowsPage(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	a, _ := flowCustomer(e, "Flow Pages K.K.", "fp")
	b, _ := flowCustomer(e, "Other Flows K.K.", "fo")
	e.seedFlow(a, "hub_fp", "10.44.0.5", "203.0.113.44")
	e.seedFlow(b, "hub_fo", "10.55.0.5", "203.0.113.55")
	c := e.pageClient(e.customer)
	c.login("fp-ops", flowPW)
	for _, tc := range []struct{ lang, title, nat, counts, bad string }{
		{"ja", "フローレコード", "送信元（NAPT）", "保存件数 1 件", "アドレスは IPv4 または IPv6 のアドレス 1 つです。"},
		{"en", "Flow records", "Source (NAPT)", "1 records stored, 0 not stored over the hourly cap, 2 lost", "address is one IPv4 or IPv6 address"},
	} {
		c.setLang(tc.lang)
		p := c.expectPage(200, "/flows", tc.title, tc.nat, tc.counts, `id="flows"`, `id="flows-csv"`, "10.44.0.5:41000", "203.0.113.44:62000")
		if strings.Contains(p.body, "10.55.0.5") {
			t.Errorf("%s: A's page shows B's record", tc.lang)
		}
		c.expectPage(200, "/flows?address=203.0.113.44", "10.44.0.5")
		c.expectPage(200, "/flows?address=203.0.113.55", `class="empty"`)
		bad := c.get("/flows?address=nonsense")
		expectPage(t, tc.lang+" bad address", bad, http.StatusBadRequest, `id="e-address"`, tc.bad, `value="nonsense"`)
	}
	win := url.Values{"from": {"2026-12-06T10:00"}, "to": {"2026-12-06T09:00"}}
	expectPage(t, "backwards window", c.get("/flows?"+win.Encode()), http.StatusBadRequest, `id="e-to"`)
}
