package audit_test

import (
	"context"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestRecordWakesOnChangesOnly: recording an event wakes the held long polls
// (store.Changes) when the event may alter a node's document — any change,
// including a kind nobody listed — and not for refused actions or the
// access families, whose rate people and attackers set.
func TestRecordWakesOnChangesOnly(t *testing.T) {
	t.Parallel()
	db := storetest.SQLite(t)
	log := audit.New(db)
	ctx := context.Background()
	for _, c := range []struct {
		ev    audit.Event
		wakes bool
	}{
		{audit.Event{Action: "network.apply", Target: "customer:c1"}, true},
		{audit.Event{Action: "port.place", Target: "port:p1"}, true},
		{audit.Event{Action: "port.bandwidth.sync", Target: "port:p1"}, true},
		{audit.Event{Action: "bgp.reenable", Target: "port:p1"}, true},
		{audit.Event{Action: "some.future.kind", Target: "x:1"}, true},
		{audit.Event{Action: "network.apply", Target: "customer:c1", Result: audit.Failed}, true},
		{audit.Event{Action: "network.apply", Target: "customer:c1", Result: audit.Denied}, false},
		{audit.Event{Action: "session.login", Target: "account:a1"}, false},
		{audit.Event{Action: "access.denied", Target: "GET /api/v1/ports"}, false},
		{audit.Event{Action: "account.role", Target: "account:a1"}, false},
		{audit.Event{Action: "mfa.verify", Target: "account:a1"}, false},
		{audit.Event{Action: "desired_state.read", Target: "node:tyo-1"}, false},
	} {
		if got := audit.Wakes(c.ev); got != c.wakes {
			t.Errorf("Wakes(%s, %q) = %v, want %v", c.ev.Action, c.ev.Result, got, c.wakes)
		}
		next := db.Changes().Next()
		if err := log.Record(ctx, c.ev); err != nil {
			t.Fatal(err)
		}
		select {
		case <-next:
			if !c.wakes {
				t.Errorf("recording %s (%q) woke the held polls", c.ev.Action, c.ev.Result)
			}
		case <-time.After(100 * time.Millisecond):
			if c.wakes {
				t.Errorf("recording %s (%q) did not wake the held polls", c.ev.Action, c.ev.Result)
			}
		}
	}
}
