package store

import "github.com/pressly/goose/v3"

// auditChainMigrations split the audit log into chains (version 78): one
// chain per customer and one for the platform, each with its own sequence,
// so that a customer's entries form a chain it can verify alone and whose
// numbers say nothing of others.
//
// audit_events gains chain (a customer ID, or "platform") and v, the rule its
// hash follows: 1 for the entries of the old single chain, which all stay in
// the platform chain as they were hashed (without chain and v), 2 for every
// entry appended from now on (chain and v hashed too, so an entry cannot be
// moved into another chain). The key becomes (chain, seq).
//
// audit_chains holds each chain's head (its last sequence number and hash)
// and the chain's clock: the latest time stamped on it, by an entry or a
// signed head, so that times only grow along a chain whatever the clocks of
// several controllers say (audit.appendChain). An append locks its chain's
// row, which orders one chain's appends across connections and controllers
// while other chains append in parallel. The
// old single head, audit_head, becomes change_counter: it moves with every
// audit event that may change what a hub node is told (audit.Wakes), and the
// node documents' cache is keyed on it.
//
// audit_signed_heads are chain heads signed with the controller's signing
// key (internal/signing) — every few minutes while a chain grows, and at
// every evidence export; audit_checkpoints hold, per chain, the signed last
// entry of the prefix that retention removed. The log stays append-only in
// the database: UPDATE is always refused, DELETE only for entries at or
// below their chain's checkpoint (which retention writes first, in the same
// transaction), TRUNCATE always (PostgreSQL).
func (db *DB) auditChainMigrations() []*goose.Migration {
	return []*goose.Migration{
		goose.NewGoMigration(78, &goose.GoFunc{RunTx: db.execDialect(auditChainsUp)}, &goose.GoFunc{RunTx: db.execDialect(auditChainsDown)}),
	}
}

// auditChainTables are the same on both engines.
var auditChainTables = []string{
	`CREATE TABLE audit_chains (
	    chain       TEXT PRIMARY KEY,
	    seq         BIGINT NOT NULL,
	    hash        TEXT NOT NULL,
	    at          TEXT NOT NULL
	)`,
	`INSERT INTO audit_chains (chain, seq, hash, at)
	 SELECT 'platform', h.seq, h.hash, COALESCE((SELECT e.at FROM audit_events e WHERE e.seq = h.seq), '')
	 FROM audit_head h WHERE h.id = 1`,
	`CREATE TABLE change_counter (
	    id  INTEGER PRIMARY KEY CHECK (id = 1),
	    n   BIGINT NOT NULL
	)`,
	`INSERT INTO change_counter (id, n) SELECT 1, seq FROM audit_head WHERE id = 1`,
	`DROP TABLE audit_head`,
	`CREATE TABLE audit_signed_heads (
	    id         TEXT PRIMARY KEY,
	    chain      TEXT NOT NULL,
	    seq        BIGINT NOT NULL,
	    hash       TEXT NOT NULL,
	    signed_at  TEXT NOT NULL,
	    why        TEXT NOT NULL,
	    key_id     TEXT NOT NULL,
	    sig        TEXT NOT NULL
	)`,
	`CREATE INDEX audit_signed_heads_chain ON audit_signed_heads (chain, signed_at)`,
	`CREATE TABLE audit_checkpoints (
	    chain       TEXT PRIMARY KEY,
	    seq         BIGINT NOT NULL,
	    hash        TEXT NOT NULL,
	    entry_at    TEXT NOT NULL,
	    made_at     TEXT NOT NULL,
	    key_id      TEXT NOT NULL,
	    sig         TEXT NOT NULL
	)`,
}

var auditChainsUp = perDialect{
	SQLite: append(append([]string{}, auditChainTables...),
		`DROP TRIGGER audit_events_no_update`,
		`DROP TRIGGER audit_events_no_delete`,
		`CREATE TABLE audit_events_chained (
		    chain        TEXT NOT NULL,
		    seq          BIGINT NOT NULL,
		    v            INTEGER NOT NULL,
		    at           TEXT NOT NULL,
		    actor_id     TEXT NOT NULL,
		    actor_kind   TEXT NOT NULL,
		    actor_name   TEXT NOT NULL,
		    customer_id  TEXT,
		    on_behalf_of TEXT NOT NULL,
		    action       TEXT NOT NULL,
		    target       TEXT NOT NULL,
		    source_ip    TEXT NOT NULL,
		    request_id   TEXT NOT NULL,
		    result       TEXT NOT NULL,
		    reason       TEXT NOT NULL,
		    detail       TEXT NOT NULL,
		    sealed       TEXT NOT NULL DEFAULT '',
		    prev_hash    TEXT NOT NULL,
		    hash         TEXT NOT NULL,
		    PRIMARY KEY (chain, seq)
		)`,
		`INSERT INTO audit_events_chained (chain, seq, v, at, actor_id, actor_kind, actor_name, customer_id, on_behalf_of,
		    action, target, source_ip, request_id, result, reason, detail, sealed, prev_hash, hash)
		 SELECT 'platform', seq, 1, at, actor_id, actor_kind, actor_name, customer_id, on_behalf_of,
		    action, target, source_ip, request_id, result, reason, detail, sealed, prev_hash, hash FROM audit_events`,
		`DROP TABLE audit_events`,
		`ALTER TABLE audit_events_chained RENAME TO audit_events`,
		`CREATE INDEX audit_events_customer ON audit_events (customer_id, chain, seq)`,
		`CREATE INDEX audit_events_at ON audit_events (chain, at)`,
		`CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
		 BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END`,
		`CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
		 WHEN NOT EXISTS (SELECT 1 FROM audit_checkpoints c WHERE c.chain = OLD.chain AND OLD.seq <= c.seq)
		 BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END`,
	),
	Postgres: append(append([]string{}, auditChainTables...),
		`DROP TRIGGER audit_events_no_update ON audit_events`,
		`ALTER TABLE audit_events ADD COLUMN chain TEXT NOT NULL DEFAULT 'platform'`,
		`ALTER TABLE audit_events ADD COLUMN v INTEGER NOT NULL DEFAULT 1`,
		`ALTER TABLE audit_events ALTER COLUMN chain DROP DEFAULT`,
		`ALTER TABLE audit_events ALTER COLUMN v DROP DEFAULT`,
		`ALTER TABLE audit_events DROP CONSTRAINT audit_events_pkey`,
		`ALTER TABLE audit_events ADD PRIMARY KEY (chain, seq)`,
		`DROP INDEX audit_events_customer`,
		`CREATE INDEX audit_events_customer ON audit_events (customer_id, chain, seq)`,
		`CREATE INDEX audit_events_at ON audit_events (chain, at)`,
		`CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
		 FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()`,
		`CREATE FUNCTION audit_events_expire_only() RETURNS trigger LANGUAGE plpgsql AS $$
		 BEGIN
		   IF EXISTS (SELECT 1 FROM audit_checkpoints c WHERE c.chain = OLD.chain AND OLD.seq <= c.seq) THEN
		     RETURN OLD;
		   END IF;
		   RAISE EXCEPTION 'audit log is append-only';
		 END $$`,
		`CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
		 FOR EACH ROW EXECUTE FUNCTION audit_events_expire_only()`,
	),
}

// auditChainsDown is refused: the chains cannot be folded back into one
// chain without rewriting every hash since the split.
var auditChainsDown = perDialect{
	SQLite:   {`SELECT RAISE(ABORT, 'the audit chains cannot be merged back into one')`},
	Postgres: {`DO $$ BEGIN RAISE EXCEPTION 'the audit chains cannot be merged back into one'; END $$`},
}
