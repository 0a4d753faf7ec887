package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/mail"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

func TestSourceAllowList(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		// The test's own connections come from 127.0.0.1, which is the
		// trusted proxy here: X-Forwarded-For then names the client.
		e := startIDEnv(t, db, identity.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
		cust, ops := flowCustomer(e, "Allow K.K.", "al")
		e.account(cust, "al-user", identity.RoleUser, flowPW)
		office := func(c *client, ip string) *client {
			c.hdr.Set("X-Forwarded-For", ip+", 127.0.0.1")
			return c
		}
		tok := ops.newToken("al", "")
		ops.hdr.Set("X-Forwarded-For", "198.51.100.7")
		// An allow-list that leaves out the caller's own address is refused.
		ops.expect(http.StatusBadRequest, "PUT", "/api/v1/security-policy", policy("203.0.113.0/24"))
		ops.expect(http.StatusBadRequest, "PUT", "/api/v1/security-policy", policy("not-an-ip"))
		var pol identity.SecurityPolicy
		ops.expect(http.StatusOK, "PUT", "/api/v1/security-policy", policy("198.51.100.0/24", "2001:db8::1")).json(t, &pol)
		if strings.Join(pol.AllowList, ",") != "198.51.100.0/24,2001:db8::1/128" {
			t.Errorf("policy: %+v", pol)
		}
		ops.expect(http.StatusOK, "GET", "/api/v1/me", nil)
		// The same session from outside the list is refused and audited.
		ops.hdr.Set("X-Forwarded-For", "203.0.113.9")
		ops.expect(http.StatusForbidden, "GET", "/api/v1/me", nil)
		// So is the token, and so is a login.
		tc := office(e.client(e.customer), "203.0.113.9")
		tc.token = tok
		tc.expect(http.StatusForbidden, "GET", "/api/v1/me", nil)
		office(tc, "198.51.100.20").expect(http.StatusOK, "GET", "/api/v1/me", nil)
		// The notice feed's token is held to the list as well.
		ops.hdr.Set("X-Forwarded-For", "198.51.100.7")
		var feed struct {
			Secret string `json:"secret"`
		}
		ops.expect(http.StatusCreated, "POST", "/api/v1/feed-tokens", map[string]string{"label": "reader", "language": "en"}).json(t, &feed)
		reader := office(e.client(e.customer), "203.0.113.9")
		reader.expect(http.StatusForbidden, "GET", "/feed/notices.atom?token="+feed.Secret, nil)
		office(reader, "198.51.100.20").expect(http.StatusOK, "GET", "/feed/notices.atom?token="+feed.Secret, nil)
		out := office(e.client(e.customer), "203.0.113.9")
		out.expect(http.StatusForbidden, "POST", "/api/v1/session", map[string]string{"login_id": "al-user", "password": flowPW})
		// A wrong password from outside gets the usual answer (no oracle).
		out.expect(http.StatusUnauthorized, "POST", "/api/v1/session", map[string]string{"login_id": "al-user", "password": "nope nope nope"})
		in := office(e.client(e.customer), "198.51.100.20")
		in.login("al-user", flowPW)
		// Left-most entries are the client's own claims: only the right-most
		// untrusted hop counts.
		spoof := e.client(e.customer)
		spoof.hdr.Set("X-Forwarded-For", "198.51.100.20, 203.0.113.9")
		spoof.expect(http.StatusForbidden, "POST", "/api/v1/session", map[string]string{"login_id": "al-user", "password": flowPW})
		entries, err := e.audit.List(context.Background(), audit.OfChain(string(cust)).Page(0, 1000))
		e.must("audit", err)
		var refused int
		for _, en := range entries {
			if en.Action == "access.denied.source" && en.SourceIP == "203.0.113.9" {
				refused++
			}
		}
		if refused < 4 {
			t.Errorf("%d refusals audited, want 4", refused)
		}
	})
}

func TestXFFIgnoredWithoutTrustedProxy(t *testing.T) {
	r, _ := http.NewRequest("GET", "/", nil)
	r.RemoteAddr = "192.0.2.1:1234"
	r.Header.Set("X-Forwarded-For", "198.51.100.1")
	if got := clientIP(r, nil); got != "192.0.2.1" {
		t.Errorf("untrusted peer: %s", got)
	}
	trusted := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	if got := clientIP(r, trusted); got != "198.51.100.1" {
		t.Errorf("trusted peer: %s", got)
	}
	r.Header.Set("X-Forwarded-For", "garbage")
	if got := clientIP(r, trusted); got != "192.0.2.1" {
		t.Errorf("malformed header: %s", got)
	}
	r.Header.Set("X-Forwarded-For", "203.0.113.5, 192.0.2.7")
	if got := clientIP(r, trusted); got != "203.0.113.5" {
		t.Errorf("chain of proxies: %s", got)
	}
}

