package e2e_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/tlsutil"
)

// removeHubThroughAPI removes customer c's hub d as customer and operator
// do, over the controller's APIs: the customer's operations administrator
// marks the hub's port for removal in a draft, reads the review (risk
// high, the port's sessions named) and applies exactly that review; the
// operator then removes the hub, which has no ports left. converged waits
// for the nodes after each step.
func removeHubThroughAPI(t *testing.T, h *harness, c *drCustomer, d *drHub, converged func(string)) {
	t.Helper()
	cust, token := h.customerAPI(t), h.customerToken(t, c.id)
	apiDo(t, cust, token, "POST", "/api/v1/network/lock", nil, http.StatusOK, nil)
	apiDo(t, cust, token, "PUT", "/api/v1/network/draft/ports/"+d.port+"/removal", nil, http.StatusOK, nil)
	var rv network.Review
	apiDo(t, cust, token, "GET", "/api/v1/network/draft/review", nil, http.StatusOK, &rv)
	if rv.Risk != "high" || len(rv.Removals) != 1 || len(rv.Removals[0].BGPSessions) != 2 {
		t.Fatalf("review of %s's port removal: %+v", d.label, rv)
	}
	apiDo(t, cust, token, "POST", "/api/v1/network/draft/apply", map[string]any{"reviewed": rv.Revision}, http.StatusCreated, nil)
	converged("without " + d.label + "'s port")
	mgmt, op := h.operatorAPI(t)
	apiDo(t, mgmt, op, "DELETE", "/api/v1/customers/"+string(c.id)+"/hubs/"+string(d.hub), nil, http.StatusNoContent, nil)
	converged("without " + d.label)
}

// operatorAPI serves the controller's management API over HTTPS until
// cleanup, with an API token of the first operator account.
func (h *harness) operatorAPI(tb testing.TB) (*httptest.Server, string) {
	tb.Helper()
	srv := httptest.NewUnstartedServer(h.srv.MgmtHandler())
	srv.TLS = tlsutil.ServerConfig(h.cert)
	srv.StartTLS()
	tb.Cleanup(srv.Close)
	const pw = "correct horse battery staple 42"
	link, err := h.ids.FirstOperatorLink(h.ctx)
	if err != nil || link == "" {
		tb.Fatalf("first operator link: %q, %v", link, err)
	}
	if _, err := h.ids.CompleteSetup(h.ctx, identity.OperatorSide, identity.SetupInput{Token: link, LoginID: "e2e-op",
		DisplayName: "E2E Operator", Email: "e2e-op@example.net", Password: pw}); err != nil {
		tb.Fatal(err)
	}
	_, p, err := h.ids.Login(h.ctx, identity.OperatorSide, "e2e-op", pw, "e2e")
	if err != nil {
		tb.Fatal(err)
	}
	_, secret, err := h.ids.CreateToken(h.ctx, p, identity.TokenInput{Name: "e2e", ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		tb.Fatal(err)
	}
	return srv, secret
}

// apiDo sends body as JSON with the bearer token, fails the test unless the
// answer has status want, and decodes it into out when given.
func apiDo(tb testing.TB, srv *httptest.Server, token, method, path string, body any, want int, out any) {
	tb.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, srv.URL+path, r)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		tb.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			tb.Fatalf("%s %s: %v", method, path, err)
		}
	}
}
