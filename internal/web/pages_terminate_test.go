package web

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/schedule"
)

// TestTerminationNotices: an operator cancels a customer's last contract
// through the API. The customer's ops-admin is mailed; its start page and
// contract page carry the notice with the termination date, day 1 and the
// erasure deadline (ja and en) and its API shows the dates; another
// customer sees no notice; the operator's customer page shows the
// lifecycle. On day 1 the customer.end job ends the customer: the operator
// page shows when, and the customer's session, token and password answer
// 401.
func TestTerminationNotices(t *testing.T) {
	t.Parallel()
	o := startOpcEnv(t)
	e := o.idEnv
	cu, err := e.cat.CreateCustomer(e.seed, catalog.CustomerInput{Name: "Leaving K.K."})
	e.must("customer", err)
	stay, err := e.cat.CreateCustomer(e.seed, catalog.CustomerInput{Name: "Staying K.K."})
	e.must("customer", err)
	const pw = "leaving customer passphrase 3"
	e.account(cu.ID, "leaving-ops", identity.RoleOpsAdmin, pw)
	e.account(stay.ID, "staying-ops", identity.RoleOpsAdmin, pw)
	var k catalog.Contract
	o.opAPI.expect(http.StatusCreated, "POST", "/api/v1/customers/"+string(cu.ID)+"/contracts", map[string]string{"plan": "smart-hub"}).json(t, &k)
	// The staying customer has two contracts and cancels one: it stays
	// active.
	var s1 catalog.Contract
	o.opAPI.expect(http.StatusCreated, "POST", "/api/v1/customers/"+string(stay.ID)+"/contracts", map[string]string{"plan": "smart-hub"}).json(t, &s1)
	o.opAPI.expect(http.StatusCreated, "POST", "/api/v1/customers/"+string(stay.ID)+"/contracts", map[string]string{"plan": "smart-hub"})

	d := clock.Today()
	one, due := catalog.DayOne(d), catalog.PurgeDueOn(d)
	o.opAPI.expect(http.StatusOK, "POST", "/api/v1/customers/"+string(cu.ID)+"/contracts/"+k.ServiceCode+"/cancel",
		map[string]string{"termination_date": d, "reason": "moving out"})
	o.opAPI.expect(http.StatusOK, "POST", "/api/v1/customers/"+string(stay.ID)+"/contracts/"+s1.ServiceCode+"/cancel",
		map[string]string{"termination_date": d, "reason": "one less"})

	mails, err := e.idn.Outbox().List(e.seed, "", "", 500)
	e.must("outbox", err)
	told := 0
	for _, m := range mails {
		if m.Cause == "contract.cancel" {
			told++
			if m.Recipient != "leaving-ops@example.co.jp" {
				t.Errorf("termination mail to %s", m.Recipient)
			}
		}
	}
	if told != 1 {
		t.Errorf("%d termination mails, want 1", told)
	}

	api := e.client(e.customer)
	api.login("leaving-ops", pw)
	token := api.newToken("automation", "")
	staying := e.client(e.customer)
	staying.login("staying-ops", pw)
	var own catalog.Customer
	api.expect(http.StatusOK, "GET", "/api/v1/customer", nil).json(t, &own)
	if own.TerminatedOn != d || own.EndsOn != one || own.PurgeDueOn != due || own.EndedAt != nil {
		t.Errorf("GET /api/v1/customer: %+v", own)
	}
	var kk catalog.Contract
	api.expect(http.StatusOK, "GET", "/api/v1/contracts/"+k.ServiceCode, nil).json(t, &kk)
	if kk.TerminationDate != d || kk.EndsOn != one || kk.PurgeDueOn != due {
		t.Errorf("GET /api/v1/contracts/%s: %+v", k.ServiceCode, kk)
	}

	// The notice says what the purge erases and what it keeps.
	for _, tc := range []struct{ lang, title, service, kept string }{
		{"ja", "ご契約は終了します", "の終わりまで、これまでどおり", "契約の記録と、個人情報を除いた監査ログは引き続き保管されます"},
		{"en", "Your service is ending", "The service continues as before until the end of " + d,
			"the contract record and the audit log (without personal data) are kept"},
	} {
		// Once signed in, the account's language wins.
		for _, a := range []*client{api, staying, o.opAPI} {
			a.expect(http.StatusNoContent, "PUT", "/api/v1/me/language", map[string]string{"language": tc.lang})
		}
		c := e.pageClient(e.customer)
		c.Lang = tc.lang
		c.login("leaving-ops", pw)
		for _, path := range []string{"/", "/contracts/" + k.ServiceCode} {
			expectPage(t, tc.lang+" "+path, c.get(path), http.StatusOK, `id="term-notice"`, tc.title, tc.service, tc.kept, one, due, `href="/export"`)
		}
		other := e.pageClient(e.customer)
		other.Lang = tc.lang
		other.login("staying-ops", pw)
		if p := other.get("/"); p.code != http.StatusOK || strings.Contains(p.body, "term-notice") {
			t.Errorf("%s: an active customer with a cancelled contract sees a notice (%d)", tc.lang, p.code)
		}
		o.op.Lang = tc.lang
		want := map[string]string{"ja": "まだです", "en": "Not yet"}[tc.lang]
		opcGet(t, o.op, "/customers/"+string(cu.ID), http.StatusOK, `id="term-lifecycle"`, d, one, due, want)
	}
	if p := o.op.get("/customers/" + string(stay.ID)); strings.Contains(p.body, "term-lifecycle") {
		t.Error("the staying customer's page shows a lifecycle")
	}

	// Day 1.
	day1, err := clock.ParseDate(one)
	e.must("day 1", err)
	e.jobs.Now = func() time.Time { return day1.Add(5 * time.Second).UTC() }
	runs, err := e.jobs.RunDue(e.seed)
	e.must("run", err)
	ended := false
	for _, r := range runs {
		if r.Job == identity.EndJobName && r.Done == 1 {
			ended = true
		}
	}
	if !ended {
		t.Fatalf("day-1 runs %+v: the customer was not ended", runs)
	}
	o.op.Lang = "en"
	p := opcGet(t, o.op, "/customers/"+string(cu.ID), http.StatusOK, `id="term-lifecycle"`)
	if strings.Contains(p.body, "Not yet") {
		t.Error("the operator page does not show the customer ended")
	}
	api.expect(http.StatusUnauthorized, "GET", "/api/v1/customer", nil)
	tc := e.client(e.customer)
	tc.token = token
	tc.expect(http.StatusUnauthorized, "GET", "/api/v1/customer", nil)
	e.client(e.customer).expect(http.StatusUnauthorized, "POST", "/api/v1/session", map[string]string{"login_id": "leaving-ops", "password": pw})
	var jr struct{ Items []schedule.Run }
	o.opAPI.expect(http.StatusOK, "GET", "/api/v1/job-runs?job="+identity.EndJobName, nil).json(t, &jr)
	if len(jr.Items) == 0 {
		t.Error("the job runs list shows no customer.end run")
	}
}
