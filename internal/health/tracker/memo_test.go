package tracker

import (
	"fmt"
	"testing"

	"github.com/moments-cs/moments/internal/health"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/store"
)

// The memo keeps what was derived from the traits of more accounts than
// it keeps aggregates of, so that a recompute of every account of a large
// installation finds them the next day; the aggregates stay bounded.
func TestMemoKeepsTraitsBeyondAggregates(t *testing.T) {
	tr := &Tracker{}
	md := &model{version: 1, health: health.Defaults(journey.HealthModel{})}
	md.health.Behavioural.SeatsTrait = "seats"
	n := memoAccounts + memoAccounts/2
	for i := range n {
		rec := &store.HealthRecord{AccountHealth: store.AccountHealth{AccountID: fmt.Sprintf("acct-%d", i)},
			RawTraits: []byte(fmt.Sprintf(`{"seats":%d}`, i+1)), Aggregate: []byte(`{"format":1}`)}
		in, _, err := tr.inputsOf(md, rec, false)
		if err != nil {
			t.Fatal(err)
		}
		tr.remember(md, in, nil, &health.Aggregate{}, true)
	}
	if len(tr.memo.m) != n {
		t.Fatalf("%d accounts remembered, want %d", len(tr.memo.m), n)
	}
	kept := 0
	for _, e := range tr.memo.m {
		if e.aggregate != nil {
			kept++
		}
	}
	if kept > memoAccounts || kept != tr.memo.aggs {
		t.Fatalf("%d aggregates kept (counted %d), want at most %d", kept, tr.memo.aggs, memoAccounts)
	}
	// The first account's traits are still known: not decoded again.
	rec := &store.HealthRecord{AccountHealth: store.AccountHealth{AccountID: "acct-0"}, RawTraits: []byte(`{"seats":1}`)}
	in, _, err := tr.inputsOf(md, rec, false)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Traits != nil || in.seats != 1 { // a decoding would have set Traits
		t.Fatalf("traits decoded again (%v) or seats %d, want a memo hit with 1 seat", rec.Traits, in.seats)
	}
}
