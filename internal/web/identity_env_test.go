package web

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"github.com/tsunagi-net/tsunagi/internal/lookingglass"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/backup"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/evidence"
	"github.com/tsunagi-net/tsunagi/internal/fleet"
	"github.com/tsunagi-net/tsunagi/internal/flows"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/lifecycle"
	"github.com/tsunagi-net/tsunagi/internal/monitor"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/notice"
	"github.com/tsunagi-net/tsunagi/internal/schedule"
	"github.com/tsunagi-net/tsunagi/internal/signing"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
	"github.com/tsunagi-net/tsunagi/internal/tlsutil"
	"github.com/tsunagi-net/tsunagi/internal/usage"
	"github.com/tsunagi-net/tsunagi/internal/webhook"
)

// idEnv is a controller serving both listeners over real TLS on loopback,
// for the identity and sweep tests.
type idEnv struct {
	t        testing.TB
	db       *store.DB
	cat      *catalog.Catalog
	idn      *identity.Service
	audit    *audit.Log
	srv      *Server
	customer string // https://127.0.0.1:port
	mgmt     string
	roots    *x509.CertPool
	cert     tls.Certificate // the listeners' certificate
	seed     context.Context
	jobs     *schedule.Scheduler // the controller's scheduler, with the speed-change job
	backups  *backup.Service     // backups into backupDir, encrypted to a key the test throws away
	// backupDir is where the backups go.
	backupDir string
	purger    *lifecycle.Purger // the erasure after termination (purge-after 30 days)
	flows     *flows.Store      // the flow records (handlers_flows_test.go seeds them)
}

// testArgon2 keeps tests fast; the benchmark uses the defaults.
var testArgon2 = identity.Argon2Params{MemoryKiB: 1024, Time: 1, Threads: 1}

// startIDEnv serves a controller over db until the test ends. cfg's zero
// fields take the defaults; Argon2 defaults to testArgon2.
func startIDEnv(t testing.TB, db *store.DB, cfg identity.Config) *idEnv {
	t.Helper()
	if cfg.Argon2 == (identity.Argon2Params{}) {
		cfg.Argon2 = testArgon2
	}
	e := &idEnv{t: t, db: db, audit: audit.New(db),
		seed: audit.WithActor(context.Background(), audit.Actor{ID: "system", Kind: "system", Name: "test seed", SourceIP: "127.0.0.1"})}
	e.cat = catalog.New(db, e.audit)
	e.idn = identity.New(db, e.audit, cfg)
	e.cat.OnTerminated(e.idn.MailTermination)
	fl, err := fleet.New(context.Background(), db, e.audit)
	if err != nil {
		t.Fatal(err)
	}
	cert, _, err := tlsutil.SelfSigned(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e.cert = cert
	netSvc := network.New(db, e.audit, network.DefaultSettings)
	keys := signing.New(db, e.audit)
	if e.purger, err = lifecycle.New(db, e.audit, keys, lifecycle.DefaultAfterDays); err != nil {
		t.Fatal(err)
	}
	jobs, err := schedule.New(db, e.audit, "test-controller", netSvc.Operations.SpeedJob(), e.idn.EndJob(), e.purger.Job())
	if err != nil {
		t.Fatal(err)
	}
	e.jobs = jobs
	e.backupDir = filepath.Join(t.TempDir(), "backups")
	e.backups = newTestBackups(t, db, e.audit, e.backupDir)
	e.flows = flows.New(db, 0)
	e.srv = New(Config{CustomerAddr: "127.0.0.1:0", MgmtAddr: "127.0.0.1:0",
		MgmtAllow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		TLS:       serverTLS(cert), ShutdownGrace: 5 * time.Second},
		Deps{DB: db, Catalog: e.cat, Identity: e.idn, Audit: e.audit, Fleet: fl, Log: slog.New(slog.DiscardHandler),
			Workflow: netSvc.Workflow, NetOps: netSvc.Operations, Compiler: netSvc.Compiler, Jobs: jobs, Backups: e.backups,
			Purger: e.purger, Keys: keys, Evidence: evidence.New(db, e.audit, keys), Notices: notice.New(db, e.audit, notice.Config{}),
			Usage:    usage.New(db, evidence.DefaultRetention.Usage),
			Monitors: monitor.New(db, e.audit, netSvc.Workflow, slog.New(slog.DiscardHandler), nil),
			Reports:  notice.NewReports(db, e.audit, notice.Config{CustomerLink: func(p string) string { return e.idn.Link(identity.CustomerSide, p) }}),
			// No node answers here: a looking-glass read would hold every
			// sweep and matrix call of it for the full 10 s.
			LookingGlass: lookingglass.New(db, lookingglass.Options{AnswerWait: 300 * time.Millisecond}), Ingesters: []fleet.Ingester{netSvc.RouteQuota()},
			Flows: e.flows, Webhooks: webhook.NewService(db, e.audit, &webhook.Guard{}), OnUnrecorded: failUnrecorded(t)})
	e.srv.onServed = func(route string, code int) { countServed(t.Name(), route, code) }
	ls, err := e.srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ctx, ls) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	e.customer = "https://" + ls.Customer.Addr().String()
	e.mgmt = "https://" + ls.Mgmt.Addr().String()
	e.roots = x509.NewCertPool()
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	e.roots.AddCert(leaf)
	return e
}

func (e *idEnv) must(what string, err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatalf("%s: %v", what, err)
	}
}

// client is an HTTP client of one listener with its own cookie jar; token,
// when set, is sent as a bearer token.
type client struct {
	e     *idEnv
	base  string
	hc    *http.Client
	token string
	hdr   http.Header
}

