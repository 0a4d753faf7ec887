package flows

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/fleet"
	"github.com/tsunagi-net/tsunagi/internal/network/flowrec"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// DefaultPerHour is the default cap of records stored per customer and
// clock hour: 200,000 is 55 ended connections a second all hour long,
// far above a customer's normal traffic through its hubs, and about
// 100 MB of rows an hour at worst per customer.
const DefaultPerHour = 200000

// Store keeps and reads flow records.
type Store struct {
	db *store.DB
	// perHour is the cap of records stored per customer and clock hour.
	perHour int64
	// now is the clock the hourly cap reads (a test's fixed hour).
	now func() time.Time
}

// New returns the store of flow records with the hourly cap perHour
// (DefaultPerHour when 0 or less).
func New(db *store.DB, perHour int64) *Store {
	if perHour <= 0 {
		perHour = DefaultPerHour
	}
	return &Store{db: db, perHour: perHour, now: clock.Now}
}

// insertChunk is the rows of one INSERT: 20 columns each, 500 rows stay
// far below PostgreSQL's 65,535 parameters and SQLite's 32,766.
const insertChunk = 500

// Ingest stores node's batch b: each record under its customer, up to the
// customer's hourly cap, and the counts of what the nodes and the cap
// dropped. A record or dropped count naming a hub that placed does not put
// on the node under that customer refuses the batch whole, and nothing of
// it is stored. Records already stored (a batch sent again after a lost
// answer) are stored once. Ingestion changes no one's configuration and
// is not audited, like the node's report.
func (s *Store) Ingest(ctx context.Context, nodeID string, placed fleet.Placed, b flowrec.Batch) error {
	if err := b.Check(); err != nil {
		return fault.Field("flows", "%s", err.Error())
	}
	byCust := map[catalog.CustomerID][]flowrec.Record{}
	for _, r := range b.Records {
		if err := placedOn(placed, r.HubID, r.CustomerID); err != nil {
			return err
		}
		c := catalog.CustomerID(r.CustomerID)
		byCust[c] = append(byCust[c], r)
	}
	lost := map[catalog.CustomerID]int64{}
	for _, d := range b.Dropped {
		if err := placedOn(placed, d.HubID, d.CustomerID); err != nil {
			return err
		}
		lost[catalog.CustomerID(d.CustomerID)] += d.Count
	}
	hour := clock.Store(s.now().Truncate(time.Hour))
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		// Customers in a fixed order, so that two controllers taking
		// batches of the same customers lock their hour rows alike.
		for _, c := range sortedCustomers(byCust, lost) {
			if err := s.ingestCustomer(ctx, tx, nodeID, c, hour, byCust[c], lost[c]); err != nil {
				return fmt.Errorf("flows: customer %s: %w", c, err)
			}
		}
		return nil
	})
}

func placedOn(placed fleet.Placed, hub, cust string) error {
	if c, ok := placed[catalog.HubID(hub)]; !ok || c != catalog.CustomerID(cust) {
		return fault.Field("flows", "hub %s of customer %s is not placed on this node", hub, cust)
	}
	return nil
}

