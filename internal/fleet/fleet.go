// Package fleet is the controller's side of its hub nodes: one-time enrolment
// tokens, the internal CA that signs each node's client certificate,
// revocation, authentication of a node by its certificate on every request,
// and the status each node reports. The agent never touches the database; it
// reaches all of this over mutual TLS.
package fleet

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/ids"
	"github.com/tsunagi-net/tsunagi/internal/pki"
	"github.com/tsunagi-net/tsunagi/internal/secretbox"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// Lifetimes.
const (
	EnrolTokenTTL = time.Hour
	CertValidity  = 365 * 24 * time.Hour
)

// Fleet manages hub nodes' identities.
type Fleet struct {
	db    *store.DB
	audit *audit.Log
	ca    *pki.CA
}

// caKeyContext binds the sealed CA key to its row.
const caKeyContext = "node_ca:1"

// New loads the node CA from the store, creating it on first use. Several
// controllers starting at once agree on one CA: the first insert wins and
// the others load it.
//
// The CA's private key is stored sealed with the controller's secret key
// (store.DB.Secrets): with it, anyone could mint a node certificate and
// receive every customer's configuration on a node, so a copy of the
// database alone must not give it away. A key stored in clear by an earlier
// version is sealed here.
func New(ctx context.Context, db *store.DB, log *audit.Log) (*Fleet, error) {
	f := &Fleet{db: db, audit: log}
	for range 2 {
		var certPEM, keyPEM string
		err := store.Scan(db.QueryRow(ctx, `SELECT cert_pem, key_pem FROM node_ca WHERE id = 1`), &certPEM, &keyPEM)
		if err == nil {
			stored := keyPEM
			if secretbox.IsSealed(stored) {
				if keyPEM, err = db.Secrets().Open(stored, caKeyContext); err != nil {
					return nil, fmt.Errorf("node CA: %w", err)
				}
			}
			ca, err := pki.LoadCA([]byte(certPEM), []byte(keyPEM))
			if err != nil {
				return nil, fmt.Errorf("node CA: %w", err)
			}
			if !secretbox.IsSealed(stored) {
				if err := sealCAKey(ctx, db, log, stored); err != nil {
					return nil, fmt.Errorf("node CA: %w", err)
				}
			}
			f.ca = ca
			return f, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("node CA: %w", err)
		}
		_, c, k, err := pki.NewCA("tsunagi node CA")
		if err != nil {
			return nil, fmt.Errorf("node CA: %w", err)
		}
		err = db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO node_ca (id, cert_pem, key_pem, created_at) VALUES (1, ?, ?, ?)`,
				string(c), db.Secrets().Seal(string(k), caKeyContext), clock.Store(clock.Now())); err != nil {
				return err
			}
			return log.RecordTx(audit.WithActor(ctx, audit.System), tx, audit.Event{Action: "node_ca.create", Target: "node_ca:1"})
		})
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("node CA: %w", err)
		}
	}
	return nil, errors.New("node CA: could not be created or loaded")
}

// sealCAKey seals a CA key stored in clear by an earlier version.
func sealCAKey(ctx context.Context, db *store.DB, log *audit.Log, clear string) error {
	return db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE node_ca SET key_pem = ? WHERE id = 1 AND key_pem = ?`,
			tx.Secrets().Seal(clear, caKeyContext), clear)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // another controller sealed it first
		}
		return log.RecordTx(audit.WithActor(ctx, audit.System), tx, audit.Event{Action: "node_ca.key_sealed", Target: "node_ca:1"})
	})
}

// CA returns the node CA, whose pool verifies client certificates.
func (f *Fleet) CA() *pki.CA { return f.ca }

func hashToken(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func (f *Fleet) nodeID(ctx context.Context, q store.Querier, name string) (string, error) {
	var id string
	err := store.Scan(q.QueryRow(ctx, `SELECT id FROM hub_nodes WHERE name = ?`, name), &id)
	if errors.Is(err, store.ErrNotFound) {
		return "", fault.New(fault.NotFound, "node not found")
	}
	return id, err
}

// EnrolToken is a one-time token for enrolling a node's agent.
type EnrolToken struct {
	Node      string    `json:"node"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// IssueEnrolToken makes a single-use token, valid for EnrolTokenTTL, that lets
// an agent enrol as node. Earlier unused tokens of the node are withdrawn.
func (f *Fleet) IssueEnrolToken(ctx context.Context, node string) (EnrolToken, error) {
	t := EnrolToken{Node: node, Token: ids.Secret("tse"), ExpiresAt: clock.Now().Add(EnrolTokenTTL)}
	err := f.db.InTx(ctx, func(tx *store.Tx) error {
		id, err := f.nodeID(ctx, tx, node)
		if err != nil {
			return err
		}
		var state string
		var decommissioned *string
		if err := store.Scan(tx.QueryRow(ctx, `SELECT state, decommissioned_at FROM hub_nodes WHERE id = ?`, id), &state, &decommissioned); err != nil {
			return err
		}
		if state == NodeRetired || decommissioned != nil {
			return fault.New(fault.Conflict, "node %s is retired or decommissioned: it cannot enrol again", node)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM node_enrolment_tokens WHERE node_id = ? AND used_at IS NULL`, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO node_enrolment_tokens (token_hash, node_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
			hashToken(t.Token), id, clock.Store(clock.Now()), clock.Store(t.ExpiresAt)); err != nil {
			return err
		}
		return f.audit.RecordTx(ctx, tx, audit.Event{Action: "node.enrolment_token.issue", Target: "node:" + node,
			Detail: map[string]any{"expires_at": clock.Show(t.ExpiresAt)}})
	})
	if err != nil {
		return EnrolToken{}, fmt.Errorf("enrolment token: %w", err)
	}
	return t, nil
}

