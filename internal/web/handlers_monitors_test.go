package web

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/monitor"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// monitorCustomer makes a customer with a contract carrying the
// reachability-monitor option (quantity n), a hub and a port, and its
// operations administrator signed in; it returns the client, the port
// code and the hub.
func monitorCustomer(t *testing.T, e *idEnv, name string, n int64) (*client, string, catalog.HubID) {
	t.Helper()
	cu, err := e.cat.CreateCustomer(e.seed, catalog.CustomerInput{Name: name})
	e.must("customer", err)
	op := tenanttest.Operator(cu.ID)
	k, err := e.cat.CreateContract(e.seed, op, catalog.ContractInput{Plan: "smart-hub"})
	e.must("contract", err)
	if n > 0 {
		_, err = e.cat.SetOption(e.seed, op, k.ServiceCode, catalog.OptionInput{Name: monitor.Option, Quantity: n})
		e.must("option", err)
	}
	h, err := e.cat.CreateHub(e.seed, op, catalog.HubInput{ServiceCode: k.ServiceCode, Region: "tokyo", Priority: "main"})
	e.must("hub", err)
	pt, err := e.cat.CreatePort(e.seed, op, catalog.PortInput{ServiceCode: k.ServiceCode, HubID: h.ID, Kind: "onprem", SpeedMbps: 10_000})
	e.must("port", err)
	login := strings.ToLower(strings.Fields(name)[0]) + "-ops"
	e.account(cu.ID, login, identity.RoleOpsAdmin, sweepPW)
	c := e.client(e.customer)
	c.login(login, sweepPW)
	return c, pt.PortCode, h.ID
}

// TestMonitorsAPI: a customer with the option adds, changes, stops and
// resumes a monitor and reads its history and series (JSON and CSV);
// another customer gets 404 for every one of its routes; a customer
// without the option is refused with 409.
func TestMonitorsAPI(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	_, err := e.cat.CreateRegion(e.seed, catalog.RegionInput{Code: "tokyo", NameEN: "Tokyo", NameJA: "東京", DataLocation: "Japan"})
	e.must("region", err)
	a, port, hub := monitorCustomer(t, e, "Alpha Monitor K.K.", 1)
	b, bport, _ := monitorCustomer(t, e, "Bravo Monitor K.K.", 0)

	a.expect(http.StatusBadRequest, "POST", "/api/v1/monitors", map[string]any{"name": "lo", "port_code": port, "target": "127.0.0.1", "probe": "icmp"})
	var m monitor.Monitor
	a.expect(http.StatusCreated, "POST", "/api/v1/monitors", map[string]any{"name": "web", "port_code": port, "target": "192.0.2.80",
		"probe": "icmp", "interval_seconds": 10, "fail_after": 2}).json(t, &m)
	a.expect(http.StatusConflict, "POST", "/api/v1/monitors", map[string]any{"name": "two", "port_code": port, "target": "192.0.2.81", "probe": "icmp"})
	b.expect(http.StatusConflict, "POST", "/api/v1/monitors", map[string]any{"name": "b", "port_code": bport, "target": "192.0.2.82", "probe": "icmp"})

	at := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	rep := observed.Report{Hubs: []observed.Hub{{HubID: string(hub), CustomerID: customerOf(t, e, hub), Monitors: []observed.MonitorReport{{ID: m.ID,
		Probes: []observed.Probe{{At: at, OK: true, RTTMicros: 800}, {At: at.Add(10 * time.Second), OK: true, RTTMicros: 1200}}}}}}}
	if err := e.srv.deps.Monitors.Ingest(e.seed, "tokyo-hub-01", rep); err != nil {
		t.Fatal(err)
	}
	a.expect(http.StatusOK, "GET", "/api/v1/monitors/"+m.ID, nil).json(t, &m)
	if m.State != monitor.Up {
		t.Errorf("state %s after two answers, want up", m.State)
	}
	var evs list[monitor.Event]
	a.expect(http.StatusOK, "GET", "/api/v1/monitors/"+m.ID+"/events", nil).json(t, &evs)
	if len(evs.Items) != 1 || evs.Items[0].To != monitor.Up {
		t.Errorf("events %+v", evs.Items)
	}
	var bins list[monitor.Bin]
	a.expect(http.StatusOK, "GET", "/api/v1/monitors/"+m.ID+"/series", nil).json(t, &bins)
	if n := len(bins.Items); n < 1 || n > 2 {
		t.Errorf("%d bins", n)
	}
	csv := a.expect(http.StatusOK, "GET", "/api/v1/monitors/"+m.ID+"/series?format=csv", nil)
	if !strings.HasPrefix(string(csv.body), "start_jst,sent,answered") {
		t.Errorf("csv %q", csv.body)
	}
	a.expect(http.StatusBadRequest, "GET", "/api/v1/monitors/"+m.ID+"/series?from=2020-01-01T00:00:00Z", nil) // more than 90 days

	for _, c := range []struct{ method, path string }{
		{"GET", ""}, {"PATCH", ""}, {"POST", "/stop"}, {"POST", "/resume"}, {"GET", "/events"}, {"GET", "/series"}, {"DELETE", ""},
	} {
		var body any
		if c.method != "GET" && c.method != "DELETE" {
			body = map[string]any{}
		}
		b.expect(http.StatusNotFound, c.method, "/api/v1/monitors/"+m.ID+c.path, body)
	}
	var none list[monitor.Monitor]
	b.expect(http.StatusOK, "GET", "/api/v1/monitors", nil).json(t, &none)
	if len(none.Items) != 0 {
		t.Errorf("B lists %+v", none.Items)
	}

	// The customer's export carries the monitor (saved data).
	if exp := a.expect(http.StatusOK, "GET", "/api/v1/network/export", nil); !strings.Contains(string(exp.body), `"target": "192.0.2.80"`) {
		t.Errorf("the export has no monitor: %.400s", exp.body)
	}
	// A reason that is not one line of text would forge a record in the audit log.
	a.expect(http.StatusBadRequest, "POST", "/api/v1/monitors/"+m.ID+"/stop", map[string]string{"reason": "ok\nmonitor.delete"})
	a.expect(http.StatusOK, "POST", "/api/v1/monitors/"+m.ID+"/stop", map[string]string{"reason": "maintenance"}).json(t, &m)
	if m.State != monitor.Stopped {
		t.Errorf("state %s after stop", m.State)
	}
	a.expect(http.StatusConflict, "POST", "/api/v1/monitors/"+m.ID+"/stop", nil)
	a.expect(http.StatusOK, "POST", "/api/v1/monitors/"+m.ID+"/resume", nil).json(t, &m)
	if m.State != monitor.Unknown {
		t.Errorf("state %s after resume", m.State)
	}
	a.expect(http.StatusNoContent, "DELETE", "/api/v1/monitors/"+m.ID, nil)
	a.expect(http.StatusNotFound, "GET", "/api/v1/monitors/"+m.ID, nil)
}

