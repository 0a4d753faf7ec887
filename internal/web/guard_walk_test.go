package web

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// TestEveryChangeIsAudited walks both listeners' route tables and makes, for
// every route of a state-changing method, one successful call through the
// real server with the audit guard on (a success with nothing recorded
// fails the test through Deps.OnUnrecorded), then requires an audit entry
// with the request's ID (X-Request-Id) that is the handler's own record,
// not the guard's fallback. A route with neither a request below nor an
// exemption fails the test: a new route is audited before it is merged.
func TestEveryChangeIsAudited(t *testing.T) {
	t.Parallel()
	w := newWalkWorld(t)
	done := map[string]bool{}
	for _, st := range walkSteps {
		key := walkKey(st.side, st.route)
		if _, ok := walkExempt[key]; ok {
			t.Errorf("%s: has both a request and an exemption", key)
		}
		c := st.who(w)
		var body any
		if st.body != nil {
			body = st.body(w) // may make what the path names
		}
		path := w.fill(st.path)
		method, _, _ := strings.Cut(st.route, " ")
		r := c.expect(st.want, method, path, body)
		rid := r.hdr.Get("X-Request-Id")
		var own []string
		for _, en := range entriesOf(t, w.e, rid) {
			if en.Action != unrecordedAction {
				own = append(own, en.Action)
			}
		}
		if len(own) == 0 {
			t.Errorf("%s (%s): no audit entry of request %s", key, path, rid)
		}
		if st.then != nil {
			st.then(w, r)
		}
		done[key] = true
	}
	for _, side := range []struct {
		side   identity.Side
		routes []route
		pages  []pageRoute
	}{{identity.CustomerSide, w.e.srv.customerRoutes(), nil}, {identity.OperatorSide, w.e.srv.mgmtRoutes(), nil}} {
		for _, rt := range side.routes {
			key := walkKey(side.side, rt.Method+" "+rt.Path)
			if rt.Method == http.MethodGet || rt.Method == http.MethodHead || done[key] {
				continue
			}
			if _, ok := notChanges[rt.Method+" "+rt.Path]; ok {
				continue
			}
			ex, ok := walkExempt[key]
			if !ok {
				t.Errorf("add a request for %s to walkSteps (guard_walk_test.go), or an exemption with the test that covers its audit", key)
				continue
			}
			if ex.reason == "" || !strings.HasPrefix(ex.test, "Test") {
				t.Errorf("%s: an exemption needs a reason and the test that covers the route's audit", key)
			}
		}
	}
	for key := range walkExempt {
		if done[key] {
			continue
		}
		side, route, _ := strings.Cut(key, " ")
		found := false
		routes := w.e.srv.customerRoutes()
		if side == "management" {
			routes = w.e.srv.mgmtRoutes()
		}
		for _, rt := range routes {
			found = found || rt.Method+" "+rt.Path == route
		}
		if !found {
			t.Errorf("exemption of %s: no such route", key)
		}
	}
}

func walkKey(side identity.Side, route string) string {
	if side == identity.OperatorSide {
		return "management " + route
	}
	return "customer " + route
}

// walkWorld is the walk's fixture: an operator, a security officer, a
// customer with a contract, hub and ports, and its operations
// administrator; vars holds the identifiers the steps make and use.
type walkWorld struct {
	e        *idEnv
	op, so   *client // operator and security officer, by session
	ops, adm *client // the customer's operations administrator and an admin, by session
	vars     map[string]string
	recovery []string // the recovery codes of walk-ops's TOTP
}

func newWalkWorld(t *testing.T) *walkWorld {
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	w := &walkWorld{e: e, vars: map[string]string{}}
	e.account("", "walk-op", identity.RoleOperator, sweepPW)
	e.account("", "walk-so", identity.RoleSecurityOfficer, sweepPW)
	w.op, w.so = e.client(e.mgmt), e.client(e.mgmt)
	w.op.login("walk-op", sweepPW)
	w.so.login("walk-so", sweepPW)
	return w
}

// fill substitutes {name} in path with w.vars[name].
func (w *walkWorld) fill(path string) string {
	for k, v := range w.vars {
		path = strings.ReplaceAll(path, "{"+k+"}", v)
	}
	if strings.Contains(path, "{") {
		w.e.t.Fatalf("%s: a variable is not set yet", path)
	}
	return path
}

// walkStep is one request of the walk.
type walkStep struct {
	side  identity.Side
	route string // "METHOD /pattern" as the route table has it
	who   func(*walkWorld) *client
	path  string // the pattern with the walk's {vars}
	body  func(*walkWorld) any
	want  int
	then  func(*walkWorld, resp) // keeps what later steps use
}

