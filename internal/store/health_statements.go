package store

import (
	"context"
	"database/sql"
	"strings"
	"sync"
)

// healthSizes are the sizes, in accounts, of the health statements,
// largest first (account_health has 25 columns; both dialects' parameter
// limits are far above 25 × 256).
var healthSizes = []int{256, 128, 64, 32, 16, 8, 4, 2, 1}

// healthChunks splits n accounts into statement sizes: 550 = 256 + 256 +
// 32 + 4 + 2. So only nine statements of each kind ever occur, rather than
// one of every size: on SQLite each is parsed once and kept prepared
// (modernc's SQLite does not cache statements, and parsing a multi-row
// upsert cost more than running it: a third of the health hook's time); on
// PostgreSQL they stay in pgx's statement cache.
func healthChunks(n int) []int {
	var out []int
	for _, size := range healthSizes {
		for n >= size {
			out = append(out, size)
			n -= size
		}
	}
	return out
}

// healthStatement is a kind of health statement, of any size.
type healthStatement int

const (
	loadHealth healthStatement = iota
	createHealthRows
	saveAggregates
	saveRecent
	saveStates
	saveTrend
	// The behaviour counts a stage round adds (applyBehaviours): not
	// health, but written beside it, by the same rounds, in the same
	// sizes.
	loadBlocks
	saveBlocks
	// SQLite's account index entries a merge inserts as read
	// (mergeAccountChunk).
	saveAccountEntries
	// The daily recompute's other writes, one kind per HistoryWrite mode
	// for the history (saveHistory + mode).
	saveWarnings
	saveBases
	// The recompute's check of a page's versions (HealthVersionsTx).
	loadVersions
	saveHistory
)

// healthStatementKey names one health statement: its kind and size.
type healthStatementKey struct {
	kind healthStatement
	n    int
}

// healthStatements is a store's cache of its health statements: their
// text, which depends only on the dialect, the kind and the size, and on
// SQLite their prepared forms.
type healthStatements struct {
	mu       sync.Mutex
	text     map[healthStatementKey]string
	prepared map[string]*sql.Stmt
	warming  bool
}

// healthSQL returns the statement of the kind for n accounts.
func (s *Store) healthSQL(kind healthStatement, n int) string {
	c := &s.health
	k := healthStatementKey{kind, n}
	c.mu.Lock()
	q, ok := c.text[k]
	c.mu.Unlock()
	if ok {
		return q
	}
	d := s.dialect
	switch kind {
	case loadHealth:
		if d.locksRows() {
			// The state rows lead and are locked; HealthRecordsTx creates
			// the missing ones and reads them again.
			q = `SELECT h.account_id, ` + d.jsonText("a.traits") + `, g.aggregate, r.recent, ` + healthCols + `
				FROM account_health h LEFT JOIN accounts a ON a.id = h.account_id
				LEFT JOIN health_aggregates g ON g.account_id = h.account_id
				LEFT JOIN health_recent r ON r.account_id = h.account_id
				WHERE h.account_id IN (` + d.placeholders(1, n) + `) ORDER BY h.account_id` + d.forUpdate("h")
		} else {
			q = `SELECT a.id, a.traits, g.aggregate, r.recent, ` + healthCols + `
				FROM accounts a LEFT JOIN account_health h ON h.account_id = a.id
				LEFT JOIN health_aggregates g ON g.account_id = a.id
				LEFT JOIN health_recent r ON r.account_id = a.id
				WHERE a.id IN (` + d.placeholders(1, n) + `)`
		}
	case loadBlocks:
		if d.locksRows() {
			// PostgreSQL: the accounts as one array (any n), joined to the
			// block's rows. With a list of parameters the generic plan
			// filtered every row of the block through the list, rebuilt
			// for each row: 7 ms for 143 accounts of 1,000, against 0.8.
			q = "SELECT b.account_id, b.counts FROM unnest($2::text[]) AS x(id) JOIN behaviour_blocks b ON b.block = $1 AND b.account_id = x.id" +
				" ORDER BY b.account_id" + d.forUpdate("b")
		} else {
			q = "SELECT account_id, counts FROM behaviour_blocks WHERE block = " + d.placeholders(1, 1) +
				" AND account_id IN (" + d.placeholders(2, n) + ")"
		}
	case saveBlocks:
		q = d.rows("INSERT INTO behaviour_blocks (block, account_id, counts) VALUES ", n, 3, d.upsert("block, account_id", "counts"))
	case saveAccountEntries:
		q = d.rows("INSERT OR IGNORE INTO event_accounts (account_id, id) VALUES ", n, 2, "")
	case createHealthRows:
		q = d.rows("INSERT INTO account_health (account_id, updated_at) VALUES ", n, 2, " ON CONFLICT (account_id) DO NOTHING")
	case saveAggregates:
		q = d.rows("INSERT INTO health_aggregates (account_id, aggregate) VALUES ", n, 2, d.upsert("account_id", "aggregate"))
	case saveRecent:
		q = d.rows("INSERT INTO health_recent (account_id, recent) VALUES ", n, 2, d.upsert("account_id", "recent"))
	case saveStates:
		var set []string
		for _, c := range strings.Split(accountHealthCols, ",") {
			if c = strings.TrimSpace(c); c != "account_id" {
				set = append(set, c)
			}
		}
		q = d.rows("INSERT INTO account_health ("+accountHealthCols+") VALUES ", n, accountHealthColumns,
			d.upsert("account_id", set...))
	case saveTrend:
		q = d.rows("INSERT INTO health_trend (account_id, day, behavioural, emotional, combined, quadrant) VALUES ", n, 6,
			d.upsert("account_id, day", "behavioural", "emotional", "combined", "quadrant"))
	case saveWarnings:
		q = d.rows("INSERT INTO health_warnings (account_id, codes, texts, updated_at) VALUES ", n, 4,
			" ON CONFLICT (account_id) DO UPDATE SET codes = excluded.codes, texts = excluded.texts, updated_at = excluded.updated_at"+
				" WHERE health_warnings.codes <> excluded.codes OR health_warnings.texts <> excluded.texts")
	case loadVersions:
		q = "SELECT account_id, version FROM account_health WHERE account_id IN (" + d.placeholders(1, n) + ")"
	case saveBases:
		q = d.rows("INSERT INTO health_bases (account_id, model, through, aggregate, first) VALUES ", n, 5,
			d.upsert("account_id", "model", "through", "aggregate", "first"))
	default:
		q = d.rows("INSERT INTO health_history ("+historyCols+") VALUES ", n, 9, historySuffix(d, HistoryWrite(kind-saveHistory)))
	}
	c.mu.Lock()
	if c.text == nil {
		c.text = map[healthStatementKey]string{}
	}
	c.text[k] = q
	c.mu.Unlock()
	return q
}

