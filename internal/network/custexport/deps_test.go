package custexport

import (
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/network/schematest"
)

// TestImportsOnlyStandardLibrary keeps this package usable by customers' own tools,
// without the controller's store or web packages: it imports the
// standard library only.
func TestImportsOnlyStandardLibrary(t *testing.T) {
	schematest.StandardLibraryOnly(t, "the customer-export package")
}