func TestSessionsAndTokens(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := startIDEnv(t, db, identity.Config{})
		cust, _ := flowCustomer(e, "Sessions K.K.", "se")
		e.account(cust, "se-user", identity.RoleAdmin, flowPW)
		laptop, phone := e.client(e.customer), e.client(e.customer)
		laptop.hdr.Set("User-Agent", "laptop")
		phone.hdr.Set("User-Agent", "phone")
		laptop.login("se-user", flowPW)
		phone.login("se-user", flowPW)
		before := cookieOf(t, laptop)
		laptop.login("se-user", flowPW) // a second login replaces the session ID
		if cookieOf(t, laptop) == before {
			t.Error("session ID not rotated at login")
		}
		var ss list[identity.Session]
		laptop.expect(http.StatusOK, "GET", "/api/v1/sessions", nil).json(t, &ss)
		if len(ss.Items) != 2 {
			t.Fatalf("%d sessions: %+v", len(ss.Items), ss.Items)
		}
		var other string
		for _, s := range ss.Items {
			if s.UserAgent == "phone" {
				other = s.ID
				if s.Current || s.SourceIP != "127.0.0.1" || !strings.HasSuffix(s.LastSeenJST, "+09:00") {
					t.Errorf("phone session: %+v", s)
				}
			} else if !s.Current {
				t.Errorf("laptop session not current: %+v", s)
			}
		}
		laptop.expect(http.StatusNoContent, "DELETE", "/api/v1/sessions/"+other, nil)
		phone.expect(http.StatusUnauthorized, "GET", "/api/v1/me", nil)
		laptop.expect(http.StatusNotFound, "DELETE", "/api/v1/sessions/"+other, nil)

		tc := e.client(e.customer)
		tc.token = laptop.newToken("ci", identity.RoleUser)
		var ts list[identity.Token]
		laptop.expect(http.StatusOK, "GET", "/api/v1/tokens", nil).json(t, &ts)
		if len(ts.Items) != 1 || ts.Items[0].Role != identity.RoleUser || strings.Contains(string(must(t, ts)), "tsk_") {
			t.Fatalf("tokens: %+v", ts.Items)
		}
		tc.expect(http.StatusOK, "GET", "/api/v1/me", nil)
		laptop.expect(http.StatusNoContent, "DELETE", "/api/v1/tokens/"+ts.Items[0].ID, nil)
		tc.expect(http.StatusUnauthorized, "GET", "/api/v1/me", nil)
		// Cookie attributes.
		r := e.client(e.customer).expect(http.StatusOK, "POST", "/api/v1/session", map[string]string{"login_id": "se-user", "password": flowPW})
		sc := r.hdr.Get("Set-Cookie")
		for _, want := range []string{"__Host-tsunagi=tss_", "Path=/", "HttpOnly", "Secure", "SameSite=Strict"} {
			if !strings.Contains(sc, want) {
				t.Errorf("cookie %q lacks %s", sc, want)
			}
		}
	})
}

