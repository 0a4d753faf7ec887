package notice

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// TestEvidenceReads: the evidence export's reads of one customer take the
// published notices that reached it whose window overlaps the export's
// window or one of whose steps falls in it, and its own mails made in the
// window; no draft, nothing of another customer, no mail outside.
func TestEvidenceReads(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a, b := seedCustomer(t, db, "A"), seedCustomer(t, db, "B")
		now := clock.Now()
		from, to := now.Add(-24*time.Hour), now.Add(-12*time.Hour)
		note := func(published time.Time, status string, reached string, starts, ends *time.Time) string {
			id := seedNotice(t, db, seedNote{Kind: Announcement, Category: "maintenance", Status: status, Title: "t", Body: "b",
				Ends: ends, Published: published, Reached: []string{reached}, Updates: []string{"publish"}})
			if starts != nil {
				if _, err := db.Exec(ctx, `UPDATE notices SET starts_at = ? WHERE id = ?`, clock.Store(*starts), id); err != nil {
					t.Fatal(err)
				}
			}
			return id
		}
		at := func(d time.Duration) *time.Time { v := now.Add(d); return &v }
		stepIn := note(now.Add(-20*time.Hour), StatusPublished, a, nil, nil)
		windowOver := note(now.Add(-72*time.Hour), StatusPublished, a, at(-48*time.Hour), at(-18*time.Hour))
		openEnded := note(now.Add(-72*time.Hour), StatusPublished, a, at(-30*time.Hour), nil)
		endedBefore := note(now.Add(-72*time.Hour), StatusPublished, a, at(-48*time.Hour), at(-36*time.Hour))
		startsAfter := note(now.Add(-2*time.Hour), StatusPublished, a, at(-1*time.Hour), at(time.Hour))
		draft := note(now.Add(-20*time.Hour), StatusDraft, a, nil, nil)
		other := note(now.Add(-20*time.Hour), StatusPublished, b, nil, nil)
		got, err := EvidenceNotices(ctx, db, tenant.CustomerID(a), from, to)
		if err != nil {
			t.Fatal(err)
		}
		ids := noticeIDs(got)
		for _, want := range []string{stepIn, windowOver, openEnded} {
			if !slices.Contains(ids, want) {
				t.Errorf("notice %s is not in the evidence", want)
			}
		}
		for _, not := range []string{endedBefore, startsAfter, draft, other} {
			if slices.Contains(ids, not) {
				t.Errorf("notice %s is in the evidence", not)
			}
		}
		for _, n := range got {
			if len(n.Timeline) == 0 {
				t.Errorf("notice %s has no timeline", n.ID)
			}
		}

		inside := seedDelivery(t, db, stepIn, a, "ops@a.example", "sent", now.Add(-20*time.Hour))
		seedDelivery(t, db, stepIn, a, "later@a.example", "sent", now.Add(-2*time.Hour))
		seedDelivery(t, db, other, b, "ops@b.example", "sent", now.Add(-20*time.Hour))
		log, err := EvidenceDeliveries(ctx, db, tenant.CustomerID(a), from, to)
		if err != nil {
			t.Fatal(err)
		}
		if len(log) != 1 || log[0].ID != inside || log[0].Status != "sent" {
			t.Errorf("notification log = %+v, want only %s, sent", log, inside)
		}
		if _, err := EvidenceNotices(ctx, db, "", from, to); err == nil {
			t.Error("the notices of no customer were read")
		}
		if _, err := EvidenceDeliveries(ctx, db, "", from, to); err == nil {
			t.Error("the notification log of no customer was read")
		}
	})
}
