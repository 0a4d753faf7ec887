package identity

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/mailtest"
	"github.com/tsunagi-net/tsunagi/internal/schedule"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// credentials are what a signed-in account holds.
type credentials struct {
	login, session, token string
}

const endPassword = "fixture passphrase 99"

// signedIn makes an active ops-admin of cust with a live session and an API
// token.
func (f fixture) signedIn(t *testing.T, cust catalog.CustomerID, login string) credentials {
	t.Helper()
	_, p := f.active(t, cust, login, RoleOpsAdmin)
	_, tok, err := f.svc.CreateToken(f.ctx, p, TokenInput{Name: "automation", ExpiresAt: time.Now().Add(30 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	sec, _, err := f.svc.Login(f.ctx, CustomerSide, login, endPassword, "test")
	if err != nil {
		t.Fatal(err)
	}
	return credentials{login: login, session: sec, token: tok}
}

// terminate gives cust one contract and cancels it with termination date d.
func (f fixture) terminate(t *testing.T, cust catalog.CustomerID, d string) {
	t.Helper()
	op := tenanttest.Operator(cust)
	k, err := f.cat.CreateContract(f.ctx, op, catalog.ContractInput{Plan: "smart-hub"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.cat.CancelContract(f.ctx, op, k.ServiceCode, catalog.CancelInput{TerminationDate: d, Reason: "moving"}); err != nil {
		t.Fatal(err)
	}
}

// works reports which of c's credentials still authenticate: nil when all
// three do, else the first refusal.
func (f fixture) works(c credentials) error {
	if _, err := f.svc.AuthenticateSession(f.ctx, CustomerSide, c.session); err != nil {
		return fmt.Errorf("session: %w", err)
	}
	if _, err := f.svc.AuthenticateToken(f.ctx, CustomerSide, c.token); err != nil {
		return fmt.Errorf("token: %w", err)
	}
	sec, _, err := f.svc.Login(f.ctx, CustomerSide, c.login, endPassword, "test")
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	return f.svc.EndSessionSecret(f.ctx, sec)
}

func countAudit(t *testing.T, db *store.DB, action, cust string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), `SELECT COUNT(*) FROM audit_events WHERE action = ? AND customer_id = ?`,
		action, cust).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// jst is hh:mm:ss on date d in JST.
func jst(t *testing.T, d string, hh, mm, ss int) time.Time {
	t.Helper()
	day, err := clock.ParseDate(d)
	if err != nil {
		t.Fatal(err)
	}
	return time.Date(day.Year(), day.Month(), day.Day(), hh, mm, ss, 0, clock.JST).UTC()
}

// TestCustomerEnd: a customer whose last contract ends on D keeps every
// credential through D — the job finds nothing due before or on D — and on
// D+1 the job ends it once: its session and token answer 401 like revoked
// ones, its password login gets the bad-login answer, each refusal is
// audited, its pending links are gone. Another customer is untouched. The
// termination mail reached the ops-admin in its language.
func TestCustomerEnd(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		f.cat.OnTerminated(f.svc.MailTermination)
		other, err := f.cat.CreateCustomer(f.ctx, catalog.CustomerInput{Name: "Stays K.K."})
		if err != nil {
			t.Fatal(err)
		}
		ends := f.signedIn(t, f.cust, "ends-ops")
		stays := f.signedIn(t, other.ID, "stays-ops")
		// A pending invitation of the ending customer.
		if _, err := f.svc.Invite(f.ctx, tenanttest.Customer(f.cust), InviteInput{LoginID: "late-invite", DisplayName: "Late",
			Email: "late@example.jp", Role: RoleUser}); err != nil {
			t.Fatal(err)
		}
		d := clock.Today()
		f.terminate(t, f.cust, d)
		// A contract of the other customer cancelled later on leaves it active.
		op := tenanttest.Operator(other.ID)
		if _, err := f.cat.CreateContract(f.ctx, op, catalog.ContractInput{Plan: "smart-hub"}); err != nil {
			t.Fatal(err)
		}

		mails, err := f.svc.Outbox().List(f.ctx, "", "", 100)
		if err != nil {
			t.Fatal(err)
		}
		notices := 0
		for _, m := range mails {
			if m.Cause == "contract.cancel" {
				notices++
				if m.Recipient != "ends-ops@example.jp" || m.CustomerID != string(f.cust) {
					t.Errorf("termination notice: %+v", m)
				}
				// It says what the purge erases and what it keeps.
				_, body, err := f.svc.Outbox().Get(f.ctx, m.ID)
				kept := map[string]string{"en": "The contract record and the audit log (without personal data) are kept.",
					"ja": "契約の記録と、個人情報を除いた監査ログは引き続き保管されます。"}[m.Language]
				if err != nil || kept == "" || !strings.Contains(body, kept) {
					t.Errorf("termination notice in %q: %v\n%s", m.Language, err, body)
				}
			}
		}
		if notices != 1 {
			t.Errorf("%d termination notices, want 1 (the one ops-admin)", notices)
		}

		var now time.Time
		s, err := schedule.New(db, audit.New(db), "ctl", f.svc.EndJob())
		if err != nil {
			t.Fatal(err)
		}
		s.Now = func() time.Time { return now }
		run := func(at time.Time) schedule.Run {
			t.Helper()
			now = at
			runs, err := s.RunDue(f.ctx)
			if err != nil || len(runs) != 1 {
				t.Fatalf("runs at %s = %+v, %v; want one", clock.Show(at), runs, err)
			}
			return runs[0]
		}

		// The day before and the last second of D: nothing is due.
		for _, at := range []time.Time{jst(t, d, 0, 0, 1).Add(-12 * time.Hour), jst(t, d, 23, 59, 59)} {
			if r := run(at); r.Due != 0 || r.Done != 0 {
				t.Errorf("run at %s: %+v; want nothing due", clock.Show(at), r)
			}
			if err := f.works(ends); err != nil {
				t.Errorf("on or before D: %v", err)
			}
		}
		if n := countAudit(t, db, "customer.end", string(f.cust)); n != 0 {
			t.Fatalf("ended on D: %d entries", n)
		}

		// Day 1.
		if r := run(jst(t, catalog.DayOne(d), 0, 0, 5)); r.Due != 1 || r.Done != 1 || r.Outcome != schedule.OK {
			t.Fatalf("day 1 run: %+v", r)
		}
		cu, err := f.cat.OwnCustomer(f.ctx, tenanttest.Customer(f.cust))
		if err != nil || cu.EndedAt == nil || cu.EndsOn != catalog.DayOne(d) {
			t.Fatalf("customer after day 1: %+v, %v", cu, err)
		}
		if _, err := f.svc.AuthenticateSession(f.ctx, CustomerSide, ends.session); !fault.Is(err, fault.Unauthorized) {
			t.Errorf("session after day 1: %v; want 401", err)
		}
		if _, err := f.svc.AuthenticateToken(f.ctx, CustomerSide, ends.token); !fault.Is(err, fault.Unauthorized) {
			t.Errorf("token after day 1: %v; want 401", err)
		}
		_, _, err = f.svc.Login(f.ctx, CustomerSide, ends.login, endPassword, "test")
		if !errors.Is(err, errLogin) {
			t.Errorf("login after day 1: %v; want the bad-login answer", err)
		}
		if n := countAudit(t, db, "access.denied.ended", string(f.cust)); n != 1 {
			// The session and token rows are gone: only the login reaches the check.
			t.Errorf("%d refusals audited, want 1 (the login)", n)
		}
		for table, q := range map[string]string{
			"sessions":     `SELECT COUNT(*) FROM sessions WHERE account_id IN (SELECT id FROM accounts WHERE customer_id = ?)`,
			"api_tokens":   `SELECT COUNT(*) FROM api_tokens WHERE account_id IN (SELECT id FROM accounts WHERE customer_id = ?)`,
			"setup_tokens": `SELECT COUNT(*) FROM setup_tokens WHERE used_at IS NULL AND account_id IN (SELECT id FROM accounts WHERE customer_id = ?)`,
		} {
			var n int
			if err := db.QueryRow(f.ctx, q, f.cust).Scan(&n); err != nil || n != 0 {
				t.Errorf("%s left after day 1: %d, %v", table, n, err)
			}
		}
		if err := f.works(stays); err != nil {
			t.Errorf("the other customer: %v", err)
		}
		if n := countAudit(t, db, "customer.end", string(f.cust)); n != 1 {
			t.Errorf("%d customer.end entries, want 1", n)
		}
		// A later run finds it done.
		if r := run(jst(t, catalog.DayOne(d), 0, 0, 5).Add(24 * time.Hour)); r.Due != 0 {
			t.Errorf("the next day's run: %+v", r)
		}
	})
}

// TestEndedRefusedWithSurvivingSession: a session, token or link that
// somehow survived the end (written by a restore, or by a request racing the
// job) still does not authenticate nor set a password: the check is in the
// principal's loading path and in the link's, and each refusal is audited.
func TestEndedRefusedWithSurvivingSession(t *testing.T) {
	db := storetest.SQLite(t)
	f := newFixture(t, db)
	c := f.signedIn(t, f.cust, "survivor")
	if err := f.works(c); err != nil {
		t.Fatal(err)
	}
	// Links issued before the end: a reset link of the survivor and an
	// invitation.
	if err := f.svc.RequestReset(f.ctx, CustomerSide, ResetInput{LoginID: c.login}); err != nil {
		t.Fatal(err)
	}
	reset, ok := mailtest.FindLinkToken(t, f.svc.Outbox(), c.login+"@example.jp", "password.reset.request")
	if !ok {
		t.Fatal("no reset link")
	}
	if _, err := f.svc.Invite(f.ctx, tenanttest.Customer(f.cust), InviteInput{LoginID: "survivor-invite", DisplayName: "Late",
		Email: "survivor-invite@example.jp", Role: RoleUser}); err != nil {
		t.Fatal(err)
	}
	invite, ok := mailtest.FindLinkToken(t, f.svc.Outbox(), "survivor-invite@example.jp", "account.invite")
	if !ok {
		t.Fatal("no invitation link")
	}
	// Ended without the job's cleanup.
	if _, err := db.Exec(f.ctx, `UPDATE customers SET status = 'terminated', terminated_on = '2026-01-01', ended_at = ? WHERE id = ?`,
		clock.Store(clock.Now()), f.cust); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AuthenticateSession(f.ctx, CustomerSide, c.session); !errors.Is(err, errAuth) {
		t.Errorf("session: %v; want the revoked-session answer", err)
	}
	if _, err := f.svc.AuthenticateToken(f.ctx, CustomerSide, c.token); !errors.Is(err, errAuth) {
		t.Errorf("token: %v; want the revoked-token answer", err)
	}
	if _, _, err := f.svc.Login(f.ctx, CustomerSide, c.login, endPassword, "test"); !errors.Is(err, errLogin) {
		t.Errorf("login: %v; want the bad-login answer", err)
	}
	if n := countAudit(t, db, "access.denied.ended", string(f.cust)); n != 3 {
		t.Errorf("%d refusals audited, want 3", n)
	}
	// The surviving links set no password: the answer to a void link.
	_, void := f.svc.CompleteSetup(f.ctx, CustomerSide, SetupInput{Token: "tsu_no_such_link", Password: "a new passphrase 42"})
	for name, tok := range map[string]string{"reset": reset, "invite": invite} {
		_, err := f.svc.CompleteSetup(f.ctx, CustomerSide, SetupInput{Token: tok, Password: "a new passphrase 42"})
		if err == nil || err.Error() != void.Error() || !fault.Is(err, fault.NotFound) {
			t.Errorf("%s link: %v; want the void-link answer %v", name, err, void)
		}
	}
	var refused int
	if err := db.QueryRow(f.ctx, `SELECT COUNT(*) FROM audit_events WHERE action = 'account.setup' AND customer_id = ?
		AND result = ?`, f.cust, audit.Denied).Scan(&refused); err != nil || refused != 2 {
		t.Errorf("%d refused setups audited for the customer, %v; want 2", refused, err)
	}
	// Nor does a password reset mail a link.
	if err := f.svc.RequestReset(f.ctx, CustomerSide, ResetInput{LoginID: c.login}); err != nil {
		t.Fatal(err)
	}
	if n := countMails(t, db, c.login+"@example.jp", "password.reset.request"); n != 1 {
		t.Errorf("%d reset links mailed, want 1 (the one before the end)", n)
	}
}

func countMails(t *testing.T, db *store.DB, to, cause string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), `SELECT COUNT(*) FROM mail_outbox WHERE recipient = ? AND cause = ?`,
		to, cause).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestEndedBeforeTheJob: from day 1 a customer's accounts are refused even
// when the job has not ended it (its item failed, or it has not run yet):
// password login, session and token.
func TestEndedBeforeTheJob(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		c := f.signedIn(t, f.cust, "early-ops")
		f.terminate(t, f.cust, clock.Today())
		if err := f.works(c); err != nil {
			t.Fatalf("on the termination date: %v", err)
		}
		// The termination date is past and the job has not run.
		yesterday := time.Now().In(clock.JST).AddDate(0, 0, -1).Format(clock.DateLayout)
		if _, err := db.Exec(f.ctx, `UPDATE customers SET terminated_on = ? WHERE id = ?`, yesterday, f.cust); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.AuthenticateSession(f.ctx, CustomerSide, c.session); !errors.Is(err, errAuth) {
			t.Errorf("session: %v; want the revoked-session answer", err)
		}
		if _, err := f.svc.AuthenticateToken(f.ctx, CustomerSide, c.token); !errors.Is(err, errAuth) {
			t.Errorf("token: %v; want the revoked-token answer", err)
		}
		if _, _, err := f.svc.Login(f.ctx, CustomerSide, c.login, endPassword, "test"); !errors.Is(err, errLogin) {
			t.Errorf("login: %v; want the bad-login answer", err)
		}
		if n := countAudit(t, db, "access.denied.ended", string(f.cust)); n != 3 {
			t.Errorf("%d refusals audited, want 3", n)
		}
	})
}

