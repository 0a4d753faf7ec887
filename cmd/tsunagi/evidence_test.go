package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/evidence"
	"github.com/tsunagi-net/tsunagi/internal/signing"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// TestEvidenceVerifyCommand runs the built `tsunagi evidence verify` on an
// archive exported from a database the command never sees: intact it
// exits 0 with a summary, with the published keys, a bare key, or (with a
// warning) none; with one entry altered it exits 1 naming the entry.
func TestEvidenceVerifyCommand(t *testing.T) {
	t.Parallel()
	db := storetest.SQLite(t)
	log := audit.New(db)
	keys := signing.New(db, log)
	svc := evidence.New(db, log, keys)
	ctx := audit.WithActor(context.Background(), audit.Actor{ID: "acc_admin", Kind: "customer", Name: "admin"})
	const cust = "cus_cliexport"
	if _, err := db.Exec(ctx, `INSERT INTO customers (id, name, status, created_at) VALUES (?, 'Acme', 'active', ?)`,
		cust, clock.Store(clock.Now())); err != nil {
		t.Fatal(err)
	}
	for _, action := range []string{"port.update", "hub.update", "policy.apply"} {
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			return log.RecordTx(ctx, tx, audit.Event{Action: action, Target: "customer:" + cust, CustomerID: cust})
		}); err != nil {
			t.Fatal(err)
		}
	}
	var archive bytes.Buffer
	now := clock.Now()
	if err := svc.ExportOwn(ctx, tenanttest.Customer(cust), evidence.Window{From: now.Add(-time.Hour), To: now}, &archive); err != nil {
		t.Fatal(err)
	}
	published, err := keys.PublicKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	served, err := json.Marshal(map[string]any{"items": published})
	if err != nil {
		t.Fatal(err)
	}
	keyFile := write("signing-keys.json", served)
	good := write("good"+evidence.ArchiveExt, archive.Bytes())
	bad := write("bad"+evidence.ArchiveExt, alterLine(t, archive.Bytes(), evidence.FileAudit, 2, "hub.update", "hub.delete"))

	run := func(args ...string) (int, string, string) {
		t.Helper()
		p := launch(t, append([]string{"evidence", "verify"}, args...)...)
		code, _ := p.wait(exitTimeout)
		return code, p.stdout.String(), p.stderr.String()
	}
	for _, c := range []struct {
		name string
		args []string
		warn bool
	}{
		{"the served keys", []string{good, "--key", keyFile}, false},
		{"a bare key", []string{good, "--key", published[0].PublicKey}, false},
		{"no key", []string{good}, true},
	} {
		code, out, errOut := run(c.args...)
		if code != 0 || !strings.Contains(out, "intact") || !strings.Contains(out, "customer:     "+cust) ||
			!strings.Contains(out, "4 entries, 1 to 4 of chain "+cust) || !strings.Contains(out, "JST") {
			t.Errorf("%s: exit %d, stdout:\n%s\nstderr:\n%s", c.name, code, out, errOut)
		}
		if got := strings.Contains(errOut, "warning: no --key given"); got != c.warn {
			t.Errorf("%s: warning printed = %v, want %v:\n%s", c.name, got, c.warn, errOut)
		}
	}
	code, out, errOut := run(bad, "--key", keyFile)
	want := "bad" + evidence.ArchiveExt + " does not verify: audit.jsonl line 2 (entry 2): was altered"
	if code != 1 || !strings.Contains(errOut, want) || strings.Contains(out, "intact") {
		t.Errorf("altered: exit %d, want 1 with %q; stdout:\n%s\nstderr:\n%s", code, want, out, errOut)
	}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other := write("other-key.json", []byte(`[{"id":"sk_other","algorithm":"ed25519","public_key":"`+
		base64.StdEncoding.EncodeToString(pub)+`"}]`))
	if code, _, errOut := run(good, "--key", other); code != 1 || !strings.Contains(errOut, "manifest.json: signed with key") {
		t.Errorf("an untrusted key: exit %d, stderr:\n%s", code, errOut)
	}
}

// alterLine rewrites an archive with old replaced by new in line n of the
// file named name, and nothing else changed.
func alterLine(t *testing.T, archive []byte, name string, n int, old, new string) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	tw := tar.NewWriter(zw)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == name {
			ls := strings.Split(string(body), "\n")
			if !strings.Contains(ls[n-1], old) {
				t.Fatalf("%s line %d holds no %q", name, n, old)
			}
			ls[n-1] = strings.Replace(ls[n-1], old, new, 1)
			body = []byte(strings.Join(ls, "\n"))
		}
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
