package fleet_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/disposal"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/fleet"
	"github.com/tsunagi-net/tsunagi/internal/pki"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// lifeEnv is a fleet with node tyo-1 (physical port eth1) in tokyo, and
// the store to plant a placement in (placement is package network's).
type lifeEnv struct {
	ctx context.Context
	db  *store.DB
	log *audit.Log
	cat *catalog.Catalog
	f   *fleet.Fleet
}

func newLifeEnv(t *testing.T, db *store.DB) *lifeEnv {
	t.Helper()
	e := &lifeEnv{ctx: audit.WithActor(context.Background(), audit.Actor{ID: "acc_op", Kind: "operator", Name: "op"}), db: db, log: audit.New(db)}
	e.cat = catalog.New(db, e.log)
	if _, err := e.cat.CreateRegion(e.ctx, catalog.RegionInput{Code: "tokyo", NameEN: "Tokyo", NameJA: "東京", DataLocation: "Japan"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cat.CreateNode(e.ctx, catalog.NodeInput{Region: "tokyo", Name: "tyo-1",
		Ports: []catalog.PhysicalPort{{Name: "eth1", SpeedMbps: 10_000, Kind: "onprem"}}}); err != nil {
		t.Fatal(err)
	}
	var err error
	if e.f, err = fleet.New(e.ctx, db, e.log); err != nil {
		t.Fatal(err)
	}
	return e
}

// enrol enrols tyo-1 and returns its certificate.
func (e *lifeEnv) enrol(t *testing.T) *x509.Certificate {
	t.Helper()
	tok, err := e.f.IssueEnrolToken(e.ctx, "tyo-1")
	if err != nil {
		t.Fatal(err)
	}
	_, csr, _ := pki.NewNodeKey("x")
	en, err := e.f.Enrol(e.ctx, tok.Token, csr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode([]byte(en.CertPEM))
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.f.Authenticate(e.ctx, cert); err != nil {
		t.Fatalf("a fresh certificate is refused: %v", err)
	}
	return cert
}

// TestDrainAndRetire: a drained node lists what is still on it; retiring
// it is refused, naming what remains, until nothing does; a retired node's
// certificate is refused, it cannot enrol again, and its physical ports
// are released.
func TestDrainAndRetire(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newLifeEnv(t, db)
		cert := e.enrol(t)
		cust, err := e.cat.CreateCustomer(e.ctx, catalog.CustomerInput{Name: "A"})
		if err != nil {
			t.Fatal(err)
		}
		k, err := e.cat.CreateContract(e.ctx, tenanttest.Operator(cust.ID), catalog.ContractInput{Plan: "smart-hub"})
		if err != nil {
			t.Fatal(err)
		}
		hub, err := e.cat.CreateHub(e.ctx, tenanttest.Operator(cust.ID), catalog.HubInput{ServiceCode: k.ServiceCode, Region: "tokyo", Priority: "main"})
		if err != nil {
			t.Fatal(err)
		}
		// The hub placed on the node, as package network's placement does.
		var nodeID string
		if err := store.Scan(db.QueryRow(e.ctx, `SELECT id FROM hub_nodes WHERE name = 'tyo-1'`), &nodeID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(e.ctx, `INSERT INTO hub_placements (hub_id, customer_id, node_id, created_at) VALUES (?, ?, ?, ?)`,
			hub.ID, cust.ID, nodeID, clock.Store(time.Now())); err != nil {
			t.Fatal(err)
		}

		if _, err := e.f.Drain(e.ctx, "tyo-1", ""); !fault.Is(err, fault.Invalid) {
			t.Errorf("drain without a reason: %v", err)
		}
		if _, err := e.f.Drain(e.ctx, "tyo-9", "x"); !fault.Is(err, fault.NotFound) {
			t.Errorf("drain an unknown node: %v", err)
		}
		l, err := e.f.Drain(e.ctx, "tyo-1", "hardware refresh")
		if err != nil || l.State != fleet.NodeDraining || len(l.Remaining) != 1 || l.Remaining[0].HubID != string(hub.ID) {
			t.Fatalf("drain = %+v, %v", l, err)
		}
		if _, err := e.f.Authenticate(e.ctx, cert); err != nil {
			t.Errorf("a draining node's agent is refused: %v", err)
		}
		if _, err := e.f.Drain(e.ctx, "tyo-1", "another reason"); !fault.Is(err, fault.Conflict) || !strings.Contains(err.Error(), "already draining") {
			t.Errorf("drain a draining node: %v", err)
		}
		if l, _ := e.f.NodeLifecycle(e.ctx, "tyo-1"); l.StateReason != "hardware refresh" {
			t.Errorf("a refused drain changed the reason: %+v", l)
		}

		_, err = e.f.Retire(e.ctx, "tyo-1", "disposed")
		if !fault.Is(err, fault.Conflict) || !strings.Contains(err.Error(), "hub "+string(hub.ID)+" of customer "+string(cust.ID)) {
			t.Fatalf("retire while used: %v", err)
		}
		if l, _ := e.f.NodeLifecycle(e.ctx, "tyo-1"); l.State != fleet.NodeDraining {
			t.Fatalf("a refused retire changed the node: %+v", l)
		}
		if _, err := e.f.Authenticate(e.ctx, cert); err != nil {
			t.Errorf("a refused retire revoked the certificate: %v", err)
		}

		if _, err := db.Exec(e.ctx, `DELETE FROM hub_placements WHERE hub_id = ?`, hub.ID); err != nil {
			t.Fatal(err)
		}
		l, err = e.f.Retire(e.ctx, "tyo-1", "disposed")
		if err != nil || l.State != fleet.NodeRetired || len(l.Remaining) != 0 {
			t.Fatalf("retire = %+v, %v", l, err)
		}
		if _, err := e.f.Authenticate(e.ctx, cert); !fault.Is(err, fault.Unauthorized) {
			t.Errorf("a retired node's certificate: %v", err)
		}
		if _, err := e.f.IssueEnrolToken(e.ctx, "tyo-1"); !fault.Is(err, fault.Conflict) {
			t.Errorf("enrolment token for a retired node: %v", err)
		}
		if _, err := e.f.Drain(e.ctx, "tyo-1", "x"); !fault.Is(err, fault.Conflict) {
			t.Errorf("drain a retired node: %v", err)
		}
		var released int
		if err := store.Scan(db.QueryRow(e.ctx, `SELECT COUNT(*) FROM physical_ports WHERE node_id = ? AND released_at IS NOT NULL`, nodeID), &released); err != nil || released != 1 {
			t.Errorf("released physical ports = %d, %v", released, err)
		}
		entries, err := e.log.List(e.ctx, audit.AllChains())
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, en := range entries {
			actions = append(actions, en.Action)
		}
		for _, want := range []string{"node.drain", "node.retire"} {
			if !strings.Contains(strings.Join(actions, " "), want) {
				t.Errorf("audit lacks %s: %v", want, actions)
			}
		}
		if _, err := e.log.Verify(e.ctx); err != nil {
			t.Error(err)
		}
	})
}

// TestRecordDecommission: the agent's report is recorded once, the node's
// certificate is refused from then on, and a bad report changes nothing.
func TestRecordDecommission(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newLifeEnv(t, db)
		cert := e.enrol(t)
		n, err := e.f.Authenticate(e.ctx, cert)
		if err != nil {
			t.Fatal(err)
		}
		bad := disposal.Report{Schema: "x"}
		if err := e.f.RecordDecommission(e.ctx, n, bad); !fault.Is(err, fault.Invalid) {
			t.Errorf("bad report: %v", err)
		}
		if _, err := e.f.Authenticate(e.ctx, cert); err != nil {
			t.Errorf("a refused report revoked the node: %v", err)
		}
		r := disposal.Report{Schema: disposal.Schema, AgentVersion: "1.0", WipedAt: time.Now(), HubsRemoved: []string{"abc"},
			FilesRemoved: []string{"state/node.key"}}
		if err := e.f.RecordDecommission(e.ctx, n, r); err != nil {
			t.Fatal(err)
		}
		if _, err := e.f.Authenticate(e.ctx, cert); !fault.Is(err, fault.Unauthorized) {
			t.Errorf("a decommissioned node's certificate: %v", err)
		}
		l, err := e.f.NodeLifecycle(e.ctx, "tyo-1")
		if err != nil || l.DecommissionedAt == nil || l.Decommission == nil || l.Decommission.HubsRemoved[0] != "abc" || l.State != fleet.NodeDraining {
			t.Fatalf("lifecycle = %+v, %v", l, err)
		}
		if err := e.f.RecordDecommission(e.ctx, n, r); !fault.Is(err, fault.Conflict) {
			t.Errorf("second report: %v", err)
		}
	})
}

