package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// The enrolment steps of docs/operations.md, as written, with the default
// self-signed certificate: the controller names the address the node uses
// (--tls-name), the node trusts the controller's certificate file
// (--controller-ca) and enrols with the operator's token. Without the name
// in the certificate the node refuses the controller: it verifies whom it
// talks to.
func TestEnrolmentWithTheSelfSignedCertificate(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("the agent runs as root")
	}
	// 127.0.0.2 stands for the controller's address on the hub nodes'
	// network: not among the names the certificate holds by default.
	dir := storetest.DataDir(t)
	s := startServe(t, serveOpts{dataDir: dir, args: []string{"--agent-listen", "127.0.0.2:0"}})
	tok := s.bootstrap()
	auth := bearer(tok)
	if r := s.must("POST", s.mgmtURL("/api/v1/regions"), map[string]any{"code": "tokyo", "name_en": "Tokyo", "name_ja": "東京",
		"data_location": "Japan"}, auth); r.status != http.StatusCreated {
		t.Fatalf("region: %d %s", r.status, r.body)
	}
	if r := s.must("POST", s.mgmtURL("/api/v1/nodes"), map[string]any{"region": "tokyo", "name": "hub-tyo-1",
		"physical_ports": []map[string]any{{"name": "eth1", "speed_mbps": 10_000, "kind": "onprem", "oversubscription": 1}}}, auth); r.status != http.StatusCreated {
		t.Fatalf("node: %d %s", r.status, r.body)
	}
	agent := func(s *server) *proc {
		r := s.must("POST", s.mgmtURL("/api/v1/nodes/hub-tyo-1/enrolment-token"), nil, auth)
		if r.status != http.StatusCreated {
			t.Fatalf("enrolment token: %d %s", r.status, r.body)
		}
		// What the operator copies to the node.
		ca := filepath.Join(t.TempDir(), "controller.pem")
		pem, err := os.ReadFile(filepath.Join(dir, "tls", "cert.pem"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(ca, pem, 0o644); err != nil {
			t.Fatal(err)
		}
		return launch(t, "agent", "--controller", "https://"+s.agent, "--controller-ca", ca, "--token", r.str("token"),
			"--state-dir", filepath.Join(t.TempDir(), "state"), "--run-dir", filepath.Join(t.TempDir(), "run"))
	}
	if !strings.HasPrefix(s.agent, "127.0.0.2:") {
		t.Fatalf("agent listener on %q, want 127.0.0.2", s.agent)
	}
	bad := agent(s)
	if code, _ := bad.wait(30 * time.Second); code == 0 || !strings.Contains(bad.stderr.String(), "certificate") {
		t.Errorf("agent against an address the certificate does not name: exit %d, stderr %q; want a certificate error",
			code, tail(bad.stderr.String(), 600))
	}
	s.stop()
	// The operator names the address; the kept certificate lacks it and is
	// replaced at this start.
	s = startServe(t, serveOpts{dataDir: dir, args: []string{"--agent-listen", "127.0.0.2:0", "--tls-name", "127.0.0.2"}})
	auth = bearer(s.createToken(s.login()))
	good := agent(s)
	t.Cleanup(func() { good.signal(syscall.SIGTERM) })
	waitFor(t, 30*time.Second, "the agent's enrolment", func() bool {
		_, ok := good.logged("enrolled with the controller")
		return ok || good.hasExited()
	})
	if _, ok := good.logged("enrolled with the controller"); !ok {
		t.Fatalf("agent did not enrol:\n%s", tail(good.stderr.String(), 2000))
	}
	waitFor(t, 30*time.Second, "the node's first report", func() bool {
		return s.must("GET", s.mgmtURL("/api/v1/nodes/hub-tyo-1/status"), nil, auth).status == http.StatusOK
	})
}
