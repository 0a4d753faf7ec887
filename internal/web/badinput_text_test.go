package web

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestStrictInputOverRoutes sends, on routes of both listeners, bodies that
// encoding/json alone would accept — a key given twice, invalid UTF-8, a
// line break or an escape in a single-line field, an explicit 0 that used
// to become a default — and checks that each is refused with 400 on the
// field as the client sent it, and that a read-back shows nothing changed.
func TestStrictInputOverRoutes(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := startIDEnv(t, db, identity.Config{})
		ctx := e.seed
		_, err := e.cat.CreateRegion(ctx, catalog.RegionInput{Code: "tokyo", NameEN: "Tokyo", NameJA: "東京", DataLocation: "Japan"})
		e.must("region", err)
		cu, onprem, aws := e.hubWithTwoPorts("Strict K.K.")
		const pw = "strict input passphrase 7"
		e.account(cu.ID, "strict-ops", identity.RoleOpsAdmin, pw)
		e.account("", "strict-operator", identity.RoleOperator, pw)
		ops, op := e.client(e.customer), e.client(e.mgmt)
		ops.login("strict-ops", pw)
		op.login("strict-operator", pw)

		// A valid draft to start from: both ports configured, a firewall on
		// the AWS port, three service objects.
		ops.expect(http.StatusOK, "POST", "/api/v1/network/lock", nil)
		good := `{"asn":65001,"ports":[
			{"port_code":"` + onprem.PortCode + `","onprem":{"hub_address":"192.168.255.1","customer_address":"192.168.255.2","prefix_length":30,"peer_asn":65010}},
			{"port_code":"` + aws.PortCode + `","cloud":{"vlan":100,"peer_asn":64512,
				"primary":{"hub_address":"169.254.0.1","peer_address":"169.254.0.2","prefix_length":30},
				"secondary":{"hub_address":"169.254.0.5","peer_address":"169.254.0.6","prefix_length":30},
				"route_policy":{"type":"DefaultRoute"}},
			 "firewall":{"mode":"stateful","rules":[{"action":"accept","sources":["any"],"destinations":["any"],"services":["web"],"log":false,"comment":"COMMENT"}]}}],
			"objects":{"addresses":[],"services":[{"name":"zz","protocol":"icmp"},{"name":"web","protocol":"tcp","ports":"443"},{"name":"NAME","protocol":"icmp"}],"applications":[]}}`
		body := func(repl ...string) string {
			return strings.NewReplacer(append(repl, "COMMENT", "web servers", "NAME", "ok")...).Replace(good)
		}
		// The AWS port alone, the body of PUT …/draft/ports/{code}: its
		// problems are named from that body, not from the whole draft.
		awsBody := `{"cloud":{"vlan":100,"peer_asn":64512,
				"primary":{"hub_address":"169.254.0.1","peer_address":"169.254.0.2","prefix_length":30},
				"secondary":{"hub_address":"169.254.0.5","peer_address":"169.254.0.6","prefix_length":30},
				"route_policy":{"type":"DefaultRoute"}},
			 "firewall":{"mode":"stateful","rules":[{"action":"accept","sources":["any"],"destinations":["any"],"services":["web"],"log":false,"comment":"\u001b[2J"}]}}`
		ops.expect(http.StatusOK, "PUT", "/api/v1/network/draft", body())
		draft := func() []byte {
			var d struct {
				Config json.RawMessage `json:"config"`
			}
			ops.expect(http.StatusOK, "GET", "/api/v1/network/draft", nil).json(t, &d)
			return d.Config
		}
		tokens := func() []byte { return ops.expect(http.StatusOK, "GET", "/api/v1/tokens", nil).body }
		accounts := func() []byte { return ops.expect(http.StatusOK, "GET", "/api/v1/accounts", nil).body }
		customers := func() []byte { return op.expect(http.StatusOK, "GET", "/api/v1/customers", nil).body }
		regions := func() []byte { return op.expect(http.StatusOK, "GET", "/api/v1/regions", nil).body }
		grants := func() []byte {
			// The grants the customer has: none may be opened by a refused request.
			var n int
			e.must("count", db.QueryRow(ctx, `SELECT COUNT(*) FROM break_glass_grants WHERE customer_id = ?`, cu.ID).Scan(&n))
			return []byte{byte(n)}
		}
		cust := "/api/v1/customers/" + string(cu.ID)
		cases := []struct {
			name         string
			c            *client
			method, path string
			body, field  string
			readBack     func() []byte
		}{
			// The network draft (customer listener).
			{"draft: duplicate key", ops, "PUT", "/api/v1/network/draft", strings.Replace(body(), `"asn":65001,`, `"asn":65001,"asn":65002,`, 1), "asn", draft},
			{"draft: duplicate key in another case", ops, "PUT", "/api/v1/network/draft", strings.Replace(body(), `"asn":65001,`, `"asn":65001,"ASN":65002,`, 1), "ASN", draft},
			{"draft: invalid UTF-8 in a name", ops, "PUT", "/api/v1/network/draft", body("NAME", "bad\xff"), "objects.services[2].name", draft},
			{"draft: lone surrogate", ops, "PUT", "/api/v1/network/draft", body("COMMENT", `\ud800`), "ports[1].firewall.rules[0].comment", draft},
			{"draft: nftables injection in a comment", ops, "PUT", "/api/v1/network/draft", body("COMMENT", `a\";\n}\nflush ruleset\n`), "ports[1].firewall.rules[0].comment", draft},
			{"draft: escape in a comment", ops, "PUT", "/api/v1/network/draft", body("COMMENT", `\u001b[2J`), "ports[1].firewall.rules[0].comment", draft},
			{"draft: bad name at the client's index", ops, "PUT", "/api/v1/network/draft", body("NAME", "no spaces"), "objects.services[2].name", draft},
			{"draft: AS 0", ops, "PUT", "/api/v1/network/draft", strings.Replace(body(), `"asn":65001`, `"asn":0`, 1), "asn", draft},
			{"draft: AS0 as text", ops, "PUT", "/api/v1/network/draft", strings.Replace(body(), `"asn":65001`, `"asn":"AS0"`, 1), "asn", draft},
			{"draft: mac_limit 0", ops, "PUT", "/api/v1/network/draft", strings.Replace(body(), `"peer_asn":65010`, `"peer_asn":65010,"l2_guard":{"bpdu_guard":true,"mac_limit":0}`, 1), "ports[0].onprem.l2_guard.mac_limit", draft},
			{"draft: bpdu_guard false", ops, "PUT", "/api/v1/network/draft", strings.Replace(body(), `"peer_asn":65010`, `"peer_asn":65010,"l2_guard":{"bpdu_guard":false}`, 1), "ports[0].onprem.l2_guard.bpdu_guard", draft},
			{"draft: flap_window_seconds 0", ops, "PUT", "/api/v1/network/draft", strings.Replace(body(), `"peer_asn":65010`, `"peer_asn":65010,"l2_guard":{"bpdu_guard":true,"flap_window_seconds":0}`, 1), "ports[0].onprem.l2_guard.flap_window_seconds", draft},
			{"port: duplicate key", ops, "PUT", "/api/v1/network/draft/ports/" + aws.PortCode, `{"cloud":{"vlan":100,"vlan":200}}`, "cloud.vlan", draft},
			{"port: escape in a comment", ops, "PUT", "/api/v1/network/draft/ports/" + aws.PortCode, awsBody, "firewall.rules[0].comment", draft},
			// Identity (customer listener).
			{"token: line break in the name", ops, "POST", "/api/v1/tokens", `{"name":"ci\nadmin","expires_at":"2099-01-01T00:00:00Z"}`, "name", tokens},
			{"token: duplicate key", ops, "POST", "/api/v1/tokens", `{"name":"a","name":"b","expires_at":"2099-01-01T00:00:00Z"}`, "name", tokens},
			{"invite: escape in the display name", ops, "POST", "/api/v1/accounts", `{"login_id":"newbie","display_name":"New \u001b[31mBie","email":"newbie@example.co.jp","role":"user"}`, "display_name", accounts},
			{"invite: invalid UTF-8", ops, "POST", "/api/v1/accounts", "{\"login_id\":\"newbie\",\"display_name\":\"New \xc3\",\"email\":\"newbie@example.co.jp\",\"role\":\"user\"}", "display_name", accounts},
			// Operator routes (management listener).
			{"break-glass: line break in the reason", op, "POST", cust + "/break-glass", `{"reason":"customer asked\nbreakglass.close ok"}`, "reason", grants},
			{"break-glass: duplicate key", op, "POST", cust + "/break-glass", `{"reason":"customer asked us to look","reason":"x"}`, "reason", grants},
			{"customer: escape in the name", op, "POST", "/api/v1/customers", `{"name":"Evil \u001b]0;pwned\u0007 K.K."}`, "name", customers},
			{"customer: C1 control in the name", op, "POST", "/api/v1/customers", `{"name":"Evil \u0085 K.K."}`, "name", customers},
			{"region: line separator", op, "POST", "/api/v1/regions", `{"code":"osaka","name_en":"Osaka\u2028x","name_ja":"大阪","data_location":"Japan"}`, "name_en", regions},
			{"region: bidi override", op, "POST", "/api/v1/regions", `{"code":"osaka","name_en":"Osaka","name_ja":"大阪\u202e","data_location":"Japan"}`, "name_ja", regions},
		}
		for _, tc := range cases {
			before := tc.readBack()
			r := tc.c.doInvalid(tc.method, tc.path, tc.body) // bad on purpose; the answer is checked
			var eb errorBody
			_ = json.Unmarshal(r.body, &eb)
			if r.code != http.StatusBadRequest || eb.Error.Code != "invalid" || eb.Error.Field != tc.field {
				t.Errorf("%s: %d %s, want 400 invalid on %q", tc.name, r.code, r.body, tc.field)
			}
			if after := tc.readBack(); !bytes.Equal(before, after) {
				t.Errorf("%s: the refused request changed something:\n%s\n%s", tc.name, before, after)
			}
		}
		// The documented AS number forms are accepted and answered as a
		// number; the l2 values left out take their defaults.
		ops.expect(http.StatusOK, "PUT", "/api/v1/network/draft", strings.Replace(strings.Replace(body(), `"asn":65001`, `"asn":"AS65001"`, 1),
			`"peer_asn":65010`, `"peer_asn":"2.10"`, 1))
		d := string(draft())
		if !strings.Contains(d, `"asn":65001`) || !strings.Contains(d, `"peer_asn":131082`) || !strings.Contains(d, `"mac_limit":5`) {
			t.Fatalf("draft = %s", d)
		}
		// A tuned guard without bpdu_guard keeps BPDU guard on.
		ops.expect(http.StatusOK, "PUT", "/api/v1/network/draft", strings.Replace(body(), `"peer_asn":65010`,
			`"peer_asn":65010,"l2_guard":{"mac_limit":3}`, 1))
		if d := string(draft()); !strings.Contains(d, `"bpdu_guard":true,`) || !strings.Contains(d, `"mac_limit":3`) {
			t.Fatalf("draft = %s", d)
		}
	})
}
