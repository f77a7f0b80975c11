package tracker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"runtime"
	"slices"
	"strconv"
	"sync"

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

// startRebuilds returns the rebuilds of ids, in their order, each started
// from its stored base when there is one built under md (and full is not
// set): one goroutine reads the bases in storage order while one per CPU
// decodes them (decoding took a core about two seconds per 100,000
// accounts, and ran on one goroutine after the read).
func (t *Tracker) startRebuilds(ctx context.Context, md *model, ids []string, full bool, settled int64) ([]*rebuild, error) {
	rs := make([]*rebuild, len(ids))
	if !full {
		pos := make(map[string]int, len(ids))
		for i, id := range ids {
			pos[id] = i
		}
		type stored struct {
			i int
			b *store.HealthBase
		}
		const batch = 64
		var (
			wg      sync.WaitGroup
			workers = runtime.GOMAXPROCS(0)
			work    = make(chan []stored, 2*workers)
			next    = make([]stored, 0, batch)
		)
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for bs := range work {
					for _, x := range bs {
						rs[x.i] = t.startRebuild(md, ids[x.i], x.b, settled)
					}
				}
			}()
		}
		err := t.st.HealthBases(ctx, func(b *store.HealthBase) error {
			if i, ok := pos[b.AccountID]; ok && b.Model == md.fingerprint {
				next = append(next, stored{i, b})
				if len(next) == batch {
					work <- next
					next = make([]stored, 0, batch)
				}
			}
			return nil
		})
		work <- next
		close(work)
		wg.Wait()
		if err != nil {
			return nil, err
		}
	}
	for i, id := range ids {
		if rs[i] == nil {
			rs[i] = t.startRebuild(md, id, nil, settled)
		}
	}
	return rs, nil
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
		first, err := health.ParseTimes(b.First)
		if err != nil {
			first = nil
			err = json.Unmarshal(b.First, &first)
		}
		if err == nil && agg.UnmarshalJSON(b.Aggregate) == nil {
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
