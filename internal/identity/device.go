package identity

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/ids"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
	"github.com/tsunagi-net/tsunagi/internal/text"
)

// Client-certificate device authentication (ISO/IEC 27017 9.2.3). The
// customer's operations administrator registers the certificate of each
// device; the customer listener asks every client for a certificate, and TLS
// proves that the client holds its private key. A registered certificate is
// recognised by the SHA-256 of its DER bytes (pinning: no CA is trusted, so
// nothing but the registered certificate itself is accepted). When the
// customer's policy requires it, a login without a registered device is
// refused.

// Device is a registered client certificate.
type Device struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Fingerprint string    `json:"fingerprint_sha256"`
	Subject     string    `json:"subject"`
	NotAfter    time.Time `json:"not_after"`
	CreatedAt   time.Time `json:"created_at"`
}

// DeviceInput registers a device by its certificate (PEM).
type DeviceInput struct {
	Name           string `json:"name"`
	CertificatePEM string `json:"certificate_pem"`
}

type clientCertKey struct{}

// WithClientCert returns a context carrying the TLS client certificate the
// request's connection presented (the web layer sets it).
func WithClientCert(ctx context.Context, cert *x509.Certificate) context.Context {
	return context.WithValue(ctx, clientCertKey{}, cert)
}

func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// RegisterDevice registers a device certificate for p's customer. A device
// is a credential: p must be a session that re-authenticated within
// ReauthTTL, and its scope must hold security.manage.
func (s *Service) RegisterDevice(ctx context.Context, p Principal, in DeviceInput) (Device, error) {
	cust, err := p.Scope().Authorize(ActSecurityManage)
	if err != nil {
		return Device{}, err
	}
	if err := s.requireRecentAuth(ctx, p, "device.register"); err != nil {
		return Device{}, err
	}
	if in.Name == "" || len(in.Name) > 100 || text.SingleLine(in.Name) != "" || strings.ContainsAny(in.Name, "<>") {
		return Device{}, fault.Field("name", "name is required: one line, at most 100 bytes, without < or >")
	}
	block, _ := pem.Decode([]byte(in.CertificatePEM))
	if block == nil || block.Type != "CERTIFICATE" {
		return Device{}, fault.Field("certificate_pem", "certificate_pem must be one PEM CERTIFICATE block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return Device{}, fault.Field("certificate_pem", "the certificate cannot be parsed")
	}
	now := clock.Now()
	if !now.Before(cert.NotAfter) {
		return Device{}, fault.Field("certificate_pem", "the certificate has expired")
	}
	d := Device{ID: ids.New("dev"), Name: in.Name, Fingerprint: fingerprint(cert), Subject: truncate(cert.Subject.String(), 200),
		NotAfter: cert.NotAfter.UTC().Truncate(time.Microsecond), CreatedAt: now}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO device_certificates (id, customer_id, name, fingerprint, subject, not_after, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, d.ID, cust, d.Name, d.Fingerprint, d.Subject, clock.Store(d.NotAfter), clock.Store(now)); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return fault.New(fault.Conflict, "this certificate is already registered")
			}
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "device.register", Target: "device:" + d.ID, CustomerID: string(cust),
			Detail: map[string]any{"name": d.Name, "fingerprint": d.Fingerprint, "not_after": clock.Show(d.NotAfter)}})
	})
	if err != nil {
		return Device{}, fmt.Errorf("register device: %w", err)
	}
	return d, nil
}

// ListDevices lists customer cust's registered devices.
func (s *Service) ListDevices(ctx context.Context, sc tenant.Scope) ([]Device, error) {
	cust, err := sc.Authorize(ActSecurityManage)
	if err != nil {
		return nil, err
	}
	return s.listDevices(ctx, s.db, cust)
}

func (s *Service) listDevices(ctx context.Context, q store.Querier, cust catalog.CustomerID) ([]Device, error) {
	rows, err := q.Query(ctx, `SELECT id, name, fingerprint, subject, not_after, created_at FROM device_certificates
		WHERE customer_id = ? AND revoked_at IS NULL ORDER BY created_at`, cust)
	if err != nil {
		return nil, fmt.Errorf("devices: %w", err)
	}
	defer rows.Close()
	out := []Device{}
	for rows.Next() {
		var d Device
		var na, c string
		if err := rows.Scan(&d.ID, &d.Name, &d.Fingerprint, &d.Subject, &na, &c); err != nil {
			return nil, fmt.Errorf("devices: %w", err)
		}
		d.NotAfter, _ = clock.Parse(na)
		d.CreatedAt, _ = clock.Parse(c)
		out = append(out, d)
	}
	return out, rows.Err()
}

// RevokeDevice revokes a device of p's customer; sessions opened from it
// end, and while the customer requires devices, API tokens created from them
// stop working (AuthenticateToken). p must be a session that re-authenticated
// within ReauthTTL, and its scope must hold security.manage.
func (s *Service) RevokeDevice(ctx context.Context, p Principal, id string) error {
	cust, err := p.Scope().Authorize(ActSecurityManage)
	if err != nil {
		return err
	}
	if err := s.requireRecentAuth(ctx, p, "device.revoke"); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE device_certificates SET revoked_at = ? WHERE id = ? AND customer_id = ? AND revoked_at IS NULL`,
			clock.Store(clock.Now()), id, cust)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fault.New(fault.NotFound, "device not found")
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE device_id = ?`, id); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "device.revoke", Target: "device:" + id, CustomerID: string(cust)})
	})
}

// errNoDevice refuses a login that must come from a registered device.
var errNoDevice = fault.New(fault.Forbidden,
	"your organisation allows sign-in only from a registered device: present the device's client certificate")

// checkDevice returns the registered device that the request's connection
// presented, if any, and refuses (with an audit event) a customer login
// without one when the customer's policy requires it.
func (s *Service) checkDevice(ctx context.Context, p Principal) (string, error) {
	if p.CustomerID == "" {
		return "", nil
	}
	id := ""
	if cert, _ := ctx.Value(clientCertKey{}).(*x509.Certificate); cert != nil {
		var na string
		err := store.Scan(s.db.QueryRow(ctx, `SELECT id, not_after FROM device_certificates
			WHERE fingerprint = ? AND customer_id = ? AND revoked_at IS NULL`, fingerprint(cert), p.CustomerID), &id, &na)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", err
		}
		if t, _ := clock.Parse(na); err == nil && !clock.Now().Before(t) {
			id = ""
		}
	}
	if id != "" {
		return id, nil
	}
	pol, err := s.policy(ctx, s.db, p.CustomerID)
	if err != nil || !pol.RequireDevice {
		return "", err
	}
	if err := s.audit.Record(ctx, audit.Event{Action: "access.denied.device", Target: "account:" + p.AccountID,
		CustomerID: string(p.CustomerID), Result: audit.Denied}); err != nil {
		return "", err
	}
	return "", errNoDevice
}
