package web

import (
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/evidence"
)

// TestArchiveNameEndsAtTheClampedDay: the file name's last day is the
// window's, or today's when the window reaches beyond now — also for an end
// centuries away (nanoseconds since 1970 overflow after 2262).
func TestArchiveNameEndsAtTheClampedDay(t *testing.T) {
	from := time.Date(2026, 12, 1, 0, 0, 0, 0, clock.JST)
	today := clock.Date(time.Now())
	for _, c := range []struct {
		to   time.Time
		want string
	}{
		{time.Date(2026, 12, 3, 0, 0, 0, 0, clock.JST), "-2026-12-01-2026-12-02.tar.gz"},
		{time.Date(2318, 1, 1, 0, 0, 0, 0, time.UTC), "-2026-12-01-" + today + ".tar.gz"},
		{time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), "-2026-12-01-" + today + ".tar.gz"},
	} {
		if got := archiveName("cus_a", evidence.Window{From: from, To: c.to}); !strings.HasSuffix(got, c.want) {
			t.Errorf("to %s: %s, want …%s", c.to, got, c.want)
		}
	}
}
