package dataplane

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"net/netip"
	"regexp"
	"strings"
)

// nftables: one table "ip tsunagi" per hub namespace (the hub's own input
// filter, port firewalls, NAT) and, when a port has layer-2 guards, one
// table "netdev tsunagi_l2" with an ingress chain per guarded device
// (l2guard.go). Both are replaced whole in one transaction: the script
// starts with "table …; delete table …" for each, then declares them,
// which nft -f submits as a single netlink batch: the kernel applies all
// of it or none, and packets never see a half-built ruleset.
//
// Why nft -f and not github.com/google/nftables: the rules here (anonymous
// sets of prefixes and port ranges, conntrack state and status, SNAT to a
// range, log, reject, dynamic sets) are a few lines of nft syntax each but
// dozens of hand-assembled bytecode expressions each through the library,
// which the kernel then lists back as nft text anyway. The text is the
// readable state the tests compare (STYLE 5), nft -c checks it without
// applying, and the batch is as atomic as the library's Flush. The cost is
// an exec per apply, which only happens when the ruleset differs.
const (
	nftTable = "tsunagi"
	l2Table  = "tsunagi_l2"
)

// nftOps is the narrow view of nftables the subsystem needs.
type nftOps interface {
	// Apply runs an nft script in the namespace as one transaction.
	Apply(ctx context.Context, ns, script string) error
	// List returns the hub's tables (ip tsunagi, netdev tsunagi_l2) as nft
	// lists them, with counters; "" when there are none.
	List(ctx context.Context, ns string) (string, error)
}

// nftSet realises the hub's firewall, NAT and layer-2 guards.
type nftSet struct {
	ops nftOps
}

// Set replaces the tables when the digest recorded in the ip table's
// comment differs from the desired ruleset's, or when a guarded device's
// ingress chain is missing. Comparing a digest rather than the listing
// keeps counters out of the comparison and still reads the actual state
// from the kernel: a table changed by hand has a stale comment only if the
// hand kept it, which is the operator's lookout. The chains are checked
// because the kernel itself may remove them: older kernels (6.1 among
// them) delete a single-device netdev chain with its device, so a port
// interface that leaves the namespace and comes back (or is replugged)
// would otherwise stay unguarded under an unchanged digest. (Newer ones,
// this test host's 6.18 among them, keep the chain and hook the device
// again by name.)
func (s *nftSet) Set(ctx context.Context, h Hub) error {
	comment, script := renderNft(h)
	listing, err := s.ops.List(ctx, h.Namespace())
	if err != nil {
		return err
	}
	if tableComment(listing) == comment && l2ChainsPresent(listing, h) {
		return nil
	}
	return s.ops.Apply(ctx, h.Namespace(), script)
}

// replace replaces the tables without reading them first: for a ruleset
// known to differ (Manager.ApplyChanged). The script replaces both tables
// whole, so it is as idempotent as Set, one nft call cheaper.
func (s *nftSet) replace(ctx context.Context, h Hub) error {
	_, script := renderNft(h)
	return s.ops.Apply(ctx, h.Namespace(), script)
}

// renderNft returns the digest comment and the whole script of the hub's
// tables. The digest covers both tables' text; with no guards the netdev
// text is empty and the digest is what it was before guards existed, so
// an upgraded agent does not replace unguarded hubs' tables.
func renderNft(h Hub) (comment, script string) {
	body, l2 := renderNftBody(h), renderL2Body(h)
	comment = nftComment(h, body+l2)
	return comment, nftScript(comment, body, l2)
}

func nftComment(h Hub, text string) string {
	sum := sha256.Sum256([]byte(text))
	return fmt.Sprintf("tsunagi %s sha256=%s", h.Namespace(), hex.EncodeToString(sum[:12]))
}

// RuleComment is the comment, and so the counter's name in Status.Rules,
// of the i-th rule of port's firewall policy.
func RuleComment(port string, i int) string { return fmt.Sprintf("port %s rule %d", port, i) }

// DefaultDenyComment names the counter of port's firewall default deny.
func DefaultDenyComment(port string) string { return "port " + port + " default deny" }

