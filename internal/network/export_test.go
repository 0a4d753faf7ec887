package network

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network/custexport"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// applyConfig takes the lock, saves cfg and applies it.
func (e *env) applyConfig(c customer, cfg Config) Version {
	e.t.Helper()
	e.must(e.svc.Workflow.StartEditing(c.ctx, c.sc))
	e.must(e.svc.Workflow.SaveDraft(c.ctx, c.sc, cfg))
	v, err := e.svc.Workflow.Apply(c.ctx, c.sc)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

// exported is customer c's export, encoded, after two applied versions
// and with a draft that adds an address object.
func (e *env) exported(c customer) (custexport.Document, []byte) {
	e.t.Helper()
	e.applyConfig(c, c.config())
	cfg := c.config()
	cfg.Objects.Addresses = append(cfg.Objects.Addresses, AddressObject{Name: "dc", Prefixes: []string{"10.12.0.0/16"}})
	e.applyConfig(c, cfg)
	cfg.Objects.Addresses = append(cfg.Objects.Addresses, AddressObject{Name: "branch", Prefixes: []string{"10.13.0.0/16"}})
	e.must(e.svc.Workflow.StartEditing(c.ctx, c.sc))
	e.must(e.svc.Workflow.SaveDraft(c.ctx, c.sc, cfg))
	doc, err := e.svc.Workflow.Export(c.ctx, c.sc)
	if err != nil {
		e.t.Fatal(err)
	}
	b, err := custexport.Encode(&doc)
	if err != nil {
		e.t.Fatal(err)
	}
	return doc, b
}

func (e *env) audits(c customer, action string) int {
	e.t.Helper()
	var n int
	if err := e.db.QueryRow(e.ctx, `SELECT COUNT(*) FROM audit_events WHERE action = ? AND customer_id = ?`, action, c.id).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// codeMap maps customer from's port codes to customer to's.
func codeMap(from, to customer) map[string]string {
	m := map[string]string{}
	for k, v := range from.codes {
		m[v] = to.codes[k]
	}
	return m
}

// TestExportImportRoundTrip exports a customer's saved data, imports it
// into a fresh customer of another controller with its own database,
// where port codes and hub IDs differ, and finds the draft equal to the
// exported version once codes are mapped; the draft then reviews and
// applies as any other.
func TestExportImportRoundTrip(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a := e.addCustomer("a")
		doc, file := e.exported(a)

		if len(doc.Versions) != 2 || doc.Versions[0].Version != 1 || doc.Versions[1].AppliedBy != "a-ops" || doc.Draft == nil {
			t.Fatalf("versions %+v, draft %v", doc.Versions, doc.Draft != nil)
		}
		if len(doc.Ports) != 6 || len(doc.Hubs) != 2 || len(doc.Contracts) != 1 || len(doc.Deployment.Regions) != 2 ||
			doc.Deployment.Regions[1].DataLocation != "Japan" || doc.HubSettings.RouteLimit != 2000 {
			t.Fatalf("facts: %+v %+v %+v %+v", doc.Ports, doc.Hubs, doc.Contracts, doc.Deployment)
		}
		if bytes.Contains(file, []byte("s3cret")) || !bytes.Contains(file, []byte(SecretMask)) {
			t.Fatal("the export does not mask the BGP password")
		}
		if n := e.audits(a, "network.export"); n != 1 {
			t.Fatalf("%d network.export events", n)
		}

		// Another controller: its own database and key, where the
		// customer's port codes and hub IDs are others.
		e2 := newEnv(t, storetest.SQLite(t))
		b := e2.addCustomer("b")
		mapping := codeMap(a, b)
		before, err := e2.svc.Workflow.StartEditing(b.ctx, b.sc)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e2.svc.Workflow.Import(b.ctx, b.sc, file, custexport.Choice{}, nil)
		wantFault(t, err, fault.Invalid, "not in your contracts: port ")
		for _, code := range a.codes {
			if !strings.Contains(err.Error(), code) {
				t.Errorf("the refusal does not list %s: %v", code, err)
			}
		}
		// The password is not in the file: the customer writes it in.
		_, err = e2.svc.Workflow.Import(b.ctx, b.sc, file, custexport.Choice{}, mapping)
		wantFault(t, err, fault.Invalid, "masked but none is set")
		if d, _ := e2.svc.Workflow.GetDraft(b.ctx, b.sc); !d.UpdatedAt.Equal(before.Draft.UpdatedAt) || len(d.Config.Ports) != 0 {
			t.Fatalf("a refused import changed the draft: %+v", d)
		}
		file = bytes.ReplaceAll(file, []byte(`"md5": "`+SecretMask+`"`), []byte(`"md5": "s3cret"`))
		for _, c := range []struct {
			choice custexport.Choice
			from   json.RawMessage
		}{
			{custexport.Choice{}, doc.Versions[1].Config},
			{custexport.Choice{Version: 1}, doc.Versions[0].Config},
			{custexport.Choice{Draft: true}, doc.Draft.Config},
		} {
			d, err := e2.svc.Workflow.Import(b.ctx, b.sc, file, c.choice, mapping)
			if err != nil {
				t.Fatalf("%s: %v", c.choice, err)
			}
			want, err := DecodeConfig(c.from)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want.Ports {
				want.Ports[i].PortCode = mapping[want.Ports[i].PortCode]
			}
			for i := range want.Hubs {
				want.Hubs[i].HubID = b.hubs[map[catalog.HubID]catalog.HubID{a.hubs["hub_main"]: "hub_main", a.hubs["hub_sub"]: "hub_sub"}[want.Hubs[i].HubID]]
			}
			f, err := e2.svc.facts(e2.ctx, e2.db, b.id)
			if err != nil {
				t.Fatal(err)
			}
			Normalize(f, &want, e2.svc.settings)
			got, _ := json.Marshal(d.Config)
			exp, _ := json.Marshal(want.Redacted())
			if !bytes.Equal(got, exp) {
				t.Fatalf("%s: draft\n%s\nwant\n%s", c.choice, got, exp)
			}
		}
		if n := e2.audits(b, "network.import"); n != 3 {
			t.Fatalf("%d network.import events", n)
		}
		// The draft is an ordinary draft: it reviews valid and applies,
		// with the password the file gave.
		r, err := e2.svc.Workflow.Review(b.ctx, b.sc)
		if err != nil || !r.Valid {
			t.Fatalf("review %+v: %v", r.Problems, err)
		}
		e2.must(e2.svc.Workflow.Apply(b.ctx, b.sc))
		_, applied, err := e2.svc.current(e2.ctx, e2.db, b.id)
		if err != nil {
			t.Fatal(err)
		}
		if i := indexPort(applied, b.codes["shc00000001"]); i < 0 || applied.Ports[i].OnPrem.MD5 != "s3cret" {
			t.Fatalf("applied password: %+v", applied.Ports)
		}
	})
}

