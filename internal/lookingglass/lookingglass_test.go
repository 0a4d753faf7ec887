package lookingglass

import (
	"context"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	lgc "github.com/tsunagi-net/tsunagi/internal/network/lookingglass"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

const now = "2026-12-06T12:00:00.000000Z"

func exec(t testing.TB, db *store.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// seed makes customers A and B, each with a hub placed on its own node
// (A's on tyo-1, B's on osa-1): A has the on-premises port shc00000001
// and the cloud port shc00000002, B the on-premises port shc00000003.
func seed(t *testing.T, db *store.DB) { seedTB(t, db) }

func seedTB(t testing.TB, db *store.DB) {
	exec(t, db, `INSERT INTO regions (id, code, name_en, name_ja, data_location, created_at) VALUES ('reg_1', 'tyo', 'Tokyo', '東京', 'JP', ?)`, now)
	for _, n := range []string{"tyo-1", "osa-1"} {
		exec(t, db, `INSERT INTO hub_nodes (id, region_id, name, created_at) VALUES (?, 'reg_1', ?, ?)`, "node_"+n, n, now)
		exec(t, db, `INSERT INTO node_certs (serial, node_id, issued_at, not_after) VALUES (?, ?, ?, '2999-01-01T00:00:00.000000Z')`,
			"serial-"+n, "node_"+n, now)
	}
	for i, c := range []struct{ cust, node string }{{"cus_a", "tyo-1"}, {"cus_b", "osa-1"}} {
		shb := []string{"shb00000001", "shb00000002"}[i]
		exec(t, db, `INSERT INTO issued_codes (code, kind, issued_at) VALUES (?, 'shb', ?)`, shb, now)
		exec(t, db, `INSERT INTO customers (id, name, status, created_at) VALUES (?, ?, 'active', ?)`, c.cust, c.cust, now)
		exec(t, db, `INSERT INTO contracts (id, customer_id, service_code, plan, status, start_date, created_at) VALUES (?, ?, ?, 'std', 'active', '2026-01-01', ?)`,
			"con_"+c.cust, c.cust, shb, now)
		exec(t, db, `INSERT INTO hubs (id, customer_id, contract_id, region_id, priority, created_at) VALUES (?, ?, ?, 'reg_1', 'main', ?)`,
			"hub_"+c.cust, c.cust, "con_"+c.cust, now)
		exec(t, db, `INSERT INTO hub_placements (hub_id, customer_id, node_id, created_at) VALUES (?, ?, ?, ?)`, "hub_"+c.cust, c.cust, "node_"+c.node, now)
	}
	for _, p := range []struct{ code, cust, kind string }{{"shc00000001", "cus_a", "onprem"}, {"shc00000002", "cus_a", "aws_private"}, {"shc00000003", "cus_b", "onprem"}} {
		exec(t, db, `INSERT INTO issued_codes (code, kind, issued_at) VALUES (?, 'shc', ?)`, p.code, now)
		exec(t, db, `INSERT INTO ports (id, customer_id, contract_id, hub_id, port_code, kind, speed_mbps, redundant, status, created_at)
			VALUES (?, ?, ?, ?, ?, ?, 1000, FALSE, 'active', ?)`, "port_"+p.code, p.cust, "con_"+p.cust, "hub_"+p.cust, p.code, p.kind, now)
	}
}

func answerFor(q lgc.Query) lgc.Answer {
	return lgc.Answer{Schema: lgc.Schema, ID: q.ID, AnsweredAt: time.Now().UTC(), State: "up", Info: "Established", HoldTime: 90, KeepaliveTime: 30,
		Received: []lgc.ReceivedRoute{{Prefix: "192.0.2.0/24", NextHop: "10.0.0.2", ASPath: []int64{65001}, Accepted: true}}}
}

// agent plays the node's agent: it takes queries for node and answers
// each, until ctx ends.
func agent(ctx context.Context, t *testing.T, s *Service, node string) {
	for ctx.Err() == nil {
		qs, err := s.Take(ctx, node, 2*time.Second)
		if err != nil {
			return
		}
		for _, q := range qs {
			if err := s.Answer(ctx, node, q.ID, answerFor(q)); err != nil {
				t.Errorf("answer %s: %v", q.ID, err)
			}
		}
	}
}

func TestAskIsAnsweredByTheNodeOfTheHub(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		seed(t, db)
		s := New(db, Options{})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go agent(ctx, t, s, "tyo-1")
		v, err := s.Ask(ctx, tenanttest.Customer(catalog.CustomerID("cus_a")), "shc00000002", "secondary")
		if err != nil {
			t.Fatal(err)
		}
		if v.PortCode != "shc00000002" || v.Session != "secondary" || v.Answer.Info != "Established" || len(v.Answer.Received) != 1 {
			t.Fatalf("view: %+v", v)
		}
		// The other node is never handed A's query.
		if qs, err := s.Take(ctx, "osa-1", 0); err != nil || len(qs) != 0 {
			t.Fatalf("osa-1 took %v, %v", qs, err)
		}
	})
}