// nftScript always deletes the netdev table, so that guards removed from
// every port leave none behind; it declares it only when there is one.
func nftScript(comment, body, l2 string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "table ip %[1]s\ndelete table ip %[1]s\ntable netdev %[2]s\ndelete table netdev %[2]s\n", nftTable, l2Table)
	fmt.Fprintf(&b, "table ip %s {\n\tcomment %q\n%s}\n", nftTable, comment, body)
	if l2 != "" {
		fmt.Fprintf(&b, "table netdev %s {\n%s}\n", l2Table, l2)
	}
	return b.String()
}

// tableComment is the comment of the hub's ip table in a listing (or a
// script): the first comment line of its block, where nft puts it.
func tableComment(listing string) string {
	_, block, ok := strings.Cut(listing, "table ip "+nftTable+" {\n")
	if !ok {
		return ""
	}
	if m := commentRe.FindStringSubmatch(block); m != nil {
		return m[1]
	}
	return ""
}

// renderNftBody renders the chains of the hub's table. Chain and rule
// order: the forward chain first refuses flows a NAPT-only peer opens,
// then hands each port's incoming packets to that port's policy chain;
// NAT rules first leave the hub's own traffic untranslated, then put
// static NAT before NAPT so that a mapped host keeps its own address.
func renderNftBody(h Hub) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	// The hub itself answers only what it needs to (CLD.9.5.2): BGP (and
	// BFD) from each port's peer on that port, ICMP, and its own flows.
	w("\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n")
	w("\t\tiifname \"lo\" accept\n\t\tct state established,related accept\n\t\tmeta l4proto icmp accept\n")
	for _, p := range h.Ports {
		w("\t\tiifname %q ip saddr %s tcp dport 179 accept\n", p.Interface, p.PeerAddress)
		if p.BFD {
			w("\t\tiifname %q ip saddr %s udp dport { 3784, 3785, 4784 } accept\n", p.Interface, p.PeerAddress)
		}
	}
	for _, bb := range backbonePeers(h) {
		w("\t\tiifname %q ip saddr %s tcp dport 179 accept\n", h.Backbone.Device, bb.Neighbor)
	}
	w("\t\tcounter drop comment \"hub input default deny\"\n\t}\n\n")
	w("\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n")
	for _, p := range h.Ports {
		if p.NAPT != nil {
			w("\t\tiifname %q ct state new ct status & dnat == 0 counter drop comment %q\n",
				p.Interface, "port "+p.Name+": napt, flow opened from outside")
		}
	}
	for _, p := range h.Ports {
		if p.Firewall != nil {
			w("\t\tiifname %q jump fw_%s\n", p.Interface, p.Name)
		}
	}
	w("\t}\n")
	for _, p := range h.Ports {
		if p.Firewall == nil {
			continue
		}
		w("\n\tchain fw_%s {\n", p.Name)
		if p.Firewall.Stateful {
			w("\t\tct state established,related accept\n\t\tct state invalid drop\n")
		}
		for i, r := range p.Firewall.Rules {
			w("\t\t%s comment %q\n", nftRule(h, p, i, r), RuleComment(p.Name, i))
		}
		w("\t\tcounter drop comment %q\n\t}\n", DefaultDenyComment(p.Name))
	}
	var pre, post []string
	for _, p := range h.Ports {
		for _, s := range p.StaticNAT {
			pre = append(pre, fmt.Sprintf("iifname %q ip daddr %s counter dnat to %s", p.Interface, s.Public, s.Inside))
			post = append(post, fmt.Sprintf("oifname %q ip saddr %s counter snat to %s", p.Interface, s.Inside, s.Public))
		}
	}
	for _, p := range h.Ports {
		if p.NAPT != nil {
			post = append(post, fmt.Sprintf("oifname %q ip saddr %s counter snat to %s",
				p.Interface, nftSet1(p.NAPT.Inside), nftNAPTTarget(*p.NAPT)))
		}
	}
	if len(pre)+len(post) > 0 {
		// The hub's own flows (BGP, BFD, ICMP, probes from its addresses)
		// leave with the hub's own address: a peer knows the hub by its link
		// address, and a BGP session or BFD the hub opens toward a NAPT peer
		// would otherwise reach it from a public address it does not expect.
		// A packet whose source is one of the namespace's own addresses was
		// sent by the hub itself (the kernel drops any arriving from outside
		// with such a source as martian). Accepting in a NAT chain leaves
		// the connection untranslated.
		post = append([]string{fmt.Sprintf("fib saddr type local counter accept comment %q", hubOwnComment)}, post...)
		w("\n\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n")
		for _, r := range pre {
			w("\t\t%s\n", r)
		}
		w("\t}\n\n\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n")
		for _, r := range post {
			w("\t\t%s\n", r)
		}
		w("\t}\n")
	}
	return b.String()
}