// anon is a new client of side's listener, signed in as no one.
func anon(side identity.Side) func(*walkWorld) *client {
	return func(w *walkWorld) *client {
		if side == identity.OperatorSide {
			return w.e.client(w.e.mgmt)
		}
		return w.e.client(w.e.customer)
	}
}

// otherSession is the ID of a session of c's account other than c's own.
func (w *walkWorld) otherSession(c *client) string {
	var ss list[identity.Session]
	c.expect(http.StatusOK, "GET", "/api/v1/sessions", nil).json(w.e.t, &ss)
	for _, x := range ss.Items {
		if !x.Current {
			return x.ID
		}
	}
	w.e.t.Fatal("no other session")
	return ""
}

var (
	asOp  = func(w *walkWorld) *client { return w.op }
	asSO  = func(w *walkWorld) *client { return w.so }
	asOps = func(w *walkWorld) *client { return w.ops }
)

// walkPortBody is an on-premises port's configuration with BGP password
// md5 (another password, another version).
func walkPortBody(md5 string) func(*walkWorld) any {
	return body(map[string]any{"onprem": map[string]any{"hub_address": "192.168.255.1", "customer_address": "192.168.255.2",
		"prefix_length": 30, "peer_asn": 65001, "md5": md5, "l2_guard": l2Defaults()}})
}

// walkNotice is an incident about the walk's customer with body bodyJA.
func walkNotice(bodyJA string) func(*walkWorld) any {
	return func(w *walkWorld) any {
		return map[string]any{"kind": "incident", "category": "outage", "severity": "major", "title_ja": "通信断",
			"title_en": "Outage", "body_ja": bodyJA, "body_en": "Investigating.",
			"scope": map[string]any{"customers": []string{w.vars["customer"]}}}
	}
}

func body(v any) func(*walkWorld) any { return func(*walkWorld) any { return v } }

// walkWindow is an evidence export of the last hour, with purpose for staff.
func walkWindow(purpose string) func(*walkWorld) any {
	return func(*walkWorld) any {
		now := time.Now().UTC()
		in := map[string]string{"from": now.Add(-time.Hour).Format(time.RFC3339), "to": now.Format(time.RFC3339)}
		if purpose != "" {
			in["purpose"] = purpose
		}
		return in
	}
}

// keep stores the answer's JSON string at field ("a.b" for a nested one)
// in w.vars[name].
func keep(name, field string) func(*walkWorld, resp) {
	return func(w *walkWorld, r resp) {
		var m map[string]any
		r.json(w.e.t, &m)
		path := strings.Split(field, ".")
		for _, k := range path[:len(path)-1] {
			m, _ = m[k].(map[string]any)
		}
		v, _ := m[path[len(path)-1]].(string)
		if v == "" {
			w.e.t.Fatalf("no %s in %s", field, r.body)
		}
		w.vars[name] = v
	}
}

const (
	mgmt = identity.OperatorSide
	cust = identity.CustomerSide
)

