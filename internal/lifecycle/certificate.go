package lifecycle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/signing"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// CertificateSchema names the certificate's format and version.
const CertificateSchema = "tsunagi.deletion-certificate/v1"

// Certificate is the deletion certificate: what of a customer was erased,
// when, and where in the audit chain the erasure is recorded, signed with
// the controller's key. It names classes of records and their counts,
// never their contents.
type Certificate struct {
	Schema       string       `json:"schema"`
	Customer     CertCustomer `json:"customer"`
	ServiceCodes []string     `json:"service_codes"`
	TerminatedOn string       `json:"terminated_on"` // the last termination date (JST)
	Day1         string       `json:"day_1"`         // the day after it (JST): day 1 of at most 90
	// The purge's start and end: UTC, and the same instants in JST
	// (clock.Show) for people.
	StartedAt     string        `json:"purge_started_at"`
	StartedAtJST  string        `json:"purge_started_at_jst"`
	FinishedAt    string        `json:"purge_finished_at"`
	FinishedAtJST string        `json:"purge_finished_at_jst"`
	Classes       []ClassCount  `json:"classes"`
	NoticeMails   []string      `json:"notice_mails"` // outbox IDs of the erasure notices that carry this certificate
	AuditFields   string        `json:"audit_personal_fields"`
	Audit         AuditPosition `json:"audit"`
	Kept          []string      `json:"kept"`
	// Signature covers the certificate without this member, encoded as
	// SignedBytes does (what `jq -cj 'del(.signature)'` prints).
	Signature *signing.Signature `json:"signature,omitempty"`
}

// CertCustomer is who was erased: the ID and the company name, which stay.
type CertCustomer struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// ClassCount is one class of rows and how many of them were erased.
type ClassCount struct {
	Class string `json:"class"`
	Count int64  `json:"count"`
}

// AuditPosition is the audit entry customer.purge that records the end of
// the erasure: its place in the customer's hash chain.
type AuditPosition struct {
	Chain string `json:"chain"`
	Seq   int64  `json:"seq"`
	Hash  string `json:"hash"`
}

// auditFieldsErased is Certificate.AuditFields: what became of the
// customer's personal fields in the audit log.
const auditFieldsErased = "erased: the customer's key to them was destroyed; the chain still verifies"

// Kept lists what stays of an erased customer, each with why: the records
// the operator must keep (ISO/IEC 27017 CLD.8.1.5 and 18.1.3) and none of
// the customer's saved data. The test that walks every table accepts rows
// of the customer only in these tables.
var Kept = []KeptRecord{
	{"customers", "the customer row: ID, company name, status and dates, with purged_at (the contract record; a company name is not personal data)"},
	{"contracts", "the contracts with their service codes, plans and dates (the contract record)"},
	{"contract_options", "the options bought on the contracts (the contract record)"},
	{"issued_codes", "every service and port code ever issued, so that none is issued again"},
	{"audit_events", "the audit log, append-only and hash-chained; the customer's personal fields in it are erased with its key"},
	{"audit_chains", "the head of the customer's audit chain (its last sequence number and hash)"},
	{"audit_signed_heads", "the signed heads of the customer's audit chain (the evidence that it was not altered)"},
	{"audit_checkpoints", "the signed checkpoint where retention cut the customer's audit chain"},
	{"erasures", "the erasure list and the signed deletion certificate (evidence of the erasure; re-applied after a restore)"},
	{"erasure_steps", "the classes erased and their counts (the certificate's figures)"},
	{"notices", "the operator's announcements and incidents: a scope chosen by customer names the customer's ID; no personal data"},
	{"notice_updates", "the history of those announcements and incidents (the operator's record of what was announced when)"},
	{"job_runs", "the scheduler's run records: a failed run's error may name the customer's ID, an opaque identifier"},
}

// KeptRecord is one table kept after an erasure and why.
type KeptRecord struct{ Table, Why string }

