package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"time"
)

// Steps of SQLite's merges (the dedupe set's, dedupe.go, and the account
// index's, account_index.go). They run in the committer, after a commit,
// and on the one writing connection: while a merge works, acknowledgements
// wait. So a merge works in steps of a few milliseconds each — a slice of
// keys or entries sorted, a slice of the tail read, one transaction — and
// between two steps commits the requests waiting (step): an
// acknowledgement waits for one step of a merge at most, never for a whole
// merge. Each step's time is counted in CommitTimes.Held.

// startSteps begins a merge's steps: the requests that arrived during the
// commit that set the merge off go first.
func (w *writer) startSteps() {
	w.commitWaiting()
	w.stepAt = time.Now()
}

// step ends a step of a merge that did rows of work (by is its
// CommitTimes.Held holder) and commits the requests waiting before the
// next.
func (w *writer) step(by string, rows int) {
	w.s.times.heldFor(by, time.Since(w.stepAt))
	if w.onStep != nil {
		w.onStep(by, rows)
	}
	w.commitWaiting()
	w.stepAt = time.Now()
}

// commitWaiting commits the requests waiting right now, if any, as one
// group.
func (w *writer) commitWaiting() {
	select {
	case r := <-w.reqs:
		w.commitGroup(w.gather(r))
	default:
	}
}

// sortedRuns merges sorted slices into one order, a few at a time (next),
// so that a merge sorts its keys a slice per step and never all at once.
type sortedRuns[T any] struct {
	runs [][]T
	cmp  func(a, b T) int
}

// next takes the next n items in order, or fewer at the end.
func (s *sortedRuns[T]) next(n int) []T {
	out := make([]T, 0, n)
	for len(out) < n {
		best := -1
		for i, r := range s.runs {
			if len(r) > 0 && (best < 0 || s.cmp(r[0], s.runs[best][0]) < 0) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		out = append(out, s.runs[best][0])
		s.runs[best] = s.runs[best][1:]
	}
	return out
}

// empty says whether every item was taken.
func (s *sortedRuns[T]) empty() bool {
	for _, r := range s.runs {
		if len(r) > 0 {
			return false
		}
	}
	return true
}

// beginMerge begins a merge's transaction on the writing connection with
// synchronous=NORMAL, so that its commit writes the WAL without waiting
// for an fsync; end rolls back what was not committed and sets the
// connection's synchronous back.
//
// A merge's commit needs no fsync of its own: what it writes is derived
// from events already durable, and the WAL is one sequence, so the next
// ingestion commit's fsync (synchronous=FULL) makes it durable with
// itself, and a power cut before that loses a suffix of merge
// transactions, which the next merge writes again (a merge is recorded in
// its last transaction; dedupe.go, account_index.go). The checkpointer
// fsyncs the WAL before it copies anything. Each merge transaction's fsync
// otherwise held the committer 2-40 ms, several times per merge.
func (w *writer) beginMerge(ctx context.Context) (*sql.Tx, func(), error) {
	if w.s.synchronous == "NORMAL" {
		tx, err := w.s.write.BeginTx(ctx, nil)
		if err != nil {
			return nil, nil, err
		}
		return tx, func() { tx.Rollback() }, nil //nolint:errcheck // a no-op after Commit
	}
	conn, err := w.s.write.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	restore := func() {
		// Were the connection left at NORMAL, the ingestion commits on it
		// would acknowledge events not yet on disk: discard it rather.
		if _, err := conn.ExecContext(context.Background(), "PRAGMA synchronous = "+w.s.synchronous); err != nil {
			w.s.log.Warn("could not restore synchronous on the writing connection; reconnecting", "err", err)
			conn.Raw(func(any) error { return driver.ErrBadConn }) //nolint:errcheck // the connection is discarded
		}
		conn.Close()
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = NORMAL"); err != nil {
		restore()
		return nil, nil, err
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		restore()
		return nil, nil, err
	}
	return tx, func() {
		tx.Rollback() //nolint:errcheck // a no-op after Commit
		restore()
	}, nil
}
