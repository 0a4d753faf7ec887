package desired

import (
	"bytes"
	"os"
	"testing"
)

// FuzzDecode is the agent's decoding and checking of a desired-state
// document: it must never panic, and whatever it accepts re-encodes to a
// document it accepts again with the same generation.
func FuzzDecode(f *testing.F) {
	if b, err := os.ReadFile("../testdata/desired/tyo-1.golden.json"); err == nil {
		f.Add(b)
	}
	empty := State{Schema: Schema, Node: "n", Region: "r", RouteLimit: 2000, Hubs: []Hub{}}
	b, _ := Encode(&empty)
	f.Add(b)
	f.Add([]byte(`{"schema":"tsunagi.desired-state/v2"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode(b)
		if err != nil {
			return
		}
		again, err := Encode(&s)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := Decode(again)
		if err != nil || s2.Generation != s.Generation {
			t.Fatalf("re-encoded document refused or changed: %v", err)
		}
		if !bytes.Equal(again, mustEncode(t, s2)) {
			t.Fatal("encoding is not deterministic")
		}
	})
}

func mustEncode(t *testing.T, s State) []byte {
	b, err := Encode(&s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeRefusesBadDocuments(t *testing.T) {
	good := State{Schema: Schema, Node: "n", Region: "r", RouteLimit: 2000, Hubs: []Hub{{HubID: "hub_x", Namespace: "hub-x",
		InternalNetwork: "100.64.0.0/24", MonitoringNetwork: "100.64.1.0/28", Backbone: Backbone{VNI: 10000}}}}
	b, err := Encode(&good)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(b); err != nil {
		t.Fatalf("good document refused: %v", err)
	}
	for name, mutate := range map[string]func(*State){
		"schema":    func(s *State) { s.Schema = "v0" },
		"namespace": func(s *State) { s.Hubs[0].Namespace = "../etc" },
		"network":   func(s *State) { s.Hubs[0].InternalNetwork = "100.64.0.1/24" },
		"vni":       func(s *State) { s.Hubs[0].Backbone.VNI = 0 },
		"duplicate": func(s *State) { s.Hubs = append(s.Hubs, s.Hubs[0]) },
		"interface": func(s *State) {
			s.Hubs[0].Ports = []Port{{PortCode: "shc00000001", SpeedMbps: 1, Legs: []Leg{{Interface: "eth0; rm"}}}}
		},
		"routelimit": func(s *State) { s.RouteLimit = 0 },
	} {
		s := good
		s.Hubs = append([]Hub(nil), good.Hubs...)
		mutate(&s)
		b, _ := Encode(&s)
		if _, err := Decode(b); err == nil {
			t.Errorf("%s: bad document accepted", name)
		}
	}
	if _, err := Decode(append(b, []byte(`{}`)...)); err == nil {
		t.Error("trailing data accepted")
	}
}

// TestEncodeSplicesGeneration: the one-pass encoding equals encoding the
// state with its generation set.
func TestEncodeSplicesGeneration(t *testing.T) {
	s := State{Schema: Schema, Node: "n", Region: "r", RouteLimit: 1, Hubs: []Hub{}}
	b, err := Encode(&s)
	if err != nil {
		t.Fatal(err)
	}
	full, err := marshal(&s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, full) {
		t.Fatalf("spliced:\n%s\nfull:\n%s", b, full)
	}
}
