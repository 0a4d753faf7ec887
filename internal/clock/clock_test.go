package clock

import (
	"testing"
	"time"
)

func TestRoundTripIsUTCInStoreAndJSTOnShow(t *testing.T) {
	now := Now()
	s := Store(now)
	if s[len(s)-1] != 'Z' || len(s) != len(StoreLayout) {
		t.Fatalf("Store = %q, want fixed-width UTC", s)
	}
	back, err := Parse(s)
	if err != nil || !back.Equal(now) {
		t.Fatalf("Parse(Store(now)) = %v, %v; want %v", back, err, now)
	}
	if back.Location() != time.UTC || now.Location() != time.UTC {
		t.Errorf("Now is in %v and Parse gives %v, want UTC (the API's instants are UTC)", now.Location(), back.Location())
	}
	if got := Show(time.Date(2026, 1, 1, 15, 0, 0, 0, time.UTC)); got != "2026-01-02T00:00:00+09:00" {
		t.Errorf("Show = %s", got)
	}
	// Fixed width keeps text order equal to time order.
	a, b := Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), Store(time.Date(2026, 1, 1, 0, 0, 0, 100_000, time.UTC))
	if !(a < b) {
		t.Errorf("%s !< %s", a, b)
	}
}
