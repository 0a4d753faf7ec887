package web

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// TestNetworkAPI walks the edit workflow and the operator's capacity and
// desired-state routes over real TLS.
func TestNetworkAPI(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	ctx := e.seed
	e.tokyoNode([]catalog.PhysicalPort{
		{Name: "eth1", SpeedMbps: 10_000, Kind: "onprem"}, {Name: "eth3", SpeedMbps: 10_000, Kind: "cloud-aws"},
		{Name: "eth5", SpeedMbps: 10_000, Kind: "cloud-aws"}})
	cu, onprem, aws := e.hubWithTwoPorts("Net K.K.")

	const pw = "network api passphrase 42"
	e.account(cu.ID, "net-ops", identity.RoleOpsAdmin, pw)
	e.account(cu.ID, "net-user", identity.RoleUser, pw)
	e.account("", "net-operator", identity.RoleOperator, pw)
	ops, user, op := e.client(e.customer), e.client(e.customer), e.client(e.mgmt)
	ops.login("net-ops", pw)
	user.login("net-user", pw)
	op.login("net-operator", pw)

	// The operator places both ports; a second placement of the on-prem
	// port would not fit and says why.
	for _, code := range []string{onprem.PortCode, aws.PortCode} {
		op.expect(http.StatusCreated, "POST", "/api/v1/customers/"+string(cu.ID)+"/ports/"+code+"/placement", map[string]any{})
	}
	// A physical port added to the node; its name once only.
	op.expect(http.StatusCreated, "POST", "/api/v1/nodes/tyo-1/physical-ports", map[string]any{"name": "eth7", "speed_mbps": 10_000, "kind": "cloud-aws"})
	op.expectInvalid(http.StatusConflict, "POST", "/api/v1/nodes/tyo-1/physical-ports", map[string]any{"name": "eth7", "speed_mbps": 10_000, "kind": "cloud-aws"})
	op.expectInvalid(http.StatusNotFound, "POST", "/api/v1/nodes/tyo-9/physical-ports", map[string]any{"name": "eth8", "speed_mbps": 10_000, "kind": "cloud-aws"})
	// The cloud port's two links are on the two AWS physical ports.
	r := op.expect(http.StatusOK, "GET", "/api/v1/customers/"+string(cu.ID)+"/placements", nil)
	if !strings.Contains(string(r.body), `"leg":"primary","node":"tyo-1","physical_port":"eth3"`) ||
		!strings.Contains(string(r.body), `"leg":"secondary","node":"tyo-1","physical_port":"eth5"`) || strings.Contains(string(r.body), "missing_legs") {
		t.Fatalf("placements = %s", r.body)
	}
	r = op.expect(http.StatusCreated, "POST", "/api/v1/customers/"+string(cu.ID)+"/ports/"+aws.PortCode+"/bandwidth-changes",
		map[string]any{"speed_mbps": 2000, "effective_date": "2099-01-01"})
	if !strings.Contains(string(r.body), `"state":"scheduled"`) {
		t.Fatalf("bandwidth change = %s", r.body)
	}
	r = op.expect(http.StatusBadRequest, "POST", "/api/v1/customers/"+string(cu.ID)+"/ports/"+aws.PortCode+"/bandwidth-changes",
		map[string]any{"speed_mbps": 300, "effective_date": "2099-01-01"})
	if !strings.Contains(string(r.body), "speed_mbps") {
		t.Fatalf("refusal = %s", r.body)
	}

	// A user may read but not edit.
	user.expect(http.StatusForbidden, "POST", "/api/v1/network/lock", nil)
	ops.expectInvalid(http.StatusConflict, "PUT", "/api/v1/network/draft", map[string]any{})
	var ed network.Editing
	ops.expect(http.StatusOK, "POST", "/api/v1/network/lock", nil).json(t, &ed)
	if ed.Lock.Holder != "net-ops" || ed.Draft.BaseVersion != 0 {
		t.Fatalf("editing = %+v", ed)
	}
	var lock network.Lock
	user.expect(http.StatusOK, "GET", "/api/v1/network/lock", nil).json(t, &lock)
	if lock.Holder != "net-ops" || lock.Mine {
		t.Fatalf("lock seen by user = %+v", lock)
	}
	// A field error names the field, from the body sent; nothing is stored.
	r = ops.expect(http.StatusBadRequest, "PUT", "/api/v1/network/draft/ports/"+aws.PortCode, map[string]any{
		"cloud": map[string]any{"vlan": 100, "peer_asn": 64512,
			"primary":      map[string]any{"hub_address": "10.0.0.1", "peer_address": "10.0.0.2", "prefix_length": 30},
			"secondary":    map[string]any{"hub_address": "169.254.0.5", "peer_address": "169.254.0.6", "prefix_length": 30},
			"route_policy": map[string]any{"type": "DefaultRoute"}}})
	if !strings.Contains(string(r.body), `"field":"cloud.primary.hub_address"`) {
		t.Fatalf("field error = %s", r.body)
	}
	ops.expect(http.StatusOK, "PUT", "/api/v1/network/draft/ports/"+aws.PortCode, map[string]any{
		"cloud": map[string]any{"vlan": 100, "peer_asn": 64512,
			"primary":      map[string]any{"hub_address": "169.254.0.1", "peer_address": "169.254.0.2", "prefix_length": 30},
			"secondary":    map[string]any{"hub_address": "169.254.0.5", "peer_address": "169.254.0.6", "prefix_length": 30},
			"route_policy": map[string]any{"type": "DefaultRoute"}}})
	// The MD5 password is write-only: reads show the mask, and saving the
	// mask keeps the password.
	ops.expect(http.StatusBadRequest, "PUT", "/api/v1/network/draft/ports/"+onprem.PortCode, map[string]any{
		"onprem": map[string]any{"hub_address": "192.168.255.1", "customer_address": "192.168.255.2", "prefix_length": 30, "peer_asn": 65001,
			"md5": network.SecretMask, "l2_guard": l2Defaults()}})
	r = ops.expect(http.StatusOK, "PUT", "/api/v1/network/draft/ports/"+onprem.PortCode, map[string]any{
		"onprem": map[string]any{"hub_address": "192.168.255.1", "customer_address": "192.168.255.2", "prefix_length": 30, "peer_asn": 65001,
			"md5": "bgp-secret-1", "l2_guard": l2Defaults()}})
	if strings.Contains(string(r.body), "bgp-secret-1") || !strings.Contains(string(r.body), network.SecretMask) {
		t.Fatalf("draft shows the password: %s", r.body)
	}
	var d network.Draft
	ops.expect(http.StatusOK, "GET", "/api/v1/network/draft", nil).json(t, &d)
	ops.expect(http.StatusOK, "PUT", "/api/v1/network/draft", d.Config)
	var rev network.Review
	ops.expect(http.StatusOK, "GET", "/api/v1/network/draft/review", nil).json(t, &rev)
	if !rev.Valid || rev.Risk != "low" || len(rev.AffectedPorts) != 2 {
		t.Fatalf("review = %+v", rev)
	}
	// An apply naming the review it saw refuses a draft saved since, and
	// a body that is not an apply input is refused; neither applies.
	ops.expect(http.StatusOK, "PUT", "/api/v1/network/draft", d.Config)
	if r := ops.expect(http.StatusConflict, "POST", "/api/v1/network/draft/apply", map[string]any{"reviewed": rev.Revision}); !strings.Contains(string(r.body), `"code":"draft_changed"`) {
		t.Fatalf("apply of a changed draft: %s", r.body)
	}
	ops.expectInvalid(http.StatusBadRequest, "POST", "/api/v1/network/draft/apply", map[string]any{"reviewd": rev.Revision})
	ops.expect(http.StatusOK, "GET", "/api/v1/network/draft/review", nil).json(t, &rev)
	var v network.Version
	ops.expect(http.StatusCreated, "POST", "/api/v1/network/draft/apply", map[string]any{"reviewed": rev.Revision}).json(t, &v)
	if v.Version != 1 || v.Review == nil {
		t.Fatalf("version = %+v", v)
	}
	r = user.expect(http.StatusOK, "GET", "/api/v1/network/versions/1", nil)
	if strings.Contains(string(r.body), "bgp-secret-1") {
		t.Fatalf("version shows the password: %s", r.body)
	}
	user.expect(http.StatusNotFound, "GET", "/api/v1/network/versions/2", nil)
	r = user.expect(http.StatusOK, "GET", "/api/v1/network/versions", nil)
	if !strings.Contains(string(r.body), `"version":1`) {
		t.Fatalf("versions = %s", r.body)
	}
	user.expect(http.StatusOK, "GET", "/api/v1/ports/"+aws.PortCode+"/bgp", nil)
	user.expect(http.StatusOK, "GET", "/api/v1/ports/"+aws.PortCode+"/bandwidth-changes", nil)

	// Capacity: eth3 holds 1G now, 2G committed.
	r = op.expect(http.StatusOK, "GET", "/api/v1/capacity.csv", nil)
	if !strings.Contains(string(r.body), "tyo-1,tokyo,eth3,cloud-aws,10000,1,10000,1000,2000,8000,0.2,") {
		t.Fatalf("csv = %s", r.body)
	}
	// Work on eth3 costs the AWS port its redundancy only: its secondary
	// link is on eth5.
	r = op.expect(http.StatusOK, "GET", "/api/v1/nodes/tyo-1/affected?physical_port=eth3", nil)
	if !strings.Contains(string(r.body), `"port_code":"`+aws.PortCode+`","legs":["primary"],"impact":"redundancy-lost"`) ||
		strings.Contains(string(r.body), onprem.PortCode) {
		t.Fatalf("affected = %s", r.body)
	}
	// Desired state: a reason is required. Without a break-glass grant the
	// operator sees placement only, none of the customer's configuration.
	op.expectInvalid(http.StatusBadRequest, "GET", "/api/v1/nodes/tyo-1/desired-state", nil)
	r = op.expect(http.StatusOK, "GET", "/api/v1/nodes/tyo-1/desired-state?reason=incident+4711", nil)
	etag := r.hdr.Get("ETag")
	if etag == "" || !strings.Contains(string(r.body), onprem.PortCode) || !strings.Contains(string(r.body), `"access": "placement"`) {
		t.Fatalf("desired state = %s %s", etag, r.body)
	}
	for _, saved := range []string{"192.168.255.1", "169.254.0.1", `"peer_asn"`, `"md5"`, "bgp-secret-1", `"route_policy"`,
		`"firewall"`, `"static_nat"`, `"internal_network"`} {
		if strings.Contains(string(r.body), saved) {
			t.Fatalf("without a grant the operator sees %s: %s", saved, r.body)
		}
	}
	op.hdr.Set("If-None-Match", etag)
	op.expect(http.StatusNotModified, "GET", "/api/v1/nodes/tyo-1/desired-state?reason=incident+4711", nil)
	op.hdr.Del("If-None-Match")
	// Under a grant for the customer its section is whole, the password
	// still masked, and the customer's log has the access with the grant's
	// reason.
	op.expect(http.StatusCreated, "POST", "/api/v1/customers/"+string(cu.ID)+"/break-glass",
		map[string]any{"reason": "customer ticket 99: BGP down"})
	r = op.expect(http.StatusOK, "GET", "/api/v1/nodes/tyo-1/desired-state?reason=incident+4711", nil)
	if r.hdr.Get("ETag") == etag || !strings.Contains(string(r.body), `"access": "break-glass"`) ||
		!strings.Contains(string(r.body), "192.168.255.1") || !strings.Contains(string(r.body), `"md5": "********"`) ||
		strings.Contains(string(r.body), "bgp-secret-1") {
		t.Fatalf("desired state under a grant = %s", r.body)
	}
	entries, err := e.audit.List(ctx, audit.OfChain(string(cu.ID)).Page(0, 500))
	e.must("audit", err)
	var reads, applies int
	for _, en := range entries {
		if en.Action == "breakglass.access" && en.Target == "node:tyo-1/desired-state" && en.Reason == "customer ticket 99: BGP down" {
			reads++
		}
		if en.Action == "network.apply" {
			applies++
		}
	}
	if reads != 1 || applies != 1 {
		t.Fatalf("audit: %d reads, %d applies", reads, applies)
	}
}

