package network

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Parsers of customer input. Each is strict: it accepts one canonical
// spelling (no leading zeros, no IPv6, no host bits in a prefix) so that what
// is stored is exactly what the data plane will be told, and each is a fuzz
// target (fuzz_test.go).

// ParsePrefix reads an IPv4 prefix such as 10.1.0.0/16. Host bits must be
// zero: 10.1.0.1/16 is refused rather than silently masked.
func ParsePrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("%q is not an IPv4 prefix such as 10.1.0.0/16", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("%q has host bits set; did you mean %s?", s, p.Masked())
	}
	return p, nil
}

// ParseAddr reads an IPv4 address in dotted-quad form.
func ParseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("%q is not an IPv4 address", s)
	}
	return a, nil
}

// ParsePrefixList reads a prefix list as a customer pastes it: one prefix per
// line or separated by commas or spaces; blank lines and '#' comments are
// ignored. Duplicates are refused. The result keeps the input order.
func ParsePrefixList(text string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	seen := map[netip.Prefix]bool{}
	for n, line := range strings.Split(text, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		for _, f := range strings.FieldsFunc(line, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\r' }) {
			p, err := ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n+1, err)
			}
			if seen[p] {
				return nil, fmt.Errorf("line %d: %s is listed twice", n+1, p)
			}
			seen[p] = true
			out = append(out, p)
		}
	}
	return out, nil
}

// ParseASN reads an AS number: plain ("65001"), with an "AS" prefix
// ("AS65001", "as65001") or in asdot notation ("2.10" = 131082). One prefix
// at most: "ASas65001" is not an AS number.
func ParseASN(s string) (uint32, error) {
	t, ok := strings.CutPrefix(s, "AS")
	if !ok {
		t, _ = strings.CutPrefix(s, "as")
	}
	if hi, lo, ok := strings.Cut(t, "."); ok {
		h, err1 := parseUint16(hi)
		l, err2 := parseUint16(lo)
		if err1 != nil || err2 != nil {
			return 0, fmt.Errorf("%q is not an AS number", s)
		}
		return uint32(h)<<16 | uint32(l), nil
	}
	if t == "" || (len(t) > 1 && t[0] == '0') {
		return 0, fmt.Errorf("%q is not an AS number", s)
	}
	v, err := strconv.ParseUint(t, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not an AS number from 1 to 4294967294", s)
	}
	return uint32(v), nil
}

func parseUint16(s string) (uint16, error) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, errors.New("bad number")
	}
	v, err := strconv.ParseUint(s, 10, 16)
	return uint16(v), err
}

// PortRange is an inclusive range of transport ports.
type PortRange struct{ From, To uint16 }

// MaxPortRanges bounds one service object.
const MaxPortRanges = 64

// ParsePorts reads a service object's ports: "443", "80,443", "8000-8080".
// Ranges must be ascending and ports 1–65535.
func ParsePorts(s string) ([]PortRange, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("ports are required for tcp and udp")
	}
	var out []PortRange
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		lo, hi, isRange := strings.Cut(f, "-")
		a, err := parsePort(lo)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = parsePort(hi); err != nil {
				return nil, err
			}
			if b < a {
				return nil, fmt.Errorf("range %q runs backwards", f)
			}
		}
		out = append(out, PortRange{a, b})
		if len(out) > MaxPortRanges {
			return nil, fmt.Errorf("at most %d port ranges", MaxPortRanges)
		}
	}
	return out, nil
}

func parsePort(s string) (uint16, error) {
	s = strings.TrimSpace(s)
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("%q is not a port number", s)
	}
	v, err := strconv.ParseUint(s, 10, 16)
	if err != nil || v == 0 {
		return 0, fmt.Errorf("%q is not a port number from 1 to 65535", s)
	}
	return uint16(v), nil
}

// FormatPorts is the canonical spelling of port ranges.
func FormatPorts(rs []PortRange) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		if r.From == r.To {
			parts[i] = strconv.Itoa(int(r.From))
		} else {
			parts[i] = fmt.Sprintf("%d-%d", r.From, r.To)
		}
	}
	return strings.Join(parts, ",")
}
