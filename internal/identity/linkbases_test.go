package identity

import (
	"slices"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestDefaultLinkBasesSetTheWebAuthnOrigins: a controller started without
// --customer-url learns its listeners' addresses only once they are bound;
// the relying party must then accept those origins, port included, which is
// what a browser signs into a WebAuthn ceremony. Configured URLs stay.
func TestDefaultLinkBasesSetTheWebAuthnOrigins(t *testing.T) {
	db := storetest.SQLite(t)
	svc := New(db, audit.New(db), Config{})
	if err := svc.DefaultLinkBases("https://localhost:8443", "https://localhost:9443"); err != nil {
		t.Fatal(err)
	}
	if got := svc.rp.Config.RPOrigins; !slices.Equal(got, []string{"https://localhost:8443", "https://localhost:9443"}) {
		t.Errorf("origins %v, want both listeners'", got)
	}
	if svc.rp.Config.RPID != "localhost" {
		t.Errorf("RP ID %q, want localhost", svc.rp.Config.RPID)
	}

	set := New(db, audit.New(db), Config{CustomerURL: "https://hub.example.net"})
	if err := set.DefaultLinkBases("https://localhost:8443", "https://localhost:9443"); err != nil {
		t.Fatal(err)
	}
	if got := set.rp.Config.RPOrigins; !slices.Equal(got, []string{"https://hub.example.net", "https://localhost:9443"}) || set.rp.Config.RPID != "hub.example.net" {
		t.Errorf("with --customer-url: origins %v, RP ID %q", got, set.rp.Config.RPID)
	}
}
