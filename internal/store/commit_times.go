package store

import (
	"sync/atomic"
	"time"
)

// The committer's times, kept as histograms cheap enough to observe on the
// commit path (a few atomic additions per commit) and exported at /metrics
// (internal/web/server): when acknowledgements slow down, they tell what
// the acknowledgements waited for — the committer (its queue), the disk
// (the commit's fsync), or other work holding the committer or its
// writing connection (SQLite's merges and the checkpointer's turns).

// timeBounds are the upper bounds of the histograms' buckets, in seconds:
// doubling from 1 ms, with one at 40 ms (the p99 the issue asks of an
// acknowledgement).
var timeBounds = [...]float64{.001, .0025, .005, .01, .02, .04, .08, .16, .32, .64, 1.28, 2.56}

// durations is a histogram of durations.
type durations struct {
	counts [len(timeBounds) + 1]atomic.Uint64 // the last is above every bound
	sum    atomic.Int64                       // nanoseconds
}

func (h *durations) observe(d time.Duration) {
	s := d.Seconds()
	i := 0
	for i < len(timeBounds) && s > timeBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// Histogram is a snapshot of a histogram of durations: Buckets[i] counts
// the observations of at most Bounds[i] seconds (cumulative, as Prometheus
// has them), Count all of them, Sum their total in seconds.
type Histogram struct {
	Bounds  []float64
	Buckets []uint64
	Count   uint64
	Sum     float64
}

func (h *durations) snapshot() Histogram {
	out := Histogram{Bounds: timeBounds[:], Buckets: make([]uint64, len(timeBounds))}
	for i := range h.counts {
		out.Count += h.counts[i].Load()
		if i < len(timeBounds) {
			out.Buckets[i] = out.Count
		}
	}
	out.Sum = time.Duration(h.sum.Load()).Seconds()
	return out
}

// Holders of SQLite's committer or writing connection other than the
// ingestion transactions (CommitTimes.Held).
const (
	HeldByAccountIndex = "account_index"
	HeldByDedupe       = "dedupe"
	HeldByCheckpoint   = "checkpoint"
)

// commitTimes are the writer's histograms.
type commitTimes struct {
	wait, commit durations
	held         [3]durations // by heldBy
}

var heldBy = [3]string{HeldByAccountIndex, HeldByDedupe, HeldByCheckpoint}

func (t *commitTimes) heldFor(by string, d time.Duration) {
	for i, b := range heldBy {
		if b == by {
			t.held[i].observe(d)
		}
	}
}

// CommitTimes are the committer's histograms since the store opened.
type CommitTimes struct {
	// Wait is, per ingestion transaction, how long its oldest request
	// waited from reaching the committer to the transaction's start:
	// behind earlier transactions, the merges and, on SQLite, the
	// checkpointer's turns.
	Wait Histogram
	// Commit is, per ingestion transaction, its commit: on SQLite writing
	// the WAL and its fsync, on PostgreSQL the round trip of COMMIT.
	Commit Histogram
	// Held is, on SQLite, each stretch of other work that held the
	// committer or its writing connection while acknowledgements could
	// wait, by holder (HeldByAccountIndex, HeldByDedupe,
	// HeldByCheckpoint): a merge's step between two chances for waiting
	// requests to commit, a checkpointer's turn. Empty on PostgreSQL.
	Held map[string]Histogram
}

// CommitTimes returns the committer's histograms.
func (s *Store) CommitTimes() CommitTimes {
	t := &s.times
	out := CommitTimes{Wait: t.wait.snapshot(), Commit: t.commit.snapshot()}
	if s.dialect.embedded() {
		out.Held = map[string]Histogram{}
		for i, by := range heldBy {
			out.Held[by] = t.held[i].snapshot()
		}
	}
	return out
}
