package web

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fleet"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// A customer's hub dataplane is read from that hub's own rows of the
// node's report: the version it truly runs, why not the applied one, what
// of it the node did not build, its firewall counters by the customer's
// rule number — and nothing of another customer's hub on the same node.
// The answers are checked against the OpenAPI document.
func TestHubDataplaneReadsTheHubsOwnObservation(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	ctx := e.seed
	_, err := e.cat.CreateRegion(ctx, catalog.RegionInput{Code: "tokyo", NameEN: "Tokyo", NameJA: "東京", DataLocation: "Japan"})
	e.must("region", err)
	n, err := e.cat.CreateNode(ctx, catalog.NodeInput{Region: "tokyo", Name: "tyo-1"})
	e.must("node", err)
	custA, onA, _ := e.hubWithTwoPorts("A K.K.")
	custB, onB, _ := e.hubWithTwoPorts("B K.K.")
	hubA, hubB := onA.HubID, onB.HubID

	const why = "hub x refused: port p1_s: interface eth9 does not exist on this node"
	rep := observed.Report{Schema: observed.Schema, AgentVersion: "t", ObservedAt: time.Now().UTC(), Hubs: []observed.Hub{
		{HubID: string(hubA), CustomerID: string(custA.ID), WantedVersion: 3, ConfigVersion: 2, Error: why,
			Problems: []observed.Problem{{PortCode: onA.PortCode, Item: "session secondary", Reason: "not built"}},
			Ports: []observed.Port{{PortCode: onA.PortCode, Sessions: []observed.Session{}, Links: []observed.Link{},
				Rules: []observed.RuleCounter{{Rule: 4, Packets: 10, Bytes: 840}, {Rule: observed.DefaultRule, Packets: 1, Bytes: 60}}}},
			Backbone: []observed.Session{}, Holds: []observed.Hold{}, Events: []observed.Event{}},
		{HubID: string(hubB), CustomerID: string(custB.ID), WantedVersion: 5, ConfigVersion: 5,
			Problems: []observed.Problem{{Item: "backbone peer sub", Reason: "B's secret gap"}}},
	}}
	placed := fleet.Placed{hubA: custA.ID, hubB: custB.ID}
	e.must("report", e.srv.deps.Fleet.Report(ctx, fleet.Node{ID: n.ID, Name: n.Name}, rep, placed))

	const pw = "dataplane view passphrase 42"
	e.account(custA.ID, "dp-user", identity.RoleUser, pw)
	a := e.client(e.customer)
	a.login("dp-user", pw)
	var got hubDataplane
	a.expect(http.StatusOK, "GET", "/api/v1/hubs/"+string(hubA)+"/dataplane", nil).json(t, &got)
	if got.ReachedVersion != 2 || got.Error != why || got.InSync || got.ReportedAt == nil {
		t.Errorf("A's hub: %+v", got)
	}
	if len(got.Problems) != 1 || got.Problems[0].Item != "session secondary" {
		t.Errorf("A's problems: %+v", got.Problems)
	}
	if len(got.Ports) != 1 || len(got.Ports[0].Rules) != 2 || got.Ports[0].Rules[0].Rule != 4 || got.Ports[0].Rules[0].Packets != 10 {
		t.Errorf("A's firewall counters by its rule number: %+v", got.Ports)
	}
	r := a.expect(http.StatusNotFound, "GET", "/api/v1/hubs/"+string(hubB)+"/dataplane", nil)
	if strings.Contains(string(r.body), "secret gap") {
		t.Errorf("A reads B's observation: %s", r.body)
	}
}