// TestCustomerEndRetried: an item that fails leaves the customer due; the
// run is recorded failed, and the retry ends it.
func TestCustomerEndRetried(t *testing.T) {
	db := storetest.SQLite(t)
	f := newFixture(t, db)
	c := f.signedIn(t, f.cust, "retry-ops")
	d := clock.Today()
	f.terminate(t, f.cust, d)
	job := f.svc.EndJob()
	do, fail := job.Do, true
	job.Do = func(ctx context.Context, now time.Time, item string) (bool, error) {
		if fail {
			fail = false
			return false, errors.New("database went away")
		}
		return do(ctx, now, item)
	}
	s, err := schedule.New(db, audit.New(db), "ctl", job)
	if err != nil {
		t.Fatal(err)
	}
	now := jst(t, catalog.DayOne(d), 0, 0, 5)
	s.Now = func() time.Time { return now }
	runs, err := s.RunDue(f.ctx)
	if err == nil || len(runs) != 1 || runs[0].Outcome != schedule.Failed || runs[0].Failed != 1 {
		t.Fatalf("first run: %+v, %v; want one failed item", runs, err)
	}
	if err := f.works(c); err != nil {
		t.Fatalf("after the failed item the customer is not ended: %v", err)
	}
	now = now.Add(s.Retry)
	runs, err = s.RunDue(f.ctx)
	if err != nil || len(runs) != 1 || runs[0].Done != 1 {
		t.Fatalf("retry: %+v, %v; want the customer ended", runs, err)
	}
	if _, err := f.svc.AuthenticateSession(f.ctx, CustomerSide, c.session); !fault.Is(err, fault.Unauthorized) {
		t.Errorf("session after the retry: %v", err)
	}
}

