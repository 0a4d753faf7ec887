package dataplane

import (
	"bufio"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// reply turns BIRD's raw reply text into lines as readReply does.
func reply(t *testing.T, raw string) []ReplyLine {
	t.Helper()
	lines, err := readReply(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

func TestParseRouteDetails(t *testing.T) {
	// Captured from BIRD 2.0.12: two networks, the second with a further
	// route, each with its attributes.
	raw := "1007-Table master4:\n" +
		" 192.0.2.0/24         unicast [port_p1_s 2026-12-06 21:16:55 from 10.0.0.2] * (100) [AS65001i]\n" +
		"1008-\tType: BGP univ\n" +
		"1012-\tBGP.origin: IGP\n" +
		" \tBGP.as_path: 65001 65002\n" +
		" \tBGP.next_hop: 10.0.0.2\n" +
		" \tBGP.local_pref: 100\n" +
		"1007- 198.51.100.0/24      unicast [port_p1_s 2026-12-06 21:16:55 from 10.0.0.2] * (100) [AS65001i]\n" +
		"1012-\tBGP.as_path: 65001 {65010 65011}\n" +
		" \tBGP.next_hop: 10.0.0.2\n" +
		"1007-                     unicast [port_p1_p 2026-12-06 21:16:55 from 10.0.1.2] (100) [AS65001i]\n" +
		"1012-\tBGP.as_path: 65001\n" +
		" \tBGP.next_hop: 10.0.1.2\n" +
		"0000 \n"
	got := parseRouteDetails(reply(t, raw))
	want := []RouteDetail{
		{Net: netip.MustParsePrefix("192.0.2.0/24"), NextHop: netip.MustParseAddr("10.0.0.2"), ASPath: []int64{65001, 65002}},
		{Net: netip.MustParsePrefix("198.51.100.0/24"), NextHop: netip.MustParseAddr("10.0.0.2"), ASPath: []int64{65001}},
		{Net: netip.MustParsePrefix("198.51.100.0/24"), NextHop: netip.MustParseAddr("10.0.1.2"), ASPath: []int64{65001}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestParseSessionDetail(t *testing.T) {
	raw := "2002-Name       Proto      Table      State  Since         Info\n" +
		"1002-port_p1_s  BGP        ---        up     2026-12-06 21:16:52  Established   \n" +
		"1006-  BGP state:          Established\n" +
		"     Neighbor address: 127.0.0.1\n" +
		"     Source address:   10.0.0.1\n" +
		"     Hold timer:       175.375/240\n" +
		"     Keepalive timer:  64.012/80\n" +
		"   Channel ipv4\n" +
		"     Routes:         1 imported, 1 filtered, 1 exported, 1 preferred\n" +
		"0000 \n"
	d := parseSessionDetail(reply(t, raw))
	if !d.Established() || d.HoldTime != 240 || d.KeepaliveTime != 80 || d.Source != netip.MustParseAddr("10.0.0.1") {
		t.Fatalf("got %+v", d)
	}
	down := parseSessionDetail(reply(t, "1002-port_p1_s  BGP        ---        start  2026-12-06 21:16:52  Active        Socket: Connection refused\n0000 \n"))
	if down.Established() || down.HoldTime != 0 || down.Source.IsValid() || down.Info != "Active Socket: Connection refused" {
		t.Fatalf("down: %+v", down)
	}
}