// preparedHealth returns the prepared statement of q, or nil when it is
// not prepared (yet). The first call on a SQLite store starts preparing
// every health statement in the background: they cannot be prepared in
// the calling transaction's stead, because the write pool's only
// connection is the transaction's until it ends; the background
// preparation takes the connection between transactions.
func (s *Store) preparedHealth(q string) *sql.Stmt {
	if !s.dialect.embedded() {
		return nil
	}
	c := &s.health
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.prepared[q]; st != nil {
		return st
	}
	if !c.warming {
		c.warming = true
		c.prepared = map[string]*sql.Stmt{}
		go s.prepareHealth()
	}
	return nil
}

// prepareHealth prepares every health statement on the write pool, one at
// a time. An error (the store was closed) ends it: the statements not
// prepared run unprepared, as before.
func (s *Store) prepareHealth() {
	ctx := context.Background()
	for _, kind := range []healthStatement{loadHealth, saveAggregates, saveRecent, saveStates, saveTrend, loadBlocks, saveBlocks,
		saveAccountEntries, saveWarnings, saveBases, loadVersions, saveHistory + healthStatement(HistoryKeep)} {
		for _, n := range healthSizes {
			q := s.healthSQL(kind, n)
			st, err := s.write.PrepareContext(ctx, q)
			if err != nil {
				return
			}
			s.health.mu.Lock()
			s.health.prepared[q] = st
			s.health.mu.Unlock()
		}
	}
}

// healthExec runs a health statement in q, prepared when it can be: in a
// transaction, through the transaction's form of the prepared statement.
func (s *Store) healthExec(ctx context.Context, q Querier, query string, args ...any) (sql.Result, error) {
	if tx, ok := q.(*sql.Tx); ok {
		if st := s.preparedHealth(query); st != nil {
			return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
		}
	}
	return q.ExecContext(ctx, query, args...)
}

// healthQuery is healthExec for a statement that returns rows.
func (s *Store) healthQuery(ctx context.Context, q Querier, query string, args ...any) (*sql.Rows, error) {
	if tx, ok := q.(*sql.Tx); ok {
		if st := s.preparedHealth(query); st != nil {
			return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
		}
	}
	return q.QueryContext(ctx, query, args...)
}