func TestAskRefuses(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		seed(t, db)
		s := New(db, Options{})
		ctx := context.Background()
		a := tenanttest.Customer(catalog.CustomerID("cus_a"))
		for name, c := range map[string]struct {
			code, session string
			kind          fault.Kind
		}{
			"another customer's port": {"shc00000003", "single", fault.NotFound},
			"unknown port":            {"shc00000009", "single", fault.NotFound},
			"on-premises secondary":   {"shc00000001", "secondary", fault.Invalid},
			"cloud single":            {"shc00000002", "single", fault.Invalid},
		} {
			_, err := s.Ask(ctx, a, c.code, c.session)
			if f, ok := fault.As(err); !ok || f.Kind != c.kind {
				t.Errorf("%s: %v, want %s", name, err, c.kind)
			}
		}
		if _, err := s.Ask(ctx, tenanttest.As(catalog.CustomerID("cus_a"), "user"), "shc00000001", "single"); err == nil {
			t.Error("a scope without network.read asked")
		}
		var n int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM lg_queries`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("refused asks queued %d queries (%v)", n, err)
		}
	})
}

// A port whose node has no valid certificate is refused at once: no agent
// could take the query, so nobody waits the answer's whole time for it.
func TestAskWithoutAnAgentFailsAtOnce(t *testing.T) {
	db := storetest.SQLite(t)
	seed(t, db)
	exec(t, db, `UPDATE node_certs SET revoked_at = ? WHERE node_id = 'node_tyo-1'`, now)
	s := New(db, Options{AnswerWait: time.Hour})
	_, err := s.Ask(context.Background(), tenanttest.Customer(catalog.CustomerID("cus_a")), "shc00000001", "single")
	if f, ok := fault.As(err); !ok || f.Kind != fault.Unavailable || f.Code != CodeNoAgent {
		t.Fatalf("got %v, want the refusal for a node without an agent", err)
	}
	var n int
	if err := db.QueryRow(context.Background(), `SELECT COUNT(*) FROM lg_queries`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the refused read queued %d queries (%v)", n, err)
	}
}

func TestUnansweredAskTimesOut(t *testing.T) {
	db := storetest.SQLite(t)
	seed(t, db)
	s := New(db, Options{AnswerWait: 300 * time.Millisecond})
	_, err := s.Ask(context.Background(), tenanttest.Customer(catalog.CustomerID("cus_a")), "shc00000001", "single")
	if f, ok := fault.As(err); !ok || f.Kind != fault.Unavailable || f.Code != CodeNodeTimeout {
		t.Fatalf("got %v, want the node timeout", err)
	}
	// Nobody waits for it now: it is not handed to the node.
	if qs, err := s.Take(context.Background(), "tyo-1", 0); err != nil || len(qs) != 0 {
		t.Fatalf("a stale query was handed out: %v, %v", qs, err)
	}
}

func TestFloodStopsAtTheController(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		seed(t, db)
		s := New(db, Options{})
		ctx := context.Background()
		for i := range MaxInFlight {
			if _, err := s.queue(ctx, "cus_a", "shc00000001", "single"); err != nil {
				t.Fatalf("query %d: %v", i, err)
			}
		}
		_, err := s.queue(ctx, "cus_a", "shc00000001", "single")
		if f, ok := fault.As(err); !ok || f.Kind != fault.RateLimited {
			t.Fatalf("query %d: %v, want rate limited", MaxInFlight+1, err)
		}
		// B is not held back by A's flood.
		if _, err := s.queue(ctx, "cus_b", "shc00000003", "single"); err != nil {
			t.Fatal(err)
		}
		// Answered queries count toward the minute.
		qs, err := s.Take(ctx, "tyo-1", 0)
		if err != nil || len(qs) != MaxInFlight {
			t.Fatalf("took %d, %v", len(qs), err)
		}
		for _, q := range qs {
			if err := s.Answer(ctx, "tyo-1", q.ID, answerFor(q)); err != nil {
				t.Fatal(err)
			}
		}
		asked := MaxInFlight
		for ; asked < MaxPerMinute+1; asked++ {
			id, err := s.queue(ctx, "cus_a", "shc00000001", "single")
			if err != nil {
				break
			}
			exec(t, db, `UPDATE lg_queries SET answered_at = created_at, answer = '{}' WHERE id = ?`, id)
		}
		if asked != MaxPerMinute {
			t.Fatalf("%d queries were let through in a minute, want %d", asked, MaxPerMinute)
		}
	})
}

func TestAnswerOnlyByItsNodeAndOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		seed(t, db)
		s := New(db, Options{})
		ctx := context.Background()
		id, err := s.queue(ctx, "cus_a", "shc00000001", "single")
		if err != nil {
			t.Fatal(err)
		}
		q := lgc.Query{ID: id}
		if err := s.Answer(ctx, "osa-1", id, answerFor(q)); kind(err) != fault.NotFound {
			t.Fatalf("another node answered: %v", err)
		}
		if err := s.Answer(ctx, "tyo-1", "lgq_other", answerFor(q)); kind(err) != fault.Invalid {
			t.Fatalf("an answer naming another query: %v", err)
		}
		bad := answerFor(q)
		bad.Received[0].Prefix = "not a prefix"
		if err := s.Answer(ctx, "tyo-1", id, bad); kind(err) != fault.Invalid {
			t.Fatalf("a malformed answer: %v", err)
		}
		if err := s.Answer(ctx, "tyo-1", id, answerFor(q)); err != nil {
			t.Fatal(err)
		}
		if err := s.Answer(ctx, "tyo-1", id, answerFor(q)); kind(err) != fault.NotFound {
			t.Fatalf("answered twice: %v", err)
		}
	})
}

func kind(err error) fault.Kind {
	if f, ok := fault.As(err); ok {
		return f.Kind
	}
	return ""
}

// TestTwoControllers: the customer's request reaches one controller, the
// node's poll another; the change broadcast carries the query and the
// answer between them.
func TestTwoControllers(t *testing.T) {
	one, two := storetest.Controllers(t)
	seed(t, one)
	asker, taker := New(one, Options{}), New(two, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go agent(ctx, t, taker, "tyo-1")
	v, err := asker.Ask(ctx, tenanttest.Customer(catalog.CustomerID("cus_a")), "shc00000001", "single")
	if err != nil {
		t.Fatal(err)
	}
	if v.Answer.State != "up" {
		t.Fatalf("view: %+v", v)
	}
}

// TestOldQueriesGo: a node's poll removes queries older than Keep, so an
// answer is not kept when nobody asks again.
func TestOldQueriesGo(t *testing.T) {
	db := storetest.SQLite(t)
	seed(t, db)
	s := New(db, Options{})
	ctx := context.Background()
	if _, err := s.queue(ctx, "cus_a", "shc00000001", "single"); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(Keep + time.Minute)
	s.now = func() time.Time { return later }
	if _, err := s.Take(ctx, "osa-1", 0); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM lg_queries`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d queries left after Keep (%v)", n, err)
	}
}
