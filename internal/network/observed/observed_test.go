package observed

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/network/schematest"
)

var updateGolden = os.Getenv("TSUNAGI_UPDATE_GOLDEN") == "1"

const golden = "../testdata/observed/tyo-1.golden.json"

// sample is a report with every part filled: a hub that runs the version
// it was given, with a redundant port, a firewall, a backbone session and
// a hold, and a hub that keeps its last good version and says why.
func sample() Report {
	at := time.Date(2026, 12, 6, 6, 0, 0, 0, time.UTC)
	return Report{
		Schema: Schema, AppliedGeneration: strings.Repeat("ab", 32), AgentVersion: "1.4.0", ObservedAt: at,
		Hubs: []Hub{{
			HubID: "hub_main", CustomerID: "cus_a", WantedVersion: 7, ConfigVersion: 7,
			Problems: []Problem{{PortCode: "shc00000002", Item: "napt grade 2", Reason: "the data plane translates to one public prefix per port"}},
			Ports: []Port{{
				PortCode: "shc00000001",
				Sessions: []Session{{Name: "single", State: "up", Info: "Established", Since: at.Add(-time.Hour), Imported: 3, Exported: 12,
					Refused: []Refused{{Prefix: "10.0.0.0/8", Reason: "bogon"}}}},
				Links: []Link{{Connection: "single", Carrier: true, RxBytes: 100, RxPackets: 2, TxBytes: 300, TxPackets: 4},
					{Connection: "single", Leg: "primary", Carrier: true}, {Connection: "single", Leg: "secondary"}},
				Rules: []RuleCounter{{Rule: 0, Packets: 5, Bytes: 420}, {Rule: 1}, {Rule: DefaultRule, Packets: 1, Bytes: 84}},
			}},
			Backbone: []Session{{Name: "sub", State: "up", Info: "Established", Since: at.Add(-2 * time.Hour), Imported: 4, Exported: 3, Refused: []Refused{}}},
			Holds:    []Hold{{Kind: HoldRouteLimit, PortCode: "shc00000001", Session: "single", Reason: "limit", Since: at, Prefixes: 2001, Limit: 2000, ReenableSeq: 2}},
			Events: []Event{{Kind: EventSession, At: at, PortCode: "shc00000001", Session: "single", From: "Active", To: "Established"},
				{Kind: EventHold, At: at, PortCode: "shc00000001", Hold: &Hold{Kind: HoldRouteLimit, PortCode: "shc00000001", Session: "single", Reason: "limit", Since: at, Prefixes: 2001, Limit: 2000, ReenableSeq: 2}}},
		}, {
			HubID: "hub_other", CustomerID: "cus_b", WantedVersion: 4, ConfigVersion: 3,
			Error:    "hub other refused: port p00000009_s: interface eth9 does not exist on this node",
			Problems: []Problem{}, Ports: []Port{}, Backbone: []Session{}, Holds: []Hold{}, Events: []Event{},
		}},
	}
}

// TestGolden: the encoding of the sample is the golden file, which the
// schema accepts and Decode reads back to the same report.
func TestGolden(t *testing.T) {
	b, err := Encode(sample())
	if err != nil {
		t.Fatal(err)
	}
	if updateGolden {
		if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (refresh with TSUNAGI_UPDATE_GOLDEN=1)", err)
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("encoding differs from %s (refresh with TSUNAGI_UPDATE_GOLDEN=1):\n%s", golden, b)
	}
	if errs := schematest.Validate(SchemaJSON, want); len(errs) > 0 {
		t.Fatalf("golden report breaks the schema:\n%s", strings.Join(errs, "\n"))
	}
	r, err := Decode(want)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Encode(r)
	if !bytes.Equal(again, want) {
		t.Fatalf("decoded report encodes differently:\n%s", again)
	}
	if errs := schematest.Validate(SchemaJSON, []byte(`{"schema":"tsunagi.node-report/v1","hubs":[{"hub_id":"x"}]}`)); len(errs) == 0 {
		t.Fatal("the schema validator accepted a bad report")
	}
}

