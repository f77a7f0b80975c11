package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
)

// accountIndex is SQLite's index of events by account, written in bulk
// behind the commits, as the dedupe keys are (dedupe.go).
//
// An index on events (account_id, id) written inside each commit dirtied
// one 4 KiB leaf page per event once the database held more than a page of
// entries per account (from about 150,000 events with 1,000 accounts): at
// 1,000,000 events it was 4 of the 5.5 KB each event wrote to the WAL, and
// it halved ingestion (docs/benchmarks.md). Instead:
//
//   - the same entries live in the event_accounts table (account_id, id),
//     and store_meta.accounts_indexed_through is the last event id whose
//     entry is certainly there;
//   - the committer inserts events only; once the events after
//     accounts_indexed_through (the tail) number mergeEvery, the committer
//     reads their accounts and inserts their entries sorted by account,
//     accountMergeChunk to a transaction, so that each account's leaf page
//     takes dozens of entries at once and each transaction dirties the
//     pages of a range of accounts; ingestion commits between them;
//   - every query that reads events by account goes through byAccount,
//     which reads the entries and the tail (found by rowid, at most a
//     merge's worth of events): the index is complete for every reader
//     without being written per event.
//
// Crash safety: accounts_indexed_through moves in a merge's last
// transaction. The entries of a merge cut short stay and are inserted
// again, ignored, by the next (INSERT OR IGNORE); the triggers of
// migration 00029 keep every entry in step with its event (reattribution,
// retention), so an entry past the mark is never wrong, only redundant
// with the tail.
type accountIndex struct {
	through int64
	every   int
	// reading says a merge's entries are being read (mergeAccounts); ready
	// hands them to the committer.
	reading bool
	ready   chan *accountMerge
	// gen counts the changes to events other than commits that run in the
	// committer (writer.do: retention's drops): a merge read before one is
	// not applied.
	gen int64
	// afterRead, when set (tests), runs once a merge's entries are read,
	// before the committer gets them.
	afterRead func()
	// chunk is accountMergeChunk; tests lower it.
	chunk int
}

// accountEntry is an event id and its account.
type accountEntry struct {
	account string
	id      int64
}

// defaultAccountMergeEvery is the tail that sets off a merge: with 1,000
// accounts a merge gives each account's leaf page about 16 entries, and a
// reader scans at most about this many rows of the tail.
const defaultAccountMergeEvery = 16_384

// accountMergeMost bounds one merge to this many times the tail that sets
// it off: a bigger merge gives each account's leaf page more entries at
// once (fewer pages written per event), a smaller one holds the committer
// for less while it reads and sorts them (about 80 ms at 65,536 entries).
const accountMergeMost = 4

// accountMergeChunk is the entries one merge transaction inserts: a few
// milliseconds of the committer's time.
const accountMergeChunk = 2048

// byAccount returns cond, a condition on the account_id (and id) columns of
// events, as it must read in a query that finds events by account. On
// SQLite that is the ids of the events that meet it: those in
// event_accounts and those of the tail. The columns in cond are
// unqualified; it appears twice on SQLite, so its placeholders must be
// numbered ($n, or Dialect.numbered), not "?".
func (d Dialect) byAccount(cond string) string {
	if !d.embedded() {
		return cond
	}
	return "id IN (SELECT id FROM event_accounts WHERE " + cond +
		" UNION ALL SELECT id FROM events WHERE id > (SELECT value FROM store_meta WHERE name = 'accounts_indexed_through') AND " + cond + ")"
}

// mergeAccountsSQL inserts the entries of n events, by id, with their
// accounts read from the events table, which holds the truth: an event of
// no account when the merge read it may have one now (reattribution).
func (s *Store) mergeAccountsSQL(n int) string {
	return "INSERT OR IGNORE INTO event_accounts (account_id, id) SELECT account_id, id FROM events WHERE id IN (" +
		s.dialect.placeholders(1, n) + ")"
}

