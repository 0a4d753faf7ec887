package evidence

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/ids"
	"github.com/tsunagi-net/tsunagi/internal/signing"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// env is a controller's evidence service over a test database. There is
// no fake clock: tests that need entries and heads at chosen times lay
// them down with plant and signAt, as the chain would hold them.
type env struct {
	t    testing.TB
	db   *store.DB
	log  *audit.Log
	keys *signing.Keyring
	svc  *Service
}

func newEnv(t testing.TB, db *store.DB) *env {
	log := audit.New(db)
	keys := signing.New(db, log)
	return &env{t: t, db: db, log: log, keys: keys, svc: New(db, log, keys)}
}

// customerCtx is a context acting as one of cust's own accounts: its name
// and address are personal fields, sealed in the chain.
func customerCtx(login string) context.Context {
	return audit.WithActor(context.Background(), audit.Actor{ID: "acc_" + login, Kind: "customer", Name: login,
		SourceIP: "192.0.2.10", RequestID: "req_" + login})
}

// staffCtx is a context acting as a security officer.
func staffCtx() context.Context {
	return audit.WithActor(context.Background(), audit.Actor{ID: "acc_officer", Kind: "operator", Name: "officer",
		SourceIP: "198.51.100.7"})
}

func (e *env) customer(name string) string {
	e.t.Helper()
	id := ids.New("cus")
	if _, err := e.db.Exec(context.Background(), `INSERT INTO customers (id, name, status, created_at) VALUES (?, ?, 'active', ?)`,
		id, name, clock.Store(clock.Now())); err != nil {
		e.t.Fatal(err)
	}
	return id
}

// record appends an event of cust as the actor of ctx.
func (e *env) record(ctx context.Context, cust, action string, detail map[string]any) {
	e.t.Helper()
	if err := e.db.InTx(ctx, func(tx *store.Tx) error {
		return e.log.RecordTx(ctx, tx, audit.Event{Action: action, Target: "customer:" + cust, CustomerID: cust, Detail: detail})
	}); err != nil {
		e.t.Fatal(err)
	}
}

// plant appends n entries to cust's chain dated from, from+step, …, as
// the log appends them but many to a statement, and returns the head.
func (e *env) plant(cust string, n int, from time.Time, step time.Duration) audit.Head {
	e.t.Helper()
	return e.plantSigned(cust, n, from, step, 0)
}

