package network

import (
	"context"
	"fmt"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/secretbox"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// BGP MD5 passwords are write-only through the API: what a customer reads
// shows SecretMask in their place, and a configuration saved with the mask
// keeps the password the draft already has for that port. Only the desired
// state (for the agent) carries them in clear.

// Every Version, Draft and Editing that an exported method hands to a scope
// — the customer's own reads and a break-glass read alike — is masked by its
// mask method (deferred at the top of the method), so no caller has to
// remember to; the compiler reads configurations through unexported helpers.

func (v *Version) mask() { v.Config = v.Config.Redacted() }
func (d *Draft) mask()   { d.Config = d.Config.Redacted() }
func (e *Editing) mask() { e.Draft.mask() }

// SecretMask stands for a password that is set.
const SecretMask = "********"

// Redacted returns a copy of c with every MD5 password masked.
func (c Config) Redacted() Config {
	out := c
	out.Ports = make([]PortConfig, len(c.Ports))
	for i, p := range c.Ports {
		if p.OnPrem != nil && p.OnPrem.MD5 != "" {
			o := *p.OnPrem
			o.MD5 = SecretMask
			p.OnPrem = &o
		}
		if p.Cloud != nil && p.Cloud.MD5 != "" {
			cl := *p.Cloud
			cl.MD5 = SecretMask
			p.Cloud = &cl
		}
		out.Ports[i] = p
	}
	return out
}

// restoreSecrets replaces masked passwords in cfg by the ones prev has for
// the same port; a mask with nothing behind it is an error.
func restoreSecrets(cfg *Config, prev Config) error {
	old := map[string]PortConfig{}
	for _, p := range prev.Ports {
		old[p.PortCode] = p
	}
	for i := range cfg.Ports {
		p := &cfg.Ports[i]
		o, had := old[p.PortCode]
		if p.OnPrem != nil && p.OnPrem.MD5 == SecretMask {
			if !had || o.OnPrem == nil || o.OnPrem.MD5 == "" {
				return fault.Field(fmt.Sprintf("ports[%d].onprem.md5", i), "the MD5 password is masked but none is set; give the password")
			}
			p.OnPrem.MD5 = o.OnPrem.MD5
		}
		if p.Cloud != nil && p.Cloud.MD5 == SecretMask {
			if !had || o.Cloud == nil || o.Cloud.MD5 == "" {
				return fault.Field(fmt.Sprintf("ports[%d].cloud.md5", i), "the MD5 password is masked but none is set; give the password")
			}
			p.Cloud.MD5 = o.Cloud.MD5
		}
	}
	return nil
}

// At rest the passwords are sealed with the controller's secret key (see
// package secretbox), each bound to its customer, port and side: a copy of
// the database does not give them away, and a sealed password moved to
// another customer's row does not open. Versions and drafts are stored with
// sealed passwords; they are opened when read back (storedConfig).

func md5Context(cust catalog.CustomerID, port, side string) string {
	return "md5:" + string(cust) + "/" + port + "/" + side
}

// eachMD5 calls fn for every password set in c, with its context.
func eachMD5(c *Config, cust catalog.CustomerID, fn func(pw *string, context string) error) error {
	for i := range c.Ports {
		p := &c.Ports[i]
		if p.OnPrem != nil && p.OnPrem.MD5 != "" {
			o := *p.OnPrem
			if err := fn(&o.MD5, md5Context(cust, p.PortCode, "onprem")); err != nil {
				return err
			}
			p.OnPrem = &o
		}
		if p.Cloud != nil && p.Cloud.MD5 != "" {
			cl := *p.Cloud
			if err := fn(&cl.MD5, md5Context(cust, p.PortCode, "cloud")); err != nil {
				return err
			}
			p.Cloud = &cl
		}
	}
	return nil
}

// encodeStored encodes c for the database with its passwords sealed.
func encodeStored(q store.Querier, cust catalog.CustomerID, c Config) (string, error) {
	out := c
	out.Ports = append([]PortConfig(nil), c.Ports...)
	box := q.Secrets()
	// Always sealed, even a password that looks sealed: c holds clear
	// passwords only (a client may send any text).
	_ = eachMD5(&out, cust, func(pw *string, context string) error {
		*pw = box.Seal(*pw, context)
		return nil
	})
	return encodeConfig(out)
}

// storedConfig decodes a configuration read from the database and opens its
// passwords. A password stored in clear (by a version before passwords were
// sealed, until SealStoredSecrets has run) is used as it is.
func storedConfig(q store.Querier, cust catalog.CustomerID, raw string) (Config, error) {
	c, err := DecodeConfig([]byte(raw))
	if err != nil {
		return Config{}, err
	}
	box := q.Secrets()
	err = eachMD5(&c, cust, func(pw *string, context string) error {
		if !secretbox.IsSealed(*pw) {
			return nil
		}
		v, err := box.Open(*pw, context)
		if err != nil {
			return fmt.Errorf("BGP password (%s): %w", context, err)
		}
		*pw = v
		return nil
	})
	return c, err
}

// hasClearMD5 says whether the stored configuration raw holds a password in
// clear.
func hasClearMD5(raw string) (bool, error) {
	c, err := DecodeConfig([]byte(raw))
	if err != nil {
		return false, err
	}
	clear := false
	_ = eachMD5(&c, "", func(pw *string, _ string) error {
		clear = clear || !secretbox.IsSealed(*pw)
		return nil
	})
	return clear, nil
}

// clearMD5Rows selects, without decoding every configuration at each start,
// the stored configurations that may hold a clear BGP password: they have an
// "md5" member and none sealed. A configuration is written whole, either by
// a version before sealing (every password clear) or by encodeStored (every
// password sealed), so no row mixes the two; hasClearMD5 decides for each
// row the filter lets through.
const clearMD5Rows = `config LIKE '%"md5":"%' AND config NOT LIKE '%"md5":"v1:%'`

// SealStoredSecrets, a start-up task of the whole model rather than of one
// part, seals the BGP passwords that versions and drafts hold in
// clear (written by a version before passwords were sealed) and returns how
// many configurations it rewrote. A version is immutable (no UPDATE passes
// its trigger), so its row is deleted and inserted again in one transaction
// with every column as it was and only the passwords sealed: the same
// configuration, in another encoding.
func (s *Service) SealStoredSecrets(ctx context.Context) (int, error) {
	n := 0
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		type row struct {
			cust                         catalog.CustomerID
			version, base                int64
			rollback                     *int64
			config, review, at, by, kind string
		}
		var todo []row
		collect := func(kind, q string) error {
			rows, err := tx.Query(ctx, q)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				r := row{kind: kind}
				if err := rows.Scan(&r.cust, &r.version, &r.base, &r.rollback, &r.config, &r.review, &r.at, &r.by); err != nil {
					return err
				}
				clear, err := hasClearMD5(r.config)
				if err != nil {
					return fmt.Errorf("%s of %s: %w", kind, r.cust, err)
				}
				if clear {
					todo = append(todo, r)
				}
			}
			return rows.Err()
		}
		if err := collect("version", `SELECT customer_id, version, base_version, rollback_of, config, review, applied_at, applied_by
			FROM net_versions WHERE `+clearMD5Rows); err != nil {
			return err
		}
		if err := collect("draft", `SELECT customer_id, 0, base_version, rollback_of, config, '', updated_at, updated_by
			FROM net_drafts WHERE `+clearMD5Rows); err != nil {
			return err
		}
		for _, r := range todo {
			c, err := storedConfig(tx, r.cust, r.config)
			if err != nil {
				return err
			}
			raw, err := encodeStored(tx, r.cust, c)
			if err != nil {
				return err
			}
			if r.kind == "draft" {
				_, err = tx.Exec(ctx, `UPDATE net_drafts SET config = ? WHERE customer_id = ? AND config = ?`, raw, r.cust, r.config)
			} else {
				_, err = tx.Exec(ctx, `DELETE FROM net_versions WHERE customer_id = ? AND version = ?`, r.cust, r.version)
				if err == nil {
					_, err = tx.Exec(ctx, `INSERT INTO net_versions (customer_id, version, base_version, rollback_of, config, review, applied_at, applied_by)
						VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, r.cust, r.version, r.base, r.rollback, raw, r.review, r.at, r.by)
				}
			}
			if err != nil {
				return fmt.Errorf("seal %s of %s: %w", r.kind, r.cust, err)
			}
			n++
		}
		if n == 0 {
			return nil
		}
		return s.audit.RecordTx(audit.WithActor(ctx, audit.System), tx, audit.Event{Action: "network.secrets_sealed",
			Target: "net_versions", Detail: map[string]any{"configurations": n}})
	})
	return n, err
}
