package lookingglass

import (
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/network/schematest"
)

// TestImportsOnlyStandardLibrary keeps this package usable by the agent,
// which must import neither the store nor the web packages: it imports the
// standard library only.
func TestImportsOnlyStandardLibrary(t *testing.T) {
	schematest.StandardLibraryOnly(t, "the looking-glass contract")
}
