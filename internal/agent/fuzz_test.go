package agent

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/network/desired"
)

// FuzzTranslate feeds the agent's path for a received document — strict
// decoding, the document's own checks, the translation and the data plane's
// validation — with arbitrary documents. Whatever passes the checks must
// translate without a panic, and every hub the agent would apply must be
// one the data plane either accepts or refuses with an error.
func FuzzTranslate(f *testing.F) {
	if b, err := os.ReadFile("../network/testdata/desired/tyo-1.golden.json"); err == nil {
		f.Add(b)
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
		hubs, _ := Translate(s)
		if len(hubs) != len(s.Hubs) {
			t.Fatalf("%d hubs translated from %d", len(hubs), len(s.Hubs))
		}
		for _, h := range hubs {
			_ = h.Validate() // must not panic; refusal is an error, not a crash
		}
	})
}
