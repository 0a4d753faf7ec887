package desired

import (
	"os"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/network/schematest"
)

// TestGoldenMatchesSchema checks the golden document against
// desiredstate.schema.json with a small validator of the keywords the schema
// uses (package schematest), so that the schema and the Go types cannot drift apart unnoticed.
func TestGoldenMatchesSchema(t *testing.T) {
	b, err := os.ReadFile("../testdata/desired/tyo-1.golden.json")
	if err != nil {
		t.Fatal(err)
	}
	if errs := schematest.Validate(SchemaJSON, b); len(errs) > 0 {
		t.Fatalf("golden document breaks the schema:\n%s", strings.Join(errs, "\n"))
	}
	// The validator itself rejects what it should.
	if errs := schematest.Validate(SchemaJSON, []byte(`{"schema": "x"}`)); len(errs) == 0 {
		t.Fatal("validator accepted a bad document")
	}
}
