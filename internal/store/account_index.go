package store

import (
	"cmp"
	"context"
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
	// slice and chunk are accountReadSlice and accountMergeChunk; tests
	// lower them.
	slice, chunk int
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
	x := &accountIndex{every: w.s.accountMergeEvery, slice: accountReadSlice, chunk: accountMergeChunk}
	if x.every <= 0 {
		x.every = defaultAccountMergeEvery
	}
	if err := w.s.write.QueryRowContext(ctx, "SELECT value FROM store_meta WHERE name = 'accounts_indexed_through'").Scan(&x.through); err != nil {
		return fmt.Errorf("read the account index's state: %w", err)
	}
	w.accounts = x
	return nil
}

// mergeAccounts inserts the tail's entries into event_accounts once it is
// long enough, sorted by account and accountMergeChunk to a transaction,
// so that each transaction dirties the leaf pages of a range of accounts
// only. Ingestion commits between its steps (betweenSteps): reading and
// sorting the tail a slice (accountReadSlice) at a time, and each
// transaction.
func (w *writer) mergeAccounts(ctx context.Context) error {
	x := w.accounts
	if x == nil || w.lastCommitted()-x.through < int64(x.every) {
		return nil
	}
	w.startSteps()
	// The tail is read from the table, not remembered from the commits:
	// the ingest stages store events too (milestones reached). One merge
	// takes at most accountMergeMost times x.every events, the oldest:
	// after a burst (an import, a backlog) the tail is worked off a merge
	// after each commit, instead of reading and sorting hundreds of
	// thousands of entries while acknowledgements wait (0.5 s at 400,000).
	// Each slice is read and sorted in a step of its own (reading and
	// sorting 65,536 entries at once held acknowledgements 40-90 ms), and
	// the sorted slices are merged as the transactions take them.
	var sorted [][]accountEntry
	through, most := x.through, accountMergeMost*x.every
	for n := 0; n < most; {
		slice, err := w.readAccountEntries(ctx, through, min(x.slice, most-n))
		if err != nil {
			return err
		}
		if len(slice) == 0 {
			break
		}
		n += len(slice)
		through = slice[len(slice)-1].id
		sortAccountEntries(slice)
		sorted = append(sorted, slice)
		w.step(HeldByAccountIndex, len(slice))
		if len(slice) < x.slice {
			break // the tail's end
		}
	}
	if len(sorted) == 0 { // the tail's events were deleted
		x.through = w.lastCommitted()
		return nil
	}
	runs := &sortedRuns[accountEntry]{runs: sorted, cmp: compareAccountEntries}
	n := 0
	for {
		chunk := runs.next(x.chunk)
		if len(chunk) == 0 {
			break
		}
		n += len(chunk)
		if err := w.mergeAccountChunk(ctx, chunk, through, runs.empty()); err != nil {
			return err
		}
		w.step(HeldByAccountIndex, len(chunk))
	}
	x.through = through
	w.s.log.Debug("account index merged", "events", n, "through_event", through)
	return nil
}

// accountReadSlice is the entries of the tail one step of a merge reads
// and sorts (a few milliseconds).
const accountReadSlice = 8192

// readAccountEntries reads the accounts of at most n events after id
// after, in id order.
func (w *writer) readAccountEntries(ctx context.Context, after int64, n int) ([]accountEntry, error) {
	rows, err := w.s.write.QueryContext(ctx, "SELECT account_id, id FROM events WHERE id > $1 ORDER BY id LIMIT $2", after, n)
	if err != nil {
		return nil, fmt.Errorf("read the events to index by account: %w", err)
	}
	entries := make([]accountEntry, 0, n)
	for rows.Next() {
		var e accountEntry
		if err := rows.Scan(&e.account, &e.id); err != nil {
			rows.Close()
			return nil, err
		}
		entries = append(entries, e)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("read the events to index by account: %w", err)
	}
	return entries, nil
}

func compareAccountEntries(a, b accountEntry) int {
	return cmp.Or(strings.Compare(a.account, b.account), cmp.Compare(a.id, b.id))
}

func sortAccountEntries(entries []accountEntry) { slices.SortFunc(entries, compareAccountEntries) }

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
