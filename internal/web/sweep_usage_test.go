package web

import (
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/network/observed"
)

// usageMarker is the byte count of A's one usage bin: B must never see it.
const usageMarker = 987_654_321

func init() {
	sweepFixtures = append(sweepFixtures, func(t *testing.T, f *sweepFixture) {
		t.Helper()
		var codes []string
		for _, v := range f.ids["port"] {
			if len(v) == 11 { // port codes only, not port IDs
				codes = append(codes, v)
			}
		}
		hubs, cust := f.ids["hub"], f.ids["customer"][0]
		// Two reports a second apart inside the last bin: A's first port
		// gets one bin of usageMarker bytes in.
		at := time.Now().UTC().Truncate(5 * time.Minute).Add(-5 * time.Minute)
		for i, rx := range []uint64{1000, 1000 + usageMarker} {
			rep := observed.Report{Schema: observed.Schema, ObservedAt: at.Add(time.Duration(i+1) * time.Second),
				Hubs: []observed.Hub{{HubID: hubs[0], CustomerID: cust, Ports: []observed.Port{{PortCode: codes[0],
					Links: []observed.Link{{Connection: "single", IfIndex: 4, RxBytes: rx, TxBytes: 1}}}}}}}
			if err := f.A.e.srv.deps.Usage.Ingest(f.A.e.seed, "sweep-node", rep); err != nil {
				t.Fatal(err)
			}
		}
		f.private = append(f.private, "987654321")
	})
}
