package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Changes is the broadcast of committed changes that something in the
// controller waits for — today the hub nodes' held long polls, which wait
// for anything that may alter a node's desired state. A transaction opts in
// with Tx.Changed; when it commits, every waiter wakes: at once on this
// controller, and through PostgreSQL's LISTEN/NOTIFY on every other
// controller sharing the database. SQLite has one controller, so its
// broadcast is in process only.
//
// A wake says only "something changed, look again": it carries no payload,
// several changes may fold into one wake, and a wake may be spurious. A
// waiter therefore re-reads what it guards, and takes Next before that read
// so that no change falls between the read and the wait.
//
// While the LISTEN connection is down — between a loss and the next
// successful LISTEN — other controllers' changes cannot be heard; waiters
// are then woken every ListenFallback instead, and once more when the
// connection is back (a change may have been missed in between).
type Changes struct {
	mu      sync.Mutex    // guards next, listens, lastErr and started
	next    chan struct{} // closed and replaced at each wake
	listens int           // LISTEN sessions established so far
	lastErr error         // why the last LISTEN session ended or failed
	started bool

	// Set at Open for PostgreSQL; start is nil for SQLite.
	start    func()
	dsn      string
	channel  string        // NOTIFY channel of this database and schema
	self     string        // payload of this handle's own notifications
	fallback time.Duration // re-check interval while not listening
	stop     context.CancelFunc
	done     chan struct{}
}

// DefaultListenFallback is how often waiters are woken while the LISTEN
// connection is down.
const DefaultListenFallback = time.Second

// Reconnection after a lost LISTEN connection backs off between these.
const (
	listenRetryMin = 100 * time.Millisecond
	listenRetryMax = 5 * time.Second
	// listenPing is how long the LISTEN connection may be silent before it
	// is checked with a ping, so that a connection that died without a
	// word (a partition, a crashed server host) is noticed.
	listenPing = 30 * time.Second
)

func newChanges() *Changes { return &Changes{next: make(chan struct{})} }

// Changes returns the database's broadcast of committed changes.
func (db *DB) Changes() *Changes { return db.changes }

// Next returns a channel that is closed at the next wake. On PostgreSQL the
// first call starts the LISTEN connection.
func (c *Changes) Next() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.started && c.start != nil {
		c.started = true
		go c.start()
	}
	return c.next
}

// Listens reports how many LISTEN sessions have been established (0 on
// SQLite, or before the first Next) and why the last one ended, if it did:
// for the controller's health view and for tests of reconnection.
func (c *Changes) Listens() (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.listens, c.lastErr
}

func (c *Changes) wake() {
	c.mu.Lock()
	defer c.mu.Unlock()
	close(c.next)
	c.next = make(chan struct{})
}

// Changed marks the transaction as one whose commit wakes the waiters on
// db.Changes — on every controller. Calling it again is a no-op.
func (t *Tx) Changed() { t.changed = true }

// notifyChanged queues the notification inside the transaction; PostgreSQL
// delivers it to the listeners when, and only if, the transaction commits.
func (t *Tx) notifyChanged(ctx context.Context, c *Changes) error {
	if !t.changed || t.dialect != Postgres {
		return nil
	}
	_, err := t.tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, c.channel, c.self)
	return wrap(err)
}

// usePostgres readies the broadcast for PostgreSQL: the NOTIFY channel is
// named after the schema in use, because channels are database-wide and
// controllers (or tests) on other schemas of the same database must not wake
// this one's waiters. Wakes from elsewhere would be harmless — a waiter only
// looks again — but cost every held poll a read.
func (c *Changes) usePostgres(ctx context.Context, db *DB, dsn string, fallback time.Duration) error {
	var schema string
	if err := db.sql.QueryRowContext(ctx, `SELECT COALESCE(current_schema(), '')`).Scan(&schema); err != nil {
		return wrap(err)
	}
	c.channel = channelName(schema)
	var b [8]byte
	_, _ = rand.Read(b[:])
	c.self = hex.EncodeToString(b[:])
	c.dsn = dsn
	c.fallback = fallback
	if c.fallback <= 0 {
		c.fallback = DefaultListenFallback
	}
	ctx, c.stop = context.WithCancel(context.Background())
	c.done = make(chan struct{})
	c.start = func() { c.listen(ctx) }
	return nil
}

// channelName is "tsunagi_changes." and the schema; a schema too long for
// PostgreSQL's 63-byte identifiers is replaced by a hash of its name.
func channelName(schema string) string {
	const prefix = "tsunagi_changes."
	if len(prefix)+len(schema) <= 63 {
		return prefix + schema
	}
	sum := sha256.Sum256([]byte(schema))
	return prefix + hex.EncodeToString(sum[:16])
}

// close stops the LISTEN connection, if one was started, and waits for it.
func (c *Changes) close() {
	if c.stop == nil {
		return
	}
	c.stop()
	c.mu.Lock()
	started := c.started
	c.started = true // no start after close
	c.mu.Unlock()
	if started {
		<-c.done
	}
}

// listen keeps a LISTEN session open until ctx ends, reconnecting after a
// loss with a growing delay, and wakes the waiters every fallback interval
// while there is no session.
func (c *Changes) listen(ctx context.Context) {
	defer close(c.done)
	delay := listenRetryMin
	lastWake := time.Now()
	for {
		established, err := c.session(ctx)
		if ctx.Err() != nil {
			return
		}
		c.mu.Lock()
		c.lastErr = err
		c.mu.Unlock()
		if established {
			delay = listenRetryMin
		} else {
			delay = min(2*delay, listenRetryMax)
		}
		if time.Since(lastWake) >= c.fallback {
			c.wake()
			lastWake = time.Now()
		}
		t := time.NewTimer(min(delay, c.fallback))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// session connects, listens, wakes the waiters once (changes committed while
// there was no session were not heard) and then wakes them at each
// notification from another handle, until the connection fails.
func (c *Changes) session(ctx context.Context) (established bool, err error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	conn, err := pgx.Connect(cctx, c.dsn)
	cancel()
	if err != nil {
		return false, err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{c.channel}.Sanitize()); err != nil {
		return false, err
	}
	c.wake()
	c.mu.Lock() // after the wake: once Listens counts this session, its wake is past
	c.listens++
	c.lastErr = nil
	c.mu.Unlock()
	for {
		wctx, cancel := context.WithTimeout(ctx, listenPing)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			if n.Payload != c.self { // this handle's own commits woke it already
				c.wake()
			}
		case ctx.Err() != nil:
			return true, ctx.Err()
		case pgconn.Timeout(err) && !conn.IsClosed():
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return true, err
			}
		default:
			return true, err
		}
	}
}