// TestRetireWaitsForPlacement: a placement deciding on the node's physical
// port (holding package network's lock on it) when the retire starts is
// seen by the retire, which is refused, instead of landing on a node that
// is retired under it.
func TestRetireWaitsForPlacement(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newLifeEnv(t, db)
		cust, err := e.cat.CreateCustomer(e.ctx, catalog.CustomerInput{Name: "A"})
		if err != nil {
			t.Fatal(err)
		}
		k, err := e.cat.CreateContract(e.ctx, tenanttest.Operator(cust.ID), catalog.ContractInput{Plan: "smart-hub"})
		if err != nil {
			t.Fatal(err)
		}
		hub, err := e.cat.CreateHub(e.ctx, tenanttest.Operator(cust.ID), catalog.HubInput{ServiceCode: k.ServiceCode, Region: "tokyo", Priority: "main"})
		if err != nil {
			t.Fatal(err)
		}
		var nodeID, portID string
		if err := store.Scan(db.QueryRow(e.ctx, `SELECT n.id, pp.id FROM hub_nodes n JOIN physical_ports pp ON pp.node_id = n.id WHERE n.name = 'tyo-1'`),
			&nodeID, &portID); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		// The placement, as network's Place makes it: lock, decide, insert.
		err = db.InTx(e.ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec(e.ctx, `UPDATE physical_ports SET oversubscription = oversubscription WHERE id = ?`, portID); err != nil {
				return err
			}
			go func() { _, err := e.f.Retire(e.ctx, "tyo-1", "disposed"); done <- err }()
			time.Sleep(300 * time.Millisecond) // the retire reads what it can meanwhile
			_, err := tx.Exec(e.ctx, `INSERT INTO hub_placements (hub_id, customer_id, node_id, created_at) VALUES (?, ?, ?, ?)`,
				hub.ID, cust.ID, nodeID, clock.Store(time.Now()))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := <-done; !fault.Is(err, fault.Conflict) || !strings.Contains(err.Error(), "hub "+string(hub.ID)) {
			t.Errorf("retire during a placement: %v", err)
		}
	})
}