func (e *idEnv) client(base string) *client {
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.roots, ServerName: "localhost", MinVersion: tls.VersionTLS12}}
	e.t.Cleanup(tr.CloseIdleConnections)
	return &client{e: e, base: base, hc: &http.Client{Transport: OpenAPIChecked(e.t, tr), Jar: jar, Timeout: 30 * time.Second},
		hdr: http.Header{}}
}

// resp is an answer, read whole.
type resp struct {
	code int
	body []byte
	hdr  http.Header
}

func (r resp) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// do sends method path with body (a string is sent as is, anything else as
// JSON; nil sends no body). The request and the answer are checked against
// the listener's OpenAPI document (openapi_validate_test.go).
func (c *client) do(method, path string, body any) resp {
	c.e.t.Helper()
	return c.send(method, path, body, false)
}

// doInvalid is do for a request that is deliberately outside the document
// (bad input): only the answer is checked against it.
func (c *client) doInvalid(method, path string, body any) resp {
	c.e.t.Helper()
	return c.send(method, path, body, true)
}

func (c *client) send(method, path string, body any, invalid bool) resp {
	c.e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		c.e.must("marshal", err)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	c.e.must("request", err)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range c.hdr {
		req.Header[k] = v
	}
	if invalid {
		req = allowInvalidRequest(req)
	}
	res, err := c.hc.Do(req)
	c.e.must(method+" "+path, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	c.e.must("read body", err)
	return resp{code: res.StatusCode, body: b, hdr: res.Header}
}

// expect fails the test unless the answer has status code want.
func (c *client) expect(want int, method, path string, body any) resp {
	c.e.t.Helper()
	return c.expectAnswer(want, method, path, body, false)
}

// expectInvalid is expect for deliberately bad input (see doInvalid).
func (c *client) expectInvalid(want int, method, path string, body any) resp {
	c.e.t.Helper()
	return c.expectAnswer(want, method, path, body, true)
}

func (c *client) expectAnswer(want int, method, path string, body any, invalid bool) resp {
	c.e.t.Helper()
	r := c.send(method, path, body, invalid)
	if r.code != want {
		c.e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.code, want, r.body)
	}
	return r
}

// account creates an active account of customer cust (operator staff for
// "") with password pw directly through the service, reading the invitation
// link from the mail outbox as the invitee would from the mail.
func (e *idEnv) account(cust catalog.CustomerID, loginID string, role identity.Role, pw string) identity.Account {
	e.t.Helper()
	in := identity.InviteInput{LoginID: loginID, DisplayName: "Test " + loginID, Email: loginID + "@example.co.jp", Role: role}
	var a identity.Account
	var err error
	if cust == "" {
		a, _, err = e.idn.SeedStaff(e.seed, in)
	} else {
		a, err = e.idn.Invite(e.seed, tenanttest.Customer(cust), in)
	}
	e.must("invite "+loginID, err)
	tok := e.linkFromMail(a.Email, "account.invite")
	side := identity.CustomerSide
	if cust == "" {
		side = identity.OperatorSide
	}
	_, err = e.idn.CompleteSetup(e.seed, side, identity.SetupInput{Token: tok, Password: pw})
	e.must("setup "+loginID, err)
	a.Active = true
	return a
}

var linkTokenRE = regexp.MustCompile(`token=(tsu_[a-z2-7]+)`)

// linkFromMail returns the single-use token in the newest outbox mail to
// addr with the given cause.
func (e *idEnv) linkFromMail(addr, cause string) string {
	e.t.Helper()
	items, err := e.idn.Outbox().List(context.Background(), "", "", 500)
	e.must("outbox", err)
	for _, it := range items {
		if it.Recipient != addr || it.Cause != cause {
			continue
		}
		_, body, err := e.idn.Outbox().Get(context.Background(), it.ID)
		e.must("outbox get", err)
		m := linkTokenRE.FindStringSubmatch(body)
		if m == nil {
			e.t.Fatalf("mail %s has no link: %s", it.ID, body)
		}
		return m[1]
	}
	e.t.Fatalf("no %s mail to %s in the outbox", cause, addr)
	return ""
}

// login logs c in with a password and fails the test otherwise.
func (c *client) login(loginID, pw string) {
	c.e.t.Helper()
	c.expect(http.StatusOK, "POST", "/api/v1/session", map[string]string{"login_id": loginID, "password": pw})
}

// newToken creates an API token for c's principal and returns its secret.
func (c *client) newToken(name string, role identity.Role) string {
	c.e.t.Helper()
	var out struct {
		Secret string `json:"secret"`
	}
	in := map[string]any{"name": name, "expires_at": time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)}
	if role != "" { // absent: the caller's own role
		in["role"] = role
	}
	c.expect(http.StatusCreated, "POST", "/api/v1/tokens", in).json(c.e.t, &out)
	return out.Secret
}

// outboxCount counts outbox mails to addr with cause.
func (e *idEnv) outboxCount(addr, cause string) int {
	items, err := e.idn.Outbox().List(context.Background(), "", "", 500)
	e.must("outbox", err)
	n := 0
	for _, it := range items {
		if it.Recipient == addr && it.Cause == cause {
			n++
		}
	}
	return n
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// serverTLS is the controller's TLS configuration as serve sets it: client
// certificates are requested, never required.
func serverTLS(cert tls.Certificate) *tls.Config {
	c := tlsutil.ServerConfig(cert)
	c.ClientAuth = tls.RequestClientCert
	return c
}

func identityCustomerInput(name string) catalog.CustomerInput {
	return catalog.CustomerInput{Name: name}
}
