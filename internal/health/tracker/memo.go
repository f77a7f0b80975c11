package tracker

import (
	"bytes"
	"strings"
	"sync"
	"time"

	"github.com/moments-cs/moments/internal/health"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/rules"
	"github.com/moments-cs/moments/internal/store"
)

// The ingest hook runs in the ingestion transaction, once per account a
// commit touches, so what it can skip it skips: an account's traits change
// far less often than it sends events, and its aggregate was, at the end of
// its previous update, in this process's hands already. The memo keeps,
// per account, what was derived from the traits (seats, contract start,
// the success path when the path conditions read only the traits) and the
// aggregate last written with its exact bytes. Everything is reused only
// when the stored bytes read back in the transaction are identical to the
// remembered ones, so a write by another process, a recompute or a rolled
// back transaction simply misses the memo.

// memoAccounts bounds the accounts whose aggregate is remembered; over it
// every remembered aggregate is dropped. Aggregates are a few kilobytes (at
// most about 30), so they stay within some tens of megabytes.
// memoTraitsAccounts bounds the accounts remembered at all (what was
// derived from the traits: a few hundred bytes each); over it the memo
// starts afresh. It is above the accounts of a large installation, so
// that the daily recompute, which scores every account, finds their
// traits decoded and their path chosen by the previous day's run.
const (
	memoAccounts       = 10_000
	memoTraitsAccounts = 250_000
)

type memo struct {
	mu sync.Mutex
	m  map[string]*memoEntry
	// aggs counts the entries of m holding an aggregate.
	aggs int
}

// memoEntry is what is remembered of one account.
type memoEntry struct {
	// traits are the stored traits the rest was derived from.
	traits  []byte
	seats   int
	start   time.Time
	segment string
	// model is the map version path was chosen under; pathKnown is false
	// when the map's path conditions read more than the traits.
	model     int
	pathKnown bool
	path      int // index into the model's paths, -1 for none
	// aggregate is the aggregate last written, agg its stored bytes.
	agg       []byte
	aggregate *health.Aggregate
}

// inputs are what an account's update needs besides its events: the
// traits (decoded only when something reads them), seats, contract start
// and, when it could be remembered, the success path.
type inputs struct {
	rec       *store.HealthRecord
	seats     int
	start     time.Time
	segment   string
	pathKnown bool
	path      *journey.SuccessPath
	// segmentFeatures is the reference of breadth (see segments.go).
	segmentFeatures int
}

// traits returns the account's traits, decoding them on first use. The
// bytes were decoded without error before (on a memo hit) or just now, so
// a decoding error here cannot happen; it would read as no traits.
func (in *inputs) traits() map[string]any {
	if in.rec.Traits == nil {
		if err := in.rec.DecodeTraits(); err != nil {
			in.rec.Traits = map[string]any{"id": in.rec.AccountID}
		}
	}
	return in.rec.Traits
}

// inputsOf returns the inputs of rec's update, from the memo when the
// stored traits are the ones remembered; an error when they are unreadable.
// take says whether to take the remembered aggregate too (the ingest hook
// does; a recompute rebuilds it).
func (t *Tracker) inputsOf(md *model, rec *store.HealthRecord, take bool) (*inputs, *health.Aggregate, error) {
	in := &inputs{rec: rec}
	t.memo.mu.Lock()
	e := t.memo.m[rec.AccountID]
	var agg *health.Aggregate
	if e != nil && take && e.aggregate != nil && bytes.Equal(e.agg, rec.Aggregate) {
		// Taken, not shared: the update changes it in place, and should the
		// transaction fail after that, the memo must not offer it again.
		agg, e.aggregate, e.agg = e.aggregate, nil, nil
		t.memo.aggs--
	}
	hit := e != nil && bytes.Equal(e.traits, rec.RawTraits)
	if hit {
		in.seats, in.start, in.segment = e.seats, e.start, e.segment
		if e.pathKnown && e.model == md.version {
			in.pathKnown = true
			if e.path >= 0 && e.path < len(md.paths) {
				in.path = &md.paths[e.path]
			}
		}
	}
	t.memo.mu.Unlock()
	if hit {
		return in, agg, nil
	}
	if err := rec.DecodeTraits(); err != nil {
		return nil, nil, err
	}
	in.seats = seats(rec.Traits, md.health.Behavioural.SeatsTrait)
	in.start = contractStart(rec.Traits)
	in.segment = segmentOf(rec.Traits)
	return in, agg, nil
}

// remember records what was derived for rec's update, and the aggregate
// just encoded into rec.Aggregate when keep is set.
func (t *Tracker) remember(md *model, in *inputs, path *journey.SuccessPath, agg *health.Aggregate, keep bool) {
	rec := in.rec
	e := &memoEntry{traits: rec.RawTraits, seats: in.seats, start: in.start, segment: in.segment, model: md.version, path: -1}
	if md.pathsReadTraitsOnly {
		e.pathKnown = true
		for i := range md.paths {
			if path == &md.paths[i] {
				e.path = i
			}
		}
	}
	if keep {
		e.agg, e.aggregate = rec.Aggregate, agg
	}
	t.memo.mu.Lock()
	defer t.memo.mu.Unlock()
	if t.memo.m == nil || len(t.memo.m) >= memoTraitsAccounts {
		t.memo.m, t.memo.aggs = make(map[string]*memoEntry), 0
	}
	if old := t.memo.m[rec.AccountID]; old != nil && old.aggregate != nil {
		t.memo.aggs--
	}
	if e.aggregate != nil {
		if t.memo.aggs >= memoAccounts {
			for _, x := range t.memo.m {
				x.agg, x.aggregate = nil, nil
			}
			t.memo.aggs = 0
		}
		t.memo.aggs++
	}
	t.memo.m[rec.AccountID] = e
}

// mentions reports whether a condition may read the variable name: every
// variable a CEL expression reads appears in its text, so one whose text
// does not contain the name (even inside a word or a string, which errs on
// the safe side) does not read it.
func mentions(expr, name string) bool { return strings.Contains(expr, name) }

// traitsFor returns the traits for a condition: nil (read as an empty map)
// when the condition cannot read them, which spares decoding them.
func (in *inputs) traitsFor(expr string) map[string]any {
	if !mentions(expr, rules.VarAccount) {
		return nil
	}
	return in.traits()
}