// l2Defaults is an on-premises port's l2_guard with the service defaults.
func l2Defaults() map[string]any {
	return map[string]any{"bpdu_guard": true, "storm_control_pps": network.DefaultStormPPS, "flap_limit": network.DefaultFlapLimit,
		"flap_window_seconds": network.DefaultFlapWindowS, "mac_limit": network.MaxMACLimit,
		"mac_ageing_seconds": network.MACAgeingSeconds, "mtu": network.OnPremMTU}
}

// hubWithTwoPorts makes a customer named name with a contract, a main hub in
// region tokyo (which the caller made) and two ports on it: a 10 Gb/s
// on-premises port and a 1 Gb/s AWS private port.
func (e *idEnv) hubWithTwoPorts(name string) (catalog.Customer, catalog.Port, catalog.Port) {
	ctx := e.seed
	cu, err := e.cat.CreateCustomer(ctx, catalog.CustomerInput{Name: name})
	e.must("customer", err)
	op := tenanttest.Operator(cu.ID)
	k, err := e.cat.CreateContract(ctx, op, catalog.ContractInput{Plan: "smart-hub"})
	e.must("contract", err)
	h, err := e.cat.CreateHub(ctx, op, catalog.HubInput{ServiceCode: k.ServiceCode, Region: "tokyo", Priority: "main"})
	e.must("hub", err)
	onprem, err := e.cat.CreatePort(ctx, op, catalog.PortInput{ServiceCode: k.ServiceCode, HubID: h.ID, Kind: "onprem", SpeedMbps: 10_000})
	e.must("port", err)
	aws, err := e.cat.CreatePort(ctx, op, catalog.PortInput{ServiceCode: k.ServiceCode, HubID: h.ID, Kind: "a-private", SpeedMbps: 1_000})
	e.must("port", err)
	return cu, onprem, aws
}