func (w *writer) loadAccountIndex(ctx context.Context) error {
	x := &accountIndex{every: w.s.accountMergeEvery, ready: make(chan *accountMerge, 1), chunk: accountMergeChunk}
	if x.every <= 0 {
		x.every = defaultAccountMergeEvery
	}
	if err := w.s.write.QueryRowContext(ctx, "SELECT value FROM store_meta WHERE name = 'accounts_indexed_through'").Scan(&x.through); err != nil {
		return fmt.Errorf("read the account index's state: %w", err)
	}
	w.accounts = x
	return nil
}

// accountMerge is a merge's entries as read from the tail: the events
// after from, up to through, sorted by account (then id).
type accountMerge struct {
	from, through int64
	// committed is the last event id committed when the read began.
	committed int64
	// gen is the index's generation when the read began (accountIndex.gen).
	gen     int64
	entries []accountEntry
	err     error
}

// mergeAccounts sets off the next merge once the tail is long enough: its
// entries are read and sorted off the committer, on a reading connection
// (readAccountTail: the tail's events are committed, so a reader sees
// them), and handed back to the committer (accountIndex.ready), which
// only inserts them (applyAccountMerge). Reading and sorting the tail were
// the largest part of the merge's time in the committer, the one writer,
// whose time sets the ingestion rate. One merge is in flight at a time.
func (w *writer) mergeAccounts(ctx context.Context) error {
	x := w.accounts
	if x == nil || x.reading || w.lastCommitted()-x.through < int64(x.every) {
		return nil
	}
	x.reading = true
	from, committed, gen, limit, afterRead := x.through, w.lastCommitted(), x.gen, accountMergeMost*x.every, x.afterRead
	w.s.background.Add(1)
	go func() {
		defer w.s.background.Done()
		m := w.s.readAccountTail(ctx, w.s.read, from, limit)
		m.committed, m.gen = committed, gen
		if afterRead != nil {
			afterRead()
		}
		x.ready <- m // one read in flight at a time: never blocks
	}()
	return nil
}

// readAccountTail reads the entries of at most limit events after from,
// the oldest, and sorts them by account. The tail is read from the table,
// not remembered from the commits: the ingest stages store events too
// (milestones reached). One merge takes at most accountMergeMost times
// the tail that sets it off: after a burst (an import, a backlog) the tail
// is worked off a merge after each commit, instead of inserting hundreds
// of thousands of entries while acknowledgements wait (0.5 s at 400,000).
// Event ids grow in commit order (one writer), so a read sees every
// committed event up to the last it reads.
func (s *Store) readAccountTail(ctx context.Context, db *sql.DB, from int64, limit int) *accountMerge {
	m := &accountMerge{from: from, through: from}
	rows, err := db.QueryContext(ctx, "SELECT account_id, id FROM events WHERE id > $1 ORDER BY id LIMIT $2", from, limit)
	if err != nil {
		m.err = fmt.Errorf("read the events to index by account: %w", err)
		return m
	}
	for rows.Next() {
		var e accountEntry
		if err := rows.Scan(&e.account, &e.id); err != nil {
			rows.Close()
			m.err = err
			return m
		}
		m.entries = append(m.entries, e)
		m.through = max(m.through, e.id)
	}
	if err := closeRows(rows); err != nil {
		m.err = fmt.Errorf("read the events to index by account: %w", err)
		return m
	}
	slices.SortFunc(m.entries, func(a, b accountEntry) int {
		return cmp.Or(strings.Compare(a.account, b.account), cmp.Compare(a.id, b.id))
	})
	return m
}

// applyAccountMerge inserts the entries of a merge read by mergeAccounts
// into event_accounts, accountMergeChunk to a transaction, so that each
// transaction dirties the leaf pages of a range of accounts only;
// ingestion commits between them. A merge read before the index moved
// (WaitMerged merged meanwhile) or before events were dropped (retention:
// its entries could name deleted events) is dropped; the next commit sets
// off another.
func (w *writer) applyAccountMerge(ctx context.Context, m *accountMerge) error {
	x := w.accounts
	x.reading = false
	if m.err != nil {
		return m.err
	}
	if m.from != x.through || m.gen != x.gen {
		return nil
	}
	return w.insertAccountMerge(ctx, m)
}

