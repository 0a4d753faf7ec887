package web

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/network/custexport"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestNetworkExportAPI: a customer downloads its own copy as a file, and
// another customer's account can neither read it nor, without mapping
// onto its own ports, import it; an import becomes the draft, which
// reviews like any other, and the lock rules hold.
func TestNetworkExportAPI(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	e.tokyoNode([]catalog.PhysicalPort{{Name: "eth1", SpeedMbps: 10_000, Kind: "onprem"}})
	cu1, onprem1, aws1 := e.hubWithTwoPorts("Export One K.K.")
	cu2, onprem2, aws2 := e.hubWithTwoPorts("Export Two K.K.")
	const pw = "export api passphrase 42"
	e.account(cu1.ID, "exp-ops1", identity.RoleOpsAdmin, pw)
	e.account(cu1.ID, "exp-user1", identity.RoleUser, pw)
	e.account(cu2.ID, "exp-ops2", identity.RoleOpsAdmin, pw)
	e.account(cu2.ID, "exp-admin2", identity.RoleAdmin, pw)
	ops1, user1, ops2, admin2 := e.client(e.customer), e.client(e.customer), e.client(e.customer), e.client(e.customer)
	admin2.login("exp-admin2", pw)
	ops1.login("exp-ops1", pw)
	user1.login("exp-user1", pw)
	ops2.login("exp-ops2", pw)

	ops1.expect(http.StatusOK, "POST", "/api/v1/network/lock", nil)
	ops1.expect(http.StatusOK, "PUT", "/api/v1/network/draft/ports/"+onprem1.PortCode, map[string]any{
		"onprem": map[string]any{"hub_address": "192.168.255.1", "customer_address": "192.168.255.2", "prefix_length": 30, "peer_asn": 65001,
			"md5": "bgp-secret-1", "l2_guard": l2Defaults()}})
	ops1.expect(http.StatusCreated, "POST", "/api/v1/network/draft/apply", nil)

	r := user1.expect(http.StatusOK, "GET", "/api/v1/network/export", nil)
	if cd := r.hdr.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="tsunagi-export-`) {
		t.Fatalf("Content-Disposition = %q", cd)
	}
	file := r.body
	doc, err := custexport.Decode(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Versions) != 1 || doc.Versions[0].AppliedBy != "exp-ops1" || bytes.Contains(file, []byte("bgp-secret-1")) {
		t.Fatalf("export: %s", file)
	}
	var n int
	if err := e.db.QueryRow(e.seed, `SELECT COUNT(*) FROM audit_events WHERE action = 'network.export' AND customer_id = ?`, cu1.ID).Scan(&n); err != nil || n != 1 {
		t.Fatalf("network.export events: %d, %v", n, err)
	}
	// Read permission exports; only edit imports.
	user1.expect(http.StatusForbidden, "POST", "/api/v1/network/import", file)

	// The other customer's export is its own.
	r = ops2.expect(http.StatusOK, "GET", "/api/v1/network/export", nil)
	for _, code := range []string{onprem1.PortCode, aws1.PortCode, string(cu1.ID)} {
		if bytes.Contains(r.body, []byte(code)) {
			t.Fatalf("customer 2's export holds %s", code)
		}
	}
	// Ports of the file that are not the caller's are listed; the refused
	// import took no lock.
	r = ops2.expect(http.StatusBadRequest, "POST", "/api/v1/network/import", file)
	if !strings.Contains(string(r.body), `"field":"map"`) || !strings.Contains(string(r.body), onprem1.PortCode) {
		t.Fatalf("unmatched ports: %s", r.body)
	}
	ops2.expect(http.StatusNotFound, "GET", "/api/v1/network/lock", nil)
	ops2.expect(http.StatusNotFound, "GET", "/api/v1/network/draft", nil)
	mapped := "/api/v1/network/import?map=" + url.QueryEscape(onprem1.PortCode+"="+onprem2.PortCode) + "&map=" + url.QueryEscape(aws1.PortCode+"="+aws2.PortCode)
	// Mapping onto the first customer's own ports is not the caller's.
	r = ops2.expect(http.StatusBadRequest, "POST", "/api/v1/network/import?map="+url.QueryEscape(onprem1.PortCode+"="+aws1.PortCode), file)
	if !strings.Contains(string(r.body), "not one of your ports") {
		t.Fatalf("mapping onto another's port: %s", r.body)
	}
	r = ops2.expect(http.StatusBadRequest, "POST", mapped, file)
	if !strings.Contains(string(r.body), "masked") {
		t.Fatalf("masked password: %s", r.body)
	}
	ops2.expectInvalid(http.StatusBadRequest, "POST", mapped+"&version=latest", file)
	ops2.expectInvalid(http.StatusBadRequest, "POST", "/api/v1/network/import", bytes.Replace(file, []byte(custexport.Schema), []byte("tsunagi.customer-export/v0"), 1))
	ops2.expectInvalid(http.StatusBadRequest, "POST", "/api/v1/network/import", `{"schema":"tsunagi.customer-export/v1","schema":"x"}`)
	ops2.expect(http.StatusNotFound, "GET", "/api/v1/network/draft", nil)
	// Someone else editing refuses the import.
	admin2.expect(http.StatusOK, "POST", "/api/v1/network/lock", nil)
	r = ops2.expect(http.StatusConflict, "POST", mapped, file)
	if !strings.Contains(string(r.body), "exp-admin2 has been editing since") {
		t.Fatalf("import under another's lock: %s", r.body)
	}
	admin2.expect(http.StatusNoContent, "DELETE", "/api/v1/network/lock", nil)
	var d network.Draft
	withPassword := bytes.ReplaceAll(file, []byte(`"md5": "`+network.SecretMask+`"`), []byte(`"md5": "bgp-secret-2"`))
	ops2.expect(http.StatusOK, "POST", mapped+"&version=1", withPassword).json(t, &d)
	if len(d.Config.Ports) != 1 || d.Config.Ports[0].PortCode != onprem2.PortCode || d.Config.Ports[0].OnPrem.MD5 != network.SecretMask {
		t.Fatalf("imported draft: %+v", d.Config.Ports)
	}
	var rev network.Review
	ops2.expect(http.StatusOK, "GET", "/api/v1/network/draft/review", nil).json(t, &rev)
	if !rev.Valid || len(rev.Changes) == 0 {
		t.Fatalf("review of the import: %+v", rev)
	}
}
