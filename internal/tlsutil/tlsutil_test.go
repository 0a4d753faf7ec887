package tlsutil

import (
	"crypto/x509"
	"testing"
)

// The self-signed certificate names what the operator gives, keeps itself
// while it names everything asked for, and is replaced when a name is new.
func TestSelfSignedNames(t *testing.T) {
	dir := t.TempDir()
	leaf := func(extra ...string) (*x509.Certificate, bool) {
		t.Helper()
		c, made, err := SelfSigned(dir, extra...)
		if err != nil {
			t.Fatal(err)
		}
		l, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return l, made
	}
	first, made := leaf()
	if !made || first.VerifyHostname("localhost") != nil || first.VerifyHostname("10.0.0.1") == nil {
		t.Fatalf("default certificate: made %v, names %v %v", made, first.DNSNames, first.IPAddresses)
	}
	named, made := leaf("10.0.0.1", "Controller.Example.net")
	if !made || named.VerifyHostname("10.0.0.1") != nil || named.VerifyHostname("controller.example.net") != nil ||
		named.VerifyHostname("localhost") != nil {
		t.Fatalf("named certificate: made %v, names %v %v", made, named.DNSNames, named.IPAddresses)
	}
	if again, made := leaf("10.0.0.1"); made || again.SerialNumber.Cmp(named.SerialNumber) != 0 {
		t.Errorf("a certificate naming everything asked for was replaced")
	}
	for _, bad := range []string{"", "-x.example", "a..b", "host name", "x_y.example"} {
		if _, _, err := SelfSigned(dir, bad); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
}