func must(t *testing.T, v any) []byte {
	t.Helper()
	b, err := jsonMarshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOperatorMailAndBreakGlass(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := startIDEnv(t, db, identity.Config{})
		cust, ops := flowCustomer(e, "Glass K.K.", "gl")
		e.account("", "op-glass", identity.RoleOperator, flowPW)
		e.account("", "so-glass", identity.RoleSecurityOfficer, flowPW)
		op, so := e.client(e.mgmt), e.client(e.mgmt)
		op.login("op-glass", flowPW)
		so.login("so-glass", flowPW)
		// Customer accounts do not log in on the management listener.
		e.client(e.mgmt).expect(http.StatusUnauthorized, "POST", "/api/v1/session", map[string]string{"login_id": "gl-ops", "password": flowPW})

		var mails list[mail.Entry]
		op.expect(http.StatusOK, "GET", "/api/v1/mail?status=pending", nil).json(t, &mails)
		if len(mails.Items) == 0 || strings.Contains(string(must(t, mails)), "tsu_") {
			t.Fatalf("outbox listing: %+v", mails.Items)
		}
		so.expect(http.StatusForbidden, "GET", "/api/v1/mail", nil)
		op.expectInvalid(http.StatusBadRequest, "GET", "/api/v1/mail?status=bogus", nil)

		// No access to saved data without a grant.
		cfgPath := "/api/v1/customers/" + string(cust) + "/network/config"
		op.expect(http.StatusForbidden, "GET", cfgPath, nil)
		so.expect(http.StatusForbidden, "GET", cfgPath, nil)
		so.expect(http.StatusForbidden, "POST", "/api/v1/customers/"+string(cust)+"/break-glass", map[string]any{"reason": "looking around"})
		op.expectInvalid(http.StatusBadRequest, "POST", "/api/v1/customers/"+string(cust)+"/break-glass", map[string]any{"reason": "x"})
		op.expect(http.StatusNotFound, "POST", "/api/v1/customers/cus_aaaaaaaaaaaaaaaaaaaaaaaaaa/break-glass", map[string]any{"reason": "incident INC-7 routing"})
		var g identity.Grant
		op.expect(http.StatusCreated, "POST", "/api/v1/customers/"+string(cust)+"/break-glass",
			map[string]any{"reason": "incident INC-7: routes withdrawn", "minutes": 30}).json(t, &g)
		op.expect(http.StatusOK, "GET", cfgPath, nil)
		// The grant is for this customer only.
		other, _ := flowCustomer(e, "Other Glass K.K.", "og")
		op.expect(http.StatusForbidden, "GET", "/api/v1/customers/"+string(other)+"/network/config", nil)
		// The customer sees it, with the reason, in its own audit log.
		var own list[audit.Entry]
		ops.expect(http.StatusOK, "GET", "/api/v1/audit?limit=500", nil).json(t, &own)
		found, accessed := false, false
		for _, en := range own.Items {
			if en.CustomerID != string(cust) {
				t.Errorf("another customer's or the platform's event in the customer's log: %+v", en)
			}
			if en.Action == "breakglass.open" && en.Reason == "incident INC-7: routes withdrawn" && en.ActorName == "op-glass" {
				found = true
			}
			if en.Action == "breakglass.access" && en.Reason == "incident INC-7: routes withdrawn" && en.ActorName == "op-glass" &&
				en.Target == "GET "+cfgPath && en.OnBehalfOf == string(cust) {
				accessed = true
			}
		}
		if !found || !accessed {
			t.Errorf("the customer's audit view misses the grant (%v) or the access (%v)", found, accessed)
		}
		op.expect(http.StatusNoContent, "DELETE", "/api/v1/break-glass/"+g.ID, nil)
		op.expect(http.StatusForbidden, "GET", cfgPath, nil)
		op.expect(http.StatusNotFound, "DELETE", "/api/v1/break-glass/"+g.ID, nil)
		// Staff management: an operator deletes an operator's account, never
		// a security officer's (identity_officers_test.go).
		e.account("", "op-leaver", identity.RoleOperator, flowPW)
		leaver := e.client(e.mgmt)
		leaver.login("op-leaver", flowPW)
		var staff list[identity.Account]
		op.expect(http.StatusOK, "GET", "/api/v1/staff", nil).json(t, &staff)
		for _, a := range staff.Items {
			switch a.LoginID {
			case "so-glass":
				op.expect(http.StatusForbidden, "DELETE", "/api/v1/staff/"+a.ID, nil)
			case "op-leaver":
				op.expect(http.StatusNoContent, "DELETE", "/api/v1/staff/"+a.ID, nil)
			}
		}
		leaver.expect(http.StatusUnauthorized, "GET", "/api/v1/me", nil)
		so.expect(http.StatusOK, "GET", "/api/v1/me", nil)
	})
}