func nftRule(h Hub, p Port, i int, r Rule) string {
	var f []string
	if len(r.Sources) > 0 {
		f = append(f, "ip saddr "+nftSet1(r.Sources))
	}
	if len(r.Destinations) > 0 {
		f = append(f, "ip daddr "+nftSet1(r.Destinations))
	}
	if r.Protocol != "" {
		f = append(f, "meta l4proto "+r.Protocol)
	}
	if len(r.Ports) > 0 {
		f = append(f, "th dport { "+strings.Join(r.Ports, ", ")+" }")
	}
	f = append(f, "counter")
	if r.Log {
		f = append(f, fmt.Sprintf("log prefix %q", fmt.Sprintf("tsunagi %s %s r%d: ", h.ID, p.Name, i)))
	}
	f = append(f, string(r.Action))
	return strings.Join(f, " ")
}

func nftSet1(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return "{ " + strings.Join(s, ", ") + " }"
}

// hubOwnComment marks the rule that keeps the hub's own traffic out of NAT.
const hubOwnComment = "the hub's own traffic keeps its address"

// nftNAPTTarget picks one of the NAPT's public addresses per flow: a hash
// of the inside source and the destination indexes a map of every address
// of every public prefix. One inside host keeps one public address toward
// one destination (what Linux does within a single range), its flows to
// other destinations spread over all the addresses, and each address
// takes an equal share, so each grade takes the share its sessions buy.
// The kernel chooses the source port as for any SNAT. The hash's seed is
// fixed by the public addresses, so while the grades are unchanged a
// replaced ruleset (any other change of the hub) maps each host and
// destination to the same address as before; flows already translated
// keep theirs in any case, as conntrack holds it.
func nftNAPTTarget(n NAPT) string {
	addrs := n.addresses()
	if len(addrs) == 1 {
		return addrs[0].String()
	}
	m := make([]string, len(addrs))
	seed := fnv.New32a()
	for i, a := range addrs {
		m[i] = fmt.Sprintf("%d : %s", i, a)
		seed.Write(a.AsSlice())
	}
	// nft leaves a zero seed out of its listing, which would read as drift.
	return fmt.Sprintf("jhash ip saddr . ip daddr mod %d seed %#x map { %s }", len(addrs), seed.Sum32()|1, strings.Join(m, ", "))
}

// nftCLI is nftOps on the nft binary run inside the namespace.
type nftCLI struct{}

var commentRe = regexp.MustCompile(`(?m)^\s*comment "([^"]*)"\s*$`)

func (nftCLI) run(ctx context.Context, ns string, stdin string, args ...string) (string, error) {
	out, err := runNft(ctx, ns, stdin, args...)
	if err != nil {
		return out, fmt.Errorf("in %s: %w", ns, err)
	}
	return out, nil
}

// List lists the namespace's ruleset once and keeps the hub's two tables:
// one exec per observe, whatever tables an adopted namespace also holds.
func (c nftCLI) List(ctx context.Context, ns string) (string, error) {
	out, err := c.run(ctx, ns, "", "list", "ruleset")
	if err != nil {
		return "", err
	}
	return ownTables(out), nil
}

// ownTables keeps the blocks of the hub's tables from a ruleset listing.
func ownTables(listing string) string {
	var b strings.Builder
	keep := false
	for _, line := range strings.SplitAfter(listing, "\n") {
		if strings.HasPrefix(line, "table ") {
			keep = line == "table ip "+nftTable+" {\n" || line == "table netdev "+l2Table+" {\n"
		}
		if keep {
			b.WriteString(line)
		}
	}
	return b.String()
}

func (c nftCLI) Apply(ctx context.Context, ns, script string) error {
	_, err := c.run(ctx, ns, script, "-f", "-")
	return err
}
