package network

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// rawConfigs returns every configuration as the database holds it.
func rawConfigs(t *testing.T, e *env) string {
	t.Helper()
	var all strings.Builder
	for _, q := range []string{`SELECT config FROM net_versions`, `SELECT config FROM net_drafts`} {
		rows, err := e.db.Query(e.ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				t.Fatal(err)
			}
			all.WriteString(c + "\n")
		}
		rows.Close()
	}
	return all.String()
}

// portOf returns the port of c with code: a configuration read back is in
// the order of its port codes, which are drawn at random, not the fixture's.
func portOf(t *testing.T, c Config, code string) PortConfig {
	t.Helper()
	for _, p := range c.Ports {
		if p.PortCode == code {
			return p
		}
	}
	t.Fatalf("port %s not in %+v", code, c.Ports)
	return PortConfig{}
}

// TestBGPPasswordsSealedAtRest: no draft or version holds a BGP password in
// clear; the customer's own reads and the node's desired state still have
// the real one.
func TestBGPPasswordsSealedAtRest(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a := e.addCustomer("a")
		for _, code := range []string{pOnPrem, pAPrivate} {
			if _, err := e.svc.Place(e.ctx, a.id, a.codes[code], PlaceInput{}); err != nil {
				t.Fatal(err)
			}
		}
		cfg := a.config()
		cfg.Ports = cfg.Ports[:2]
		cfg.Ports[1].Cloud.MD5 = "cloud-s3cret"
		if _, err := e.svc.StartEditing(a.ctx, a.id); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.SaveDraft(a.ctx, a.id, cfg); err != nil {
			t.Fatal(err)
		}
		if raw := rawConfigs(t, e); strings.Contains(raw, "s3cret") || !strings.Contains(raw, `"md5":"v1:`) {
			t.Fatalf("draft at rest holds the password in clear, or none sealed:\n%s", raw)
		}
		if d, err := e.svc.GetDraft(a.ctx, a.id); err != nil || portOf(t, d.Config, a.codes[pOnPrem]).OnPrem.MD5 != "s3cret" {
			t.Fatalf("draft read back: %v %+v", err, d.Config.Ports)
		}
		if _, err := e.svc.Apply(a.ctx, a.id); err != nil {
			t.Fatal(err)
		}
		if raw := rawConfigs(t, e); strings.Contains(raw, "s3cret") {
			t.Fatalf("version at rest holds the password in clear:\n%s", raw)
		}
		v, err := e.svc.GetVersion(a.ctx, a.id, 1)
		if err != nil || portOf(t, v.Config, a.codes[pAPrivate]).Cloud.MD5 != "cloud-s3cret" {
			t.Fatalf("version read back: %v", err)
		}
		doc, _, err := e.svc.DesiredState(e.ctx, "tyo-1")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(doc, []byte(`"s3cret"`)) || !bytes.Contains(doc, []byte(`"cloud-s3cret"`)) {
			t.Errorf("the node's desired state lacks the real passwords:\n%s", doc)
		}

		// A password sealed for one customer does not open as another's.
		other := e.addCustomer("b")
		var raw string
		if err := store.Scan(db.QueryRow(e.ctx, `SELECT config FROM net_versions WHERE customer_id = ?`, a.id), &raw); err != nil {
			t.Fatal(err)
		}
		if _, err := storedConfig(db, other.id, raw); err == nil {
			t.Errorf("a's sealed passwords opened as b's")
		}
	})
}

// TestClearBGPPasswordsSealedAtStart: versions and drafts written in clear by
// an earlier version are sealed by SealStoredSecrets, with nothing else
// changed, and read back the same.
func TestClearBGPPasswordsSealedAtStart(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a := e.addCustomer("a")
		cfg := a.config()
		clear, err := encodeConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(e.ctx, `INSERT INTO net_versions (customer_id, version, base_version, rollback_of, config, review, applied_at, applied_by)
			VALUES (?, 1, 0, NULL, ?, '{}', '2026-11-01T00:00:00.000000Z', 'a-ops')`, a.id, clear); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(e.ctx, `INSERT INTO net_drafts (customer_id, base_version, rollback_of, config, updated_at, updated_by)
			VALUES (?, 1, NULL, ?, '2026-11-02T00:00:00.000000Z', 'a-ops')`, a.id, clear); err != nil {
			t.Fatal(err)
		}
		n, err := e.svc.SealStoredSecrets(e.ctx)
		if err != nil || n != 2 {
			t.Fatalf("sealed %d, %v; want 2", n, err)
		}
		if raw := rawConfigs(t, e); strings.Contains(raw, "s3cret") {
			t.Fatalf("clear password left after sealing:\n%s", raw)
		}
		v, err := e.svc.GetVersion(a.ctx, a.id, 1)
		if err != nil || portOf(t, v.Config, a.codes[pOnPrem]).OnPrem.MD5 != "s3cret" || v.AppliedBy != "a-ops" {
			t.Fatalf("version after sealing: %v %+v", err, v)
		}
		if n, err := e.svc.SealStoredSecrets(e.ctx); err != nil || n != 0 {
			t.Errorf("second pass sealed %d, %v; want 0", n, err)
		}
	})
}
