package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/ids"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// NAT addressing. The operator provides public IPv4 pools per region and
// purpose. NAPT grades take an aligned block (/32 … /28 by grade) from the
// NAPT pool of the port's hub region when a version is applied, and keep it
// while the grade stays; static NAT addresses are /32s the customer keeps,
// drawn from the static pool of its main hub's region and shared by its sub
// and backup hubs.

// Pool is an operator's public address pool.
type Pool struct {
	ID        string    `json:"id"`
	Region    string    `json:"region"`
	Prefix    string    `json:"prefix"`
	Purpose   string    `json:"purpose"` // napt | static
	Used      int64     `json:"used_addresses"`
	Size      int64     `json:"size_addresses"`
	CreatedAt time.Time `json:"created_at"`
}

// PoolInput adds a pool.
type PoolInput struct {
	Region  string `json:"region"`
	Prefix  string `json:"prefix"`
	Purpose string `json:"purpose"`
}

// CreatePool adds a public address pool (operator).
func (s *Operations) CreatePool(ctx context.Context, in PoolInput) (Pool, error) {
	p, err := ParsePrefix(in.Prefix)
	if err != nil {
		return Pool{}, fault.Field("prefix", "%s", err)
	}
	if p.Bits() < 16 || inAny(p.Addr(), nonPublic) {
		return Pool{}, fault.Field("prefix", "a pool is a public IPv4 prefix from /16 to /32")
	}
	if in.Purpose != "napt" && in.Purpose != "static" {
		return Pool{}, fault.Field("purpose", "purpose must be napt or static")
	}
	out := Pool{ID: ids.New("pool"), Region: in.Region, Prefix: p.String(), Purpose: in.Purpose, CreatedAt: s.now(), Size: 1 << (32 - p.Bits())}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		// Pools never overlap, or two customers could be given overlapping
		// blocks from two pools. Two operators adding overlapping pools of
		// different sizes at once would both pass the check below (the
		// unique prefix is no overlap check), so on PostgreSQL pool creation
		// is serialised by a table lock that conflicts only with itself and
		// with writes to nat_pools — allocation, which only reads the pools
		// and locks their rows, goes on. SQLite has one writer at a time.
		if tx.Dialect() == store.Postgres {
			if _, err := tx.Exec(ctx, `LOCK TABLE nat_pools IN SHARE ROW EXCLUSIVE MODE`); err != nil {
				return err
			}
		}
		var region string
		if err := store.Scan(tx.QueryRow(ctx, `SELECT id FROM regions WHERE code = ?`, in.Region), &region); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fault.Field("region", "no such region")
			}
			return err
		}
		pools, err := s.pools(ctx, tx, "", "")
		if err != nil {
			return err
		}
		for _, q := range pools {
			if netip.MustParsePrefix(q.Prefix).Overlaps(p) {
				return fault.Field("prefix", "%s overlaps pool %s (%s)", p, q.Prefix, q.Region)
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO nat_pools (id, region_id, prefix, purpose, created_at) VALUES (?, ?, ?, ?, ?)`,
			out.ID, region, out.Prefix, out.Purpose, clock.Store(out.CreatedAt)); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "nat.pool.create", Target: "pool:" + out.ID,
			Detail: map[string]any{"region": in.Region, "prefix": out.Prefix, "purpose": out.Purpose}})
	})
	if err != nil {
		return Pool{}, fmt.Errorf("create pool: %w", err)
	}
	return out, nil
}

// ListPools lists the pools with their use.
func (s *Operations) ListPools(ctx context.Context) ([]Pool, error) {
	return s.pools(ctx, s.db, "", "")
}

func (s *core) pools(ctx context.Context, q store.Querier, region, purpose string) ([]Pool, error) {
	rows, err := q.Query(ctx, `SELECT p.id, r.code, p.prefix, p.purpose, p.created_at FROM nat_pools p JOIN regions r ON r.id = p.region_id
		WHERE (? = '' OR r.code = ?) AND (? = '' OR p.purpose = ?) ORDER BY p.prefix`, region, region, purpose, purpose)
	if err != nil {
		return nil, fmt.Errorf("pools: %w", err)
	}
	out := []Pool{}
	for rows.Next() {
		var p Pool
		var at string
		if err := rows.Scan(&p.ID, &p.Region, &p.Prefix, &p.Purpose, &at); err != nil {
			rows.Close()
			return nil, fmt.Errorf("pools: %w", err)
		}
		p.CreatedAt, _ = clock.Parse(at)
		p.Size = 1 << (32 - netip.MustParsePrefix(p.Prefix).Bits())
		out = append(out, p)
	}
	rows.Close()
	for i := range out {
		used, err := s.poolUsed(ctx, q, out[i].ID)
		if err != nil {
			return nil, err
		}
		for _, u := range used {
			out[i].Used += 1 << (32 - u.Bits())
		}
	}
	return out, rows.Err()
}

func (s *core) poolUsed(ctx context.Context, q store.Querier, pool string) ([]netip.Prefix, error) {
	rows, err := q.Query(ctx, `SELECT prefix FROM nat_allocations WHERE pool_id = ?`, pool)
	if err != nil {
		return nil, fmt.Errorf("pool use: %w", err)
	}
	defer rows.Close()
	var out []netip.Prefix
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		out = append(out, netip.MustParsePrefix(p))
	}
	return out, rows.Err()
}

// poolLock makes allocation from the public pools race-free. Two customers
// applying at once would otherwise both read a pool's use, both pick the same
// first free address and insert blocks of different sizes there (a /30 and a
// /28 are different text, so the unique prefix does not stop them). On
// PostgreSQL the allocating transaction therefore locks the rows of the pools
// it may draw from (SELECT … FOR UPDATE) before it reads their use; a second
// allocator of those pools waits until the first commits and then, under READ
// COMMITTED, reads the committed allocations with its next statement. The lock
// is taken only when a block is actually drawn, covers only the pools of the
// customer's hub regions, and lasts until the apply transaction ends — which
// is right after the allocation. All those pools are locked in one statement
// in id order, so two allocators never wait on each other in a cycle (a
// region outside the hub regions, which the facts never give, would be locked
// on its own; PostgreSQL would then break a cycle by failing one apply, never
// by letting blocks overlap). SQLite needs
// nothing: its transactions begin IMMEDIATE, so there is one writer at a time
// and the read-then-insert below is already serialised.
type poolLock struct {
	regions []string        // the customer's hub regions, locked together
	held    map[string]bool // regions locked so far ("" = every region)
}

func newPoolLock(regions []string) *poolLock {
	rs := slices.Clone(regions)
	slices.Sort(rs)
	return &poolLock{regions: slices.Compact(rs), held: map[string]bool{}}
}

// acquire locks the pools of region (with the customer's other hub regions on
// the first call) for the rest of tx.
func (l *poolLock) acquire(ctx context.Context, tx *store.Tx, region string) error {
	if tx.Dialect() != store.Postgres || l.held[""] || l.held[region] {
		return nil
	}
	regions := l.regions
	if len(l.held) > 0 || !slices.Contains(regions, region) {
		regions = []string{region} // not among the hub regions: lock just it
	}
	q := `SELECT p.id FROM nat_pools p JOIN regions r ON r.id = p.region_id`
	args := []any{}
	if region != "" {
		q += ` WHERE r.code IN (?` + strings.Repeat(`, ?`, len(regions)-1) + `)`
		for _, r := range regions {
			args = append(args, r)
		}
	} else {
		regions = []string{""}
	}
	if _, err := tx.Exec(ctx, q+` ORDER BY p.id FOR UPDATE OF p`, args...); err != nil {
		return fmt.Errorf("lock pools: %w", err)
	}
	for _, r := range regions {
		l.held[r] = true
	}
	return nil
}

// take allocates the first free aligned /bits block of a pool of the region,
// after locking the pools (poolLock).
func (s *core) take(ctx context.Context, tx *store.Tx, lock *poolLock, region, purpose string, bits int) (string, netip.Prefix, error) {
	if err := lock.acquire(ctx, tx, region); err != nil {
		return "", netip.Prefix{}, err
	}
	pools, err := s.pools(ctx, tx, region, purpose)
	if err != nil {
		return "", netip.Prefix{}, err
	}
	for _, p := range pools {
		used, err := s.poolUsed(ctx, tx, p.ID)
		if err != nil {
			return "", netip.Prefix{}, err
		}
		if got, ok := firstFree(netip.MustParsePrefix(p.Prefix), bits, used); ok {
			return p.ID, got, nil
		}
	}
	return "", netip.Prefix{}, fault.New(fault.Conflict,
		"no public %s addresses are left in region %s; the operator must add a pool before this can be applied", purpose, region)
}

type allocation struct {
	id, prefix, portCode string
	slot                 int64
	inside, lastInside   *string
}

func (s *core) allocations(ctx context.Context, q store.Querier, cust catalog.CustomerID, purpose string) ([]allocation, error) {
	rows, err := q.Query(ctx, `SELECT id, prefix, port_code, slot, inside, last_inside FROM nat_allocations
		WHERE customer_id = ? AND purpose = ? ORDER BY prefix`, cust, purpose)
	if err != nil {
		return nil, fmt.Errorf("allocations: %w", err)
	}
	defer rows.Close()
	var out []allocation
	for rows.Next() {
		var a allocation
		var port *string
		var slot *int64
		if err := rows.Scan(&a.id, &a.prefix, &port, &slot, &a.inside, &a.lastInside); err != nil {
			return nil, err
		}
		if port != nil {
			a.portCode = *port
		}
		if slot != nil {
			a.slot = *slot
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// allocateNAT brings the customer's NAT allocations in line with cfg inside
// the apply transaction.
func (s *core) allocateNAT(ctx context.Context, tx *store.Tx, cust catalog.CustomerID, f Facts, cfg Config) error {
	regionOf := map[catalog.HubID]string{}
	mainRegion := ""
	var regions []string
	for _, h := range f.Hubs {
		regionOf[h.ID] = h.Region
		regions = append(regions, h.Region)
		if h.Priority == "main" || mainRegion == "" {
			mainRegion = h.Region
		}
	}
	portHub := map[string]catalog.HubID{}
	for _, p := range f.Ports {
		portHub[p.Code] = p.HubID
	}
	now := clock.Store(s.now())
	lock := newPoolLock(regions)
	// NAPT: one block per (port, grade slot) of the grade's size.
	type slotKey struct {
		port string
		slot int64
	}
	want := map[slotKey]int{}
	for _, pc := range cfg.Ports {
		for i, g := range pc.NAPT {
			want[slotKey{pc.PortCode, int64(i)}] = NAPTGrades[g.Sessions]
		}
	}
	have, err := s.allocations(ctx, tx, cust, "napt")
	if err != nil {
		return err
	}
	for _, a := range have {
		k := slotKey{a.portCode, a.slot}
		if bits, ok := want[k]; ok && netip.MustParsePrefix(a.prefix).Bits() == bits {
			delete(want, k)
			continue
		}
		if _, err := tx.Exec(ctx, `DELETE FROM nat_allocations WHERE id = ?`, a.id); err != nil {
			return err
		}
	}
	keys := make([]slotKey, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b slotKey) int {
		if a.port != b.port {
			return compareStr(a.port, b.port)
		}
		return int(a.slot - b.slot)
	})
	for _, k := range keys {
		pool, p, err := s.take(ctx, tx, lock, regionOf[portHub[k.port]], "napt", want[k])
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO nat_allocations (id, pool_id, customer_id, purpose, prefix, port_code, slot, created_at)
			VALUES (?, ?, ?, 'napt', ?, ?, ?, ?)`, ids.New("nat"), pool, cust, p.String(), k.port, k.slot, now); err != nil {
			return err
		}
	}
	// Static NAT: the customer's /32s; an inside address that had one before
	// gets the same one back when it is free.
	var inside []string
	for _, pc := range cfg.Ports {
		for _, sn := range pc.StaticNAT {
			inside = append(inside, sn.Inside)
		}
	}
	statics, err := s.allocations(ctx, tx, cust, "static")
	if err != nil {
		return err
	}
	assigned := map[string]bool{}
	free := []*allocation{}
	for i := range statics {
		a := &statics[i]
		if a.inside != nil && slices.Contains(inside, *a.inside) {
			assigned[*a.inside] = true
			continue
		}
		if a.inside != nil {
			if _, err := tx.Exec(ctx, `UPDATE nat_allocations SET inside = NULL, last_inside = ? WHERE id = ?`, *a.inside, a.id); err != nil {
				return err
			}
			a.lastInside, a.inside = a.inside, nil
		}
		free = append(free, a)
	}
	for _, in := range inside {
		if assigned[in] {
			continue
		}
		idx := slices.IndexFunc(free, func(a *allocation) bool { return a.lastInside != nil && *a.lastInside == in })
		if idx < 0 {
			idx = slices.IndexFunc(free, func(a *allocation) bool { return a.lastInside == nil })
		}
		if idx < 0 && len(free) > 0 {
			idx = 0
		}
		if idx >= 0 {
			if _, err := tx.Exec(ctx, `UPDATE nat_allocations SET inside = ?, last_inside = ? WHERE id = ?`, in, in, free[idx].id); err != nil {
				return err
			}
			free = slices.Delete(free, idx, idx+1)
			continue
		}
		pool, p, err := s.take(ctx, tx, lock, mainRegion, "static", 32)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO nat_allocations (id, pool_id, customer_id, purpose, prefix, inside, last_inside, created_at)
			VALUES (?, ?, ?, 'static', ?, ?, ?, ?)`, ids.New("nat"), pool, cust, p.String(), in, in, now); err != nil {
			return err
		}
	}
	return nil
}

func compareStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// NATAddresses are a customer's public addresses as allocated.
type NATAddresses struct {
	NAPT   map[string][]string // port code → public prefix per grade slot
	Static map[string]string   // inside address → public /32
}

func (s *core) natAddresses(ctx context.Context, q store.Querier, cust catalog.CustomerID) (NATAddresses, error) {
	out := NATAddresses{NAPT: map[string][]string{}, Static: map[string]string{}}
	napt, err := s.allocations(ctx, q, cust, "napt")
	if err != nil {
		return out, err
	}
	slices.SortFunc(napt, func(a, b allocation) int { return int(a.slot - b.slot) })
	for _, a := range napt {
		out.NAPT[a.portCode] = append(out.NAPT[a.portCode], a.prefix)
	}
	static, err := s.allocations(ctx, q, cust, "static")
	if err != nil {
		return out, err
	}
	for _, a := range static {
		if a.inside != nil {
			out.Static[*a.inside] = netip.MustParsePrefix(a.prefix).Addr().String()
		}
	}
	return out, nil
}

// NAT returns the customer's allocated public addresses.
func (s *Workflow) NAT(ctx context.Context, sc tenant.Scope) (NATAddresses, error) {
	cust, err := sc.Authorize(identity.ActNetworkRead)
	if err != nil {
		return NATAddresses{}, err
	}
	return s.natAddresses(ctx, s.db, cust)
}
