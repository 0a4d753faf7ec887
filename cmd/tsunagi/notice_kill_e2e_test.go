package main

import (
	"testing"
	"time"
)

// TestMailLeaseBounds: --mail-lease outside 10s-1h stops serve at start.
func TestMailLeaseBounds(t *testing.T) {
	for lease, ok := range map[time.Duration]bool{9 * time.Second: false, 10 * time.Second: true, time.Hour: true, time.Hour + time.Second: false} {
		f := identityFlags{mailLease: lease}
		if _, err := f.sender(nil, nil); (err == nil) != ok {
			t.Errorf("--mail-lease %v: %v", lease, err)
		}
	}
}
