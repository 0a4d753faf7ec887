package network

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestNATPoolConcurrentAllocation has many customers allocate NAPT blocks of
// different sizes and static addresses from the same small pools at the same
// moment, each in its own transaction as Apply does. A unique prefix does not
// stop a /30 and a /28 at the same address from both being taken; the pool
// lock must. Every allocation succeeds and no two overlap. PostgreSQL only:
// SQLite has one writer at a time.
func TestNATPoolConcurrentAllocation(t *testing.T) {
	t.Parallel()
	db := storetest.Postgres(t)
	e := newEnv(t, db)
	const customers, rounds = 8, 15
	var custs []catalog.CustomerID
	for i := range customers {
		cu, err := e.cat.CreateCustomer(e.ctx, catalog.CustomerInput{Name: fmt.Sprintf("race-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		custs = append(custs, cu.ID)
	}
	// Sessions per grade, so that neighbours ask for /32, /31, /30 and /29.
	sizes := []int{30_000, 60_000, 120_000, 240_000}
	f := Facts{Hubs: []HubFact{{ID: "hub_tyo", Region: "tokyo", Priority: "main"}},
		Ports: []PortFact{{Code: "shc00000001", HubID: "hub_tyo"}}}
	for round := range rounds {
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, customers)
		for i, cust := range custs {
			cfg := Config{Ports: []PortConfig{{PortCode: "shc00000001",
				NAPT:      []NAPTGrade{{Sessions: sizes[(i+round)%len(sizes)]}},
				StaticNAT: []StaticNAT{{Inside: "10.0.0.1"}}}}}
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = db.InTx(e.ctx, func(tx *store.Tx) error { return e.svc.allocateNAT(e.ctx, tx, cust, f, cfg) })
			}()
		}
		close(start)
		wg.Wait()
		var got []netip.Prefix
		rows, err := db.Query(e.ctx, `SELECT prefix FROM nat_allocations`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var p string
			if err := rows.Scan(&p); err != nil {
				t.Fatal(err)
			}
			got = append(got, netip.MustParsePrefix(p))
		}
		rows.Close()
		for i, a := range got {
			for _, b := range got[i+1:] {
				if a.Overlaps(b) {
					t.Fatalf("round %d: allocations %s and %s overlap (all: %v)", round, a, b, got)
				}
			}
		}
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: customer %d: %v", round, i, err)
			}
		}
		if len(got) != 2*customers {
			t.Fatalf("round %d: %d allocations, want %d: %v", round, len(got), 2*customers, got)
		}
		if _, err := db.Exec(e.ctx, `DELETE FROM nat_allocations`); err != nil {
			t.Fatal(err)
		}
	}
}

// TestNATPoolConcurrentCreate has operators add overlapping pools of
// different sizes at the same moment: the pools that are created never
// overlap, and each refused one gets the field error. PostgreSQL only.
func TestNATPoolConcurrentCreate(t *testing.T) {
	t.Parallel()
	db := storetest.Postgres(t)
	e := newEnv(t, db)
	for round := range 10 {
		base := netip.MustParseAddr([]string{"192.0.2.0", "198.51.100.128"}[round%2])
		var ins []string
		for bits := 25; bits <= 32; bits++ {
			ins = append(ins, netip.PrefixFrom(base, bits).String())
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, len(ins))
		for i, in := range ins {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = e.svc.Operations.CreatePool(e.ctx, PoolInput{Region: "osaka", Prefix: in, Purpose: "static"})
			}()
		}
		close(start)
		wg.Wait()
		pools, err := e.svc.Operations.ListPools(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range pools {
			for _, b := range pools[i+1:] {
				if netip.MustParsePrefix(a.Prefix).Overlaps(netip.MustParsePrefix(b.Prefix)) {
					t.Fatalf("round %d: pools %s and %s overlap", round, a.Prefix, b.Prefix)
				}
			}
		}
		created := 0
		for i, err := range errs {
			if err == nil {
				created++
				continue
			}
			if f, ok := fault.As(err); !ok || f.Field != "prefix" {
				t.Fatalf("round %d: %s: %v, want a prefix field error", round, ins[i], err)
			}
		}
		if created != 1 {
			t.Fatalf("round %d: %d pools created, want 1", round, created)
		}
		for _, p := range pools {
			if slices.Contains(ins, p.Prefix) {
				if _, err := db.Exec(e.ctx, `DELETE FROM nat_pools WHERE id = ?`, p.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}