// walkSteps run in order: the operator builds a customer, whose operations
// administrator then changes its accounts, policy and configuration.
var walkSteps = []walkStep{
	{mgmt, "POST /api/v1/regions", asOp, "/api/v1/regions",
		body(map[string]string{"code": "tokyo", "name_en": "Tokyo", "name_ja": "東京", "data_location": "Japan"}), http.StatusCreated, nil},
	{mgmt, "POST /api/v1/nodes", asOp, "/api/v1/nodes", body(map[string]any{"region": "tokyo", "name": "walk-1",
		"physical_ports": []map[string]any{{"name": "eth1", "speed_mbps": 100_000, "kind": "onprem"},
			{"name": "eth3", "speed_mbps": 100_000, "kind": "cloud-aws"}}}), http.StatusCreated, nil},
	{mgmt, "POST /api/v1/nodes/{node}/physical-ports", asOp, "/api/v1/nodes/walk-1/physical-ports",
		body(map[string]any{"name": "eth7", "speed_mbps": 10_000, "kind": "cloud-aws"}), http.StatusCreated, nil},
	{mgmt, "POST /api/v1/customers", asOp, "/api/v1/customers", body(map[string]string{"name": "Walk K.K."}), http.StatusCreated,
		keep("customer", "id")},
	{mgmt, "POST /api/v1/customers/{customer}/contracts", asOp, "/api/v1/customers/{customer}/contracts",
		body(map[string]string{"plan": "smart-hub"}), http.StatusCreated, keep("contract", "service_code")},
	{mgmt, "POST /api/v1/customers/{customer}/hubs", asOp, "/api/v1/customers/{customer}/hubs",
		func(w *walkWorld) any {
			return map[string]string{"service_code": w.vars["contract"], "region": "tokyo", "priority": "main"}
		}, http.StatusCreated, keep("hub", "id")},
	{mgmt, "POST /api/v1/customers/{customer}/ports", asOp, "/api/v1/customers/{customer}/ports", func(w *walkWorld) any {
		// The on-premises port the customer configures, made directly.
		pt, err := w.e.cat.CreatePort(w.e.seed, tenanttest.Operator(catalog.CustomerID(w.vars["customer"])), catalog.PortInput{
			ServiceCode: w.vars["contract"], HubID: catalog.HubID(w.vars["hub"]), Kind: "onprem", SpeedMbps: 10_000})
		w.e.must("port", err)
		w.vars["port"] = pt.PortCode
		return map[string]any{"service_code": w.vars["contract"], "hub_id": w.vars["hub"], "kind": "a-private", "speed_mbps": 1_000}
	}, http.StatusCreated, keep("cloud", "port_code")},
	{mgmt, "POST /api/v1/customers/{customer}/ports/{code}/placement", asOp, "/api/v1/customers/{customer}/ports/{cloud}/placement",
		body(map[string]any{}), http.StatusCreated, nil},
	{mgmt, "POST /api/v1/customers/{customer}/ports/{code}/bandwidth-changes", asOp,
		"/api/v1/customers/{customer}/ports/{cloud}/bandwidth-changes", body(map[string]any{"speed_mbps": 2000, "effective_date": "2099-01-01"}),
		http.StatusCreated, keep("change", "id")},
	{mgmt, "POST /api/v1/customers/{customer}/ports/{code}/bandwidth-changes/{change}/cancel", asOp,
		"/api/v1/customers/{customer}/ports/{cloud}/bandwidth-changes/{change}/cancel", nil, http.StatusOK, nil},
	{mgmt, "POST /api/v1/customers/{customer}/accounts", asOp, "/api/v1/customers/{customer}/accounts",
		body(map[string]any{"login_id": "walk-ops", "display_name": "Walk Ops", "email": "walk-ops@example.co.jp", "role": "ops-admin"}),
		http.StatusCreated, func(w *walkWorld, _ resp) {
			tok := w.e.linkFromMail("walk-ops@example.co.jp", "account.invite")
			w.vars["setup_token"] = tok
		}},
	{cust, "POST /api/v1/setup", anon(cust), "/api/v1/setup",
		func(w *walkWorld) any { return map[string]string{"token": w.vars["setup_token"], "password": sweepPW} },
		http.StatusCreated, nil},
	{cust, "POST /api/v1/session", func(w *walkWorld) *client {
		w.ops = w.e.client(w.e.customer)
		return w.ops
	}, "/api/v1/session", body(map[string]string{"login_id": "walk-ops", "password": sweepPW}), http.StatusOK, nil},
	{cust, "PUT /api/v1/me/language", asOps, "/api/v1/me/language", body(map[string]string{"language": "en"}), http.StatusNoContent, nil},
	{cust, "POST /api/v1/tokens", asOps, "/api/v1/tokens",
		body(map[string]any{"name": "walk", "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}), http.StatusCreated,
		keep("token", "id")},
	{cust, "DELETE /api/v1/tokens/{token}", asOps, "/api/v1/tokens/{token}", nil, http.StatusNoContent, nil},
	{cust, "POST /api/v1/accounts", asOps, "/api/v1/accounts",
		body(map[string]any{"login_id": "walk-user", "display_name": "Walk User", "email": "walk-user@example.co.jp", "role": "user"}),
		http.StatusCreated, keep("account", "id")},
	{cust, "PUT /api/v1/accounts/{account}/role", asOps, "/api/v1/accounts/{account}/role", body(map[string]string{"role": "admin"}),
		http.StatusOK, nil},
	{cust, "DELETE /api/v1/accounts/{account}", asOps, "/api/v1/accounts/{account}", nil, http.StatusNoContent, nil},
	{cust, "PUT /api/v1/security-policy", asOps, "/api/v1/security-policy",
		body(map[string]any{"allow_list": []string{"127.0.0.0/8", "::1"}, "require_mfa": false, "require_device": false}),
		http.StatusOK, nil},
	{cust, "POST /api/v1/notice-contacts", asOps, "/api/v1/notice-contacts",
		body(map[string]any{"email": "noc@walk.example", "name": "Walk NOC", "language": "ja"}), http.StatusCreated, keep("contact", "id")},
	{cust, "DELETE /api/v1/notice-contacts/{contact}", asOps, "/api/v1/notice-contacts/{contact}", nil, http.StatusNoContent, nil},
	{cust, "POST /api/v1/feed-tokens", asOps, "/api/v1/feed-tokens", body(map[string]string{"label": "Walk reader", "language": "ja"}),
		http.StatusCreated, keep("feed_token", "id")},
	{cust, "DELETE /api/v1/feed-tokens/{feed_token}", asOps, "/api/v1/feed-tokens/{feed_token}", nil, http.StatusNoContent, nil},
	{cust, "POST /api/v1/webhooks", asOps, "/api/v1/webhooks",
		body(map[string]any{"url": "https://192.88.98.1/walk", "events": []string{"net.tsunagi.notice.published"}}),
		http.StatusCreated, keep("webhook", "id")},
	{cust, "POST /api/v1/webhooks/{webhook}/secret", asOps, "/api/v1/webhooks/{webhook}/secret", nil, http.StatusOK, nil},
	{cust, "DELETE /api/v1/webhooks/{webhook}", asOps, "/api/v1/webhooks/{webhook}", nil, http.StatusNoContent, nil},
	{cust, "DELETE /api/v1/sessions/{session}", asOps, "/api/v1/sessions/{session}", func(w *walkWorld) any {
		w.e.client(w.e.customer).login("walk-ops", sweepPW)
		w.vars["session"] = w.otherSession(w.ops)
		return nil
	}, http.StatusNoContent, nil},
	{cust, "POST /api/v1/devices", asOps, "/api/v1/devices", func(w *walkWorld) any {
		_, certPEM := deviceCert(w.e.t.(*testing.T), "walk-device")
		return map[string]string{"name": "walk laptop", "certificate_pem": certPEM}
	}, http.StatusCreated, keep("device", "id")},
	{cust, "DELETE /api/v1/devices/{device}", asOps, "/api/v1/devices/{device}", nil, http.StatusNoContent, nil},
	{cust, "POST /api/v1/reports", asOps, "/api/v1/reports",
		body(map[string]string{"category": "degradation", "subject": "Slow", "description": "Latency 300 ms"}), http.StatusCreated,
		keep("report", "report.id")},
	{mgmt, "POST /api/v1/reports/{report}/messages", asOp, "/api/v1/reports/{report}/messages", body(map[string]string{"body": "Looking"}),
		http.StatusCreated, nil},
	{cust, "POST /api/v1/reports/{report}/messages", asOps, "/api/v1/reports/{report}/messages", body(map[string]string{"body": "Here"}),
		http.StatusCreated, nil},
	{mgmt, "PUT /api/v1/reports/{report}/status", asOp, "/api/v1/reports/{report}/status", body(map[string]string{"status": "resolved"}),
		http.StatusOK, nil},
	{cust, "POST /api/v1/network/lock", asOps, "/api/v1/network/lock", nil, http.StatusOK, nil},
	{cust, "PUT /api/v1/network/draft/ports/{code}", asOps, "/api/v1/network/draft/ports/{port}", walkPortBody("bgp-secret-1"),
		http.StatusOK, nil},
	{cust, "DELETE /api/v1/network/draft/ports/{code}", asOps, "/api/v1/network/draft/ports/{port}", nil, http.StatusOK, nil},
	{cust, "POST /api/v1/network/draft/apply", asOps, "/api/v1/network/draft/apply", func(w *walkWorld) any {
		w.ops.expect(http.StatusOK, "PUT", "/api/v1/network/draft/ports/"+w.vars["port"], walkPortBody("bgp-secret-1")(w))
		return nil
	}, http.StatusCreated, func(w *walkWorld, r resp) {
		// The apply names the version and the revision of the draft
		// its review showed.
		for _, en := range entriesOf(w.e.t.(*testing.T), w.e, r.hdr.Get("X-Request-Id")) {
			if en.Action == "network.apply" && (en.Detail["version"] != float64(1) || en.Detail["revision"] == "" || en.Detail["revision"] == nil) {
				w.e.t.Errorf("network.apply detail: %v", en.Detail)
			}
		}
	}},
	{cust, "POST /api/v1/network/versions/{version}/rollback", asOps, "/api/v1/network/versions/1/rollback", func(w *walkWorld) any {
		w.ops.expect(http.StatusOK, "POST", "/api/v1/network/lock", nil)
		w.ops.expect(http.StatusOK, "PUT", "/api/v1/network/draft/ports/"+w.vars["port"], walkPortBody("bgp-secret-2")(w))
		w.ops.expect(http.StatusCreated, "POST", "/api/v1/network/draft/apply", nil)
		w.ops.expect(http.StatusOK, "POST", "/api/v1/network/lock", nil)
		return nil
	}, http.StatusOK, nil},
	{cust, "DELETE /api/v1/network/draft", asOps, "/api/v1/network/draft", nil, http.StatusNoContent, nil},
	{cust, "PUT /api/v1/network/draft/ports/{code}/removal", asOps, "/api/v1/network/draft/ports/{port}/removal", nil, http.StatusOK, nil},
	{cust, "DELETE /api/v1/network/draft/ports/{code}/removal", asOps, "/api/v1/network/draft/ports/{port}/removal", nil, http.StatusOK, nil},
	{cust, "PUT /api/v1/network/draft/ports/{code}/speed", asOps, "/api/v1/network/draft/ports/{cloud}/speed",
		body(map[string]any{"speed_mbps": 2000}), http.StatusOK, nil},
	{cust, "DELETE /api/v1/network/draft/ports/{code}/speed", asOps, "/api/v1/network/draft/ports/{cloud}/speed", nil, http.StatusOK, nil},
	{cust, "DELETE /api/v1/network/lock", asOps, "/api/v1/network/lock", nil, http.StatusNoContent, nil},
	{cust, "POST /api/v1/network/lock/break", asOps, "/api/v1/network/lock/break", func(w *walkWorld) any {
		w.vars["adm"] = w.e.account(catalog.CustomerID(w.vars["customer"]), "walk-adm", identity.RoleAdmin, sweepPW).ID
		w.adm = w.e.client(w.e.customer)
		w.adm.login("walk-adm", sweepPW)
		w.adm.expect(http.StatusOK, "POST", "/api/v1/network/lock", nil)
		return nil
	}, http.StatusOK, nil},
	{cust, "POST /api/v1/accounts/{account}/unlock", asOps, "/api/v1/accounts/{adm}/unlock", func(w *walkWorld) any {
		// Failed sign-ins lock the account.
		c := w.e.client(w.e.customer)
		for range 10 {
			c.doInvalid("POST", "/api/v1/session", map[string]string{"login_id": "walk-adm", "password": "not the password"})
		}
		return nil
	}, http.StatusNoContent, nil},
	{cust, "POST /api/v1/network/import", asOps, "/api/v1/network/import", func(w *walkWorld) any {
		return w.ops.expect(http.StatusOK, "GET", "/api/v1/network/export", nil).body
	}, http.StatusOK, nil},
	{cust, "PUT /api/v1/network/draft", asOps, "/api/v1/network/draft", func(w *walkWorld) any {
		var d struct {
			Config json.RawMessage `json:"config"`
		}
		w.ops.expect(http.StatusOK, "GET", "/api/v1/network/draft", nil).json(w.e.t, &d)
		return []byte(d.Config)
	}, http.StatusOK, func(w *walkWorld, _ resp) {
		w.ops.expect(http.StatusNoContent, "DELETE", "/api/v1/network/draft", nil)
		w.ops.expect(http.StatusNoContent, "DELETE", "/api/v1/network/lock", nil)
	}},
	{mgmt, "POST /api/v1/backups", asOp, "/api/v1/backups", nil, http.StatusCreated, nil},
	{mgmt, "POST /api/v1/nodes/{node}/enrolment-token", asOp, "/api/v1/nodes/walk-1/enrolment-token", nil, http.StatusCreated, nil},
	{mgmt, "POST /api/v1/staff", asOp, "/api/v1/staff", body(staffInvitation("walk-op2", identity.RoleOperator)), http.StatusCreated,
		keep("staff", "account.id")},
	{mgmt, "POST /api/v1/setup", anon(mgmt), "/api/v1/setup", func(w *walkWorld) any {
		return map[string]string{"token": w.e.linkFromMail("walk-op2@example.co.jp", "account.invite"), "password": sweepPW}
	}, http.StatusCreated, nil},
	{mgmt, "POST /api/v1/staff/{account}/unlock", asOp, "/api/v1/staff/{staff}/unlock", func(w *walkWorld) any {
		c := w.e.client(w.e.mgmt)
		for range 10 {
			c.doInvalid("POST", "/api/v1/session", map[string]string{"login_id": "walk-op2", "password": "not the password"})
		}
		return nil
	}, http.StatusNoContent, nil},
	{mgmt, "DELETE /api/v1/staff/{account}", asOp, "/api/v1/staff/{staff}", nil, http.StatusNoContent, nil},
	{mgmt, "POST /api/v1/officers", asSO, "/api/v1/officers", body(staffInvitation("walk-so2", identity.RoleSecurityOfficer)),
		http.StatusCreated, keep("officer", "account.id")},
	{mgmt, "DELETE /api/v1/officers/{account}", asSO, "/api/v1/officers/{officer}", nil, http.StatusNoContent, nil},
	{mgmt, "POST /api/v1/customers/{customer}/break-glass", asOp, "/api/v1/customers/{customer}/break-glass",
		body(map[string]string{"reason": "walk: customer ticket 1"}), http.StatusCreated, keep("grant", "id")},
	{mgmt, "DELETE /api/v1/break-glass/{grant}", asOp, "/api/v1/break-glass/{grant}", nil, http.StatusNoContent, nil},
	{cust, "POST /api/v1/evidence-exports", asOps, "/api/v1/evidence-exports", walkWindow(""), http.StatusOK, nil},
	{mgmt, "POST /api/v1/customers/{customer}/evidence-exports", asSO, "/api/v1/customers/{customer}/evidence-exports",
		walkWindow("walk: the customer's auditor asked for last hour's records"), http.StatusOK, nil},
	{mgmt, "POST /api/v1/nodes/{node}/revoke", asOp, "/api/v1/nodes/walk-1/revoke", body(map[string]string{"reason": "walk"}),
		http.StatusOK, nil},
	{mgmt, "PUT /api/v1/customers/{customer}/contracts/{code}/options", asOp, "/api/v1/customers/{customer}/contracts/{contract}/options",
		body(map[string]any{"name": "static-nat-address", "quantity": 2}), http.StatusOK, nil},
	{cust, "POST /api/v1/monitors", asOps, "/api/v1/monitors", func(w *walkWorld) any {
		_, err := w.e.cat.SetOption(w.e.seed, tenanttest.Operator(catalog.CustomerID(w.vars["customer"])), w.vars["contract"],
			catalog.OptionInput{Name: "reachability-monitor", Quantity: 1})
		w.e.must("option", err)
		return map[string]any{"name": "walk web", "port_code": w.vars["port"], "target": "192.0.2.80", "probe": "tcp", "tcp_port": 443}
	}, http.StatusCreated, keep("monitor", "id")},
	{cust, "PATCH /api/v1/monitors/{monitor}", asOps, "/api/v1/monitors/{monitor}", body(map[string]any{"fail_after": 5}), http.StatusOK, nil},
	{cust, "POST /api/v1/monitors/{monitor}/stop", asOps, "/api/v1/monitors/{monitor}/stop", body(map[string]any{"reason": "walk"}),
		http.StatusOK, nil},
	{cust, "POST /api/v1/monitors/{monitor}/resume", asOps, "/api/v1/monitors/{monitor}/resume", nil, http.StatusOK, nil},
	{cust, "DELETE /api/v1/monitors/{monitor}", asOps, "/api/v1/monitors/{monitor}", nil, http.StatusNoContent, nil},
	{mgmt, "POST /api/v1/nat-pools", asOp, "/api/v1/nat-pools", body(map[string]string{"region": "tokyo", "prefix": "203.0.113.0/28",
		"purpose": "static"}), http.StatusCreated, nil},
	{mgmt, "POST /api/v1/notices", asOp, "/api/v1/notices", walkNotice("調査中です。"), http.StatusCreated, keep("notice", "id")},
	{mgmt, "PUT /api/v1/notices/{id}", asOp, "/api/v1/notices/{notice}", walkNotice("原因を調査中です。"), http.StatusOK, nil},
	{mgmt, "POST /api/v1/notices/{id}/publish", asOp, "/api/v1/notices/{notice}/publish", func(w *walkWorld) any {
		return map[string]any{"customers": []string{w.vars["customer"]}}
	}, http.StatusOK, nil},
	{mgmt, "POST /api/v1/notices/{id}/updates", asOp, "/api/v1/notices/{notice}/updates",
		body(map[string]any{"status": "resolved", "body_ja": "復旧しました。", "body_en": "Restored."}), http.StatusCreated, nil},
	{mgmt, "POST /api/v1/notices/{id}/cancel", asOp, "/api/v1/notices/{draft_notice}/cancel", func(w *walkWorld) any {
		var n struct {
			ID string `json:"id"`
		}
		w.op.expect(http.StatusCreated, "POST", "/api/v1/notices", walkNotice("中止予定です。")(w)).json(w.e.t, &n)
		w.vars["draft_notice"] = n.ID
		return map[string]string{"body_ja": "中止します。", "body_en": "Called off."}
	}, http.StatusOK, nil},
	{mgmt, "POST /api/v1/signing-keys/rotate", asSO, "/api/v1/signing-keys/rotate", nil, http.StatusCreated, nil},
	{mgmt, "POST /api/v1/session", anon(mgmt), "/api/v1/session", body(map[string]string{"login_id": "walk-op", "password": sweepPW}),
		http.StatusOK, nil},
	{mgmt, "PUT /api/v1/me/language", asOp, "/api/v1/me/language", body(map[string]string{"language": "en"}), http.StatusNoContent, nil},
	{mgmt, "POST /api/v1/tokens", asOp, "/api/v1/tokens",
		body(map[string]any{"name": "walk", "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}), http.StatusCreated,
		keep("op_token", "id")},
	{mgmt, "DELETE /api/v1/tokens/{token}", asOp, "/api/v1/tokens/{op_token}", nil, http.StatusNoContent, nil},
	{mgmt, "DELETE /api/v1/sessions/{session}", asOp, "/api/v1/sessions/{session}", func(w *walkWorld) any {
		w.vars["session"] = w.otherSession(w.op)
		return nil
	}, http.StatusNoContent, nil},
	{mgmt, "PUT /api/v1/me/password", asOp, "/api/v1/me/password",
		body(map[string]string{"current_password": sweepPW, "new_password": "walk: another passphrase 43"}), http.StatusNoContent, nil},
	{cust, "POST /api/v1/me/totp/confirm", asOps, "/api/v1/me/totp/confirm", func(w *walkWorld) any {
		var en identity.TOTPEnrolment
		w.ops.expect(http.StatusCreated, "POST", "/api/v1/me/totp", nil).json(w.e.t, &en)
		return map[string]string{"code": totpCode(w.e.t.(*testing.T), en.Secret, time.Now())}
	}, http.StatusOK, func(w *walkWorld, r resp) {
		var rc recoveryCodes
		r.json(w.e.t, &rc)
		w.recovery = rc.RecoveryCodes
	}},
	{cust, "POST /api/v1/session/reauth", asOps, "/api/v1/session/reauth", func(w *walkWorld) any {
		return map[string]string{"password": sweepPW, "code": w.recovery[0]}
	}, http.StatusNoContent, nil},
	{cust, "POST /api/v1/session/mfa", func(w *walkWorld) *client {
		c := w.e.client(w.e.customer)
		c.login("walk-ops", sweepPW) // a session that owes its second factor
		return c
	}, "/api/v1/session/mfa", func(w *walkWorld) any { return map[string]string{"code": w.recovery[1]} }, http.StatusNoContent, nil},
	{cust, "DELETE /api/v1/me/totp", asOps, "/api/v1/me/totp", nil, http.StatusNoContent, nil},
	{cust, "PUT /api/v1/me/password", asOps, "/api/v1/me/password",
		body(map[string]string{"current_password": sweepPW, "new_password": "walk: another passphrase 43"}), http.StatusNoContent, nil},
	{mgmt, "DELETE /api/v1/session", asSO, "/api/v1/session", nil, http.StatusNoContent, nil},
	{cust, "DELETE /api/v1/session", asOps, "/api/v1/session", nil, http.StatusNoContent, nil},
	{mgmt, "POST /api/v1/customers/{customer}/contracts/{code}/cancel", asOp, "/api/v1/customers/{customer}/contracts/{contract}/cancel",
		body(map[string]string{"termination_date": clock.Today(), "reason": "walk: moving out"}), http.StatusOK, nil},
	// Password resets end the accounts' sessions: last.
	{cust, "POST /api/v1/password-reset", anon(cust), "/api/v1/password-reset", body(map[string]string{"login_id": "walk-adm"}),
		http.StatusAccepted, nil},
	{cust, "POST /api/v1/password-reset/complete", anon(cust), "/api/v1/password-reset/complete", func(w *walkWorld) any {
		return map[string]string{"token": w.e.linkFromMail("walk-adm@example.co.jp", "password.reset.request"), "password": "walk: reset 44"}
	}, http.StatusCreated, nil},
	{mgmt, "POST /api/v1/password-reset", anon(mgmt), "/api/v1/password-reset", body(map[string]string{"login_id": "walk-so"}),
		http.StatusAccepted, nil},
	{mgmt, "POST /api/v1/password-reset/complete", anon(mgmt), "/api/v1/password-reset/complete", func(w *walkWorld) any {
		return map[string]string{"token": w.e.linkFromMail("walk-so@example.co.jp", "password.reset.request"), "password": "walk: reset 44"}
	}, http.StatusCreated, nil},
}

// walkExempt are the routes the walk does not call, each with why and the
// test that makes the route succeed through the guard (so that its audit
// is checked there): "side METHOD /pattern".
var walkExempt = map[string]struct{ reason, test string }{
	"customer POST /setup":                                                 {"needs an invitation link or the first-operator link", "TestSetupAndResetPages"},
	"customer POST /api/v1/session/reauth/webauthn/finish":                 {"a WebAuthn ceremony needs an authenticator: the virtual one of identity_webauthn_test.go", "TestReauthWithSecurityKey"},
	"customer POST /api/v1/me/webauthn/register/finish":                    {"a WebAuthn ceremony needs an authenticator: the virtual one of identity_webauthn_test.go", "TestWebAuthn"},
	"customer POST /api/v1/session/webauthn/finish":                        {"a WebAuthn ceremony needs an authenticator: the virtual one of identity_webauthn_test.go", "TestWebAuthn"},
	"customer DELETE /api/v1/me/webauthn/{key}":                            {"a WebAuthn ceremony needs an authenticator: the virtual one of identity_webauthn_test.go", "TestWebAuthn"},
	"customer POST /api/v1/ports/{code}/bgp/reenable":                      {"needs a port held by its node's report; the panel's form for the same service call is posted by the named test", "TestCatalogReenable"},
	"customer POST /api/v1/ports/{code}/l2-guard/reenable":                 {"needs a port held by its node's report; the panel's form for the same service call is posted by the named test", "TestCatalogReenable"},
	"management POST /setup":                                               {"needs an invitation link or the first-operator link", "TestSetupAndResetPages"},
	"management POST /api/v1/session/mfa":                                  {"the same handler as the customer listener's route, which the walk calls", "TestTOTP"},
	"management POST /api/v1/session/reauth":                               {"the same handler as the customer listener's route, which the walk calls", "TestCredentialChangesNeedReauth"},
	"management POST /api/v1/session/reauth/webauthn/finish":               {"a WebAuthn ceremony needs an authenticator: the virtual one of identity_webauthn_test.go", "TestReauthWithSecurityKey"},
	"management POST /api/v1/me/totp/confirm":                              {"the same handler as the customer listener's route, which the walk calls", "TestTOTP"},
	"management DELETE /api/v1/me/totp":                                    {"the same handler as the customer listener's route, which the walk calls", "TestCredentialChangesNeedReauth"},
	"management POST /api/v1/me/webauthn/register/finish":                  {"a WebAuthn ceremony needs an authenticator: the virtual one of identity_webauthn_test.go", "TestWebAuthn"},
	"management POST /api/v1/session/webauthn/finish":                      {"a WebAuthn ceremony needs an authenticator: the virtual one of identity_webauthn_test.go", "TestWebAuthn"},
	"management DELETE /api/v1/me/webauthn/{key}":                          {"a WebAuthn ceremony needs an authenticator: the virtual one of identity_webauthn_test.go", "TestWebAuthn"},
	"management PUT /api/v1/staff/{account}/role":                          {"an operator may give an operator no other role (a security officer is made by officers), so the route succeeds only as a no-op, which records nothing (audit.Unchanged)", "TestOfficerSeparationOfDuties"},
	"management POST /api/v1/officers/{account}/unlock":                    {"needs an account locked by failed sign-ins", "TestOfficerSeparationOfDuties"},
	"management POST /api/v1/customers/{customer}/recoveries":              {"needs a customer locked out of its last operations administrator and a security officer who is not the requester", "TestOperatorCannotApproveOwnRecovery"},
	"management POST /api/v1/recoveries/{recovery}/approve":                {"needs a customer locked out of its last operations administrator and a security officer who is not the requester", "TestOperatorCannotPlantCustomerAccount"},
	"management POST /api/v1/recoveries/{recovery}/reject":                 {"needs a customer locked out of its last operations administrator and a security officer who is not the requester", "TestOperatorCannotApproveOwnRecovery"},
	"management POST /api/v1/nodes/{node}/drain":                           {"needs a second node with room and a placed hub", "TestNodeLifecycleAPI"},
	"management POST /api/v1/nodes/{node}/retire":                          {"needs a second node with room and a placed hub", "TestNodeLifecycleAPI"},
	"management POST /api/v1/customers/{customer}/ports/{code}/move":       {"needs a second node with room and a placed hub", "TestNodeLifecycleAPI"},
	"management POST /api/v1/customers/{customer}/hubs/{hub}/move":         {"needs a second node with room and a placed hub", "TestNodeLifecycleAPI"},
	"management POST /api/v1/notices/{id}/approval":                        {"needs a short-notice or published notice of its own", "TestNoticesAPI"},
	"management POST /api/v1/customers/{customer}/ports/{code}/end":        {"needs a placed port whose removal was applied", "TestEndingAPI"},
	"management POST /api/v1/customers/{customer}/ports/{code}/end/cancel": {"needs a placed port whose removal was applied", "TestEndingAPI"},
	"management DELETE /api/v1/customers/{customer}/hubs/{hub}":            {"needs a placed port whose removal was applied", "TestEndingAPI"},
	"management PUT /api/v1/nodes/{node}/underlay":                         {"needs an enrolled node", "TestNodeUnderlayAPI"},
}