func indexPort(c Config, code string) int {
	for i, p := range c.Ports {
		if p.PortCode == code {
			return i
		}
	}
	return -1
}

// TestImportRefusals: whatever is wrong with the file or the request, the
// import says so clearly and the draft stays as it was.
func TestImportRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.SQLite(t))
	a := e.addCustomer("a")
	b := e.addCustomer("b")
	exp, file := e.exported(a)
	doc := string(file)
	edit := func(old, new string) []byte {
		if !strings.Contains(doc, old) {
			t.Fatalf("export lacks %q", old)
		}
		return []byte(strings.ReplaceAll(doc, old, new))
	}
	// Into the same customer a masked password keeps the draft's own.
	same := map[string]string(nil)
	bad := a.config()
	bad.Ports[0].OnPrem.PeerASN = 64600
	_, saveErr := e.svc.Workflow.SaveDraft(a.ctx, a.sc, bad)
	wantFault(t, saveErr, fault.Invalid, "differ from your hub ASN")
	saved, _ := fault.As(saveErr)
	newest, err := DecodeConfig(exp.Versions[1].Config)
	if err != nil {
		t.Fatal(err)
	}
	inFile := fmt.Sprintf("versions[1].config.ports[%d].onprem.peer_asn", indexPort(newest, a.codes["shc00000001"]))

	bob := audit.WithActor(context.Background(), audit.Actor{ID: "acc_bob", Kind: "customer", Name: "bob"})
	for _, c := range []struct {
		name    string
		ctx     context.Context
		file    []byte
		choice  custexport.Choice
		mapping map[string]string
		kind    fault.Kind
		field   string
		says    string
	}{
		{"another schema version", a.ctx, edit(custexport.Schema, "tsunagi.customer-export/v9"), custexport.Choice{}, same, fault.Invalid, "schema", "not a version this controller reads"},
		{"not an export", a.ctx, []byte(`{"asn": 64600}`), custexport.Choice{}, same, fault.Invalid, "schema", "not a tsunagi customer export"},
		{"unknown member", a.ctx, edit(`"hub_settings": {`, `"extra": true, "hub_settings": {`), custexport.Choice{}, same, fault.Invalid, "extra", "unknown member"},
		{"unknown member in a configuration", a.ctx, edit(`"objects": {`, `"colour": "red", "objects": {`), custexport.Choice{}, same, fault.Invalid, "versions[0].config", "unknown field"},
		{"version not in the file", a.ctx, file, custexport.Choice{Version: 9}, same, fault.Invalid, "version", "no version 9"},
		{"mapping to a port not ours", a.ctx, file, custexport.Choice{}, map[string]string{a.codes["shc00000001"]: b.codes["shc00000001"]}, fault.Invalid, "map", "is not one of your ports"},
		{"mapping of nothing in the file", a.ctx, file, custexport.Choice{}, map[string]string{"shc99999999": a.codes["shc00000001"]}, fault.Invalid, "map", "neither a port code nor a hub ID"},
		{"two ports onto one", a.ctx, file, custexport.Choice{}, map[string]string{a.codes["shc00000001"]: a.codes["shc00000002"]}, fault.Invalid, "map", "would both become"},
		{"invalid configuration", a.ctx, edit(`"peer_asn": 65001`, `"peer_asn": 64600`), custexport.Choice{}, same, fault.Invalid, inFile, saved.Message},
		{"lock held by someone else", bob, file, custexport.Choice{}, same, fault.Conflict, "", "a-ops has been editing since"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before, err := e.svc.Workflow.GetDraft(a.ctx, a.sc)
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.svc.Workflow.Import(c.ctx, a.sc, c.file, c.choice, c.mapping)
			f, ok := fault.As(err)
			if !ok {
				t.Fatalf("err = %v, want a fault", err)
			}
			if f.Kind != c.kind || f.Field != c.field || !strings.Contains(f.Message, c.says) {
				t.Fatalf("err = %v (field %q), want %s %q containing %q", err, f.Field, c.kind, c.field, c.says)
			}
			after, err := e.svc.Workflow.GetDraft(a.ctx, a.sc)
			if err != nil || !after.UpdatedAt.Equal(before.UpdatedAt) || after.revision != before.revision {
				t.Fatalf("a refused import changed the draft: %v", err)
			}
		})
	}
	// The same file, as it is, imports into its own customer: codes match
	// and the masked password keeps the one the draft has.
	d, err := e.svc.Workflow.Import(a.ctx, a.sc, file, custexport.Choice{Version: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Config.Objects.Addresses) != 1 {
		t.Fatalf("imported version 1: %+v", d.Config.Objects)
	}
	// An import takes the lock as starting to edit does, and a refused
	// one leaves none behind.
	e.must(nil, e.svc.Workflow.ReleaseLock(a.ctx, a.sc))
	_, err = e.svc.Workflow.Import(a.ctx, a.sc, file, custexport.Choice{Version: 7}, nil)
	wantFault(t, err, fault.Invalid, "no version 7")
	if _, err := e.svc.Workflow.GetLock(a.ctx, a.sc); !fault.Is(err, fault.NotFound) {
		t.Fatalf("a refused import left a lock: %v", err)
	}
	e.must(e.svc.Workflow.Import(a.ctx, a.sc, file, custexport.Choice{}, nil))
	if l, err := e.svc.Workflow.GetLock(a.ctx, a.sc); err != nil || !l.Mine {
		t.Fatalf("lock after an import: %+v, %v", l, err)
	}
	// A role without network.edit may export but not import.
	reader := tenanttest.As(a.id, "user", identity.ActNetworkRead)
	e.must(e.svc.Workflow.Export(a.ctx, reader))
	_, err = e.svc.Workflow.Import(a.ctx, reader, file, custexport.Choice{}, nil)
	wantFault(t, err, fault.Forbidden, "")
	// An ended port is no longer the customer's: the file's configuration
	// of it is refused, not dropped, and no port maps onto it.
	ended := a.codes["shc00000002"]
	if _, err := e.db.Exec(a.ctx, `UPDATE ports SET status = 'cancelled', ended_at = ? WHERE port_code = ?`, clock.Store(e.now), ended); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Workflow.Import(a.ctx, a.sc, file, custexport.Choice{}, nil)
	wantFault(t, err, fault.Invalid, "not in your contracts: port "+ended)
	_, err = e.svc.Workflow.Import(a.ctx, a.sc, file, custexport.Choice{}, map[string]string{a.codes["shc00000001"]: ended})
	wantFault(t, err, fault.Invalid, ended+" is not one of your ports")
	// The export says when.
	again, _ := e.exported(a)
	for _, p := range again.Ports {
		if (p.EndedAt != nil) != (p.PortCode == ended) || (p.EndedAt != nil && !p.EndedAt.Equal(e.now)) {
			t.Errorf("port %s exported with ended_at %v", p.PortCode, p.EndedAt)
		}
	}
}

