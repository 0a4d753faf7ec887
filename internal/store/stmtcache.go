package store

import (
	"context"
	"database/sql"
	"sync"
)

// maxCachedStmts bounds the cache. tsunagi's queries are constant strings
// (plus a few optional clauses), so the bound is never reached in practice;
// past it, queries simply run unprepared.
const maxCachedStmts = 512

// stmtCache keeps prepared statements by query text. It matters for SQLite,
// whose driver re-parses the SQL of every unprepared query (about a fifth of
// the CPU of a catalog read); pgx already caches statements per connection,
// so PostgreSQL does not use it.
type stmtCache struct {
	mu     sync.Mutex // guards m and closed
	m      map[string]*sql.Stmt
	closed bool
}

// stmt returns a prepared statement for q, or nil when q is not cached (the
// dialect does not need it, the cache is full, or preparing failed — the
// unprepared path then reports the error).
func (db *DB) stmt(ctx context.Context, q string) *sql.Stmt {
	if db.dialect != SQLite {
		return nil
	}
	c := &db.stmts
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[q]; ok {
		return st
	}
	if c.closed || len(c.m) >= maxCachedStmts {
		return nil
	}
	// Prepared on the pool without the caller's deadline: the statement
	// outlives this request.
	st, err := db.sql.PrepareContext(context.WithoutCancel(ctx), q)
	if err != nil {
		return nil
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[q] = st
	return st
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m, c.closed = nil, true
}