// ingestCustomer counts against and stores under one customer's hour row,
// which it locks first (an UPDATE), so that two controllers cannot both
// take the last of a cap.
func (s *Store) ingestCustomer(ctx context.Context, tx *store.Tx, nodeID string, cust catalog.CustomerID, hour string, recs []flowrec.Record, lost int64) error {
	if _, err := tx.Exec(ctx, `INSERT INTO flow_hours (customer_id, hour) VALUES (?, ?) ON CONFLICT (customer_id, hour) DO NOTHING`, cust, hour); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE flow_hours SET node_dropped = node_dropped + ? WHERE customer_id = ? AND hour = ?`, lost, cust, hour); err != nil {
		return err
	}
	var stored int64
	if err := store.Scan(tx.QueryRow(ctx, `SELECT stored FROM flow_hours WHERE customer_id = ? AND hour = ?`, cust, hour), &stored); err != nil {
		return err
	}
	take := int64(len(recs))
	if left := s.perHour - stored; take > left {
		take = max(left, 0)
	}
	if _, err := tx.Exec(ctx, `UPDATE flow_hours SET stored = stored + ?, capped = capped + ? WHERE customer_id = ? AND hour = ?`,
		take, int64(len(recs))-take, cust, hour); err != nil {
		return err
	}
	return insertRecords(ctx, tx, nodeID, cust, recs[:take])
}

const insertHead = `INSERT INTO flow_records (customer_id, id, hub_id, node_id, start_at, end_at, protocol,
	orig_src, orig_dst, orig_sport, orig_dport, reply_src, reply_dst, reply_sport, reply_dport, translated,
	orig_bytes, orig_packets, reply_bytes, reply_packets) VALUES `

const insertRow = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// insertRecords writes recs: on PostgreSQL in one INSERT from arrays
// (unnest), parsed and planned once whatever the batch's size; on SQLite,
// whose statements cost little to parse, in multi-row INSERTs of
// insertChunk rows.
func insertRecords(ctx context.Context, tx *store.Tx, nodeID string, cust catalog.CustomerID, recs []flowrec.Record) error {
	if len(recs) == 0 {
		return nil
	}
	if tx.Dialect() == store.Postgres {
		return insertArrays(ctx, tx, nodeID, cust, recs)
	}
	args := make([]any, 0, 20*min(len(recs), insertChunk))
	for len(recs) > 0 {
		n := min(len(recs), insertChunk)
		args = args[:0]
		for _, r := range recs[:n] {
			args = append(args, cust, recordID(r), r.HubID, nodeID, clock.Store(r.Start), clock.Store(r.End), int(r.Protocol),
				r.Original.Src.String(), r.Original.Dst.String(), int(r.Original.SrcPort), int(r.Original.DstPort),
				r.Reply.Src.String(), r.Reply.Dst.String(), int(r.Reply.SrcPort), int(r.Reply.DstPort), r.Translated,
				clamp(r.OrigBytes), clamp(r.OrigPackets), clamp(r.ReplyBytes), clamp(r.ReplyPackets))
		}
		q := insertHead + strings.Repeat(insertRow+", ", n-1) + insertRow + ` ON CONFLICT (customer_id, id) DO NOTHING`
		if _, err := tx.Exec(ctx, q, args...); err != nil {
			return err
		}
		recs = recs[n:]
	}
	return nil
}

// insertArrays is insertRecords on PostgreSQL: one array per column.
func insertArrays(ctx context.Context, tx *store.Tx, nodeID string, cust catalog.CustomerID, recs []flowrec.Record) error {
	n := len(recs)
	text := func() []string { return make([]string, n) }
	num := func() []int64 { return make([]int64, n) }
	ids, hubs, starts, ends, osrc, odst, rsrc, rdst, trans := text(), text(), text(), text(), text(), text(), text(), text(), text()
	proto, osp, odp, rsp, rdp, ob, op, rb, rp := num(), num(), num(), num(), num(), num(), num(), num(), num()
	for i, r := range recs {
		ids[i], hubs[i], starts[i], ends[i] = recordID(r), r.HubID, clock.Store(r.Start), clock.Store(r.End)
		osrc[i], odst[i], rsrc[i], rdst[i], trans[i] = r.Original.Src.String(), r.Original.Dst.String(), r.Reply.Src.String(), r.Reply.Dst.String(), r.Translated
		proto[i], osp[i], odp[i], rsp[i], rdp[i] = int64(r.Protocol), int64(r.Original.SrcPort), int64(r.Original.DstPort), int64(r.Reply.SrcPort), int64(r.Reply.DstPort)
		ob[i], op[i], rb[i], rp[i] = clamp(r.OrigBytes), clamp(r.OrigPackets), clamp(r.ReplyBytes), clamp(r.ReplyPackets)
	}
	_, err := tx.Exec(ctx, insertHead[:strings.Index(insertHead, "VALUES")]+`
		SELECT ?, u.id, u.hub, ?, u.s, u.e, u.p, u.os, u.od, u.osp, u.odp, u.rs, u.rd, u.rsp, u.rdp, u.t, u.ob, u.op, u.rb, u.rp
		FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::text[], ?::text[], ?::bigint[], ?::bigint[],
			?::text[], ?::text[], ?::bigint[], ?::bigint[], ?::text[], ?::bigint[], ?::bigint[], ?::bigint[], ?::bigint[])
			AS u(id, hub, s, e, p, os, od, osp, odp, rs, rd, rsp, rdp, t, ob, op, rb, rp)
		ON CONFLICT (customer_id, id) DO NOTHING`,
		string(cust), nodeID, ids, hubs, starts, ends, proto, osrc, odst, osp, odp, rsrc, rdst, rsp, rdp, trans, ob, op, rb, rp)
	return err
}

// recordID identifies a connection: one hub never holds two connections of
// one original tuple that started and ended at the same nanoseconds.
func recordID(r flowrec.Record) string {
	h := sha256.New()
	for _, s := range []string{r.HubID, strconv.Itoa(int(r.Protocol)), r.Original.Src.String(), r.Original.Dst.String(),
		strconv.Itoa(int(r.Original.SrcPort)), strconv.Itoa(int(r.Original.DstPort)),
		r.Start.UTC().Format(time.RFC3339Nano), r.End.UTC().Format(time.RFC3339Nano)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// clamp fits a kernel counter into a BIGINT column (2^63 bytes are never
// reached by one connection; the clamp only keeps a broken agent's value
// from failing the batch).
func clamp(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

func sortedCustomers(a map[catalog.CustomerID][]flowrec.Record, b map[catalog.CustomerID]int64) []catalog.CustomerID {
	seen := map[catalog.CustomerID]bool{}
	var out []catalog.CustomerID
	for c := range a {
		seen[c] = true
		out = append(out, c)
	}
	for c := range b {
		if !seen[c] {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}
