package dataplane

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// The underlay filter: the backbone's VXLAN devices live in the hub
// namespaces, but their UDP socket is in the node namespace (netOps
// AddVXLAN), so a VXLAN packet from anywhere on the underlay that carries
// a customer's VNI would otherwise be decapsulated into that customer's
// hub. Isolation must not depend on the operator's own firewall: each hub
// with a backbone gets a table "ip tsunagi_vx_<id>" in the node namespace
// whose input chain drops a VXLAN packet with the hub's VNI unless its
// outer source is one of the hub's peer nodes (the same addresses as the
// device's flood list). The VNI is read from the VXLAN header (@th,96,24:
// after the 8-byte UDP header, 4 bytes of flags and reserved bits). The
// chain hooks at raw priority, before conntrack, so dropped packets leave
// no state behind; it only drops, so it neither overrides nor depends on
// any other table of the node. One table per hub keeps hubs independent:
// applying or removing one never touches another's, and it is replaced
// whole in one nft transaction like the hub's own tables (nft.go).
const underlayTablePrefix = "tsunagi_vx_"

// underlayOps is the narrow view of nftables in the node namespace.
type underlayOps interface {
	// Apply runs an nft script in the node namespace as one transaction.
	Apply(ctx context.Context, script string) error
	// List returns the node namespace's ip tables named table (at most
	// one) as nft lists them; "" when there is none.
	List(ctx context.Context, table string) (string, error)
}

// underlaySet realises each hub's underlay filter.
type underlaySet struct {
	ops underlayOps
}

func underlayTable(hubID string) string { return underlayTablePrefix + hubID }

// Set replaces the hub's underlay table when the digest in its comment
// differs from the desired one's, and deletes it when the hub has no
// backbone; otherwise it makes no altering call.
func (s *underlaySet) Set(ctx context.Context, h Hub) error {
	table := underlayTable(h.ID)
	listing, err := s.ops.List(ctx, table)
	if err != nil {
		return err
	}
	if h.Backbone == nil {
		if listing == "" {
			return nil
		}
		return s.ops.Apply(ctx, underlayDelete(table))
	}
	comment, script := renderUnderlay(h)
	if listing != "" && commentOf(listing) == comment {
		return nil
	}
	return s.ops.Apply(ctx, script)
}

// Remove deletes the hub's underlay table, if any.
func (s *underlaySet) Remove(ctx context.Context, hubID string) error {
	table := underlayTable(hubID)
	listing, err := s.ops.List(ctx, table)
	if err != nil || listing == "" {
		return err
	}
	return s.ops.Apply(ctx, underlayDelete(table))
}

func underlayDelete(table string) string {
	return fmt.Sprintf("table ip %[1]s\ndelete table ip %[1]s\n", table)
}

// renderUnderlay returns the digest comment and the script replacing the
// hub's underlay table.
func renderUnderlay(h Hub) (comment, script string) {
	b := h.Backbone
	peers := make([]string, 0, len(b.Peers))
	for _, p := range b.Peers {
		peers = append(peers, p.RemoteUnderlay.String())
	}
	slices.Sort(peers)
	var body strings.Builder
	fmt.Fprintf(&body, "\tset peers {\n\t\ttype ipv4_addr\n\t\telements = { %s }\n\t}\n", strings.Join(peers, ", "))
	fmt.Fprintf(&body, "\tchain input {\n\t\ttype filter hook input priority raw; policy accept;\n")
	fmt.Fprintf(&body, "\t\tudp dport %d @th,96,24 %d ip saddr != @peers counter drop\n\t}\n", vxlanPort, b.VNI)
	comment = nftComment(h, body.String())
	table := underlayTable(h.ID)
	return comment, underlayDelete(table) + fmt.Sprintf("table ip %s {\n\tcomment %q\n%s}\n", table, comment, body.String())
}

// commentOf is the first comment line of a table listing.
func commentOf(listing string) string {
	if m := commentRe.FindStringSubmatch(listing); m != nil {
		return m[1]
	}
	return ""
}

// nodeNft is underlayOps on the nft binary in the node namespace: the
// agent's own when ns is "", else run inside ns.
type nodeNft struct {
	ns string
}

func (n nodeNft) run(ctx context.Context, stdin string, args ...string) (string, error) {
	out, err := runNft(ctx, n.ns, stdin, args...)
	if err != nil {
		return out, fmt.Errorf("in the node namespace: %w", err)
	}
	return out, nil
}

// List lists the node's ip tables' names first, so that a missing table is
// told apart from a failing nft without parsing its error text.
func (n nodeNft) List(ctx context.Context, table string) (string, error) {
	names, err := n.run(ctx, "", "list", "tables", "ip")
	if err != nil {
		return "", err
	}
	if !slices.Contains(strings.Split(names, "\n"), "table ip "+table) {
		return "", nil
	}
	return n.run(ctx, "", "list", "table", "ip", table)
}

func (n nodeNft) Apply(ctx context.Context, script string) error {
	_, err := n.run(ctx, script, "-f", "-")
	return err
}
