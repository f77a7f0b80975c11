package tracker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"

	"github.com/moments-cs/moments/internal/health"
	"github.com/moments-cs/moments/internal/store"
)

// The daily recompute does not read the whole events table every day: it
// keeps, per account, a base (store.HealthBase) — the aggregate of the
// account's events up to an event id, built by the recompute itself from
// the events, never by the ingest hook — and starts from it, reading only
// the events after that id. Apply is commutative, so the base with the
// later events applied is the aggregate of all the account's events: the
// answer of a rebuild from every event. A base is used only when it was
// built under the health model in force (its fingerprint); otherwise, and
// for accounts without one, the account is rebuilt from all its events.

// fingerprintOf names what an aggregate built under md depends on: the
// aggregate format, the health model and the event names milestones
// listen to (whose first times the base keeps).
func fingerprintOf(md *model) string {
	h := sha256.New()
	h.Write([]byte(strconv.Itoa(health.AggregateFormat)))
	m, _ := json.Marshal(md.health)
	h.Write(m)
	names := make([]string, 0, len(md.milestoneEvents))
	for n := range md.milestoneEvents {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		h.Write([]byte{0})
		h.Write([]byte(n))
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// loadBases reads the stored bases built under md.
func (t *Tracker) loadBases(ctx context.Context, md *model) (map[string]*store.HealthBase, error) {
	out := map[string]*store.HealthBase{}
	err := t.st.HealthBases(ctx, func(b *store.HealthBase) error {
		if b.Model == md.fingerprint {
			out[b.AccountID] = b
		}
		return nil
	})
	return out, err
}

// startRebuild returns the rebuild of account id for a recompute whose
// bases are brought up to event id settled: from its base b when there is
// one that reads back, else from nothing.
func (t *Tracker) startRebuild(md *model, id string, b *store.HealthBase, settled int64) *rebuild {
	r := &rebuild{account: id, settled: settled, dirty: true}
	// A base through no event is empty: the account is started afresh, so
	// that its new base is written even when no event comes.
	if b != nil && b.Through > 0 {
		agg := &health.Aggregate{}
		var first map[string]int64
		if agg.UnmarshalJSON(b.Aggregate) == nil && json.Unmarshal(b.First, &first) == nil {
			r = newRebuild(agg)
			r.account, r.settled, r.through = id, settled, b.Through
			r.encoded = b.Aggregate
			if len(first) > 0 {
				r.first = first
			}
			return r
		}
		t.log.Warn("stored health base is unreadable; rebuilding the account from its events", "account", id)
	}
	r.agg = &health.Aggregate{}
	return r
}

// add applies a stored event to the rebuild unless its base covers it
// already, and reports whether it did. Events come in id order per
// account: the first one after settled closes the new base first.
func (r *rebuild) add(md *model, e *store.HealthEvent) bool {
	if e.ID <= r.through {
		return false
	}
	if e.ID > r.settled {
		r.snapshot(md)
	} else {
		r.dirty = true
	}
	r.apply(md, healthEvent(e.Type, e.Name, e.UserID, e.ContactRole, e.Timestamp, e.Properties))
	return true
}

// snapshot records the aggregate as it stands as the account's new base
// (through settled), when it differs from the stored one; only once.
func (r *rebuild) snapshot(md *model) {
	if r.snapped {
		return
	}
	r.snapped = true
	if !r.dirty {
		return
	}
	r.agg.Format = health.AggregateFormat
	first := []byte("{}")
	if len(r.first) > 0 {
		first, _ = json.Marshal(r.first)
	}
	r.base = &store.HealthBase{AccountID: r.account, Model: md.fingerprint, Through: r.settled,
		Aggregate: r.agg.AppendJSON(nil), First: first}
	r.encoded = r.base.Aggregate
}
