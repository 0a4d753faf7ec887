package custexport

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/network/schematest"
)

const golden = "testdata/export.golden.json"

func sample() *Document {
	one := int64(1)
	at := time.Date(2026, 12, 6, 3, 4, 5, 0, time.UTC)
	cfg := json.RawMessage(`{"asn":64600,"hubs":[{"hub_id":"hub_a","internal_network":"100.64.0.0/24","monitoring_network":"100.64.1.0/28"}],` +
		`"ports":[{"port_code":"shc00000001","onprem":{"hub_address":"10.0.0.1","customer_address":"10.0.0.2","prefix_length":30,"peer_asn":65001,"md5":"********","l2_guard":{}}}],` +
		`"objects":{"addresses":[],"services":[],"applications":[]}}`)
	return &Document{
		Schema:     Schema,
		ExportedAt: at,
		Deployment: Deployment{Regions: []Region{{Code: "tokyo", NameEN: "Tokyo", NameJA: "東京", DataLocation: "Japan"}}},
		Contracts: []Contract{{ServiceCode: "shb00000001", Plan: "standard", Status: "active", StartDate: "2026-04-01",
			Options: []Option{{Name: "static_nat", Quantity: 2}}}},
		Hubs:        []Hub{{HubID: "hub_a", ServiceCode: "shb00000001", Region: "tokyo", Priority: "main"}},
		Ports:       []Port{{PortCode: "shc00000001", ServiceCode: "shb00000001", HubID: "hub_a", Kind: "onprem", SpeedMbps: 10000, Status: "active"}},
		HubSettings: HubSettings{RouteLimit: 2000, DefaultASN: 64600, BackboneOverlay: "169.254.255.248/29"},
		Versions: []Version{
			{Version: 1, AppliedAt: at.Add(-48 * time.Hour), AppliedBy: "admin1", Config: cfg},
			{Version: 2, BaseVersion: 1, RollbackOf: &one, AppliedAt: at.Add(-time.Hour), AppliedBy: "user2", Config: cfg},
		},
		Draft: &Draft{BaseVersion: 2, UpdatedAt: at, UpdatedBy: "admin1", Config: cfg},
	}
}

// TestGolden pins the encoding (refresh with TSUNAGI_UPDATE_GOLDEN=1),
// checks it against the schema, and reads it back unchanged.
func TestGolden(t *testing.T) {
	b, err := Encode(sample())
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("TSUNAGI_UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(golden, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("encoding differs from %s (TSUNAGI_UPDATE_GOLDEN=1 refreshes it):\n%s", golden, b)
	}
	if errs := schematest.Validate(SchemaJSON, b); len(errs) > 0 {
		t.Fatalf("golden document breaks the schema:\n%s", strings.Join(errs, "\n"))
	}
	if errs := schematest.Validate(SchemaJSON, []byte(`{"schema":"tsunagi.customer-export/v1","versions":[{"version":0}]}`)); len(errs) == 0 {
		t.Fatal("the schema accepted a document without its members")
	}
	d, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Encode(&d)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, b) {
		t.Fatalf("decode and encode changed the document:\n%s", again)
	}
}

// TestDecodeRefuses: a document is read whole or not at all, and the
// refusal names the member at fault.
func TestDecodeRefuses(t *testing.T) {
	b, err := Encode(sample())
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	edit := func(old, new string) string {
		if !strings.Contains(doc, old) {
			t.Fatalf("sample lacks %q", old)
		}
		return strings.Replace(doc, old, new, 1)
	}
	for _, c := range []struct{ name, doc, field, says string }{
		{"another version", edit(Schema, "tsunagi.customer-export/v2"), "schema", "not a version this controller reads"},
		{"no schema", edit(`"schema": "`+Schema+`",`, ""), "schema", "not a tsunagi customer export"},
		{"unknown member", edit(`"draft": {`, `"extra": 1, "draft": {`), "extra", "unknown member"},
		{"unknown nested member", edit(`"plan": "standard",`, `"plan": "standard", "price": 1,`), "price", "unknown member"},
		{"wrong type", edit(`"route_limit": 2000`, `"route_limit": "many"`), "hub_settings.route_limit", "must be int"},
		{"versions out of order", edit(`"version": 2,`, `"version": 1,`), "versions[1].version", "oldest first"},
		{"trailing data", doc + "{}", "", "trailing data"},
		{"not JSON", "schema", "", "not a JSON object"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode([]byte(c.doc))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("want a refusal, got %v", err)
			}
			if c.field != "" && e.Field != c.field {
				t.Errorf("field = %q, want %q (%v)", e.Field, c.field, err)
			}
			if !strings.Contains(e.Message, c.says) {
				t.Errorf("message %q lacks %q", e.Message, c.says)
			}
		})
	}
}

// TestConfigMustBeAnObject: a configuration that is not an object is
// refused where it sits, whatever the schema check let through.
func TestConfigMustBeAnObject(t *testing.T) {
	d := sample()
	d.Versions[1].Config = json.RawMessage(`[]`)
	b, err := Encode(d)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Decode(b)
	var e *Error
	if !errors.As(err, &e) || e.Code != ErrNotConfig || e.Field != "versions[1].config" {
		t.Fatalf("got %v", err)
	}
}

func TestPick(t *testing.T) {
	d := sample()
	for _, c := range []struct {
		in, at, refused string
	}{
		{"", "versions[1].config", ""},
		{"1", "versions[0].config", ""},
		{"draft", "draft.config", ""},
		{"3", "", "no version 3"},
		{"0", "", "neither a version number"},
		{"latest", "", "neither a version number"},
	} {
		ch, err := ParseChoice(c.in)
		var at string
		if err == nil {
			_, at, err = d.Pick(ch)
		}
		if c.refused != "" {
			if err == nil || !strings.Contains(err.Error(), c.refused) {
				t.Errorf("%q: want refusal %q, got %v", c.in, c.refused, err)
			}
			continue
		}
		if err != nil || at != c.at {
			t.Errorf("%q: got %q, %v; want %q", c.in, at, err, c.at)
		}
	}
	d.Draft, d.Versions = nil, nil
	if _, _, err := d.Pick(Choice{}); err == nil || !strings.Contains(err.Error(), "no applied version") {
		t.Errorf("empty document: %v", err)
	}
	if _, _, err := d.Pick(Choice{Draft: true}); err == nil || !strings.Contains(err.Error(), "no draft") {
		t.Errorf("no draft: %v", err)
	}
}
