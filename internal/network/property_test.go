package network

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// TestPropertyEditApplyRollback drives random sequences of edits, saves,
// applies, rollbacks, discards, lock breaks, placements and bandwidth
// changes by two customers with identical address plans, and checks after
// every step that:
//   - every applied version is valid: in particular no prefix overlaps
//     another of the same customer;
//   - versions are 1..N without gaps, and N never decreases;
//   - a stored draft is always valid;
//   - no physical port has more committed than speed × oversubscription;
//   - the desired state of every node is reproducible: computed twice it is
//     byte-identical, and each hub in it carries its customer's latest
//     version and that version's networks.
//
// TSUNAGI_PROPERTY_SEED replays one sequence; TSUNAGI_PROPERTY_STEPS sets
// its length.
func TestPropertyEditApplyRollback(t *testing.T) {
	t.Parallel()
	seed := propertySeed(t)
	steps := 120
	if s := os.Getenv("TSUNAGI_PROPERTY_STEPS"); s != "" {
		steps, _ = strconv.Atoi(s)
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		// The pure-Go SQLite under -race is the slow half; PostgreSQL
		// takes the longer sequence.
		n := steps
		if db.Dialect() == store.Postgres {
			n = steps * 2
		}
		t.Logf("seed %d (TSUNAGI_PROPERTY_SEED to replay), %d steps", seed, n)
		runProperty(t, db, seed, n)
	})
}

func runProperty(t *testing.T, db *store.DB, seed uint64, steps int) {
	e := newEnv(t, db)
	r := rand.New(rand.NewPCG(seed, 7))
	custs := []customer{e.addCustomer("a"), e.addCustomer("b")}
	lastVersion := map[catalog.CustomerID]int64{}
	applied := 0
	for step := range steps {
		c := custs[r.IntN(len(custs))]
		svc := e.svc
		var op string
		var err error
		switch k := r.IntN(100); {
		case k < 15:
			op = "start"
			_, err = svc.Workflow.StartEditing(c.ctx, c.sc)
		case k < 45:
			op = "save"
			if r.IntN(2) == 0 {
				_, _ = svc.Workflow.StartEditing(c.ctx, c.sc)
			}
			d, derr := svc.Workflow.GetDraft(c.ctx, c.sc)
			cfg := c.config()
			if derr == nil && r.IntN(2) == 0 {
				cfg = d.Config
			}
			mutate(r, c, &cfg)
			_, err = svc.Workflow.SaveDraft(c.ctx, c.sc, cfg)
		case k < 65:
			op = "apply"
			_, err = svc.Workflow.Apply(c.ctx, c.sc)
			if err == nil {
				applied++
			}
		case k < 72:
			op = "rollback"
			if lastVersion[c.id] > 0 {
				_, err = svc.Workflow.Rollback(c.ctx, c.sc, 1+r.Int64N(lastVersion[c.id]))
			}
		case k < 77:
			op = "discard"
			err = svc.Workflow.DiscardDraft(c.ctx, c.sc)
		case k < 80:
			op = "break"
			_, err = svc.Workflow.BreakLock(e.ctx, c.sc)
		case k < 83:
			op = "idle"
			e.now = e.now.Add(time.Duration(r.IntN(40)) * time.Minute)
		case k < 92:
			op = "place"
			codes := []string{pOnPrem, pAPrivate, pAPublic, pMPrivate, pMPublic, pM2}
			_, err = svc.Operations.Place(e.ctx, c.op, c.codes[codes[r.IntN(len(codes))]], PlaceInput{})
		default:
			op = "bandwidth"
			speeds := []int64{1_000, 2_000, 5_000, 10_000}
			_, err = svc.Operations.RequestBandwidthChange(e.ctx, c.op, c.codes[pAPrivate], BandwidthInput{SpeedMbps: speeds[r.IntN(4)],
				EffectiveDate: e.now.AddDate(0, 0, r.IntN(120)).Format("2006-01-02")})
		}
		if err != nil && os.Getenv("TSUNAGI_PROPERTY_DEBUG") != "" {
			t.Logf("%s: %v", op, err)
		}
		checkInvariants(t, e, custs, lastVersion, fmt.Sprintf("step %d (%s by %s)", step, op, c.id))
	}
	t.Logf("%d applies", applied)
	if applied == 0 && steps >= 50 {
		t.Fatal("no apply succeeded: the sequence exercised nothing")
	}
}

