package dataplane

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// serviceGuard is the service's guard of an on-premises port.
func serviceGuard() *L2Guard {
	return &L2Guard{BPDUGuard: true, StormControlPPS: 1000, FlapLimit: 5, FlapWindowSeconds: 60,
		MACLimit: 5, MACAgeingSeconds: 2400, MTU: 1500}
}

// guardedHub is testHub with the service's guard on its on-premises port.
func guardedHub() Hub {
	h := testHub()
	h.Ports = slices.Clone(h.Ports)
	h.Ports[0].L2Guard = serviceGuard()
	return h
}

// count makes the fake list a rule's counter as the kernel would after
// packets matched it.
func (f *fakeNft) count(ns, comment string, packets int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	re := regexp.MustCompile(`counter (packets \d+ bytes \d+ )?(drop comment "` + regexp.QuoteMeta(comment) + `")`)
	f.tables[ns] = re.ReplaceAllString(f.tables[ns], fmt.Sprintf("counter packets %d bytes %d $2", packets, 60*packets))
}

// observe runs Observe on a fake node, where BIRD's control socket does
// not exist; any other error fails the test.
func observe(t *testing.T, m *Manager, h Hub) Status {
	t.Helper()
	st, err := m.Observe(context.Background(), h)
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			if !strings.Contains(line, "bird control socket") {
				t.Fatalf("observe: %v", err)
			}
		}
	}
	return st
}

func linkUp(t *testing.T, f *fakeNode, ns, name string) bool {
	t.Helper()
	links, err := f.net.Links(ns)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if l.Name == name {
			return l.Up
		}
	}
	t.Fatalf("no link %s in %s", name, ns)
	return false
}

func TestL2GuardValidate(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(*L2Guard)
		want   string
	}{
		{"service values", func(*L2Guard) {}, ""},
		{"all off", func(g *L2Guard) { *g = L2Guard{} }, ""},
		{"negative storm", func(g *L2Guard) { g.StormControlPPS = -1 }, "storm control -1 pps"},
		{"flaps without window", func(g *L2Guard) { g.FlapWindowSeconds = 0 }, "flap window 0 s"},
		{"MACs without ageing", func(g *L2Guard) { g.MACAgeingSeconds = 0 }, "MAC ageing 0 s"},
		{"MAC limit too high", func(g *L2Guard) { g.MACLimit = 70_000 }, "MAC limit 70000"},
		{"MTU too small", func(g *L2Guard) { g.MTU = 60 }, "MTU 60"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := guardedHub()
			c.change(h.Ports[0].L2Guard)
			err := h.Validate()
			if c.want == "" && err != nil {
				t.Fatalf("valid guard refused: %v", err)
			}
			if c.want != "" && (err == nil || !strings.Contains(err.Error(), "port 0 (onprem): layer-2 guard: "+c.want)) {
				t.Fatalf("Validate = %v, want %q", err, c.want)
			}
		})
	}
}