func customerOf(t *testing.T, e *idEnv, hub catalog.HubID) string {
	t.Helper()
	var c string
	if err := e.db.QueryRow(e.seed, `SELECT customer_id FROM hubs WHERE id = ?`, string(hub)).Scan(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

// The monitors' part of the cross-customer sweep: A has the option, a
// monitor on its first port, and a state change and a bin from probes.
func init() {
	sweepFixtures = append(sweepFixtures, func(t *testing.T, f *sweepFixture) {
		t.Helper()
		e, cust := f.A.e, catalog.CustomerID(f.ids["customer"][0])
		_, err := e.cat.SetOption(e.seed, tenanttest.Operator(cust), f.ids["contract"][0], catalog.OptionInput{Name: monitor.Option, Quantity: 3})
		e.must("option", err)
		var m monitor.Monitor
		f.A.expect(http.StatusCreated, "POST", "/api/v1/monitors", map[string]any{"name": "Sweep monitor", "port_code": f.ids["port"][0],
			"target": "192.0.2.177", "probe": "tcp", "tcp_port": 8443}).json(t, &m)
		f.Add("monitor", m.ID)
		f.private = append(f.private, "Sweep monitor", "192.0.2.177")
		at := time.Now().UTC().Add(-time.Minute)
		err = e.srv.deps.Monitors.Ingest(e.seed, "tokyo-hub-01", observed.Report{Hubs: []observed.Hub{{HubID: m.HubID, CustomerID: string(cust),
			Monitors: []observed.MonitorReport{{ID: m.ID, Probes: []observed.Probe{{At: at, OK: true, RTTMicros: 700},
				{At: at.Add(time.Second), OK: true, RTTMicros: 900}}}}}}})
		e.must("probes", err)
	})
}
