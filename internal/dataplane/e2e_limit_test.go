package dataplane

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestEndToEndImportLimit: the on-premises router advertises 2,001
// prefixes against the service's limit of 2,000. That session is
// disabled; the hub's other session is untouched.
func TestEndToEndImportLimit(t *testing.T) {
	prefix, runDir := kernelTest(t)
	ctx := context.Background()
	node := prefix + "-node"
	addNamespace(t, node)
	nl := netlinkOps{nodeNS: node}
	m := NewManager(Options{RunDir: runDir, NodeNamespace: node})

	onNS, clNS := prefix+"-on", prefix+"-aws"
	onPort, clPort := prefix+"o", prefix+"w"
	wirePeers(t, node, onNS, onPort, clNS, clPort)
	var many []string
	for i := range DefaultImportLimit + 1 {
		many = append(many, fmt.Sprintf("10.%d.%d.0/24", 10+i/256, i%256))
	}
	startPeerBird(t, onNS, runDir, peerConf{Local: "169.254.10.2", Hub: "169.254.10.1", ASN: 65001, HubASN: 65100,
		Prefixes: many, Loopback: "169.254.10.2"})
	startPeerBird(t, clNS, runDir, peerConf{Local: "169.254.20.2", Hub: "169.254.20.1", ASN: 64512, HubASN: 65100,
		Prefixes: []string{"172.31.0.0/16"}, Loopback: "169.254.20.2"})

	h := e2eHub(prefix+"-l", onPort, clPort, PolicyAll)
	t.Cleanup(func() {
		if err := m.Remove(ctx, h.ID); err != nil {
			t.Errorf("remove: %v", err)
		}
		killPidFile(pathsFor(runDir, h.Namespace()).PID)
		_ = nl.DeleteNamespace(h.Namespace())
	})
	if err := m.Apply(ctx, h); err != nil {
		t.Fatal(err)
	}
	c := m.BirdClient(h.ID)
	aws := waitEstablished(t, c, SessionName("aws"))
	var on ProtocolStatus
	waitFor(t, "the on-premises session to trip its import limit", 60*time.Second, func() (bool, string) {
		on, _ = protocolState(c, SessionName("onprem"))
		return on.State == "down" && strings.Contains(strings.ToLower(on.Info), "limit"), fmt.Sprintf("%+v", on)
	})
	t.Logf("after 2,001 prefixes: %s %s %q", on.Name, on.State, on.Info)
	// BIRD shows no route counts for the stopped session, only the limit
	// it hit: the count the agent reports for the stop.
	if rc, err := c.Counts(ctx, SessionName("onprem")); err != nil || rc.LimitHit != DefaultImportLimit {
		t.Errorf("counts of the stopped session: %+v, %v; want the limit hit at %d", rc, err, DefaultImportLimit)
	}
	routes, err := c.Routes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		if r.Protocol == SessionName("onprem") {
			t.Fatalf("routes of the disabled session remain: %v", r)
		}
	}
	time.Sleep(time.Second) // let a wrongly shared consequence show
	aws2, _ := protocolState(c, SessionName("aws"))
	if !aws2.Established() || !aws2.Since.Equal(aws.Since) {
		t.Errorf("the other session was hit: %+v → %+v", aws, aws2)
	}
	if ok, _ := hasRoute(c, "172.31.0.0/16", SessionName("aws")); !ok {
		t.Error("the other session's route is gone")
	}
	// The disabled session stays down across an unchanged Apply: the agent's
	// resync must not silently re-enable what the limit stopped.
	if err := m.Apply(ctx, h); err != nil {
		t.Fatal(err)
	}
	if on2, _ := protocolState(c, SessionName("onprem")); on2.State != "down" {
		t.Errorf("resync re-enabled the session: %+v", on2)
	}
}
