package main

import (
	"context"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/agent"
	lgc "github.com/tsunagi-net/tsunagi/internal/network/lookingglass"
)

// TestBrowserLookingGlass: the demo controller has no real hub node, so a
// test agent enrols honestly for the demo's node (a token the operator
// makes through the operator API, a CSR, the node certificate) and answers
// the looking-glass queries it is handed with an answer of its own. The
// customer's operations administrator opens the port's looking glass from
// the port page and sees that answer — the session, an accepted and a
// refused route with its reason, an advertised route — in Japanese and
// English; axe-core checks each page (open does).
func TestBrowserLookingGlass(t *testing.T) {
	t.Parallel()
	defer timed(t, "TestBrowserLookingGlass")()
	s := startDemo(t)
	tok := s.bootstrap()
	code := demoMainPort(t, s, tok, "Example Trading K.K.")

	r := s.must("POST", s.mgmtURL("/api/v1/nodes/tyo-hub-01/enrolment-token"), nil, bearer(tok))
	if r.status != http.StatusCreated {
		t.Fatalf("enrolment token: %d %s", r.status, r.body)
	}
	ctx, cancel := context.WithCancel(context.Background())
	state := filepath.Join(t.TempDir(), "state")
	if err := agent.Enrol(ctx, "https://"+s.agent, s.certPool(), r.str("token"), state); err != nil {
		t.Fatalf("enrol: %v", err)
	}
	client, err := agent.NewClient("https://"+s.agent, s.certPool(), state)
	if err != nil {
		t.Fatal(err)
	}
	var answered atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			qs, err := client.LookingGlassQueries(ctx, 5*time.Second)
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			for _, q := range qs {
				since := time.Date(2026, 12, 6, 1, 2, 3, 0, time.UTC)
				a := lgc.Answer{Schema: lgc.Schema, ID: q.ID, AnsweredAt: time.Now().UTC(), State: "up", Info: "Established", Since: &since,
					HoldTime: 90, KeepaliveTime: 30,
					Received: []lgc.ReceivedRoute{{Prefix: "10.77.0.0/16", NextHop: "10.0.0.2", ASPath: []int64{65001, 65077}, Accepted: true},
						{Prefix: "198.18.0.0/15", NextHop: "10.0.0.2", ASPath: []int64{65001}, Reason: "bogon"}},
					Advertised: []lgc.AdvertisedRoute{{Prefix: "100.64.55.0/24", NextHop: "10.0.0.1", ASPath: []int64{}}}}
				if err := client.SendLookingGlassAnswer(ctx, a); err != nil && ctx.Err() == nil {
					t.Errorf("answer %s: %v", q.ID, err)
				}
				answered.Add(1)
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })

	b := newBrowser(t, s)
	base := s.customerOrigin()
	ops := b.person("example-ops", "ja")
	ops.setPassword(mailedLink(t, s, "ops@example.co.jp"), opsPassword)
	ops.signIn(base, "example-ops", opsPassword)
	ops.open(base + "/ports/" + code)
	ops.mustHave(`a[href="/ports/`+code+`/looking-glass"]`, "the port page's link to the looking glass")
	if st := ops.submit(`a[href="/ports/` + code + `/looking-glass"]`); st != http.StatusOK {
		t.Fatalf("looking glass: %d:\n%s", st, ops.text())
	}
	ops.contains("the node's answer in Japanese", "ルッキンググラス", "10.77.0.0/16", "65001 65077", "受け付け",
		"198.18.0.0/15", "拒否", "ボゴン", "100.64.55.0/24", "90 秒", "経路数の上限", "2026-12-06 10:02 JST")
	ops.shoot("customer-looking-glass")
	ops.switchLang("en")
	ops.open(base + "/ports/" + code + "/looking-glass")
	ops.contains("the node's answer in English", "Looking glass", "Accepted", "Refused", "bogon", "Advertised routes", "Route quota")
	if n := answered.Load(); n < 2 {
		t.Errorf("the test agent answered %d queries, want one per page", n)
	}
}

// demoMainPort is a port of the demo customer's main hub (the Tokyo hub,
// which the demo places on tyo-hub-01).
func demoMainPort(t *testing.T, s *server, tok, customer string) string {
	t.Helper()
	var id string
	for _, c := range s.items(tok, "/api/v1/customers") {
		if c["name"] == customer {
			id, _ = c["id"].(string)
		}
	}
	var hub string
	for _, h := range s.items(tok, "/api/v1/customers/"+id+"/hubs") {
		if h["priority"] == "main" {
			hub, _ = h["id"].(string)
		}
	}
	for _, p := range s.items(tok, "/api/v1/customers/"+id+"/ports") {
		if p["hub_id"] == hub {
			code, _ := p["port_code"].(string)
			return code
		}
	}
	t.Fatalf("the demo customer %q has no port on its main hub", customer)
	return ""
}