// SignedBytes is what the signature covers: c without its signature, as
// compact JSON in field order with no HTML escaping.
func SignedBytes(c Certificate) ([]byte, error) {
	c.Signature = nil
	return encode(c)
}

func encode(c Certificate) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// VerifyCertificate checks the stored certificate doc against the
// published keys: its signature over exactly its own bytes without the
// signature member, by a key not retired before the erasure finished. A
// certificate changed by one byte fails.
func VerifyCertificate(keys []signing.PublicKey, doc []byte) error {
	var c Certificate
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return fmt.Errorf("certificate: %w", err)
	}
	if c.Schema != CertificateSchema || c.Signature == nil {
		return errors.New("certificate: not a signed " + CertificateSchema)
	}
	again, err := encode(c)
	if err != nil {
		return err
	}
	// The document must be exactly its canonical encoding, so that what
	// was verified is what was read (no member read twice, no spacing).
	if !bytes.Equal(again, doc) {
		return errors.New("certificate: not in its canonical encoding")
	}
	msg, err := SignedBytes(c)
	if err != nil {
		return err
	}
	if err := signing.Verify(keys, msg, *c.Signature); err != nil {
		return err
	}
	// A key rotated away (after a leak, say) vouches only for what it
	// signed before its retirement.
	finished, err := time.Parse(time.RFC3339, c.FinishedAt)
	if err != nil {
		return fmt.Errorf("certificate: purge_finished_at: %w", err)
	}
	for _, k := range keys {
		if k.ID == c.Signature.KeyID && k.RetiredAt != nil && finished.After(*k.RetiredAt) {
			return fmt.Errorf("certificate: signed with key %s, retired at %s, for an erasure that finished after", k.ID, k.RetiredAt.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// finish is the last step: it records the end in the audit log, erases
// the audit log's personal fields, signs and stores the certificate,
// releases the notices that carry it and marks the customer purged, all in
// one transaction. It reports false when the erasure was already finished.
func (p *Purger) finish(ctx context.Context, cust catalog.CustomerID) (bool, error) {
	var finished bool
	err := p.db.InTx(ctx, func(tx *store.Tx) error {
		// The no-op UPDATE takes the erasure's row lock first: a second
		// controller finishing the same erasure waits here, then finds it
		// finished, instead of writing a second certificate.
		res, err := tx.Exec(ctx, `UPDATE erasures SET started_at = started_at WHERE customer_id = ? AND finished_at IS NULL`, cust)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		var started, term string
		if err := store.Scan(tx.QueryRow(ctx, `SELECT started_at, terminated_on FROM erasures WHERE customer_id = ?`, cust),
			&started, &term); err != nil {
			return err
		}
		c := Certificate{Schema: CertificateSchema, TerminatedOn: term, ServiceCodes: []string{}, NoticeMails: []string{}}
		for _, k := range Kept {
			c.Kept = append(c.Kept, k.Table+": "+k.Why)
		}
		if err := store.Scan(tx.QueryRow(ctx, `SELECT id, name FROM customers WHERE id = ?`, cust), &c.Customer.ID, &c.Customer.Name); err != nil {
			return err
		}
		if d, err := clock.ParseDate(term); err == nil {
			c.Day1 = d.AddDate(0, 0, 1).Format(clock.DateLayout)
		}
		st, err := clock.Parse(started)
		if err != nil {
			return fmt.Errorf("started_at: %w", err)
		}
		now := clock.Now()
		c.StartedAt, c.StartedAtJST = st.UTC().Format(time.RFC3339), clock.Show(st)
		c.FinishedAt, c.FinishedAtJST = now.UTC().Format(time.RFC3339), clock.Show(now)
		if c.ServiceCodes, err = strings1(ctx, tx, `SELECT service_code FROM contracts WHERE customer_id = ? ORDER BY service_code`, cust); err != nil {
			return err
		}
		if c.Classes, err = stepCounts(ctx, tx, cust); err != nil {
			return err
		}
		notices, err := heldNotices(ctx, tx, cust)
		if err != nil {
			return err
		}
		for _, n := range notices {
			c.NoticeMails = append(c.NoticeMails, n.id)
		}
		if _, err := tx.Exec(ctx, `UPDATE customers SET purged_at = ? WHERE id = ?`, clock.Store(now), cust); err != nil {
			return err
		}
		detail := map[string]any{"terminated_on": term}
		for _, cc := range c.Classes {
			detail[cc.Class] = cc.Count
		}
		if err := p.audit.RecordTx(ctx, tx, audit.Event{Action: "customer.purge", Target: "customer:" + string(cust),
			CustomerID: string(cust), Detail: detail}); err != nil {
			return err
		}
		if err := p.audit.FlushTx(ctx, tx); err != nil {
			return err
		}
		head, err := audit.HeadOf(ctx, tx, audit.ChainOf(string(cust)))
		if err != nil {
			return err
		}
		c.Audit = AuditPosition{Chain: head.Chain, Seq: head.Seq, Hash: head.Hash}
		if err := p.audit.ForgetCustomerTx(ctx, tx, string(cust)); err != nil {
			return fmt.Errorf("audit personal fields: %w", err)
		}
		c.AuditFields = auditFieldsErased
		msg, err := SignedBytes(c)
		if err != nil {
			return err
		}
		sig, err := p.keys.SignTx(ctx, tx, msg)
		if err != nil {
			return err
		}
		c.Signature = &sig
		doc, err := encode(c)
		if err != nil {
			return err
		}
		if err := releaseNotices(ctx, tx, c, string(doc), notices); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE erasures SET finished_at = ?, certificate = ? WHERE customer_id = ?`,
			clock.Store(now), string(doc), cust); err != nil {
			return err
		}
		finished = true
		return nil
	})
	return finished, err
}

// stepCounts are the erased classes with their counts, in step order.
func stepCounts(ctx context.Context, tx *store.Tx, cust catalog.CustomerID) ([]ClassCount, error) {
	rows, err := tx.Query(ctx, `SELECT class, count FROM erasure_steps WHERE customer_id = ?`, cust)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	got := map[string]int64{}
	for rows.Next() {
		var class string
		var n int64
		if err := rows.Scan(&class, &n); err != nil {
			return nil, err
		}
		got[class] = n
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := []ClassCount{}
	for _, s := range steps {
		n, ok := got[s.class]
		if !ok {
			return nil, fmt.Errorf("step %s has not run", s.class)
		}
		if s.erases {
			out = append(out, ClassCount{s.class, n})
		}
	}
	return out, nil
}

func strings1(ctx context.Context, tx *store.Tx, q string, args ...any) ([]string, error) {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Erasure is one customer's erasure as operators see it.
type Erasure struct {
	CustomerID   string       `json:"customer_id"`
	CustomerName string       `json:"customer_name"`
	TerminatedOn string       `json:"terminated_on"`
	StartedAt    time.Time    `json:"started_at"`
	FinishedAt   *time.Time   `json:"finished_at"`
	Steps        []ClassCount `json:"steps,omitempty"` // the steps done so far, in order
}

// Certificate returns cust's stored deletion certificate (platform
// records: the caller checks the operator's permission).
func (p *Purger) Certificate(ctx context.Context, cust catalog.CustomerID) ([]byte, error) {
	var doc *string
	err := store.Scan(p.db.QueryRow(ctx, `SELECT certificate FROM erasures WHERE customer_id = ?`, cust), &doc)
	if errors.Is(err, store.ErrNotFound) || (err == nil && doc == nil) {
		return nil, fault.New(fault.NotFound, "no deletion certificate: the customer's erasure has not finished")
	}
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	return []byte(*doc), nil
}