// plantSigned is plant that also signs the head after every every entries
// (none when every is 0), half a step after the last of them, as the job
// would have.
func (e *env) plantSigned(cust string, n int, from time.Time, step time.Duration, every int) audit.Head {
	e.t.Helper()
	ctx := context.Background()
	var head audit.Head
	err := e.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO audit_chains (chain, seq, hash) VALUES (?, 0, '') ON CONFLICT DO NOTHING`, cust); err != nil {
			return err
		}
		h, err := audit.HeadOf(ctx, tx, cust)
		if err != nil {
			return err
		}
		var heads []SignedHead
		const batch = 500
		for done := 0; done < n; {
			k := min(batch, n-done)
			var q strings.Builder
			q.WriteString(`INSERT INTO audit_events (chain, seq, v, at, actor_id, actor_kind, actor_name, customer_id,
				on_behalf_of, action, target, source_ip, request_id, result, reason, detail, sealed, prev_hash, hash) VALUES `)
			args := make([]any, 0, k*19)
			for i := range k {
				if i > 0 {
					q.WriteString(",")
				}
				q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
				at := from.Add(time.Duration(done+i) * step).UTC().Truncate(time.Microsecond)
				en := audit.Entry{V: audit.V2, Chain: cust, Seq: h.Seq + 1, At: at, ActorID: "system", ActorKind: "system",
					ActorName: "tsunagi", CustomerID: cust, Action: "test.planted", Target: "customer:" + cust,
					Result: audit.OK, Detail: map[string]any{"count": float64(done + i)}, PrevHash: h.Hash}
				en.Hash = audit.Hash(en)
				args = append(args, en.Chain, en.Seq, en.V, clock.Store(en.At), en.ActorID, en.ActorKind, en.ActorName,
					en.CustomerID, "", en.Action, en.Target, "", "", en.Result, "", fmt.Sprintf(`{"count":%d}`, done+i), "",
					en.PrevHash, en.Hash)
				h.Seq, h.Hash = en.Seq, en.Hash
				if every > 0 && (done+i+1)%every == 0 {
					heads = append(heads, SignedHead{Chain: cust, Seq: h.Seq, Hash: h.Hash, SignedAt: at.Add(step / 2), Why: WhyPeriodic})
				}
			}
			if _, err := tx.Exec(ctx, q.String(), args...); err != nil {
				return err
			}
			done += k
		}
		for _, sh := range heads {
			if err := e.insertHead(ctx, tx, sh); err != nil {
				return err
			}
		}
		head = h
		_, err = tx.Exec(ctx, `UPDATE audit_chains SET seq = ?, hash = ? WHERE chain = ?`, h.Seq, h.Hash, cust)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return head
}

// insertHead signs h and stores it.
func (e *env) insertHead(ctx context.Context, tx *store.Tx, h SignedHead) error {
	h.SignedAt = h.SignedAt.UTC().Truncate(time.Microsecond)
	sig, err := e.keys.SignTx(ctx, tx, h.Message())
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO audit_signed_heads (id, chain, seq, hash, signed_at, why, key_id, sig)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, ids.New("ash"), h.Chain, h.Seq, h.Hash, clock.Store(h.SignedAt), h.Why,
		sig.KeyID, sig.Sig)
	return err
}

// signAt signs cust's current head as if at time at.
func (e *env) signAt(cust string, at time.Time) SignedHead {
	e.t.Helper()
	ctx := context.Background()
	h := SignedHead{Chain: cust, SignedAt: at.UTC().Truncate(time.Microsecond), Why: WhyPeriodic}
	err := e.db.InTx(ctx, func(tx *store.Tx) error {
		head, err := audit.HeadOf(ctx, tx, cust)
		if err != nil {
			return err
		}
		h.Seq, h.Hash = head.Seq, head.Hash
		return e.insertHead(ctx, tx, h)
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

// checkpointAt cuts cust's chain after entry seq as retention does: a
// signed checkpoint, then the prefix deleted.
func (e *env) checkpointAt(cust string, seq int64) Checkpoint {
	e.t.Helper()
	ctx := context.Background()
	var c Checkpoint
	err := e.db.InTx(ctx, func(tx *store.Tx) error {
		var at string
		c = Checkpoint{Chain: cust, Seq: seq, MadeAt: clock.Now()}
		if err := store.Scan(tx.QueryRow(ctx, `SELECT hash, at FROM audit_events WHERE chain = ? AND seq = ?`, cust, seq),
			&c.Hash, &at); err != nil {
			return err
		}
		var err error
		if c.EntryAt, err = clock.Parse(at); err != nil {
			return err
		}
		if c.Signature, err = e.keys.SignTx(ctx, tx, c.Message()); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO audit_checkpoints (chain, seq, hash, entry_at, made_at, key_id, sig)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, c.Chain, c.Seq, c.Hash, clock.Store(c.EntryAt), clock.Store(c.MadeAt),
			c.Signature.KeyID, c.Signature.Sig); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM audit_events WHERE chain = ? AND seq <= ?`, cust, seq)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// exportOwn is cust's own export of win, as one of its administrators.
func (e *env) exportOwn(cust string, win Window) []byte {
	e.t.Helper()
	var b bytes.Buffer
	if err := e.svc.ExportOwn(customerCtx("admin-"+cust), tenanttest.Customer(cust), win, &b); err != nil {
		e.t.Fatalf("export of %s: %v", cust, err)
	}
	return b.Bytes()
}

// published are the controller's published keys.
func (e *env) published() []signing.PublicKey {
	e.t.Helper()
	keys, err := e.keys.PublicKeys(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return keys
}

// verify verifies an archive with the published keys and fails on a problem.
func (e *env) verify(archive []byte) Report {
	e.t.Helper()
	rep, err := VerifyArchive(bytes.NewReader(archive), e.published())
	if err != nil {
		e.t.Fatalf("archive does not verify: %v", err)
	}
	return rep
}

// entries counts cust's entries of action.
func (e *env) entries(cust, action string) int {
	e.t.Helper()
	var n int
	if err := store.Scan(e.db.QueryRow(context.Background(), `SELECT COUNT(*) FROM audit_events WHERE chain = ? AND action = ?`,
		cust, action), &n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// file is one file of an archive.
type file struct {
	name string
	body []byte
}

// unpack reads an archive's files in order.
func unpack(t testing.TB, archive []byte) []file {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var out []file
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, file{h.Name, b})
	}
}

// repack writes files as an archive again.
func repack(t testing.TB, files []file) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// get is the body of the file named name.
func get(t testing.TB, files []file, name string) []byte {
	t.Helper()
	for _, f := range files {
		if f.name == name {
			return f.body
		}
	}
	t.Fatalf("no %s in the archive", name)
	return nil
}

// with returns files with name's body replaced by body.
func with(files []file, name string, body []byte) []file {
	out := make([]file, len(files))
	copy(out, files)
	for i := range out {
		if out[i].name == name {
			out[i].body = body
		}
	}
	return out
}

// lines splits a JSON-lines body into its lines (each without newline).
func lines(b []byte) [][]byte {
	return bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
}

// joinLines is lines' inverse.
func joinLines(ls [][]byte) []byte {
	if len(ls) == 0 {
		return nil
	}
	return append(bytes.Join(ls, []byte("\n")), '\n')
}