// twoControllers returns two identity services with two schedulers of job
// (made from each service) over two handles of one PostgreSQL, sharing the
// fake clock now.
func twoControllers(t *testing.T, job func(*Service) schedule.Job, now func() time.Time) (*store.DB, []*Service, []*schedule.Scheduler) {
	t.Helper()
	dsn := storetest.PostgresDSN(t)
	// Controllers on one database share its secret key file.
	sharedKey := filepath.Join(t.TempDir(), "secret.key")
	var svcs []*Service
	var schs []*schedule.Scheduler
	var first *store.DB
	for i := range 2 {
		db, err := store.Open(context.Background(), store.Options{DSN: dsn, SecretKeyFile: sharedKey})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if first == nil {
			first = db
		}
		log := audit.New(db)
		svc := New(db, log, Config{Argon2: fastArgon})
		s, err := schedule.New(db, log, fmt.Sprintf("ctl-%d", i+1), job(svc))
		if err != nil {
			t.Fatal(err)
		}
		s.Now = now
		svcs, schs = append(svcs, svc), append(schs, s)
	}
	return first, svcs, schs
}

// race runs every scheduler's RunDue and, beside it, every item directly
// through do (as a controller whose lease expired mid-run would), a few
// rounds, and returns how many items the direct calls did.
func race(t *testing.T, schs []*schedule.Scheduler, items []string, do []func(context.Context, time.Time, string) (bool, error),
	now func() time.Time) int {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	direct := 0
	ctx := audit.WithActor(context.Background(), audit.System)
	for round := range 3 {
		for i, s := range schs {
			wg.Go(func() {
				if _, err := s.RunDue(ctx); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
			wg.Go(func() {
				for k := range items {
					ok, err := do[i](ctx, now(), items[(k+round+i)%len(items)])
					mu.Lock()
					if err != nil {
						errs = append(errs, err)
					}
					if ok {
						direct++
					}
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(errors.Join(errs...))
	}
	return direct
}

// doneByRuns sums the items the job's recorded runs did.
func doneByRuns(t *testing.T, db *store.DB, job string) int {
	t.Helper()
	runs, err := schedule.Runs(context.Background(), db, schedule.Query{Job: job})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range runs {
		if r.Outcome != schedule.OK {
			t.Errorf("run %+v", r)
		}
		n += int(r.Done)
	}
	return n
}

// TestCustomerEndTwoControllers: two controllers on one PostgreSQL, racing
// through their schedulers and direct item calls, end each due customer
// exactly once: one customer.end entry each, and the runs and direct calls
// add up to the customers.
func TestCustomerEndTwoControllers(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var at time.Time
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return at }
	db, svcs, schs := twoControllers(t, (*Service).EndJob, now)
	f := newFixture(t, db)
	f.svc = svcs[0]
	d := clock.Today()
	custs := []catalog.CustomerID{f.cust}
	for i := range 3 {
		cu, err := f.cat.CreateCustomer(f.ctx, catalog.CustomerInput{Name: fmt.Sprintf("Ends %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		custs = append(custs, cu.ID)
	}
	for _, c := range custs {
		f.terminate(t, c, d)
	}
	mu.Lock()
	at = jst(t, catalog.DayOne(d), 0, 0, 5)
	mu.Unlock()
	due, err := svcs[0].dueEnds(f.ctx, now())
	if err != nil || len(due) != len(custs) {
		t.Fatalf("due = %v, %v; want %d", due, err, len(custs))
	}
	direct := race(t, schs, due, []func(context.Context, time.Time, string) (bool, error){svcs[0].endCustomer, svcs[1].endCustomer}, now)
	for _, c := range custs {
		if n := countAudit(t, db, "customer.end", string(c)); n != 1 {
			t.Errorf("customer %s: %d customer.end entries, want 1", c, n)
		}
	}
	if got := direct + doneByRuns(t, db, EndJobName); got != len(custs) {
		t.Errorf("runs and direct calls did %d, want %d", got, len(custs))
	}
}

// TestTokenRemindersTwoControllers: the same race for the token reminder
// job: one reminder mail and one audit entry per expiring token.
func TestTokenRemindersTwoControllers(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	at := clock.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return at }
	db, svcs, schs := twoControllers(t, (*Service).TokenReminderJob, now)
	f := newFixture(t, db)
	f.svc = svcs[0]
	_, p := f.active(t, f.cust, "remind-race", RoleAdmin)
	for i := range 4 {
		if _, _, err := f.svc.CreateToken(f.ctx, p, TokenInput{Name: fmt.Sprintf("t%d", i), ExpiresAt: time.Now().Add(10 * 24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	due, err := svcs[0].dueReminders(f.ctx, now())
	if err != nil || len(due) != 4 {
		t.Fatalf("due = %v, %v; want 4", due, err)
	}
	direct := race(t, schs, due, []func(context.Context, time.Time, string) (bool, error){svcs[0].remindToken, svcs[1].remindToken}, now)
	var mails, entries int
	if err := db.QueryRow(f.ctx, `SELECT COUNT(*) FROM mail_outbox WHERE cause = 'token.remind' AND customer_id = ?`, f.cust).Scan(&mails); err != nil {
		t.Fatal(err)
	}
	entries = countAudit(t, db, "token.remind", string(f.cust))
	if mails != 4 || entries != 4 {
		t.Errorf("%d reminder mails and %d audit entries for 4 tokens, want 4 each", mails, entries)
	}
	if got := direct + doneByRuns(t, db, TokenReminderJobName); got != 4 {
		t.Errorf("runs and direct calls did %d, want 4", got)
	}
}

// TestFailedLoginInCustomerLog: a failed sign-in with a customer account's
// login ID is recorded under that customer on either listener (so that the
// purge erases it with the customer), with the same answer as any failure;
// an unknown login ID is recorded under no customer.
func TestFailedLoginInCustomerLog(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		f.active(t, f.cust, "wrong-door", RoleOpsAdmin)
		for _, try := range []struct {
			side       Side
			login, pwd string
		}{
			{CustomerSide, "wrong-door", "not the passphrase"},
			{OperatorSide, "wrong-door", "not the passphrase"},
			{OperatorSide, "wrong-door", endPassword},
			{OperatorSide, "nobody-here", endPassword},
		} {
			if _, _, err := f.svc.Login(f.ctx, try.side, try.login, try.pwd, "test"); !errors.Is(err, errLogin) {
				t.Errorf("%+v: %v; want the bad-login answer", try, err)
			}
		}
		var failed, orphans int
		if err := db.QueryRow(f.ctx, `SELECT COUNT(*) FROM audit_events WHERE action = 'session.login' AND result = ?
			AND customer_id = ?`, audit.Denied, f.cust).Scan(&failed); err != nil || failed != 3 {
			t.Errorf("%d failed sign-ins in the customer's log, %v; want 3", failed, err)
		}
		if err := db.QueryRow(f.ctx, `SELECT COUNT(*) FROM audit_events WHERE action = 'session.login' AND result = ?
			AND customer_id IS NULL`, audit.Denied).Scan(&orphans); err != nil || orphans != 1 {
			t.Errorf("%d failed sign-ins under no customer, %v; want 1 (the unknown login ID)", orphans, err)
		}
	})
}