// Enrolment is what an enrolled agent receives.
type Enrolment struct {
	Node    string `json:"node"`
	CertPEM string `json:"certificate"`
	CAPEM   string `json:"ca"`
}

// Enrol consumes an enrolment token and signs the agent's CSR. An unknown,
// used or expired token gets one answer.
func (f *Fleet) Enrol(ctx context.Context, token string, csrPEM []byte) (Enrolment, error) {
	bad := fault.New(fault.Unauthorized, "the enrolment token is not valid: it may have expired or been used")
	if token == "" || len(token) > 200 {
		return Enrolment{}, bad
	}
	csr, err := pki.ParseCSR(csrPEM)
	if err != nil {
		return Enrolment{}, fault.Field("csr", "%s", err.Error())
	}
	var out Enrolment
	err = f.db.InTx(ctx, func(tx *store.Tx) error {
		var nodeID, name, expires string
		err := store.Scan(tx.QueryRow(ctx, `SELECT t.node_id, n.name, t.expires_at FROM node_enrolment_tokens t
			JOIN hub_nodes n ON n.id = t.node_id WHERE t.token_hash = ? AND t.used_at IS NULL`, hashToken(token)), &nodeID, &name, &expires)
		if errors.Is(err, store.ErrNotFound) {
			return bad
		}
		if err != nil {
			return err
		}
		now := clock.Now()
		if exp, _ := clock.Parse(expires); !now.Before(exp) {
			return bad
		}
		serial, err := pki.Serial()
		if err != nil {
			return err
		}
		certPEM, cert, err := f.ca.SignNode(csr, name, serial, CertValidity)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE node_enrolment_tokens SET used_at = ? WHERE token_hash = ?`, clock.Store(now), hashToken(token)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO node_certs (serial, node_id, issued_at, not_after) VALUES (?, ?, ?, ?)`,
			serial.Text(16), nodeID, clock.Store(now), clock.Store(cert.NotAfter)); err != nil {
			return err
		}
		out = Enrolment{Node: name, CertPEM: string(certPEM), CAPEM: string(f.ca.CertPEM)}
		actx := audit.WithActor(ctx, nodeActor(ctx, name))
		return f.audit.RecordTx(actx, tx, audit.Event{Action: "node.enrol", Target: "node:" + name,
			Detail: map[string]any{"serial": serial.Text(16), "not_after": clock.Show(cert.NotAfter)}})
	})
	if err != nil {
		return Enrolment{}, fmt.Errorf("enrol: %w", err)
	}
	return out, nil
}

func nodeActor(ctx context.Context, name string) audit.Actor {
	a := audit.ActorFrom(ctx)
	return audit.Actor{ID: "node:" + name, Kind: "node", Name: name, SourceIP: a.SourceIP, RequestID: a.RequestID}
}

// Node is an authenticated hub node.
type Node struct {
	ID   string
	Name string
}

// Authenticate returns the node a verified client certificate belongs to. The
// TLS layer has checked the chain against the node CA; this checks that the
// certificate is one the controller issued, is not revoked, and that its node
// still exists — on every request, so a revocation takes effect at once.
func (f *Fleet) Authenticate(ctx context.Context, cert *x509.Certificate) (Node, error) {
	denied := fault.New(fault.Unauthorized, "node certificate not accepted")
	if cert == nil || len(cert.Subject.OrganizationalUnit) != 1 || cert.Subject.OrganizationalUnit[0] != pki.NodeOU {
		return Node{}, denied
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: f.ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return Node{}, denied
	}
	var n Node
	var revoked, decommissioned *string
	var state string
	err := store.Scan(f.db.QueryRow(ctx, `SELECT n.id, n.name, c.revoked_at, n.state, n.decommissioned_at FROM node_certs c
		JOIN hub_nodes n ON n.id = c.node_id WHERE c.serial = ?`, cert.SerialNumber.Text(16)), &n.ID, &n.Name, &revoked, &state, &decommissioned)
	// A retired or decommissioned node is refused whatever its
	// certificates: its revocation is not all that keeps it out.
	if errors.Is(err, store.ErrNotFound) || (err == nil && (revoked != nil || n.Name != cert.Subject.CommonName ||
		state == NodeRetired || decommissioned != nil)) {
		return Node{}, denied
	}
	if err != nil {
		return Node{}, err
	}
	return n, nil
}

// Revoke revokes every certificate and withdraws every unused enrolment
// token of node; its agent is refused from its next request on.
func (f *Fleet) Revoke(ctx context.Context, node, reason string) (int, error) {
	if err := checkReason(reason); err != nil {
		return 0, err
	}
	var n int64
	err := f.db.InTx(ctx, func(tx *store.Tx) error {
		id, err := f.nodeID(ctx, tx, node)
		if err != nil {
			return err
		}
		if n, err = revokeTx(ctx, tx, id); err != nil {
			return err
		}
		return f.audit.RecordTx(ctx, tx, audit.Event{Action: "node.revoke", Target: "node:" + node,
			Reason: reason, Detail: map[string]any{"certificates_revoked": n}})
	})
	if err != nil {
		return 0, fmt.Errorf("revoke: %w", err)
	}
	return int(n), nil
}