// The guards are a second table in the hub's one nft batch, one ingress
// chain per physical device. Adding them is one batch; the same hub again
// is none; removing them deletes the table in one batch too. (The port is
// unshaped here: a shaped one is realised behind a bridge, TestGuardBridge.)
func TestL2GuardRuleset(t *testing.T) {
	f := newFakeNode(t, "eth-on", "eth-aws")
	ctx := context.Background()
	h := guardedHub()
	h.Ports[0].SpeedMbps = 0
	if got := applyCalls(t, f, h); !slices.Contains(got, "nft -f hub-c1") {
		t.Errorf("guarded hub: calls %q, want an nft batch", got)
	}
	script, _ := f.nft.List(ctx, "hub-c1")
	for _, want := range []string{
		"table netdev tsunagi_l2 {\n",
		"\tset macs_onprem {\n\t\ttype ether_addr\n\t\tsize 5\n\t\tflags dynamic,timeout\n\t\ttimeout 2400s\n\t}\n",
		"\tchain in_onprem {\n\t\tcomment \"port onprem guards, since re-enable 0\"\n" +
			"\t\ttype filter hook ingress device \"eth-on\" priority filter; policy accept;\n" +
			"\t\tether daddr 01:80:c2:00:00:00 counter drop comment \"port onprem eth-on: bpdu\"\n" +
			"\t\tupdate @macs_onprem { ether saddr } goto l2_onprem\n" +
			"\t\tcounter drop comment \"port onprem eth-on: mac limit\"\n\t}\n",
		"meta pkttype { broadcast, multicast } limit name \"storm_onprem\" counter drop comment \"port onprem: storm control\"",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks\n%s\nin\n%s", want, script)
		}
	}
	if strings.Contains(script, "eth-aws\" priority") {
		t.Error("the unguarded cloud port got an ingress chain")
	}
	if got := applyCalls(t, f, h); len(got) > 0 {
		t.Errorf("unchanged guards made calls %q", got)
	}
	// A chain an older kernel deleted with its device leaves the digest
	// as it was: the chain's absence is what is seen.
	f.nft.mu.Lock()
	f.nft.tables["hub-c1"] = strings.Replace(f.nft.tables["hub-c1"], "\tchain in_onprem {", "\tchain gone {", 1)
	f.nft.mu.Unlock()
	if got := applyCalls(t, f, h); !slices.Equal(got, []string{"nft -f hub-c1"}) {
		t.Errorf("missing ingress chain: calls %q, want one batch", got)
	}
	unguarded := testHub()
	unguarded.Ports = slices.Clone(unguarded.Ports)
	unguarded.Ports[0].SpeedMbps = 0
	if got := applyCalls(t, f, unguarded); !slices.Equal(got, []string{"nft -f hub-c1"}) {
		t.Errorf("guards removed: calls %q, want one batch", got)
	}
	script, _ = f.nft.List(ctx, "hub-c1")
	if !strings.Contains(script, "delete table netdev tsunagi_l2\n") || strings.Contains(script, "table netdev tsunagi_l2 {") {
		t.Errorf("guards removed, script:\n%s", script)
	}
}

// The guard's MTU is set through netlink on each physical device and on a
// redundant port's bridge, and read back: a second apply sets nothing.
func TestL2GuardMTU(t *testing.T) {
	f := newFakeNode(t, "eth-on", "eth-on2", "eth-aws")
	for _, n := range []string{"eth-on", "eth-on2"} {
		f.net.ns[""][n].MTU = 9000
	}
	h := guardedHub()
	h.Ports[0].Interface, h.Ports[0].Legs = "bronprem", []string{"eth-on", "eth-on2"}
	got := netCalls(applyCalls(t, f, h))
	for _, want := range []string{"link mtu 1500 hub-c1 eth-on", "link mtu 1500 hub-c1 eth-on2"} {
		if !slices.Contains(got, want) {
			t.Errorf("no %q in %q", want, got)
		}
	}
	if slices.ContainsFunc(got, func(c string) bool { return strings.Contains(c, "mtu") && strings.Contains(c, "eth-aws") }) {
		t.Errorf("the unguarded port's MTU was touched: %q", got)
	}
	f.net.SetMTU("hub-c1", "bronprem", 9000) // as if the bridge had followed a port
	if got := applyCalls(t, f, h); !slices.Equal(got, []string{"link mtu 1500 hub-c1 bronprem"}) {
		t.Errorf("bridge MTU: calls %q", got)
	}
	if got := applyCalls(t, f, h); len(got) > 0 {
		t.Errorf("unchanged MTU made calls %q", got)
	}
}

