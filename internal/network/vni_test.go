package network

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

func (e *env) vniOf(cust catalog.CustomerID) int64 {
	e.t.Helper()
	var v int64
	if err := e.db.QueryRow(e.ctx, `SELECT vni FROM backbone_vnis WHERE customer_id = ?`, cust).Scan(&v); err != nil {
		e.t.Fatal(err)
	}
	return v
}

func (e *env) bareCustomers(n int) []catalog.CustomerID {
	e.t.Helper()
	ids := make([]catalog.CustomerID, n)
	for i := range ids {
		cu, err := e.cat.CreateCustomer(e.ctx, catalog.CustomerInput{Name: fmt.Sprintf("vni-%d", i)})
		if err != nil {
			e.t.Fatal(err)
		}
		ids[i] = cu.ID
	}
	return ids
}

// Backbone VNIs are drawn at random from the documented range: many
// allocations are unique, inside [MinVNI, MaxVNI], and not a sequence
// (with 16.7 million values, two of 64 draws being adjacent is about one
// chance in 65,000 per pair's order; the test allows none).
func TestVNIsAreRandomAndUnique(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ids := e.bareCustomers(64)
		var got []int64
		for _, id := range ids {
			if err := db.InTx(e.ctx, func(tx *store.Tx) error { return e.svc.Workflow.ensureVNI(e.ctx, tx, id) }); err != nil {
				t.Fatal(err)
			}
			got = append(got, e.vniOf(id))
		}
		for i, v := range got {
			if v < MinVNI || v > MaxVNI {
				t.Errorf("VNI %d outside [%d, %d]", v, MinVNI, MaxVNI)
			}
			if i > 0 && (v-got[i-1] == 1 || got[i-1]-v == 1) {
				t.Errorf("allocations %d and %d are consecutive: %d, %d", i-1, i, got[i-1], v)
			}
		}
		sorted := slices.Clone(got)
		slices.Sort(sorted)
		if len(slices.Compact(sorted)) != len(got) {
			t.Errorf("VNIs not unique: %v", got)
		}
		// A customer's VNI stays what it was.
		if err := db.InTx(e.ctx, func(tx *store.Tx) error { return e.svc.Workflow.ensureVNI(e.ctx, tx, ids[0]) }); err != nil {
			t.Fatal(err)
		}
		if v := e.vniOf(ids[0]); v != got[0] {
			t.Errorf("a second allocation moved the VNI from %d to %d", got[0], v)
		}
	})
}

// A draw that hits a taken VNI is drawn again — also when the VNI is held
// by a concurrent transaction that has not committed yet (PostgreSQL), and
// the transaction that drew it is not aborted.
func TestVNICollisionIsDrawnAgain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ids := e.bareCustomers(9)
		const taken = 5_000_000
		if _, err := db.Exec(e.ctx, `INSERT INTO backbone_vnis (customer_id, vni) VALUES (?, ?)`, ids[0], taken); err != nil {
			t.Fatal(err)
		}
		// Every allocation draws the taken VNI first, then a VNI of its
		// own; the eight run at once.
		var wg sync.WaitGroup
		errs := make([]error, len(ids))
		for i, id := range ids[1:] {
			wg.Go(func() {
				draws := []int64{taken, taken, MinVNI + int64(i)}
				errs[i] = db.InTx(context.Background(), func(tx *store.Tx) error {
					return allocateVNI(e.ctx, tx, id, func() int64 { v := draws[0]; draws = draws[1:]; return v })
				})
			})
		}
		wg.Wait()
		for i, id := range ids[1:] {
			if errs[i] != nil {
				t.Fatalf("allocation %d: %v", i, errs[i])
			}
			if v := e.vniOf(id); v != MinVNI+int64(i) {
				t.Errorf("allocation %d got VNI %d, want %d", i, v, MinVNI+int64(i))
			}
		}
		if v := e.vniOf(ids[0]); v != taken {
			t.Errorf("the first customer's VNI moved to %d", v)
		}
	})
}

// Two transactions draw the same VNI: the second waits on PostgreSQL for
// the first, which holds it uncommitted, then draws again instead of
// failing the apply.
func TestVNIRaceOnTheSameValue(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		if db.Dialect() != store.Postgres {
			t.Skip("SQLite has one writer at a time: no transaction sees another's uncommitted VNI")
		}
		e := newEnv(t, db)
		ids := e.bareCustomers(2)
		const same = 7_000_000
		held, release := make(chan struct{}), make(chan struct{})
		first, second := make(chan error, 1), make(chan error, 1)
		go func() {
			first <- db.InTx(context.Background(), func(tx *store.Tx) error {
				if err := allocateVNI(e.ctx, tx, ids[0], func() int64 { return same }); err != nil {
					return err
				}
				close(held)
				<-release
				return nil
			})
		}()
		select {
		case <-held:
		case err := <-first:
			t.Fatalf("first allocation: %v", err)
		}
		go func() {
			draws := []int64{same, same + 1}
			second <- db.InTx(context.Background(), func(tx *store.Tx) error {
				return allocateVNI(e.ctx, tx, ids[1], func() int64 { v := draws[0]; draws = draws[1:]; return v })
			})
		}()
		time.Sleep(200 * time.Millisecond) // the second reaches the wait
		close(release)
		if err := errors.Join(<-first, <-second); err != nil {
			t.Fatal(err)
		}
		if a, b := e.vniOf(ids[0]), e.vniOf(ids[1]); a != same || b != same+1 {
			t.Errorf("VNIs %d and %d, want %d and %d", a, b, same, same+1)
		}
	})
}
