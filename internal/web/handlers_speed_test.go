package web

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/schedule"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestCustomerSpeedChangeAPI: a customer's speed change goes through the
// draft, the review says it is hitless, apply makes it effective today in
// the port list; bad input names the field; operators see the scheduler's
// runs at GET /api/v1/job-runs.
func TestCustomerSpeedChangeAPI(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	e.tokyoNode([]catalog.PhysicalPort{
		{Name: "eth3", SpeedMbps: 10_000, Kind: "cloud-aws"}, {Name: "eth4", SpeedMbps: 10_000, Kind: "cloud-aws"}})
	cu, _, aws := e.hubWithTwoPorts("Speed K.K.")
	const pw = "speed api passphrase 42"
	e.account(cu.ID, "sp-ops", identity.RoleOpsAdmin, pw)
	e.account(cu.ID, "sp-user", identity.RoleUser, pw)
	e.account("", "sp-operator", identity.RoleOperator, pw)
	ops, user, op := e.client(e.customer), e.client(e.customer), e.client(e.mgmt)
	ops.login("sp-ops", pw)
	user.login("sp-user", pw)
	op.login("sp-operator", pw)
	op.expect(http.StatusCreated, "POST", "/api/v1/customers/"+string(cu.ID)+"/ports/"+aws.PortCode+"/placement", map[string]any{})

	speedPath := "/api/v1/network/draft/ports/" + aws.PortCode + "/speed"
	ops.expect(http.StatusOK, "POST", "/api/v1/network/lock", nil)
	user.expect(http.StatusForbidden, "PUT", speedPath, map[string]any{"speed_mbps": 2000})
	r := ops.expectInvalid(http.StatusBadRequest, "PUT", speedPath, map[string]any{"speed_mbps": 300})
	if !strings.Contains(string(r.body), "speed_mbps") || !strings.Contains(string(r.body), "must be one of") {
		t.Fatalf("refusal = %s", r.body)
	}
	var d network.Draft
	ops.expect(http.StatusOK, "PUT", speedPath, map[string]any{"speed_mbps": 2000}).json(t, &d)
	if len(d.SpeedChanges) != 1 || d.SpeedChanges[0].SpeedMbps != 2000 || d.SpeedChanges[0].PortCode != aws.PortCode {
		t.Fatalf("draft = %+v", d.SpeedChanges)
	}
	var rv network.Review
	ops.expect(http.StatusOK, "GET", "/api/v1/network/draft/review", nil).json(t, &rv)
	if !rv.Hitless || rv.Risk != "low" || !rv.Valid {
		t.Fatalf("review = %+v", rv)
	}
	ops.expect(http.StatusCreated, "POST", "/api/v1/network/draft/apply", nil)
	var ports struct{ Items []catalog.Port }
	user.expect(http.StatusOK, "GET", "/api/v1/ports", nil).json(t, &ports)
	found := false
	for _, p := range ports.Items {
		if p.PortCode == aws.PortCode {
			found = p.SpeedMbps == 2000
		}
	}
	if !found {
		t.Fatalf("ports after the apply = %+v", ports.Items)
	}

	// The scheduler's runs, for operators only.
	if _, err := e.jobs.RunDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	var runs struct {
		Items []schedule.Run `json:"items"`
	}
	op.expect(http.StatusOK, "GET", "/api/v1/job-runs?job="+network.SpeedJobName, nil).json(t, &runs)
	if len(runs.Items) != 1 || runs.Items[0].Outcome != schedule.OK || runs.Items[0].FinishedAt == nil {
		t.Fatalf("job runs = %+v", runs.Items)
	}
	op.expectInvalid(http.StatusBadRequest, "GET", "/api/v1/job-runs?outcome=maybe", nil)
	op.expect(http.StatusOK, "GET", "/api/v1/job-runs?outcome=failed", nil).json(t, &runs)
	if len(runs.Items) != 0 {
		t.Fatalf("failed runs = %+v", runs.Items)
	}
}