// TestExportIsTheCallersOwn: the customer comes from the scope only; an
// export holds nothing of another customer, and another customer's file
// does not import into this one without a mapping onto its own ports.
func TestExportIsTheCallersOwn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.SQLite(t))
	a := e.addCustomer("a")
	b := e.addCustomer("b")
	_, fileA := e.exported(a)
	docB, err := e.svc.Workflow.Export(b.ctx, b.sc)
	if err != nil {
		t.Fatal(err)
	}
	fileB, _ := custexport.Encode(&docB)
	for _, code := range a.codes {
		if bytes.Contains(fileB, []byte(code)) {
			t.Fatalf("b's export holds a's port %s", code)
		}
	}
	for _, h := range a.hubs {
		if bytes.Contains(fileB, []byte(h)) {
			t.Fatalf("b's export holds a's hub %s", h)
		}
	}
	if len(docB.Versions) != 0 || docB.Draft != nil || len(docB.Ports) != 6 {
		t.Fatalf("b's export: %+v", docB)
	}
	if e.audits(b, "network.export") != 1 || e.audits(a, "network.export") != 1 {
		t.Fatal("each export is audited once, under its own customer")
	}
	e.must(e.svc.Workflow.StartEditing(b.ctx, b.sc))
	_, err = e.svc.Workflow.Import(b.ctx, b.sc, fileA, custexport.Choice{}, nil)
	wantFault(t, err, fault.Invalid, "not in your contracts")
	if d, _ := e.svc.Workflow.GetDraft(b.ctx, b.sc); len(d.Config.Ports) != 0 {
		t.Fatal("a refused import wrote b's draft")
	}
	// a's own draft is untouched by b's attempts.
	if d, _ := e.svc.Workflow.GetDraft(a.ctx, a.sc); len(d.Config.Objects.Addresses) != 3 {
		t.Fatalf("a's draft: %+v", d.Config.Objects)
	}
}
