package agent

import (
	"slices"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/dataplane"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
)

// A cloud port's two links are two data-plane ports: each session on its
// own leg's VLAN sub-interface with its own /30. A cloud port placed before
// it had a secondary leg has no leg for the secondary session: the session
// is reported as not realised, never dropped silently.
func TestTranslateCloudPortLinks(t *testing.T) {
	doc := func(legs ...desired.Leg) desired.State {
		return desired.State{Schema: desired.Schema, Node: "n1", Region: "tokyo", RouteLimit: 1500, Hubs: []desired.Hub{{
			HubID: "hub_x", Namespace: "hub-x", ASN: 64600, InternalNetwork: "100.64.0.0/24", MonitoringNetwork: "100.64.1.0/28",
			Ports: []desired.Port{{
				PortCode: "shc00000009", Kind: "a-private", SpeedMbps: 1000, BGPEnabled: true, Legs: legs,
				Sessions: []desired.Session{
					{Name: "primary", LocalAddress: "169.254.10.1", PeerAddress: "169.254.10.2", PrefixLength: 30, PeerASN: 64512, ImportLimit: 1500},
					{Name: "secondary", LocalAddress: "169.254.10.5", PeerAddress: "169.254.10.6", PrefixLength: 30, PeerASN: 64512, ImportLimit: 1500},
				},
				RoutePolicy: desired.RoutePolicy{Type: "DefaultRoute"},
			}},
		}}}
	}
	primary, secondary := desired.Leg{Role: "primary", Interface: "eth3", VLAN: 120}, desired.Leg{Role: "secondary", Interface: "eth5", VLAN: 120}

	hubs, problems := translateFlat(doc(primary, secondary))
	if len(problems) != 0 {
		t.Errorf("both links placed: problems %q", problems)
	}
	type port struct{ name, dev, addr, peer string }
	var got []port
	for _, p := range hubs[0].Ports {
		got = append(got, port{p.Name, p.Interface, p.Address.String(), p.PeerAddress.String()})
		if len(p.Legs) != 0 || len(p.VLANs) != 1 || p.VLANs[0] != (dataplane.VLANLink{Name: p.Interface, Parent: strings.TrimSuffix(p.Interface, ".120"), ID: 120}) {
			t.Errorf("port %s: legs %q, VLANs %+v", p.Name, p.Legs, p.VLANs)
		}
	}
	want := []port{{"p00000009_p", "eth3.120", "169.254.10.1/30", "169.254.10.2"}, {"p00000009_s", "eth5.120", "169.254.10.5/30", "169.254.10.6"}}
	if !slices.Equal(got, want) {
		t.Errorf("data-plane ports %+v, want %+v", got, want)
	}
	if err := hubs[0].Validate(); err != nil {
		t.Errorf("data plane refuses the translation: %v", err)
	}

	hubs, problems = translateFlat(doc(primary))
	if len(hubs[0].Ports) != 1 || hubs[0].Ports[0].Name != "p00000009_p" {
		t.Errorf("primary leg only: ports %+v", hubs[0].Ports)
	}
	if want := "shc00000009: secondary session not realised: the port has no secondary leg on this node"; !slices.Equal(problems, []string{want}) {
		t.Errorf("primary leg only: problems %q, want %q", problems, want)
	}
}