// insertAccountMerge inserts m's entries and moves the index's mark.
func (w *writer) insertAccountMerge(ctx context.Context, m *accountMerge) error {
	x := w.accounts
	n := len(m.entries)
	if n == 0 { // the tail's events were deleted
		x.through = max(x.through, m.committed)
		return nil
	}
	// Ingestion commits before each transaction (merge_steps.go).
	w.startSteps()
	for start := 0; start < n; start += x.chunk {
		end := min(start+x.chunk, n)
		if err := w.mergeAccountChunk(ctx, m.entries[start:end], m.through, end == n); err != nil {
			return err
		}
		w.step(HeldByAccountIndex, end-start)
	}
	x.through = m.through
	w.s.log.Debug("account index merged", "events", n, "through_event", m.through)
	return nil
}

// WaitMerged returns once the merges behind the commits have caught up
// with the events committed so far: the account index's unmerged tail is
// shorter than what sets off a merge, and the dedupe set holds fewer
// pending keys than what sets off its merge, as on a server that has had
// a quiet moment since its last burst. After a bulk load the merges
// otherwise work off the backlog one bounded slice per commit
// (mergeAccounts) while ingestion goes on. The merges run in the
// committer, a slice at a time, with the acknowledgements waiting
// committed between. PostgreSQL has no such merges.
func (s *Store) WaitMerged(ctx context.Context) error {
	if !s.dialect.embedded() {
		return nil
	}
	w := s.writer
	for {
		caughtUp := false
		err := w.do(ctx, func() error {
			if err := w.mergeDedupe(ctx); err != nil {
				return err
			}
			x := w.accounts
			if x == nil || w.lastCommitted()-x.through < int64(x.every) {
				caughtUp = true
				return nil
			}
			// Read here, in the committer: a merge in flight finds the
			// mark moved and is dropped.
			m := w.s.readAccountTail(ctx, w.s.read, x.through, accountMergeMost*x.every)
			if m.err != nil {
				return m.err
			}
			m.committed = w.lastCommitted()
			return w.insertAccountMerge(ctx, m)
		})
		if err != nil || caughtUp {
			return err
		}
	}
}

// mergeAccountChunk inserts the entries of events; the last chunk also
// moves accounts_indexed_through to through.
func (w *writer) mergeAccountChunk(ctx context.Context, events []accountEntry, through int64, last bool) error {
	w.s.stages.yield() // listened events go first (fastlane.go)
	tx, end, err := w.beginMerge(ctx)
	if err != nil {
		return err
	}
	defer end()
	// An event of an account keeps it: reattribution moves only events of
	// no account, and neither it nor retention runs between the tail's
	// read and this transaction except in the committer's own commits,
	// which reattribute only events of no account. So the entries of
	// events of an account are inserted as read (looking each event up
	// again was half the merge's CPU), and those of events of no account
	// from the table, which has their account now.
	var byID, asRead []any
	for _, e := range events {
		if e.account == "" {
			byID = append(byID, e.id)
		} else {
			asRead = append(asRead, e.account, e.id)
		}
	}
	if len(byID) > 0 {
		if err := w.exec(ctx, tx, w.s.mergeAccountsSQL(len(byID)), byID...); err != nil {
			return fmt.Errorf("merge the account index: %w", err)
		}
	}
	start := 0
	for _, n := range healthChunks(len(asRead) / 2) {
		if _, err := w.s.healthExec(ctx, tx, w.s.healthSQL(saveAccountEntries, n), asRead[2*start:2*(start+n)]...); err != nil {
			return fmt.Errorf("merge the account index: %w", err)
		}
		start += n
	}
	if last {
		if _, err := tx.ExecContext(ctx,
			"UPDATE store_meta SET value = $1 WHERE name = 'accounts_indexed_through'", through); err != nil {
			return fmt.Errorf("record the account index's merge: %w", err)
		}
	}
	return tx.Commit()
}
