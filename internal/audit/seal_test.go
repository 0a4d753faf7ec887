package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// The personal data the tests plant, and look for in the database's bytes.
const (
	plantLogin = "taro.yamada.7781"
	plantEmail = "taro.yamada@example.co.jp"
	plantIP    = "198.51.100.77"
	plantWhy   = "Yamada-san lost his phone"
)

var (
	customerActor = audit.Actor{ID: "acc_c1", Kind: "customer", Name: plantLogin, SourceIP: plantIP, RequestID: "req_1"}
	staffActor    = audit.Actor{ID: "acc_s1", Kind: "operator", Name: "ops.sato", SourceIP: "192.0.2.9", RequestID: "req_2"}
	// inviteEvent carries every kind of personal field of a customer's event.
	inviteEvent = audit.Event{Action: "account.invite", Target: "login:" + plantLogin, CustomerID: "cus_a",
		Reason: plantWhy, Detail: map[string]any{"login_id": plantLogin, "email": plantEmail, "role": "user"}}
)

func record(t testing.TB, log *audit.Log, a audit.Actor, ev audit.Event) {
	t.Helper()
	if err := log.Record(audit.WithActor(context.Background(), a), ev); err != nil {
		t.Fatal(err)
	}
}

func listAll(t *testing.T, log *audit.Log) []audit.Entry {
	t.Helper()
	got, err := log.List(context.Background(), audit.AllChains().Page(0, 1000))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// rowBytes is every audit row and key row as the database returns it, all
// columns as text, for a search of the stored bytes.
func rowBytes(t *testing.T, db *store.DB) []byte {
	t.Helper()
	var out []byte
	for _, q := range []string{
		`SELECT seq, at, actor_id, actor_kind, actor_name, COALESCE(customer_id, ''), on_behalf_of, action, target,
			source_ip, request_id, result, reason, detail, sealed, prev_hash, hash FROM audit_events ORDER BY seq`,
		`SELECT customer_id, sealed_key, created_at, '', '', '', '', '', '', '', '', '', '', '', '', '', '' FROM audit_keys`,
	} {
		rows, err := db.Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			cols := make([]any, 17)
			for i := range cols {
				cols[i] = new([]byte)
			}
			if err := rows.Scan(cols...); err != nil {
				t.Fatal(err)
			}
			for _, c := range cols {
				out = append(append(out, *c.(*[]byte)...), 0)
			}
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// exported is e after the trip an export makes: JSON out and back in.
func exported(t *testing.T, e audit.Entry) audit.Entry {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var back audit.Entry
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	return back
}

func TestSealedFieldsRoundTripAndForget(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		log := audit.New(db)
		record(t, log, customerActor, inviteEvent)                                               // 1: sealed
		record(t, log, staffActor, audit.Event{Action: "breakglass.access", Target: "port:shc1", // 2: staff
			CustomerID: "cus_a", Reason: plantWhy, Detail: map[string]any{"grant": "bg_1"}})
		record(t, log, customerActor, audit.Event{Action: "account.invite", Target: "account:acc_9", // 3: another customer
			CustomerID: "cus_b", Detail: map[string]any{"login_id": "hanako", "email": "hanako@example.com"}})
		record(t, log, staffActor, audit.Event{Action: "node.create", Target: "node:n1", // 4: the platform's
			Detail: map[string]any{"name": "tokyo-1"}})
		record(t, log, audit.System, audit.Event{Action: "contract.end", Target: "contract:shb1", // 5: nothing personal
			CustomerID: "cus_a", Detail: map[string]any{"plan": "standard"}})

		// Nothing personal of a customer is stored in plain text, even
		// before the key is destroyed.
		raw := rowBytes(t, db)
		for _, s := range []string{plantLogin, plantEmail, plantIP, plantWhy, "hanako"} {
			if bytes.Contains(raw, []byte(s)) {
				t.Errorf("the database holds %q in plain text", s)
			}
		}
		// The platform's event and staff names stay plain.
		if !bytes.Contains(raw, []byte("tokyo-1")) || !bytes.Contains(raw, []byte("ops.sato")) {
			t.Error("the platform's node name or the staff login was sealed")
		}

		got := listAll(t, log)
		if len(got) != 5 {
			t.Fatalf("%d entries, want 5", len(got))
		}
		e := got[0]
		wantDetail := map[string]any{"login_id": plantLogin, "email": plantEmail, "role": "user"}
		if e.ActorName != plantLogin || e.SourceIP != plantIP || e.Target != "login:"+plantLogin || e.Reason != plantWhy ||
			!reflect.DeepEqual(e.Detail, wantDetail) || e.Erased() {
			t.Errorf("sealed entry read back = %+v", e)
		}
		wantFields := []string{"actor_name", "detail.email", "detail.login_id", "reason", "source_ip", "target"}
		if !reflect.DeepEqual(e.SealedFields, wantFields) || e.Sealed == "" {
			t.Errorf("sealed fields = %v (blob %q), want %v", e.SealedFields, e.Sealed, wantFields)
		}
		if s := got[1]; s.ActorName != "ops.sato" || s.SourceIP != "192.0.2.9" || s.Reason != plantWhy ||
			!reflect.DeepEqual(s.SealedFields, []string{"reason"}) {
			t.Errorf("staff entry = %+v; want the staff name and address plain, the reason sealed", s)
		}
		for _, i := range []int{3, 4} {
			if got[i].Sealed != "" || got[i].SealedFields != nil {
				t.Errorf("entry %d sealed, with nothing personal of a customer: %+v", got[i].Seq, got[i])
			}
		}
		// An exporter recomputes every hash from the entries it was given.
		for _, e := range got {
			if h := audit.Hash(exported(t, e)); h != e.Hash {
				t.Errorf("entry %d: an export's hash %s, stored %s", e.Seq, h, e.Hash)
			}
		}

		for range 2 { // idempotent
			if err := db.InTx(ctx, func(tx *store.Tx) error { return log.ForgetCustomerTx(ctx, tx, "cus_a") }); err != nil {
				t.Fatal(err)
			}
		}
		var keys int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM audit_keys WHERE customer_id = 'cus_a'`).Scan(&keys); err != nil || keys != 0 {
			t.Fatalf("cus_a keys after forgetting = %d, %v", keys, err)
		}
		if n, err := log.Verify(ctx); err != nil || n != 6 {
			t.Fatalf("verify after forgetting = %d, %v; want 6 intact (5 and the key's destruction)", n, err)
		}
		got = listAll(t, log)
		e = got[0]
		if !e.Erased() || e.ActorName != audit.ErasedMark || e.SourceIP != audit.ErasedMark || e.Target != audit.ErasedMark ||
			e.Reason != audit.ErasedMark || e.Detail["login_id"] != audit.ErasedMark || e.Detail["email"] != audit.ErasedMark ||
			e.Detail["role"] != "user" || !e.ErasedField("actor_name") || e.ErasedField("detail.role") {
			t.Errorf("erased entry = %+v", e)
		}
		if got[1].ActorName != "ops.sato" || got[1].Reason != audit.ErasedMark {
			t.Errorf("staff entry after forgetting = %+v", got[1])
		}
		if d := got[5]; d.Action != "audit.key_destroy" || d.CustomerID != "cus_a" || d.Sealed != "" {
			t.Errorf("the destruction's record = %+v", d)
		}
		for _, e := range got {
			if h := audit.Hash(exported(t, e)); h != e.Hash {
				t.Errorf("entry %d after forgetting: an export's hash %s, stored %s", e.Seq, h, e.Hash)
			}
		}
		// Another customer's fields still open.
		if b := got[2]; b.Erased() || b.ActorName != plantLogin || b.Detail["login_id"] != "hanako" {
			t.Errorf("cus_b's entry after forgetting cus_a = %+v", b)
		}
		// A later event of cus_a gets a new key: it opens, the old ones stay
		// erased, and nothing of the old fields is left in the database.
		record(t, log, customerActor, audit.Event{Action: "account.language", Target: "account:acc_c1", CustomerID: "cus_a"})
		got = listAll(t, log)
		if e, n := got[0], got[6]; !e.Erased() || e.ActorName != audit.ErasedMark || n.Erased() || n.ActorName != plantLogin {
			t.Errorf("with a new key: the old entry %+v, the new one %+v", e, n)
		}
		raw = rowBytes(t, db)
		for _, s := range []string{plantLogin, plantEmail, plantIP, plantWhy} {
			if bytes.Contains(raw, []byte(s)) {
				t.Errorf("the database holds %q in plain text after forgetting", s)
			}
		}
		if n, err := log.Verify(ctx); err != nil || n != 7 {
			t.Fatalf("verify = %d, %v; want 7 intact", n, err)
		}
	})
}

// TestReviewDetailSealed: a review's detail carries the customer's own
// text in its changes (a rule comment, an object name) and reasons, and a
// hold's detail may quote it: the whole values are sealed, read back
// whole through List, verify, and are erased with the customer's key.
func TestReviewDetailSealed(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		log := audit.New(db)
		const comment, object, quoted = "allow Yamada-san's NAS", "yamada-home-nas", "peer yamada-home-nas: limit"
		detail := map[string]any{"version": 3, "risk": "high",
			"changes": []map[string]any{{"path": "firewall.rules[0]", "after": map[string]any{"comment": comment, "object": object}}},
			"reasons": []string{"opens " + object + " to the internet"}, "detail": quoted}
		record(t, log, customerActor, audit.Event{Action: "network.apply", Target: "net_version:3", CustomerID: "cus_a", Detail: detail})
		raw := rowBytes(t, db)
		for _, s := range []string{comment, object, quoted} {
			if bytes.Contains(raw, []byte(s)) {
				t.Errorf("the database holds %q in plain text", s)
			}
		}
		e := listAll(t, log)[0]
		want, _ := json.Marshal(detail)
		if got, _ := json.Marshal(e.Detail); !bytes.Equal(got, want) {
			t.Errorf("detail read back = %s, want %s", got, want)
		}
		if want := []string{"actor_name", "detail.changes", "detail.detail", "detail.reasons", "source_ip"}; !reflect.DeepEqual(e.SealedFields, want) {
			t.Errorf("sealed fields = %v, want %v", e.SealedFields, want)
		}
		if err := db.InTx(ctx, func(tx *store.Tx) error { return log.ForgetCustomerTx(ctx, tx, "cus_a") }); err != nil {
			t.Fatal(err)
		}
		if n, err := log.Verify(ctx); err != nil || n != 2 {
			t.Fatalf("verify = %d, %v; want 2 intact", n, err)
		}
		e = listAll(t, log)[0]
		if e.Detail["changes"] != audit.ErasedMark || e.Detail["reasons"] != audit.ErasedMark || e.Detail["risk"] != "high" {
			t.Errorf("after forgetting: %+v", e.Detail)
		}
	})
}

// TestSealedTamperingIsDetected changes a sealed entry's stored form behind
// the database's guard: Verify notices, and a blob moved to another row
// does not open there.
func TestSealedTamperingIsDetected(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"edited blob":    `UPDATE audit_events SET sealed = substr(sealed, 1, 24) || 'AAAA' || substr(sealed, 29) WHERE seq = 1`,
		"swapped blob":   `UPDATE audit_events SET sealed = (SELECT sealed FROM audit_events WHERE seq = 2) WHERE seq = 1`,
		"dropped blob":   `UPDATE audit_events SET sealed = '' WHERE seq = 1`,
		"unsealed field": `UPDATE audit_events SET actor_name = 'someone' WHERE seq = 1`,
	}
	for name, tamper := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := storetest.SQLite(t)
			ctx := context.Background()
			log := audit.New(db)
			record(t, log, customerActor, inviteEvent)
			record(t, log, customerActor, inviteEvent)
			for _, trg := range []string{"audit_events_no_update", "audit_events_no_delete"} {
				if _, err := db.Exec(ctx, `DROP TRIGGER `+trg); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.Exec(ctx, tamper); err != nil {
				t.Fatal(err)
			}
			var ce *audit.ChainError
			if _, err := log.Verify(ctx); !errors.As(err, &ce) || ce.Seq != 1 {
				t.Fatalf("tampering (%s) not detected at entry 1: %v", name, err)
			}
			if e := listAll(t, log)[0]; e.ActorName == plantLogin && name != "unsealed field" {
				t.Errorf("tampered blob (%s) opened: %+v", name, e)
			}
		})
	}
}

// BenchmarkRecordTx compares appending an event with personal fields of a
// customer (sealed) with the same event of the platform (not sealed).
func BenchmarkRecordTx(b *testing.B) {
	for _, c := range []struct{ name, cust string }{{"plain", ""}, {"sealed", "cus_a"}} {
		b.Run(c.name, func(b *testing.B) {
			db := storetest.SQLite(b)
			log := audit.New(db)
			ev := inviteEvent
			ev.CustomerID = c.cust
			for i := 0; b.Loop(); i++ {
				ev.Detail = map[string]any{"login_id": fmt.Sprint(plantLogin, i), "email": plantEmail, "role": "user"}
				record(b, log, customerActor, ev)
			}
			if testing.Short() {
				return
			}
			if n, err := log.Verify(context.Background()); err != nil || n == 0 {
				b.Fatalf("verify = %d, %v", n, err)
			}
		})
	}
}

// TestConcurrentFirstEventsMakeOneKey: appends racing to be a customer's
// first sealed event make one key, and every entry opens with it.
func TestConcurrentFirstEventsMakeOneKey(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		log := audit.New(db)
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				ev := inviteEvent
				ev.CustomerID = []string{"cus_a", "cus_b"}[w%2]
				for range 5 {
					if err := log.Record(audit.WithActor(context.Background(), customerActor), ev); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		var keys int
		if err := db.QueryRow(context.Background(), `SELECT COUNT(*) FROM audit_keys`).Scan(&keys); err != nil || keys != 2 {
			t.Fatalf("keys = %d, %v; want one per customer", keys, err)
		}
		for _, e := range listAll(t, log) {
			if e.ActorName != plantLogin || e.Detail["email"] != plantEmail {
				t.Fatalf("entry %d does not open: %+v", e.Seq, e)
			}
		}
		if n, err := log.Verify(context.Background()); err != nil || n != 40 {
			t.Fatalf("verify = %d, %v; want 40", n, err)
		}
	})
}

// TestForgetInTheSameTransaction: events of the customer recorded in the
// transaction that destroys its key are appended at the commit, after the
// key's row is deleted; they are sealed before it goes, under the key it
// destroys, and no new key is left behind.
func TestForgetInTheSameTransaction(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		log := audit.New(db)
		record(t, log, customerActor, inviteEvent) // the customer's key exists
		ctx := audit.WithActor(context.Background(), customerActor)
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			if err := log.RecordTx(ctx, tx, inviteEvent); err != nil {
				return err
			}
			return log.ForgetCustomerTx(ctx, tx, "cus_a")
		}); err != nil {
			t.Fatal(err)
		}
		var keys int
		if err := db.QueryRow(context.Background(), `SELECT COUNT(*) FROM audit_keys WHERE customer_id = 'cus_a'`).Scan(&keys); err != nil || keys != 0 {
			t.Fatalf("keys left = %d, %v; want none", keys, err)
		}
		for _, e := range listAll(t, log) {
			if e.ActorName == plantLogin || e.Detail["email"] == plantEmail {
				t.Errorf("entry %d (%s) still opens: %+v", e.Seq, e.Action, e)
			}
		}
	})
}
