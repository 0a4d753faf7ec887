package e2e_test

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/dataplane"
	"github.com/tsunagi-net/tsunagi/internal/nstest"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// TestUsageEndToEnd: iperf3 sends from the customer's on-premises network
// through its hub to AWS; the usage records the controller made from the
// real agent's reports count, on the on-premises port, the bytes the
// kernel's own counters of the hub's port interface show (read apart, with
// ip -s -j link in the hub's namespace) within 1 %, and iperf3's own count
// within 10 % (the kernel counts headers too).
func TestUsageEndToEnd(t *testing.T) {
	h := newHarness(t)
	s := newSite(h.prefix, "u")
	tyo := h.addNode(t, "tokyo", "tyo-1", []catalog.PhysicalPort{{Name: s.onPhys, SpeedMbps: 10_000, Kind: "onprem"},
		{Name: s.cloudPhysA, SpeedMbps: 10_000, Kind: "cloud-aws"}, {Name: s.cloudPhysB, SpeedMbps: 10_000, Kind: "cloud-aws"}})
	configure(t, h.ctx, h.cat, h.netSvc, s)
	wire(t, tyo.ns, tyo.runDir, s)
	h.startAgent(t, tyo)
	h.converged(t, tyo, "of the configuration")
	for _, learned := range []struct {
		bird   nstest.PeerBird
		prefix string
	}{{s.onBird, "172.31.0.0/16"}, {s.cloudBird, "0.0.0.0/0"}} {
		nstest.WaitFor(t, learned.bird.NS+" to learn "+learned.prefix, 90*time.Second, func() (bool, string) {
			rs, err := dataplane.BirdClient{Socket: learned.bird.Sock}.Routes(h.ctx)
			if err != nil {
				return false, err.Error()
			}
			for _, r := range rs {
				if r.Net.String() == learned.prefix {
					return true, ""
				}
			}
			return false, fmt.Sprintf("%v", rs)
		})
	}
	if err := nstest.Ping(s.onprem, s.onLoop, s.cloudLoop, 30*time.Second); err != nil {
		t.Fatalf("on-premises → AWS: %v", err)
	}

	hubNS := dataplane.NamespacePrefix + s.dataplaneID
	// kernel reads the hub's port interface's own counters.
	kernel := func() (rx, tx uint64) {
		t.Helper()
		var links []struct {
			Stats struct {
				RX struct{ Bytes uint64 } `json:"rx"`
				TX struct{ Bytes uint64 } `json:"tx"`
			} `json:"stats64"`
		}
		out := nstest.Sh(t, "ip", "-n", hubNS, "-s", "-j", "link", "show", "dev", s.onIf)
		if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
			t.Fatalf("ip -s -j link in %s: %v\n%s", hubNS, err, out)
		}
		return links[0].Stats.RX.Bytes, links[0].Stats.TX.Bytes
	}
	// reported waits for a report of the port observed after since, and
	// returns the port's usage totals then.
	reported := func(since time.Time) (in, out int64) {
		t.Helper()
		nstest.WaitFor(t, "a report after "+since.Format(time.RFC3339Nano), 60*time.Second, func() (bool, string) {
			var last string
			err := store.Scan(h.db.QueryRow(h.ctx, `SELECT MAX(c.observed_at) FROM usage_counters c JOIN ports p ON p.id = c.port_id
				WHERE p.port_code = ?`, s.onPort), &last)
			at, perr := clock.Parse(last)
			return err == nil && perr == nil && at.After(since), fmt.Sprintf("last %q, %v", last, err)
		})
		p, err := h.usage.Port(h.ctx, tenanttest.Customer(s.cust), s.onPort, time.Now().Add(-24*time.Hour), time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return p.Totals.InBytes, p.Totals.OutBytes
	}

	rx0, tx0 := kernel()
	in0, out0 := reported(time.Now())
	const seconds = 2
	bps := nstest.Iperf3(t, s.cloud, s.cloudLoop, s.onprem, s.onLoop, "5211", seconds)
	rx1, tx1 := kernel()
	in1, out1 := reported(time.Now())

	kIn, kOut := float64(rx1-rx0), float64(tx1-tx0)
	uIn, uOut := float64(in1-in0), float64(out1-out0)
	sent := bps / 8 * seconds
	t.Logf("kernel %.0f bytes in, %.0f out; usage %.0f in, %.0f out; iperf3 %.0f bytes (%.0f Mbit/s)", kIn, kOut, uIn, uOut, sent, bps/1e6)
	if kIn < 1e6 {
		t.Fatalf("the kernel counted %.0f bytes in: the traffic did not cross the port", kIn)
	}
	if d := math.Abs(uIn-kIn) / kIn; d > 0.01 {
		t.Errorf("usage in %.0f bytes vs the kernel's %.0f: %.2f %% apart, want ≤ 1 %%", uIn, kIn, d*100)
	}
	if d := math.Abs(uOut-kOut) / math.Max(kOut, 1); d > 0.01 && math.Abs(uOut-kOut) > 2000 {
		t.Errorf("usage out %.0f bytes vs the kernel's %.0f: %.2f %% apart", uOut, kOut, d*100)
	}
	if d := math.Abs(uIn-sent) / sent; d > 0.10 {
		t.Errorf("usage in %.0f bytes vs iperf3's %.0f: %.1f %% apart, want ≤ 10 %%", uIn, sent, d*100)
	}
}