// One BPDU shuts the port on the next Observe: a record in the run
// directory, the device down. The port stays down on every later apply and
// across a restart of the agent (a new Manager), and comes back only when
// its re-enable sequence passes the recorded one, which also resets the
// BPDU count.
func TestBPDUShutsUntilReenabled(t *testing.T) {
	f := newFakeNode(t, "eth-on", "eth-aws")
	h := guardedHub()
	applyCalls(t, f, h)
	if st := observe(t, f.m, h); len(st.Shut) > 0 || !linkUp(t, f, "hub-c1", "eth-on") {
		t.Fatalf("shut with no BPDU: %+v", st.Shut)
	}
	f.rec.take()

	f.nft.count("hub-c1", "port onprem eth-on: bpdu", 1)
	st := observe(t, f.m, h)
	if len(st.Shut) != 1 || st.Shut[0].Port != "onprem" || st.Shut[0].Reason != ShutBPDU || st.Shut[0].ReenableSeq != 0 ||
		st.Shut[0].Since.IsZero() || !strings.Contains(st.Shut[0].Detail, "eth-on") {
		t.Fatalf("Shut = %+v, want onprem shut for a BPDU", st.Shut)
	}
	if got := f.rec.take(); !slices.Equal(got, []string{"link up=false hub-c1 eth-on"}) {
		t.Errorf("shutting made calls %q", got)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "hub-c1", "shut-onprem")); err != nil {
		t.Errorf("no shut record: %v", err)
	}
	if !slices.ContainsFunc(st.Rules, func(r RuleCounter) bool { return r.Comment == "port onprem eth-on: bpdu" && r.Packets == 1 }) {
		t.Errorf("BPDU counter not reported: %+v", st.Rules)
	}

	for range 2 {
		if got := applyCalls(t, f, h); len(got) > 0 {
			t.Errorf("re-applying a shut port made calls %q", got)
		}
		if linkUp(t, f, "hub-c1", "eth-on") {
			t.Fatal("a shut port came back up on apply")
		}
	}
	restarted, rec := recordingManager(f.dir, f.net, f.nft, f.tc, f.bird)
	if err := restarted.Apply(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); len(got) > 0 {
		t.Errorf("a restarted agent's apply made calls %q", got)
	}
	if st := observe(t, restarted, h); len(st.Shut) != 1 || st.Shut[0].Reason != ShutBPDU {
		t.Errorf("after restart, Shut = %+v", st.Shut)
	}
	if got := rec.take(); len(got) > 0 {
		t.Errorf("observing a port already shut made calls %q", got)
	}

	h.Ports[0].ReenableSeq = 1
	// Observed before the re-enable is applied (the BPDU still counted),
	// the port is not shut again at the new sequence.
	if st := observe(t, f.m, h); len(st.Shut) > 0 {
		t.Errorf("re-enable not yet applied: Shut = %+v", st.Shut)
	}
	if got := f.rec.take(); len(got) > 0 {
		t.Errorf("observing a re-enable not yet applied made calls %q", got)
	}
	got := applyCalls(t, f, h)
	slices.Sort(got)
	if want := []string{"link up=true hub-c1 eth-on", "nft -f hub-c1"}; !slices.Equal(got, want) {
		t.Errorf("re-enable made calls %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "hub-c1", "shut-onprem")); !os.IsNotExist(err) {
		t.Errorf("shut record survives the re-enable: %v", err)
	}
	if st := observe(t, f.m, h); len(st.Shut) > 0 || !linkUp(t, f, "hub-c1", "eth-on") {
		t.Errorf("after re-enable: Shut = %+v", st.Shut)
	}
	// A BPDU after the re-enable shuts the port again, at the new sequence.
	f.nft.count("hub-c1", "port onprem eth-on: bpdu", 3)
	if st := observe(t, f.m, h); len(st.Shut) != 1 || st.Shut[0].ReenableSeq != 1 {
		t.Errorf("second BPDU: Shut = %+v", st.Shut)
	}
}

// A BPDU on either leg of a redundant port shuts both legs; the bridge
// stays up, without a carrier.
func TestBPDUShutsBothLegs(t *testing.T) {
	f := newFakeNode(t, "eth-on", "eth-on2", "eth-aws")
	h := guardedHub()
	h.Ports[0].Interface, h.Ports[0].Legs = "bronprem", []string{"eth-on", "eth-on2"}
	applyCalls(t, f, h)
	f.nft.count("hub-c1", "port onprem eth-on2: bpdu", 1)
	st := observe(t, f.m, h)
	if len(st.Shut) != 1 || !strings.Contains(st.Shut[0].Detail, "eth-on2") {
		t.Fatalf("Shut = %+v", st.Shut)
	}
	got := f.rec.take()
	slices.Sort(got)
	if want := []string{"link up=false hub-c1 eth-on", "link up=false hub-c1 eth-on2"}; !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	if got := applyCalls(t, f, h); len(got) > 0 {
		t.Errorf("re-applying the shut redundant port made calls %q", got)
	}
	if !linkUp(t, f, "hub-c1", "bronprem") {
		t.Error("the bridge was taken down")
	}
}

