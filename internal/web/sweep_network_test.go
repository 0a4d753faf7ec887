package web

import (
	"net/http"
	"testing"
)

// The hub service model's part of the cross-customer sweep: customer A
// applies a configuration version through the API, so that A's saved data
// (port configuration, versions, reviews) is there for B to be swept against.
func init() {
	sweepFixtures = append(sweepFixtures, func(t *testing.T, f *sweepFixture) {
		t.Helper()
		f.A.expect(http.StatusOK, "POST", "/api/v1/network/lock", nil)
		for i, code := range f.ids["port"] {
			if len(code) != 11 { // port codes only, not port IDs
				continue
			}
			f.A.expect(http.StatusOK, "PUT", "/api/v1/network/draft/ports/"+code, map[string]any{
				"onprem": map[string]any{"hub_address": "192.168.25" + string(rune('0'+i)) + ".1",
					"customer_address": "192.168.25" + string(rune('0'+i)) + ".2", "prefix_length": 30, "peer_asn": 65001,
					"l2_guard": l2Defaults()}})
		}
		f.A.expect(http.StatusCreated, "POST", "/api/v1/network/draft/apply", nil)
		f.Candidate("version", "1")
		f.Candidate("version", "2")
	})
}