// mutate changes a configuration at random within a small space of values
// chosen to collide often (overlaps, duplicate subnets, reserved ASNs).
func mutate(r *rand.Rand, c customer, cfg *Config) {
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	for range 1 + r.IntN(3) {
		switch r.IntN(8) {
		case 0:
			cfg.Hubs[r.IntN(len(cfg.Hubs))].InternalNetwork = pick("100.64.0.0/24", "100.64.2.0/24", "10.0.0.0/24", "100.65.0.0/24")
		case 1:
			if p := findPort(cfg, c.codes[pOnPrem]); p != nil && p.OnPrem != nil {
				p.OnPrem.HubAddress = pick("10.0.0.1", "10.0.0.5", "100.64.0.1", "10.20.0.1")
				p.OnPrem.CustomerAddress = pick("10.0.0.2", "10.0.0.6", "100.64.0.2")
			}
		case 2:
			if p := findPort(cfg, c.codes[pAPrivate]); p != nil && p.Cloud != nil {
				p.Cloud.RoutePolicy = RoutePolicy{Type: pick(PolicyDefaultRoute, PolicyAggregateRFC1918)}
				p.Cloud.Primary.HubAddress = pick("169.254.10.1", "169.254.10.5")
				p.Cloud.Primary.PeerAddress = pick("169.254.10.2", "169.254.10.6")
			}
		case 3:
			if p := findPort(cfg, c.codes[pMPublic]); p != nil {
				p.NAPT = p.NAPT[:r.IntN(len(p.NAPT)+1)]
				if r.IntN(2) == 0 {
					p.NAPT = append(p.NAPT, NAPTGrade{Sessions: []int{30_000, 60_000, 120_000}[r.IntN(3)]})
				}
			}
		case 4:
			if p := findPort(cfg, c.codes[pAPublic]); p != nil {
				p.StaticNAT = []StaticNAT{{Inside: pick("10.10.0.5", "10.10.0.6", "10.10.0.7")}}
			}
		case 5:
			if len(cfg.Ports) > 0 {
				i := r.IntN(len(cfg.Ports))
				cfg.Ports = append(cfg.Ports[:i], cfg.Ports[i+1:]...)
			}
		case 6:
			if p := findPort(cfg, c.codes[pOnPrem]); p != nil && p.OnPrem != nil {
				p.OnPrem.PeerASN = []ASN{65001, 64600, 23456, 65002}[r.IntN(4)]
			}
		case 7:
			if p := findPort(cfg, c.codes[pM2]); p != nil && p.Firewall != nil && r.IntN(2) == 0 {
				p.Firewall = nil
			}
		}
	}
}

func findPort(c *Config, code string) *PortConfig {
	for i := range c.Ports {
		if c.Ports[i].PortCode == code {
			return &c.Ports[i]
		}
	}
	return nil
}

func checkInvariants(t *testing.T, e *env, custs []customer, last map[catalog.CustomerID]int64, where string) {
	t.Helper()
	for _, c := range custs {
		f, err := e.svc.facts(e.ctx, e.db, c.id)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		vs, err := e.svc.Workflow.ListVersions(c.ctx, c.sc, 0, 500)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		for i, v := range vs {
			if v.Version != int64(len(vs)-i) {
				t.Fatalf("%s: versions of %s are %v: not 1..N", where, c.id, vs)
			}
		}
		n := int64(len(vs))
		if n < last[c.id] {
			t.Fatalf("%s: version went back from %d to %d", where, last[c.id], n)
		}
		last[c.id] = n
		if n > 0 {
			v, err := e.svc.Workflow.GetVersion(c.ctx, c.sc, n)
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			if ps := Validate(f, v.Config, e.svc.settings); len(ps) != 0 {
				t.Fatalf("%s: applied version %d of %s is invalid: %+v", where, n, c.id, ps)
			}
		}
		if d, err := e.svc.Workflow.GetDraft(c.ctx, c.sc); err == nil {
			cfg := d.Config
			Normalize(f, &cfg, e.svc.settings)
			if ps := Validate(f, cfg, e.svc.settings); len(ps) != 0 {
				t.Fatalf("%s: stored draft of %s is invalid: %+v", where, c.id, ps)
			}
		}
	}
	inv, err := e.svc.inventory(e.ctx, e.db)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	today := e.svc.today()
	for _, p := range inv {
		if c := p.committed(today, ""); c > p.capacity() {
			t.Fatalf("%s: %s/%s has %d committed of %d", where, p.Node, p.Name, c, p.capacity())
		}
	}
	for _, node := range []string{"tyo-1", "osa-1"} {
		b1, st, err := e.svc.Compiler.DesiredState(e.ctx, node)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		b2, _, err := e.svc.Compiler.DesiredState(e.ctx, node)
		if err != nil || !bytes.Equal(b1, b2) {
			t.Fatalf("%s: desired state of %s not reproducible", where, node)
		}
		for _, h := range st.Hubs {
			id := catalog.CustomerID(h.CustomerID)
			if h.ConfigVersion != last[id] {
				t.Fatalf("%s: %s carries version %d of %s, latest is %d", where, node, h.ConfigVersion, id, last[id])
			}
			v, err := e.svc.Workflow.GetVersion(e.ctx, tenanttest.Customer(id), h.ConfigVersion)
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			for _, hc := range v.Config.Hubs {
				if string(hc.HubID) == h.HubID && hc.InternalNetwork != h.InternalNetwork {
					t.Fatalf("%s: %s internal network %s, version says %s", where, h.HubID, h.InternalNetwork, hc.InternalNetwork)
				}
			}
		}
	}
}

// propertySeed is TSUNAGI_PROPERTY_SEED, the seed of a run to replay, or a
// new one; a seed that is not a number fails the test rather than running
// another sequence than the one asked for.
func propertySeed(t *testing.T) uint64 {
	s := os.Getenv("TSUNAGI_PROPERTY_SEED")
	if s == "" {
		return uint64(time.Now().UnixNano())
	}
	seed, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("TSUNAGI_PROPERTY_SEED=%q: %v", s, err)
	}
	return seed
}
