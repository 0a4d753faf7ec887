package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/fault"
)

// Guard keeps webhook deliveries off the controller's own networks (SSRF):
// a customer names the URL, so the controller must not become the
// customer's way into its loopback, its management network, a cloud
// metadata service or another customer's private address. A URL is
// checked when it is registered, and the address each connection truly
// goes to is checked again as it is dialled, so that a name which resolves
// to a public address at registration and to a private one later (DNS
// rebinding) is still refused.
type Guard struct {
	// Allow admits networks that would otherwise be refused: an
	// operator's on-premises receivers (--webhook-allow-networks), the
	// tests' receiver on 127.0.0.1. Empty by default.
	Allow []netip.Prefix
	// Resolver looks names up at registration; nil: net.DefaultResolver.
	Resolver interface {
		LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	}
}

// ParseNetworks reads a comma-separated CIDR list (--webhook-allow-networks).
func ParseNetworks(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("webhook allow networks: %w", err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// refused are the networks that are not public unicast besides what
// netip's predicates already name (loopback, private, link-local,
// multicast, unspecified): shared address space, benchmarking,
// documentation, reserved, IPv6 site-local and the IPv6 forms that embed
// an IPv4 address (IPv4-compatible, IPv4-mapped, IPv4-translated, NAT64,
// 6to4, Teredo), which could carry a refused IPv4 address past a check of
// IPv6 ranges. Most IPv6 ones lie outside global6 and are refused before
// this list is read; they are named so that the list stays right alone.
var refused = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4",
		"::/96", "::ffff:0:0/96", "::ffff:0:0:0/96", "fec0::/10", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64",
		"2001::/32", "2001:db8::/32", "2002::/16", "3fff::/20",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// global6 is the IPv6 global unicast space IANA allocates from: an IPv6
// address outside it is refused whatever the predicates say, as every
// other IPv6 block is special-purpose or unassigned.
var global6 = netip.MustParsePrefix("2000::/3")

// Admits reports whether deliveries may connect to a.
func (g *Guard) Admits(a netip.Addr) bool {
	for _, p := range g.Allow {
		if p.Contains(a) || (a.Is4In6() && p.Contains(a.Unmap())) {
			return true
		}
	}
	if !a.IsValid() || !a.IsGlobalUnicast() || a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() ||
		a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	if a.Is6() && !global6.Contains(a) {
		return false
	}
	for _, p := range refused {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// MaxURL bounds a webhook's URL, in bytes.
const MaxURL = 2000

// CheckURL refuses a URL deliveries may not go to: not https, with
// credentials or a fragment, or whose host is or resolves to an address
// the guard does not admit. It returns the URL as it will be used.
func (g *Guard) CheckURL(ctx context.Context, raw string) (*url.URL, error) {
	if raw == "" || len(raw) > MaxURL || strings.ContainsFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return nil, fault.Field("url", "url must be an https:// URL of at most %d bytes without spaces", MaxURL)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Opaque != "" {
		return nil, fault.Field("url", "url must be an https:// URL")
	}
	if u.User != nil {
		return nil, fault.Field("url", "url must not hold a user name or password")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, fault.Field("url", "url must not hold a fragment")
	}
	// url.Parse takes any run of digits as a port (0, 99999) and a bare
	// colon as none; a URL that could never be dialled is refused here
	// rather than failing every delivery.
	if p := u.Port(); p != "" || strings.HasSuffix(u.Host, ":") {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fault.Field("url", "url's port must be a number from 1 to 65535")
		}
	}
	host := u.Hostname()
	if a, err := netip.ParseAddr(host); err == nil {
		if !g.Admits(a) {
			return nil, fault.Field("url", "url must name a public address")
		}
		return u, nil
	}
	var r interface {
		LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	} = net.DefaultResolver
	if g.Resolver != nil {
		r = g.Resolver
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := r.LookupNetIP(lctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return nil, fault.Field("url", "url's host does not resolve")
	}
	for _, a := range addrs {
		if !g.Admits(a) {
			return nil, fault.Field("url", "url must name a public address")
		}
	}
	return u, nil
}

// errRefusedAddress is the dial-time refusal; a delivery records it as
// its error.
var errRefusedAddress = errors.New("the receiver's address is not public: refused")

// control is the dialler's check of the address a connection is about to
// use, after name resolution: the check DNS rebinding cannot get past.
func (g *Guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("webhook dial %q: %w", address, err)
	}
	if !g.Admits(ap.Addr()) {
		return fmt.Errorf("%w (%s)", errRefusedAddress, ap.Addr())
	}
	return nil
}

// Timeout bounds one delivery: connection, TLS, request and answer.
const Timeout = 10 * time.Second

// Client returns the HTTP client deliveries use: every connection checked
// by the guard, no proxy (a proxy would dial for us, past the check), TLS
// verified against the system's roots plus extra, redirects not followed
// (a redirect could point anywhere; the receiver's answer stands).
func (g *Guard) Client(extra *x509.CertPool) *http.Client {
	d := &net.Dialer{Timeout: Timeout, Control: g.control}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: extra, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   Timeout,
		ResponseHeaderTimeout: Timeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{Transport: tr, Timeout: Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// RootCAs is the system's roots plus the PEM certificates in file
// (--webhook-ca-file); file "" gives the system's roots alone.
func RootCAs(file string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if file == "" {
		return pool, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("webhook CA file: %w", err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("webhook CA file %s: no PEM certificate", file)
	}
	return pool, nil
}
