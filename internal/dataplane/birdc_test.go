package dataplane

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Replies recorded from BIRD 2.0.12 with "timeformat protocol/route iso long".
var recordedReplies = map[string]string{
	"show protocols": `2002-Name       Proto      Table      State  Since         Info
1002-device1    Device     ---        up     2026-11-26 12:38:40  
 st1        Static     master4    up     2026-11-26 12:38:40  
 port_aws   BGP        ---        up     2026-11-26 12:38:45  Established   
 port_on    BGP        ---        down   2026-11-26 12:39:01  Automatic shutdown: Route limit exceeded
0000 
`,
	"show route": `1007-Table master4:
 10.10.0.0/16         blackhole [st1 2026-11-26 12:38:40] * (200)
                      blackhole [st2 2026-11-26 12:38:40] (1)
 172.31.0.0/16        unicast [port_aws 2026-11-26 12:38:46] * (100) [AS64512i]
 	via 169.254.20.2 on eth-aws
0000 
`,
	"show protocols all st1": `2002-Name       Proto      Table      State  Since         Info
1002-st1        Static     master4    up     2026-11-26 12:38:40  
1006-  Channel ipv4
     State:          UP
     Routes:         2 imported, 1 filtered, 0 exported, 2 preferred
 
0000 
`,
	"configure": "0002-Reading configuration from /run/tsunagi/hub-c1/bird.conf\n0003 Reconfigured\n",
	"bad":       "9001 syntax error, unexpected CF_SYM_UNDEFINED\n",
	"show route where net ~ [ 10.0.0.0/8+, 172.16.0.0/12+, 192.168.0.0/16+ ]": `1007-Table master4:
 10.10.0.0/16         unicast [port_on 2026-11-26 12:38:46] * (100) [AS65001i]
 	via 169.254.10.2 on eth-on
0000 
`,
}

// fakeBirdSocket serves the recorded replies on a unix socket, as BIRD does:
// a greeting, then one reply per command line.
func fakeBirdSocket(t *testing.T) BirdClient {
	t.Helper()
	dir, err := os.MkdirTemp("", "tsgc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "bird.ctl")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = c.Write([]byte("0001 BIRD 2.0.12 ready.\n"))
				cmd, err := bufio.NewReader(c).ReadString('\n')
				if err != nil {
					return
				}
				_, _ = c.Write([]byte(recordedReplies[strings.TrimSpace(cmd)]))
			}()
		}
	}()
	return BirdClient{Socket: sock}
}

func TestBirdClient(t *testing.T) {
	c := fakeBirdSocket(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	ps, err := c.Protocols(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 4 {
		t.Fatalf("protocols: %+v", ps)
	}
	aws := ps[2]
	if aws.Name != "port_aws" || aws.Proto != "BGP" || !aws.Established() ||
		aws.Since.Format(time.DateTime) != "2026-11-26 12:38:45" {
		t.Errorf("port_aws = %+v", aws)
	}
	if on := ps[3]; on.Established() || on.State != "down" || on.Info != "Automatic shutdown: Route limit exceeded" {
		t.Errorf("port_on = %+v", on)
	}

	rs, err := c.Routes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []Route{
		{Net: mustPrefix("10.10.0.0/16"), Protocol: "st1", Primary: true},
		{Net: mustPrefix("10.10.0.0/16"), Protocol: "st2"},
		{Net: mustPrefix("172.31.0.0/16"), Protocol: "port_aws", Primary: true},
	}
	if len(rs) != len(want) {
		t.Fatalf("routes = %+v, want %+v", rs, want)
	}
	for i := range want {
		if rs[i] != want[i] {
			t.Errorf("route %d = %+v, want %+v", i, rs[i], want[i])
		}
	}

	within, err := c.RoutesWithin(ctx, RFC1918)
	if err != nil || len(within) != 1 || within[0].Protocol != "port_on" {
		t.Errorf("routes within RFC 1918 = %+v, %v", within, err)
	}

	rc, err := c.Counts(ctx, "st1")
	if err != nil || rc != (RouteCounts{Imported: 2, Filtered: 1, Exported: 0, Preferred: 2}) {
		t.Errorf("counts = %+v, %v", rc, err)
	}
	if err := c.Configure(ctx); err != nil {
		t.Errorf("configure: %v", err)
	}
	_, err = c.Command(ctx, "bad")
	var be *BirdError
	if !errors.As(err, &be) || be.Code != 9001 {
		t.Errorf("bad command: %v, want a 9001 BirdError", err)
	}
}

// A session the import limit stopped shows no route counts, only the
// limit it hit (BIRD 2.0's "show protocols all" of such a session).
func TestParseCountsLimitHit(t *testing.T) {
	var lines []ReplyLine
	for _, s := range []string{"  BGP state:          Down", "    Last error:       Automatic shutdown: Route limit exceeded",
		"  Channel ipv4", "    State:          DOWN", "    Import limit:   2000 [HIT]", "      Action:       disable"} {
		lines = append(lines, ReplyLine{Code: 1006, Text: s})
	}
	rc, err := parseCounts(lines)
	if err != nil || rc != (RouteCounts{LimitHit: 2000}) {
		t.Fatalf("limit hit: %+v, %v", rc, err)
	}
	lines[4].Text = "    Import limit:   2000"
	if rc, err := parseCounts(lines); err == nil {
		t.Fatalf("a limit not hit and no counts: %+v", rc)
	}
}
