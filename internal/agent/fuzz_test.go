package agent

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/network/desired"
)

// FuzzTranslate feeds the agent's path for a received document — strict
// decoding, the document's own checks, the translation and the data plane's
// validation — with arbitrary documents. Whatever passes the checks must
// translate without a panic into one data-plane hub per document hub, and
// the data plane must accept every one of them: a hub it refuses stops the
// node's whole document (Manager.ApplyAll checks every hub before touching
// any), so a refusal is a failure here, never a pass. What the document
// asks for and the data plane cannot realise is for the translation to
// leave out and report, as it does for layer-2 guards and unparsable rules.
//
// The seeds are documents the controller emits: the service model's golden
// document and one whose firewall uses a service of protocol "any".
func FuzzTranslate(f *testing.F) {
	if b, err := os.ReadFile("../network/testdata/desired/tyo-1.golden.json"); err == nil {
		f.Add(b)
		// The same document with a service of protocol "any" (which has
		// no ports) in its firewall.
		anyService := strings.Replace(string(b), `"protocol": "tcp",
                    "ports": "443"`, `"protocol": "any"`, 1)
		if anyService == string(b) {
			f.Fatal("the golden document has no tcp/443 service to make a service of protocol any")
		}
		f.Add([]byte(anyService))
	}
	f.Add([]byte(`{"schema":"tsunagi.desired-state/v2","generation":"","node":"n","region":"r","route_limit":1,"hubs":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s desired.State
		if err := json.Unmarshal(b, &s); err != nil {
			return
		}
		if err := s.Check(); err != nil {
			return
		}
		hubs, problems := translateFlat(s)
		if len(hubs) != len(s.Hubs) {
			t.Fatalf("%d hubs translated from %d", len(hubs), len(s.Hubs))
		}
		for _, h := range hubs {
			if err := h.Validate(); err != nil {
				t.Errorf("the data plane refuses translated hub %s (problems reported: %q): %v", h.ID, problems, err)
			}
		}
	})
}
