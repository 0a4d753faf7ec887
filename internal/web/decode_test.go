package web

import (
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/network"
)

// TestStrictUnmarshal: the decoder refuses what encoding/json would let
// through, and names the field by the path the client sent.
func TestStrictUnmarshal(t *testing.T) {
	type svc struct {
		Name string `json:"name"`
		N    int    `json:"n"`
	}
	type doc struct {
		Services []svc             `json:"services"`
		Tags     map[string]string `json:"tags"`
	}
	for _, c := range []struct {
		name, body, field string
	}{
		{"duplicate key", `{"services":[{"name":"a","name":"b"}]}`, "services[0].name"},
		{"duplicate key in another case", `{"services":[{"name":"a"},{"name":"b","NAME":"c"}]}`, "services[1].NAME"},
		{"duplicate top-level", `{"services":[],"services":[]}`, "services"},
		{"invalid UTF-8", "{\"services\":[{\"name\":\"ok\"},{\"name\":\"ok\"},{\"name\":\"bad\xff\"}]}", "services[2].name"},
		{"lone surrogate", `{"services":[{"name":"\ud800"}]}`, "services[0].name"},
		{"invalid UTF-8 in a key", "{\"tags\":{\"k\xc3\":\"v\"}}", "tags.k\ufffd"},
		{"type error names the index", `{"services":[{"n":1},{"n":"x"}]}`, "services[1].n"},
		{"unknown field", `{"services":[{"nam":"a"}]}`, "nam"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var d doc
			err := strictUnmarshal([]byte(c.body), &d)
			f, ok := fault.As(err)
			if !ok || f.Kind != fault.Invalid || f.Field != c.field {
				t.Fatalf("got %v, want an invalid-input fault on %q", err, c.field)
			}
		})
	}
	for _, body := range []string{`null`, `[]`, `"x"`, `42`, ` null `} {
		var d doc
		f, ok := fault.As(strictUnmarshal([]byte(body), &d))
		if !ok || f.Kind != fault.Invalid || f.Message != "the body must be a JSON object" {
			t.Errorf("%s: got %v, want the body refused as not an object", body, f)
		}
	}
	var d doc
	if err := strictUnmarshal([]byte(`{"services":[{"name":"\ufffd is fine when sent","n":1}],"tags":{"a":"b","c":"d"}}`), &d); err != nil {
		t.Fatalf("valid body refused: %v", err)
	}
}

// TestStrictUnmarshalASN: the documented AS number spellings are read, and
// a bad one is refused at the client's path with what is accepted.
func TestStrictUnmarshalASN(t *testing.T) {
	var cfg network.Config
	body := `{"asn":"AS65001","ports":[{"port_code":"a","onprem":{"peer_asn":65010}},{"port_code":"b","onprem":{"peer_asn":"2.10"}}]}`
	if err := strictUnmarshal([]byte(body), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.ASN != 65001 || cfg.Ports[1].OnPrem.PeerASN != 131082 {
		t.Fatalf("asn %d, peer %d", cfg.ASN, cfg.Ports[1].OnPrem.PeerASN)
	}
	for body, field := range map[string]string{
		`{"asn":0}`:          "asn",
		`{"asn":"AS0"}`:      "asn",
		`{"asn":"65001x"}`:   "asn",
		`{"asn":-1}`:         "asn",
		`{"asn":4294967296}`: "asn",
		`{"ports":[{"port_code":"a","onprem":{"peer_asn":65010}},{"port_code":"b","onprem":{"peer_asn":"AS1.x"}}]}`:                   "ports[1].onprem.peer_asn",
		`{"ports":[{"port_code":"a","onprem":{"l2_guard":{"mac_limit":2}}},{"port_code":"b","onprem":{"l2_guard":{"mac_limit":0}}}]}`: "ports[1].onprem.l2_guard.mac_limit",
		`{"ports":[{"port_code":"a","onprem":{"l2_guard":{"flap_window_seconds":0}}}]}`:                                               "ports[0].onprem.l2_guard.flap_window_seconds",
	} {
		var c network.Config
		f, ok := fault.As(strictUnmarshal([]byte(body), &c))
		if !ok || f.Kind != fault.Invalid || f.Field != field {
			t.Errorf("%s: got %v, want an invalid-input fault on %q", body, f, field)
		}
	}
}
