package evidence

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// TestAnEntryIsNeverOlderThanAHeadSignedBeforeIt: a transaction that
// recorded an event is still open when the job signs the chain's head (on
// PostgreSQL nothing makes the job wait: the chain is locked only at the
// commit); the entry then takes its place above that head, and it must bear
// a later time than the head's signature, or an archive whose window ends
// between the two would end at that head and leave the entry out while
// verifying intact.
func TestAnEntryIsNeverOlderThanAHeadSignedBeforeIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.Postgres(t))
	cust := e.customer("Clock K.K.")
	e.record(customerCtx("alice"), cust, "test.first", nil)

	recorded, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- e.db.InTx(context.Background(), func(tx *store.Tx) error {
			if err := e.log.RecordTx(customerCtx("alice"), tx, audit.Event{Action: "test.late", Target: "x", CustomerID: cust}); err != nil {
				return err
			}
			close(recorded)
			<-release
			return nil
		})
	}()
	<-recorded
	if did, err := e.svc.SignJob().Do(context.Background(), time.Now(), cust); err != nil || !did {
		t.Fatalf("signing while the transaction is open: %v, %v", did, err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	heads, err := SignedHeads(context.Background(), e.db, cust, 0, 10)
	if err != nil || len(heads) != 1 || heads[0].Seq != 1 {
		t.Fatalf("signed heads = %+v, %v; want the head at entry 1", heads, err)
	}
	entries, err := e.log.ListStored(context.Background(), audit.OfChain(cust))
	if err != nil || len(entries) != 2 {
		t.Fatalf("entries = %d, %v", len(entries), err)
	}
	late := entries[1]
	if !late.At.After(heads[0].SignedAt) {
		t.Errorf("entry 2 at %s is not after the head signed before it at %s", late.At, heads[0].SignedAt)
	}
	// An archive whose window ends just after the late entry's time holds it.
	var b bytes.Buffer
	win := Window{From: entries[0].At.Add(-time.Minute), To: late.At.Add(time.Microsecond)}
	if err := e.svc.ExportOwn(customerCtx("alice"), tenanttest.Customer(cust), win, &b); err != nil {
		t.Fatal(err)
	}
	rep := e.verify(b.Bytes())
	if rep.Entries < 2 {
		t.Errorf("the archive of %v holds %d entries; want the late one too", win, rep.Entries)
	}
}