// TestDecodeRefusesBadReports: each mutation of a good report is refused
// by Decode, and — where the schema can say it — by the schema too, so
// that the two agree.
func TestDecodeRefusesBadReports(t *testing.T) {
	good, err := Encode(sample())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(good); err != nil {
		t.Fatalf("good report refused: %v", err)
	}
	long := strings.Repeat("x", MaxText+1)
	for name, mutate := range map[string]func(*Report){
		"schema":          func(r *Report) { r.Schema = "tsunagi.node-report/v0" },
		"generation":      func(r *Report) { r.AppliedGeneration = "not hex" },
		"agent version":   func(r *Report) { r.AgentVersion = "" },
		"hub id":          func(r *Report) { r.Hubs[0].HubID = "" },
		"customer id":     func(r *Report) { r.Hubs[0].CustomerID = "../cus" },
		"hub twice":       func(r *Report) { r.Hubs[1].HubID = r.Hubs[0].HubID },
		"version":         func(r *Report) { r.Hubs[0].ConfigVersion = -1 },
		"long error":      func(r *Report) { r.Hubs[1].Error = long },
		"port code":       func(r *Report) { r.Hubs[0].Ports[0].PortCode = "eth0" },
		"session name":    func(r *Report) { r.Hubs[0].Ports[0].Sessions[0].Name = "tertiary" },
		"backbone name":   func(r *Report) { r.Hubs[0].Backbone[0].Name = "single" },
		"link connection": func(r *Report) { r.Hubs[0].Ports[0].Links[0].Connection = "bridge" },
		"rule number":     func(r *Report) { r.Hubs[0].Ports[0].Rules[0].Rule = -2 },
		"rule twice":      func(r *Report) { r.Hubs[0].Ports[0].Rules[1].Rule = 0 },
		"hold kind":       func(r *Report) { r.Hubs[0].Holds[0].Kind = "whim" },
		"hold reason":     func(r *Report) { r.Hubs[0].Holds[0].Reason = "bpdu" },
		"event kind":      func(r *Report) { r.Hubs[0].Events[0].Kind = "gossip" },
		"problem item":    func(r *Report) { r.Hubs[0].Problems[0].Item = "" },
		"too many refused": func(r *Report) {
			r.Hubs[0].Ports[0].Sessions[0].Refused = make([]Refused, MaxRefused+1)
		},
		"too many sessions": func(r *Report) {
			r.Hubs[0].Ports[0].Sessions = make([]Session, MaxSessions+1)
		},
	} {
		r := sample()
		mutate(&r)
		b, err := Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(b); err == nil {
			t.Errorf("%s: bad report accepted", name)
		}
		if name != "hub twice" && name != "rule twice" && name != "problem item" && name != "hold reason" && name != "event kind" && name != "version" && name != "too many sessions" {
			if errs := schematest.Validate(SchemaJSON, b); len(errs) == 0 {
				t.Errorf("%s: the schema accepts what Decode refuses", name)
			}
		}
	}
	for name, b := range map[string]string{
		"unknown field": strings.Replace(string(good), `"agent_version"`, `"surprise":1,"agent_version"`, 1),
		"trailing data": string(good) + `{}`,
		"not an object": `[]`,
		"too large":     `{"schema":"` + strings.Repeat("x", MaxReport) + `"}`,
	} {
		if _, err := Decode([]byte(b)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestClip(t *testing.T) {
	s := strings.Repeat("あ", MaxText)
	c := Clip(s)
	if len(c) > MaxText || !strings.HasSuffix(c, " …") || text("x", c) != nil {
		t.Fatalf("Clip gave %d bytes, valid %v", len(c), text("x", c) == nil)
	}
	if Clip("short") != "short" {
		t.Fatal("Clip changed a short text")
	}
}

// Absent lists are encoded and decoded as empty lists, as the schema has
// them, never null.
func TestListsAreNeverNull(t *testing.T) {
	r := Report{Schema: Schema, AgentVersion: "t", ObservedAt: time.Unix(0, 0).UTC(),
		Hubs: []Hub{{HubID: "hub_a", CustomerID: "cus_a", Ports: []Port{{PortCode: "shc00000001", Sessions: []Session{{Name: "single"}}}}}}}
	b, err := Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("null")) {
		t.Fatalf("null in %s", b)
	}
	if errs := schematest.Validate(SchemaJSON, b); len(errs) > 0 {
		t.Fatalf("schema: %v", errs)
	}
	raw := []byte(`{"schema":"tsunagi.node-report/v1","applied_generation":"","agent_version":"t","observed_at":"2026-01-01T00:00:00Z","hubs":[{"hub_id":"hub_a","customer_id":"cus_a","wanted_version":0,"config_version":0,"problems":null,"ports":null,"backbone":null,"holds":null,"events":null}]}`)
	got, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if h := got.Hubs[0]; h.Problems == nil || h.Ports == nil || h.Backbone == nil || h.Holds == nil || h.Events == nil {
		t.Fatalf("decoded nulls stay nil: %+v", h)
	}
}