// TestBadInput: injection attempts and malformed input in every identity
// field get a clear 4xx, change nothing, and are audited.
func TestBadInput(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := startIDEnv(t, db, identity.Config{})
		cust, ops := flowCustomer(e, "Bad Input K.K.", "bi")
		var before list[identity.Account]
		ops.expect(http.StatusOK, "GET", "/api/v1/accounts", nil).json(t, &before)
		anon := e.client(e.customer)
		for _, c := range []struct {
			who          *client
			method, path string
			body         any
			want         int
		}{
			{anon, "POST", "/api/v1/session", map[string]string{"login_id": "' OR '1'='1' --", "password": "x' OR 'x'='x"}, 401},
			{anon, "POST", "/api/v1/session", `{"login_id": "bi-ops", "password": "x", "admin": true}`, 400},
			{anon, "POST", "/api/v1/session", `{"login_id": "bi-ops"`, 400},
			{anon, "POST", "/api/v1/password-reset", map[string]string{"login_id": "bi-ops'; DELETE FROM accounts; --"}, 202},
			{ops, "POST", "/api/v1/accounts", map[string]string{"login_id": "x'; DROP TABLE accounts;--", "display_name": "x", "email": "x@example.jp", "role": "user"}, 400},
			{ops, "POST", "/api/v1/accounts", map[string]string{"login_id": "bi-xss", "display_name": "<script>alert(1)</script>", "email": "x@example.jp", "role": "user"}, 400},
			{ops, "POST", "/api/v1/accounts", map[string]string{"login_id": "bi-mail", "display_name": "x", "email": "x@example.jp\r\nBcc: all@example.jp", "role": "user"}, 400},
			{ops, "POST", "/api/v1/accounts", map[string]string{"login_id": "bi-role", "display_name": "x", "email": "x@example.jp", "role": "operator"}, 400},
			{ops, "POST", "/api/v1/accounts", "{\"login_id\":\"bi-utf\",\"display_name\":\"\xc3\x28\",\"email\":\"x@example.jp\",\"role\":\"user\"}", 400},
			{ops, "PUT", "/api/v1/security-policy", map[string]any{"allow_list": []string{"10.0.0.0/8; DROP TABLE customers"},
				"require_mfa": false, "require_device": false}, 400},
			{ops, "POST", "/api/v1/devices", map[string]string{"name": "<b>laptop</b>", "certificate_pem": "x"}, 400},
			{ops, "POST", "/api/v1/tokens", map[string]any{"name": "line\nbreak", "expires_at": "2099-01-01T00:00:00Z"}, 400},
			{ops, "POST", "/api/v1/tokens", map[string]any{"name": "forever", "expires_at": "2099-01-01T00:00:00Z"}, 400},
			{ops, "PUT", "/api/v1/me/password", map[string]string{"current_password": flowPW, "new_password": strings.Repeat("é", 600)}, 400},
			{ops, "POST", "/api/v1/session/mfa", map[string]string{"code": "123456"}, 409},
		} {
			r := c.who.doInvalid(c.method, c.path, c.body) // bad input on purpose; the answer is checked
			if r.code != c.want {
				t.Errorf("%s %s %v: %d, want %d: %s", c.method, c.path, c.body, r.code, c.want, r.body)
			}
			// The request ID is random base32 and may spell "sql": the
			// message and field are what must not echo anything.
			var e struct {
				Error struct{ Message, Field string } `json:"error"`
			}
			_ = json.Unmarshal(r.body, &e)
			said := e.Error.Message + " " + e.Error.Field
			if strings.Contains(string(r.body), "<script>") || strings.Contains(strings.ToLower(said), "sql") {
				t.Errorf("%s %s: the answer echoes markup or SQL detail: %s", c.method, c.path, r.body)
			}
		}
		var after list[identity.Account]
		ops.expect(http.StatusOK, "GET", "/api/v1/accounts", nil).json(t, &after)
		if len(after.Items) != len(before.Items) {
			t.Errorf("accounts changed: %d → %d", len(before.Items), len(after.Items))
		}
		entries, err := e.audit.List(context.Background(), audit.OfChain(string(cust)).Page(0, 1000))
		e.must("audit", err)
		n := 0
		for _, en := range entries {
			if en.Action == "request.invalid" && en.Result == audit.Denied {
				n++
			}
		}
		if n < 10 {
			t.Errorf("%d refused requests of the customer audited, want at least 10", n)
		}
	})
}

// TestCrossOriginRefused: a state-changing request from another site is
// refused (CSRF), even with a valid session cookie.
func TestCrossOriginRefused(t *testing.T) {
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	_, ops := flowCustomer(e, "CSRF K.K.", "cs")
	ops.hdr.Set("Origin", "https://evil.example")
	ops.hdr.Set("Sec-Fetch-Site", "cross-site")
	ops.expect(http.StatusForbidden, "POST", "/api/v1/accounts", map[string]string{"login_id": "cs-new", "display_name": "x",
		"email": "x@example.jp", "role": "user"})
	ops.hdr.Del("Origin")
	ops.hdr.Del("Sec-Fetch-Site")
	ops.expect(http.StatusOK, "GET", "/api/v1/me", nil)
}

// policy is a complete security-policy body allowing prefixes, with neither
// MFA nor devices required.
func policy(prefixes ...string) map[string]any {
	return map[string]any{"allow_list": append([]string{}, prefixes...), "require_mfa": false, "require_device": false}
}
