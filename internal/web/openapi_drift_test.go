package web

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/apicontract"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// Drift the contract check found between the documents and the code, each
// pinned where the check alone would not say which side is right.

// TestAuditLimitIsAList: the audit log pages like every list, limit 1–500;
// more is refused with 400 (it took up to 1000), on both listeners.
func TestAuditLimitIsAList(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := startIDEnv(t, db, identity.Config{})
		_, ops := flowCustomer(e, "Audit Limit K.K.", "al")
		e.account("", "al-op", identity.RoleOperator, flowPW)
		op := e.client(e.mgmt)
		op.login("al-op", flowPW)
		so := e.client(e.mgmt)
		e.account("", "al-so", identity.RoleSecurityOfficer, flowPW)
		so.login("al-so", flowPW)
		ops.expect(http.StatusOK, "GET", "/api/v1/audit?limit=500", nil)
		so.expect(http.StatusOK, "GET", "/api/v1/audit?limit=500", nil)
		for _, c := range []*client{ops, so} {
			for _, q := range []string{"501", "1000", "0"} {
				r := c.expectInvalid(http.StatusBadRequest, "GET", "/api/v1/audit?limit="+q, nil)
				if errFieldOf(r) != "limit" {
					t.Errorf("limit=%s: the refusal does not name limit: %s", q, r.body)
				}
			}
		}
	})
}

// TestTokenTimesAreUTC: a new token's created_at and expires_at are both
// RFC 3339 UTC, in POST /tokens as in GET /tokens (created_at was JST).
func TestTokenTimesAreUTC(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	_, ops := flowCustomer(e, "Token Time K.K.", "tt")
	exp := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	var made identity.Token
	ops.expect(http.StatusCreated, "POST", "/api/v1/tokens", map[string]any{"name": "ci",
		"expires_at": exp.In(time.FixedZone("JST", 9*3600)).Format(time.RFC3339)}).json(t, &made)
	var listed list[identity.Token]
	ops.expect(http.StatusOK, "GET", "/api/v1/tokens", nil).json(t, &listed)
	for _, tk := range append(listed.Items, made) {
		for name, v := range map[string]time.Time{"created_at": tk.CreatedAt, "expires_at": tk.ExpiresAt} {
			if v.Location() != time.UTC {
				t.Errorf("token %s: %s is %v, not UTC", tk.ID, name, v)
			}
		}
	}
	if !made.ExpiresAt.Equal(exp) {
		t.Errorf("expires_at = %v, want %v", made.ExpiresAt, exp)
	}
}

// TestInviteRolesPerEndpoint: each management invite endpoint's document
// offers exactly the roles the endpoint takes (one shared schema offered
// customer roles for staff and staff roles for customers).
func TestInviteRolesPerEndpoint(t *testing.T) {
	t.Parallel()
	c, err := apicontract.Load(openapiOperator)
	if err != nil {
		t.Fatal(err)
	}
	all := []identity.Role{identity.RoleOperator, identity.RoleSecurityOfficer, identity.RoleOpsAdmin, identity.RoleAdmin, identity.RoleUser}
	for path, takes := range map[string][]identity.Role{
		"/api/v1/staff":    {identity.RoleOperator, identity.RoleSecurityOfficer},
		"/api/v1/officers": {identity.RoleSecurityOfficer},
		"/api/v1/customers/cus_aaaaaaaaaaaaaaaaaaaaaaaaaa/accounts": {identity.RoleOpsAdmin},
	} {
		for _, role := range all {
			body := `{"login_id":"inv-x","display_name":"X","email":"x@example.co.jp","role":"` + string(role) + `"}`
			req := mustRequest(t, "POST", path, body)
			res := &http.Response{StatusCode: http.StatusCreated, Header: http.Header{}}
			var refused bool
			for _, p := range c.Check(req, []byte(body), true, res, nil) {
				refused = refused || strings.HasPrefix(p, "request:")
			}
			if want := !slices.Contains(takes, role); refused != want {
				t.Errorf("POST %s role %s: the document refuses it: %v, want %v", path, role, refused, want)
			}
		}
	}
	// And the endpoints refuse what the document refuses.
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	e.account("", "ir-op", identity.RoleOperator, flowPW)
	op := e.client(e.mgmt)
	op.login("ir-op", flowPW)
	cust, _ := flowCustomer(e, "Invite Roles K.K.", "ir")
	for _, role := range []identity.Role{identity.RoleOpsAdmin, identity.RoleUser} {
		op.expectInvalid(http.StatusBadRequest, "POST", "/api/v1/staff", staffInvitation("ir-staff-"+string(role), role))
	}
	for _, role := range []identity.Role{identity.RoleOperator, identity.RoleSecurityOfficer, identity.RoleAdmin, identity.RoleUser} {
		op.expectInvalid(http.StatusBadRequest, "POST", "/api/v1/customers/"+string(cust)+"/accounts",
			staffInvitation("ir-cust-"+string(role), role))
	}
}

func errFieldOf(r resp) string {
	var b errorBody
	_ = json.Unmarshal(r.body, &b)
	return b.Error.Field
}
