package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/lifecycle"
	"github.com/tsunagi-net/tsunagi/internal/signing"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// TestPurgePages: the erasure of a terminated customer through the job,
// then its pages and API in both languages, the refused and the accepted
// rotation, the roles without permission and another customer's erasure.
func TestPurgePages(t *testing.T) {
	t.Parallel()
	o := startOpcEnv(t)
	ctx := o.seed
	cu, err := o.cat.CreateCustomer(ctx, catalog.CustomerInput{Name: "消去 株式会社"})
	o.must("customer", err)
	op := tenanttest.Operator(cu.ID)
	k, err := o.cat.CreateContract(ctx, op, catalog.ContractInput{Plan: "smart-hub"})
	o.must("contract", err)
	admin := o.account(cu.ID, "gone-admin", identity.RoleOpsAdmin, opcPW)
	_, err = o.cat.CancelContract(ctx, op, k.ServiceCode, catalog.CancelInput{TerminationDate: clock.Today(), Reason: "moving"})
	o.must("cancel", err)
	other, err := o.cat.CreateCustomer(ctx, catalog.CustomerInput{Name: "Still Here Ltd"})
	o.must("customer", err)
	o.account(other.ID, "still-user", identity.RoleUser, opcPW)
	certPath := "/api/v1/customers/" + string(cu.ID) + "/deletion-certificate"

	opcGet(t, o.op, "/erasures", http.StatusOK, "消去が始まった顧客はまだありません。")
	opcGet(t, o.op, "/erasures/"+string(cu.ID), http.StatusOK, "に消去予定")
	o.opAPI.expect(http.StatusNotFound, "GET", certPath, nil)

	// Day 30 after the termination date: the job erases the customer.
	day30 := time.Now().AddDate(0, 0, 30)
	o.purger.Now = func() time.Time { return day30 }
	o.jobs.Now = o.purger.Now
	_, err = o.jobs.RunDue(ctx)
	o.must("run jobs", err)
	if n := o.outboxCount(admin.Email, "customer.erasure"); n != 1 {
		t.Fatalf("%d erasure notices to the operations administrator, want 1", n)
	}

	// The API: the certificate verifies with the key published, without
	// sign-in, on the customer listener.
	doc := o.opAPI.expect(http.StatusOK, "GET", certPath, nil).body
	var keys struct{ Items []signing.PublicKey }
	o.client(o.customer).expect(http.StatusOK, "GET", "/api/v1/signing-keys", nil).json(t, &keys)
	if err := lifecycle.VerifyCertificate(keys.Items, doc); err != nil {
		t.Fatalf("certificate from the API: %v\n%s", err, doc)
	}
	var c lifecycle.Certificate
	o.must("certificate", json.Unmarshal(doc, &c))
	var list struct{ Items []lifecycle.Erasure }
	o.soAPI.expect(http.StatusOK, "GET", "/api/v1/erasures?limit=1", nil).json(t, &list)
	if len(list.Items) != 1 || list.Items[0].CustomerID != string(cu.ID) || list.Items[0].FinishedAt == nil {
		t.Fatalf("erasures %+v", list.Items)
	}

	// The pages, in Japanese and English.
	base := "/erasures/" + string(cu.ID)
	opcGet(t, o.op, "/erasures", http.StatusOK, "消去 株式会社", "消去済み", `href="`+base+`"`)
	opcGet(t, o.op, base, http.StatusOK, "データ消去証明書", c.Signature.KeyID, "アカウント", `href="`+certPath+`"`)
	opcGet(t, o.op, "/customers/"+string(cu.ID), http.StatusOK, `id="purge-customer"`, "消去の詳細と証明書")
	expectPage(t, "language", o.op.post("/language", url.Values{"lang": {"en"}, "next": {"/erasures"}}), http.StatusSeeOther)
	opcGet(t, o.op, "/erasures", http.StatusOK, "Erasure after termination", "Erased")
	opcGet(t, o.op, base, http.StatusOK, "Deletion certificate", "Download the certificate (JSON)", c.Signature.KeyID)
	// The download is the API's answer, which the page's session reaches.
	dl := o.op.get(certPath)
	if dl.code != http.StatusOK || dl.body != string(doc) {
		t.Fatalf("download: %d, equal to the API's %v", dl.code, dl.body == string(doc))
	}

	// Another customer, under contract: nothing to erase, no certificate;
	// an unknown customer is 404.
	opcGet(t, o.op, "/erasures/"+string(other.ID), http.StatusOK, "Under contract (no erasure due)")
	o.opAPI.expect(http.StatusNotFound, "GET", "/api/v1/customers/"+string(other.ID)+"/deletion-certificate", nil)
	opcGet(t, o.op, "/erasures/cus_aaaaaaaaaaaaaaaaaaaaaaaaaa", http.StatusNotFound)

	// The keys: everyone signed in sees them; only the security officer
	// rotates, and only once the box is ticked.
	opcGet(t, o.op, "/signing-keys", http.StatusOK, c.Signature.KeyID)
	if p := o.op.post("/signing-keys/rotate", url.Values{"confirm": {"yes"}}); p.code != http.StatusForbidden {
		t.Fatalf("operator rotates: %d", p.code)
	}
	p := o.so.post("/signing-keys/rotate", url.Values{})
	expectPage(t, "refused rotation", p, http.StatusBadRequest, "署名鍵の更新を確認するチェックボックスを選択してください。", `aria-invalid="true"`)
	if n := o.count(o.soAPI, "/api/v1/signing-keys"); n != 1 {
		t.Fatalf("%d keys after a refused rotation, want 1", n)
	}
	expectRedirect(t, "rotation", o.so.post("/signing-keys/rotate", url.Values{"confirm": {"yes"}}), "/signing-keys")
	opcGet(t, o.so, "/signing-keys", http.StatusOK, "署名鍵を更新しました。", "退役", "使用中")
	o.client(o.mgmt).expect(http.StatusOK, "GET", "/api/v1/signing-keys", nil).json(t, &keys)
	if len(keys.Items) != 2 || keys.Items[0].RetiredAt == nil {
		t.Fatalf("keys after rotation: %+v", keys.Items)
	}
	if err := lifecycle.VerifyCertificate(keys.Items, doc); err != nil {
		t.Fatalf("the certificate no longer verifies after the rotation: %v", err)
	}
	if !o.auditHas("signing_key.rotate", "ok") {
		t.Fatal("the rotation is not audited")
	}
	o.soAPI.expect(http.StatusCreated, "POST", "/api/v1/signing-keys/rotate", nil)
	o.opAPI.expect(http.StatusForbidden, "POST", "/api/v1/signing-keys/rotate", nil)

	// A customer's account: the keys page, linked from the documents;
	// no erasure pages on its listener.
	cc := o.pageClient(o.customer)
	cc.login("still-user", opcPW)
	expectPage(t, "documents", cc.get("/docs"), http.StatusOK, `href="/signing-keys"`)
	expectPage(t, "customer keys page", cc.get("/signing-keys"), http.StatusOK, keys.Items[1].ID)
	expectPage(t, "customer erasures", cc.get("/erasures"), http.StatusNotFound)
	uc := o.client(o.customer)
	uc.login("still-user", opcPW)
	uc.expect(http.StatusNotFound, "GET", certPath, nil)
}