// A port with the BPDU guard off is not shut by BPDUs (there is no rule
// to count them), and a shut record of a port the hub no longer has goes.
func TestShutRecordsFollowThePorts(t *testing.T) {
	f := newFakeNode(t, "eth-on", "eth-aws")
	h := guardedHub()
	h.Ports[0].L2Guard.BPDUGuard = false
	applyCalls(t, f, h)
	if script, _ := f.nft.List(context.Background(), "hub-c1"); strings.Contains(script, "01:80:c2:00:00:00") {
		t.Error("BPDU rule without the guard")
	}
	if err := writeShut(f.dir, h, PortShut{Port: "gone", Reason: ShutBPDU}); err != nil {
		t.Fatal(err)
	}
	if st := observe(t, f.m, h); len(st.Shut) > 0 {
		t.Errorf("Shut = %+v, want none for a port the hub does not have", st.Shut)
	}
	applyCalls(t, f, h)
	if _, err := os.Stat(filepath.Join(f.dir, "hub-c1", "shut-gone")); !os.IsNotExist(err) {
		t.Errorf("record of a removed port survives the apply: %v", err)
	}
}

// carrierLosses turns the kernel's count of carrier changes into losses,
// from the carrier at the baseline.
func TestCarrierLosses(t *testing.T) {
	for _, c := range []struct {
		fromUp bool
		k      uint32
		want   int
	}{
		{true, 0, 0}, {true, 1, 1}, {true, 2, 1}, {true, 3, 2}, {true, 10, 5},
		{false, 0, 0}, {false, 1, 0}, {false, 2, 1}, {false, 3, 1}, {false, 4, 2},
	} {
		from := carrierSample{Carrier: Carrier{Up: c.fromUp, Changes: 100}}
		to := carrierSample{Carrier: Carrier{Changes: 100 + c.k}}
		if got := carrierLosses(from, to); got != c.want {
			t.Errorf("from up=%v, %d changes: %d losses, want %d", c.fromUp, c.k, got, c.want)
		}
	}
}

// The flap count at each sample, with explicit timestamps: flaps older
// than the window (by the newest sample at least a window old) age out; a
// device whose count goes back is a new device and starts again.
func TestFlapWindow(t *testing.T) {
	t0 := time.Date(2025, 4, 1, 9, 0, 0, 0, time.UTC)
	f := newFlapMemory(nil)
	for _, s := range []struct {
		at      time.Duration
		changes uint32
		want    int
	}{
		{0, 10, 0},   // first sample: no history, no flaps
		{30, 16, 3},  // three losses since t0
		{100, 18, 1}, // baseline t30 (newest at least 60 s old): one
		{120, 26, 5}, // baseline still t30: five
		{200, 26, 0}, // quiet for a window
		{210, 2, 0},  // the count went back: a new device
		{220, 6, 2},  // counted from the new device's first sample
		{300, 6, 0},  // aged out
		{301, 16, 5}, // five within a second
		{400, 16, 0}, // and gone a window later
		{400, 16, 0}, // two samples at the same instant
		{459, 18, 1}, // baseline t400
		{460, 18, 1}, // t400 is exactly a window old: still the baseline
		{520, 18, 0}, // baseline t460
		{521, 20, 1}, // baseline t460
		{581, 20, 0}, // baseline t521
		{582, 21, 1}, // down again
		{583, 22, 1}, // and up: still one loss
		{643, 22, 0}, // the loss and the return aged out together
		{644, 23, 1}, // down
		{700, 23, 1}, // baseline t583 (up): the loss at t644 stays
		{705, 23, 0}, // baseline t644 (down): nothing since
		{706, 24, 0}, // up again: a return is not a loss
		{707, 25, 1}, // down
	} {
		n := f.record("c1/onprem/eth-on", carrierSample{at: t0.Add(s.at * time.Second),
			Carrier: Carrier{Up: s.changes%2 == 0, Changes: s.changes}}, time.Minute)
		if n != s.want {
			t.Errorf("t+%ds, %d changes: %d losses, want %d", int(s.at), s.changes, n, s.want)
		}
	}
	if kept := f.samples["c1/onprem/eth-on"]; !kept[0].at.Equal(t0.Add(644 * time.Second)) {
		t.Errorf("oldest sample kept is at %v, want the baseline t+644s", kept[0].at.Sub(t0))
	}
}

