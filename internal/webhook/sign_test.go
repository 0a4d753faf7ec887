package webhook

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestVerifyRefusesTamperingAndReplay: the receiver's check accepts the
// delivery as signed and refuses another body, another ID, another secret
// and a timestamp outside the tolerance.
func TestVerifyRefusesTamperingAndReplay(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	body := []byte(`{"id":"evt_1"}`)
	sig := Signature("whsec_a", "evt_1", ts, body)
	if err := Verify("whsec_a", "evt_1", ts, "v1=00 "+sig, body, now.Add(Tolerance-time.Second)); err != nil {
		t.Fatalf("a good delivery: %v", err)
	}
	for name, err := range map[string]error{
		"body":    Verify("whsec_a", "evt_1", ts, sig, []byte(`{"id":"evt_2"}`), now),
		"id":      Verify("whsec_a", "evt_2", ts, sig, body, now),
		"secret":  Verify("whsec_b", "evt_1", ts, sig, body, now),
		"replay":  Verify("whsec_a", "evt_1", ts, sig, body, now.Add(Tolerance+time.Second)),
		"future":  Verify("whsec_a", "evt_1", ts, sig, body, now.Add(-Tolerance-time.Second)),
		"garbage": Verify("whsec_a", "evt_1", "x", sig, body, now),
	} {
		if err == nil {
			t.Errorf("a changed %s was accepted", name)
		}
	}
}

// TestRotationSignsWithBothDuringOverlap: after a rotation, a delivery
// verifies with the new secret and with the old one until the overlap
// ends; after it, with the new one only.
func TestRotationSignsWithBothDuringOverlap(t *testing.T) {
	db := storetest.SQLite(t)
	e := newHooksEnv(t, db, nil)
	w := e.register(t, TypeNoticePublished)
	old := e.secret
	_, fresh, err := e.svc.Rotate(context.Background(), e.cust, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	if fresh == old || !strings.HasPrefix(fresh, SecretPrefix+"_") {
		t.Fatalf("rotation gave %q after %q", fresh, old)
	}
	s := e.sender(db)
	for _, tc := range []struct {
		after   time.Duration
		secret  string
		wantGot int
	}{{0, old, 1}, {0, fresh, 2}, {RotationOverlap + time.Hour, fresh, 3}} {
		e.advance(tc.after)
		e.secret = tc.secret
		e.emit(t, TypeNoticePublished, "notices/n1")
		if _, err := s.Drain(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := len(e.rc.counts()); got != tc.wantGot {
			t.Fatalf("after %v verifying with the %s secret: %d received, want %d", tc.after,
				map[bool]string{true: "old", false: "new"}[tc.secret == old], got, tc.wantGot)
		}
	}
	// Past the overlap the old secret no longer verifies.
	d, err := s.load(context.Background(), mustLastDelivery(t, e, w.ID))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Secrets) != 1 || d.Secrets[0] != fresh {
		t.Fatalf("past the overlap the delivery signs with %d secrets", len(d.Secrets))
	}
}

func mustLastDelivery(t *testing.T, e *hooksEnv, hook string) string {
	t.Helper()
	log, err := e.svc.Deliveries(context.Background(), e.cust, hook)
	if err != nil || len(log) == 0 {
		t.Fatalf("delivery log: %v %v", log, err)
	}
	return log[0].ID
}
