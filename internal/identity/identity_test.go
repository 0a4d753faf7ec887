package identity

import (
	"context"
	"strings"
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

func TestCommonPasswordList(t *testing.T) {
	if n := CommonPasswordCount(); n < 10000 {
		t.Fatalf("the embedded list holds %d passwords, want at least 10,000", n)
	}
}

func TestCheckPolicy(t *testing.T) {
	for _, tc := range []struct {
		pw   string
		ok   bool
		why  string
		user string
	}{
		{"correct horse battery staple", true, "", "alice"},
		{"短いけれど十分に長い日本語のパスワード", true, "", "alice"},
		{"short", false, "at least 12", "alice"},
		{"password1234", false, "too common", "alice"},
		{"Password123456!", false, "too common", "alice"},
		{"!!dragon2024!!", false, "too common", "alice"},
		{"monkeymonkeymonkey", false, "too common", "alice"},
		{"qwertyuiopasdfgh", true, "", "alice"}, // not itself on the list
		{"my name is alice and more", false, "login ID", "alice"},
		{strings.Repeat("a", 1025), false, "1024 bytes", "alice"},
		{"valid until \xff here", false, "valid text", "alice"},
		{"nul\x00 inside the password", false, "valid text", "alice"},
	} {
		err := CheckPolicy(tc.pw, tc.user)
		if (err == nil) != tc.ok {
			t.Errorf("CheckPolicy(%.30q) = %v, want ok=%v", tc.pw, err, tc.ok)
			continue
		}
		if err != nil && !strings.Contains(err.Error(), tc.why) {
			t.Errorf("CheckPolicy(%.30q) = %v, want mention of %q", tc.pw, err, tc.why)
		}
	}
}

func TestTokenRoleScope(t *testing.T) {
	for _, tc := range []struct {
		tok, acc Role
		ok       bool
	}{
		{RoleUser, RoleOpsAdmin, true}, {RoleAdmin, RoleOpsAdmin, true}, {RoleOpsAdmin, RoleAdmin, false},
		{RoleUser, RoleUser, true}, {RoleOperator, RoleOperator, true}, {RoleSecurityOfficer, RoleOperator, false},
		{RoleUser, RoleOperator, false},
	} {
		if got := within(tc.tok, tc.acc); got != tc.ok {
			t.Errorf("within(%s, %s) = %v", tc.tok, tc.acc, got)
		}
	}
}

var fastArgon = Argon2Params{MemoryKiB: 1024, Time: 1, Threads: 1}

type fixture struct {
	svc  *Service
	cat  *catalog.Catalog
	db   *store.DB
	ctx  context.Context
	cust catalog.CustomerID
}

func newFixture(t *testing.T, db *store.DB) fixture {
	t.Helper()
	log := audit.New(db)
	f := fixture{svc: New(db, log, Config{Argon2: fastArgon}), cat: catalog.New(db, log), db: db,
		ctx: audit.WithActor(context.Background(), audit.Actor{ID: "system", Kind: "system", Name: "test", SourceIP: "192.0.2.10"})}
	cu, err := f.cat.CreateCustomer(f.ctx, catalog.CustomerInput{Name: "Fixture K.K."})
	if err != nil {
		t.Fatal(err)
	}
	f.cust = cu.ID
	return f
}

func (f fixture) active(t *testing.T, cust catalog.CustomerID, login string, role Role) (Account, Principal) {
	t.Helper()
	in := InviteInput{LoginID: login, DisplayName: login, Email: login + "@example.jp", Role: role}
	var a Account
	var err error
	if cust == "" {
		a, _, err = f.svc.SeedStaff(f.ctx, in)
	} else {
		a, err = f.svc.Invite(f.ctx, tenanttest.Customer(cust), in)
	}
	if err != nil {
		t.Fatal(err)
	}
	tok := mailtest.LinkToken(t, f.svc.Outbox(), a.Email, "account.invite")
	side := CustomerSide
	if cust == "" {
		side = OperatorSide
	}
	if _, err := f.svc.CompleteSetup(f.ctx, side, SetupInput{Token: tok, Password: "fixture passphrase 99"}); err != nil {
		t.Fatal(err)
	}
	_, p, err := f.svc.Login(f.ctx, side, login, "fixture passphrase 99", "test")
	if err != nil {
		t.Fatal(err)
	}
	return a, p
}

func TestTokenReminders(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		_, p := f.active(t, f.cust, "remind-me", RoleAdmin)
		soon, _, err := f.svc.CreateToken(f.ctx, p, TokenInput{Name: "soon", ExpiresAt: time.Now().Add(10 * 24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.svc.CreateToken(f.ctx, p, TokenInput{Name: "later", ExpiresAt: time.Now().Add(60 * 24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		// The job twice, an hour apart: the second run finds the reminder sent.
		sch, err := schedule.New(db, audit.New(db), "ctl", f.svc.TokenReminderJob())
		if err != nil {
			t.Fatal(err)
		}
		now := clock.Now()
		sch.Now = func() time.Time { return now }
		for i, want := range []int64{1, 0} {
			runs, err := sch.RunDue(f.ctx)
			if err != nil || len(runs) != 1 || runs[0].Done != want || runs[0].Outcome != schedule.OK {
				t.Fatalf("run %d: %+v, %v; want %d reminder", i, runs, err, want)
			}
			now = now.Add(time.Hour + time.Second)
		}
		items, err := f.svc.Outbox().List(context.Background(), "", "", 100)
		if err != nil {
			t.Fatal(err)
		}
		var reminders int
		for _, it := range items {
			if it.Cause == "token.remind" {
				reminders++
				if it.Recipient != "remind-me@example.jp" || string(f.cust) != it.CustomerID || !strings.Contains(it.Subject, "soon") {
					t.Errorf("reminder: %+v", it)
				}
			}
		}
		if reminders != 1 {
			t.Errorf("%d reminders for token %s, want exactly 1", reminders, soon.ID)
		}
	})
}

func TestBreakGlass(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		_, op := f.active(t, "", "op-one", RoleOperator)
		_, so := f.active(t, "", "so-one", RoleSecurityOfficer)
		if _, err := f.svc.activeGrant(f.ctx, op, f.cust); !fault.Is(err, fault.Forbidden) {
			t.Fatalf("no grant yet: %v", err)
		}
		if _, err := f.svc.OpenBreakGlass(f.ctx, op, tenanttest.Operator(f.cust), BreakGlassInput{Reason: "short"}); !fault.Is(err, fault.Invalid) {
			t.Fatalf("short reason: %v", err)
		}
		if _, err := f.svc.OpenBreakGlass(f.ctx, so, tenanttest.Operator(f.cust), BreakGlassInput{Reason: "security officer wants in"}); !fault.Is(err, fault.Forbidden) {
			t.Fatalf("security officer: %v", err)
		}
		g, err := f.svc.OpenBreakGlass(f.ctx, op, tenanttest.Operator(f.cust), BreakGlassInput{Reason: "incident INC-42: BGP session flapping"})
		if err != nil {
			t.Fatal(err)
		}
		if d := g.ExpiresAt.Sub(g.CreatedAt); d != DefaultBreakGlassTTL {
			t.Errorf("default limit %v", d)
		}
		got, err := f.svc.activeGrant(f.ctx, op, f.cust)
		if err != nil || got.ID != g.ID {
			t.Fatalf("active grant: %v %v", got, err)
		}
		if err := f.svc.RecordBreakGlassAccess(f.ctx, got, "GET /api/v1/customers/x/config"); err != nil {
			t.Fatal(err)
		}
		entries, err := audit.New(db).List(context.Background(), audit.OfChain(string(f.cust)).Page(0, 1000))
		if err != nil {
			t.Fatal(err)
		}
		var opened, accessed bool
		for _, e := range entries {
			if e.Action == "breakglass.open" && e.Reason == g.Reason && e.OnBehalfOf == string(f.cust) {
				opened = true
			}
			if e.Action == "breakglass.access" && e.Reason == g.Reason {
				accessed = true
			}
		}
		if !opened || !accessed {
			t.Errorf("the customer's audit log misses the grant (%v) or the access (%v)", opened, accessed)
		}
		// Expired grants do not count.
		if _, err := db.Exec(context.Background(), `UPDATE break_glass_grants SET expires_at = ?`, clock.Store(time.Now().Add(-time.Second))); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.activeGrant(f.ctx, op, f.cust); !fault.Is(err, fault.Forbidden) {
			t.Fatalf("expired grant still active: %v", err)
		}
	})
}

// TestUnknownLoginTiming checks that an unknown login ID costs the same
// argon2id work as a wrong password (the default parameters). The bounds are
// wide because CI shares its cores; without the dummy hash the ratio is ~0.
func TestUnknownLoginTiming(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	db := storetest.SQLite(t)
	log := audit.New(db)
	svc := New(db, log, Config{LockAfter: 1000, IPMaxFailures: 100000})
	ctx := audit.WithActor(context.Background(), audit.Actor{ID: "system", Kind: "system", Name: "test", SourceIP: "192.0.2.1"})
	cu, err := catalog.New(db, log).CreateCustomer(ctx, catalog.CustomerInput{Name: "Timing"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Invite(ctx, tenanttest.Customer(cu.ID), InviteInput{LoginID: "timing-user", DisplayName: "t", Email: "t@example.jp", Role: RoleUser}); err != nil {
		t.Fatal(err)
	}
	tok := mailtest.LinkToken(t, svc.Outbox(), "t@example.jp", "account.invite")
	if _, err := svc.CompleteSetup(ctx, CustomerSide, SetupInput{Token: tok, Password: "timing passphrase 1"}); err != nil {
		t.Fatal(err)
	}
	// Interleaved, so that load from elsewhere on the machine hits both
	// alike; the fastest of each is compared.
	known, unknown := time.Hour, time.Hour
	for range 7 {
		for _, id := range []string{"timing-user", "timing-nobody"} {
			t0 := time.Now()
			_, _, _ = svc.Login(ctx, CustomerSide, id, "wrong passphrase", "t")
			d := time.Since(t0)
			if id == "timing-user" {
				known = min(known, d)
			} else {
				unknown = min(unknown, d)
			}
		}
	}
	ratio := float64(unknown) / float64(known)
	t.Logf("wrong password %v, unknown ID %v (ratio %.2f)", known, unknown, ratio)
	if ratio < 0.5 || ratio > 2 {
		t.Errorf("unknown-ID logins take %v, wrong-password logins %v: distinguishable", unknown, known)
	}
}

// BenchmarkCheckPassword is one argon2id verification with the default
// parameters: the floor of a login's latency.
func BenchmarkCheckPassword(b *testing.B) {
	h := HashPassword("benchmark passphrase 1", DefaultArgon2)
	for b.Loop() {
		if !CheckPassword("benchmark passphrase 1", h) {
			b.Fatal("mismatch")
		}
	}
}