// Flaps shut the port on the Observe that counts flap_limit carrier
// losses within the window (a fake clock); the flap history of a
// re-enabled port starts again.
func TestFlapsShutUntilReenabled(t *testing.T) {
	f := newFakeNode(t, "eth-on", "eth-aws")
	now := time.Date(2025, 4, 1, 9, 0, 0, 0, time.UTC)
	f.m.flaps.now = func() time.Time { return now }
	h := guardedHub()
	applyCalls(t, f, h)
	step := func(d time.Duration, changes uint32) Status {
		now = now.Add(d)
		f.net.setCarrier("eth-on", Carrier{Up: changes%2 == 0, Changes: changes})
		return observe(t, f.m, h)
	}
	step(0, 2)
	if st := step(20*time.Second, 10); len(st.Shut) > 0 {
		t.Fatalf("4 losses shut the port: %+v", st.Shut)
	}
	st := step(20*time.Second, 12)
	if len(st.Shut) != 1 || st.Shut[0].Reason != ShutFlap || st.Shut[0].Detail != "5 carrier losses on eth-on within 60 s (limit 5)" ||
		!st.Shut[0].Since.Equal(now) {
		t.Fatalf("5 losses in 40 s: Shut = %+v", st.Shut)
	}
	if linkUp(t, f, "hub-c1", "eth-on") {
		t.Error("the flapping port is still up")
	}
	applyCalls(t, f, h)
	if linkUp(t, f, "hub-c1", "eth-on") {
		t.Error("apply brought the shut port up")
	}
	// Re-enabled: the flaps before it are forgotten.
	h.Ports[0].ReenableSeq = 1
	applyCalls(t, f, h)
	if !linkUp(t, f, "hub-c1", "eth-on") {
		t.Fatal("re-enable did not bring the port up")
	}
	if st := step(time.Second, 14); len(st.Shut) > 0 {
		t.Errorf("shut again by the flaps before the re-enable: %+v", st.Shut)
	}
	if st := step(time.Second, 16); len(st.Shut) > 0 {
		t.Errorf("one loss after the re-enable shut the port: %+v", st.Shut)
	}
}

// A port the controller holds shut stays down on a node that has no record
// of the shut (the hub rebuilt elsewhere), and comes up once the controller
// lets it go.
func TestHeldShutByTheController(t *testing.T) {
	f := newFakeNode(t, "eth-on", "eth-aws")
	h := guardedHub()
	h.Ports = slices.Clone(h.Ports)
	h.Ports[0].HeldShut = ShutBPDU
	applyCalls(t, f, h)
	if linkUp(t, f, "hub-c1", "eth-on") {
		t.Fatal("a port the controller holds shut came up")
	}
	if got := applyCalls(t, f, h); len(got) > 0 {
		t.Errorf("re-applying a held port made calls %q", got)
	}
	h.Ports[0].HeldShut, h.Ports[0].ReenableSeq = "", 1
	applyCalls(t, f, h)
	if !linkUp(t, f, "hub-c1", "eth-on") {
		t.Fatal("the port stayed down after the controller let it go")
	}
	h.Ports[0].HeldShut = "loop"
	if err := h.Validate(); err == nil || !strings.Contains(err.Error(), "held shut") {
		t.Errorf("an unknown reason validated: %v", err)
	}
}
