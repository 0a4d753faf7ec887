package webhook

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/fault"
)

// fixedResolver answers every name with its addresses.
type fixedResolver map[string][]netip.Addr

func (r fixedResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := r[host]; ok {
		return a, nil
	}
	return nil, errors.New("no such host")
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

// TestGuardRefusesWhatIsNotPublic: every URL that is not https to a public
// unicast address is refused at registration with a fault on the url
// field; a public one passes, and an allowed network admits its addresses.
func TestGuardRefusesWhatIsNotPublic(t *testing.T) {
	g := &Guard{Resolver: fixedResolver{
		"public.example":  addrs("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"),
		"rebind.example":  addrs("93.184.215.14", "10.0.0.1"),
		"loopback.test":   addrs("127.0.0.1"),
		"metadata.test":   addrs("169.254.169.254"),
		"onprem.internal": addrs("10.20.0.5"),
	}}
	refused := []string{
		"http://public.example/hook",        // not https
		"https://user:pw@public.example/",   // credentials
		"https://public.example/#frag",      // fragment
		"https://127.0.0.1/",                // loopback
		"https://[::1]/",                    // loopback v6
		"https://10.1.2.3/",                 // RFC 1918
		"https://172.16.0.1/",               // RFC 1918
		"https://192.168.1.1/",              // RFC 1918
		"https://[fd00::1]/",                // ULA
		"https://169.254.169.254/latest/",   // link-local: cloud metadata
		"https://[fe80::1]/",                // link-local v6
		"https://100.64.0.1/",               // CGNAT
		"https://224.0.0.1/",                // multicast
		"https://[ff02::1]/",                // multicast v6
		"https://0.0.0.0/",                  // unspecified
		"https://[::]/",                     // unspecified v6
		"https://192.0.2.1/",                // documentation
		"https://[2001:db8::1]/",            // documentation v6
		"https://[::ffff:127.0.0.1]/",       // IPv4-mapped loopback
		"https://[::ffff:93.184.215.14]/",   // IPv4-mapped at all
		"https://[64:ff9b::a00:1]/",         // NAT64 of 10.0.0.1
		"https://[::a00:1]/",                // IPv4-compatible 10.0.0.1
		"https://[::5db8:d70e]/",            // IPv4-compatible, public IPv4 at all
		"https://[::ffff:0:a00:1]/",         // IPv4-translated 10.0.0.1
		"https://[fec0::1]/",                // site-local (deprecated)
		"https://[4000::1]/",                // outside 2000::/3: unassigned
		"https://[100::1]/",                 // discard-only
		"https://1.2.3.4:0/",                // port 0
		"https://1.2.3.4:99999/",            // port above 65535
		"https://1.2.3.4:65536/",            // port above 65535
		"https://1.2.3.4:/",                 // empty port
		"https://1.2.3.4:https/",            // port not a number
		"https://[2606:4700::1111]:0/",      // port 0, v6
		"https://loopback.test/",            // name resolving to loopback
		"https://metadata.test/",            // name resolving to metadata
		"https://rebind.example/",           // one private address among public ones
		"https://nxdomain.example/",         // does not resolve
		"https://onprem.internal:8443/hook", // private, not allowed
		"ftp://public.example/",
		"https:///nohost",
		"https://public.example/a b",
	}
	for _, u := range refused {
		if _, err := g.CheckURL(context.Background(), u); !fault.Is(err, fault.Invalid) {
			t.Errorf("CheckURL(%q) = %v, want refused", u, err)
		}
	}
	for _, u := range []string{"https://public.example/hook", "https://public.example:8443/x?y=1", "https://93.184.215.14/",
		"https://[2606:4700::1111]/", "https://1.2.3.4:1/", "https://1.2.3.4:65535/"} {
		if _, err := g.CheckURL(context.Background(), u); err != nil {
			t.Errorf("CheckURL(%q) = %v, want admitted", u, err)
		}
	}
	g.Allow, _ = ParseNetworks("10.20.0.0/16, 127.0.0.0/8")
	for _, u := range []string{"https://onprem.internal:8443/hook", "https://127.0.0.1:9/"} {
		if _, err := g.CheckURL(context.Background(), u); err != nil {
			t.Errorf("with allowed networks, CheckURL(%q) = %v, want admitted", u, err)
		}
	}
	if _, err := g.CheckURL(context.Background(), "https://10.21.0.1/"); err == nil {
		t.Error("an address outside the allowed networks was admitted")
	}
}

// TestGuardRefusesAtDialTime: a name that resolves to loopback when the
// delivery connects is refused by the dialler, whatever it resolved to
// at registration (DNS rebinding); with the network allowed, it connects.
func TestGuardRefusesAtDialTime(t *testing.T) {
	var hits int
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits++ }))
	defer srv.Close()
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	// "localhost" resolves through the system to 127.0.0.1 or ::1; the
	// test server's certificate names example.com and 127.0.0.1, so the
	// request goes to the IP literal and the name each in turn.
	for _, u := range []string{"https://127.0.0.1" + port + "/", "https://localhost" + port + "/"} {
		_, err := (&Guard{}).Client(pool).Post(u, "application/json", nil)
		if err == nil || !errors.Is(err, errRefusedAddress) {
			t.Errorf("POST %s through the guard: %v, want refused at dial time", u, err)
		}
	}
	if hits != 0 {
		t.Fatalf("the receiver was reached %d times", hits)
	}
	allow, _ := ParseNetworks("127.0.0.0/8")
	resp, err := (&Guard{Allow: allow}).Client(pool).Post("https://127.0.0.1"+port+"/", "application/json", nil)
	if err != nil {
		t.Fatalf("allowed network: %v", err)
	}
	resp.Body.Close()
	if hits != 1 {
		t.Fatalf("allowed network: %d hits, want 1", hits)
	}
}

// TestGuardDoesNotFollowRedirects: a receiver's redirect is its answer;
// the client does not go where it points.
func TestGuardDoesNotFollowRedirects(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			t.Error("the redirect was followed")
		}
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	allow, _ := ParseNetworks("127.0.0.0/8")
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	resp, err := (&Guard{Allow: allow}).Client(pool).Post(srv.URL+"/hook", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect {
		t.Fatalf("status %d, want the redirect itself", resp.StatusCode)
	}
}

// TestClientVerifiesCertificates: a receiver whose certificate chains to
// no trusted CA is refused; trusting its CA (--webhook-ca-file) admits it.
func TestClientVerifiesCertificates(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	allow, _ := ParseNetworks("127.0.0.0/8")
	g := &Guard{Allow: allow}
	system, err := RootCAs("")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Client(system).Post(srv.URL, "application/json", nil); err == nil {
		t.Fatal("a certificate of an unknown CA was accepted")
	}
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	resp, err := g.Client(pool).Post(srv.URL, "application/json", nil)
	if err != nil {
		t.Fatalf("with its CA trusted: %v", err)
	}
	resp.Body.Close()
}
