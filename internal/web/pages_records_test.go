package web

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/evidence"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestAuditPagesShowErasedFields: once a customer's audit key is destroyed
// (the purge's audit.ForgetCustomerTx), the customer's and the operator's
// audit pages and the API show its entries' personal fields as erased, in
// Japanese and English, and the chain still verifies.
func TestAuditPagesShowErasedFields(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	cust, ops := flowCustomer(e, "Erasure K.K.", "er")
	ops.expect(http.StatusCreated, "POST", "/api/v1/accounts", map[string]any{"login_id": "er-new", "display_name": "New",
		"email": "er-new@example.co.jp", "role": "user"})
	e.account("", "er-so", identity.RoleSecurityOfficer, flowPW)
	so := e.pageClient(e.mgmt)
	so.login("er-so", flowPW)
	soAPI := e.client(e.mgmt)
	soAPI.login("er-so", flowPW)
	c := e.pageClient(e.customer)
	c.login("er-ops", flowPW)
	c.setLang("en")
	// While the key exists, the fields show as they were written.
	c.expectPage(http.StatusOK, "/audit?limit=500", "er-new", "er-ops")
	opcGet(t, so, "/audit?purpose=erasure+check&customer="+string(cust), http.StatusOK, "er-ops")

	ctx := context.Background()
	if err := e.db.InTx(ctx, func(tx *store.Tx) error { return e.audit.ForgetCustomerTx(ctx, tx, string(cust)) }); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ lang, erased, note string }{
		{"ja", "消去済み", "この記録の個人情報"},
		{"en", "Erased", "The personal data of this entry"},
	} {
		c.setLang(tc.lang)
		p := c.expectPage(http.StatusOK, "/audit?limit=500", `class="erased"`, tc.erased, tc.note, "account.invite")
		so.setLang(tc.lang)
		q := opcGet(t, so, "/audit?purpose=erasure+check&customer="+string(cust), http.StatusOK, `class="erased"`, tc.erased, tc.note)
		// er-ops's later entries (its language changes) are sealed under
		// a new key and show; the invitation's login ID and address do not.
		for _, body := range []string{p.body, q.body} {
			if strings.Contains(body, "er-new") {
				t.Errorf("%s: an erased login ID or address is still shown", tc.lang)
			}
		}
	}

	var l struct{ Items []audit.Entry }
	soAPI.expect(http.StatusOK, "GET", "/api/v1/audit?purpose=erasure+check&customer="+string(cust)+"&limit=500", nil).json(t, &l)
	erased := 0
	for _, it := range l.Items {
		if it.Action == "account.invite" && it.Detail["login_id"] == audit.ErasedMark {
			erased++
			if (it.ActorKind == "customer") != (it.ActorName == audit.ErasedMark) || it.Sealed == "" || len(it.SealedFields) == 0 {
				t.Errorf("erased entry through the API = %+v", it)
			}
		}
		if audit.Hash(it) != it.Hash {
			t.Errorf("entry %d: the API's entry does not hash to its hash", it.Seq)
		}
	}
	if erased == 0 {
		t.Error("the API shows no erased invitation")
	}
	var v list[evidence.Verdict]
	soAPI.expect(http.StatusOK, "GET", "/api/v1/audit/verify", nil).json(t, &v)
	for _, vd := range v.Items {
		if !vd.Intact {
			t.Errorf("the chain after erasure: %+v", vd)
		}
	}
	if len(v.Items) == 0 {
		t.Error("no chain verified")
	}
}
