package tracker

import (
	"context"
	"sync"
	"time"

	"github.com/moments-cs/moments/internal/health"
	"github.com/moments-cs/moments/internal/store"
)

// Breadth without key features judges an account against the features the
// broad users of its segment use (health.FeatureReference). The full
// recompute computes that reference per segment from every account's
// rebuilt aggregate and saves it; the ingest hook and the account view
// score with the saved reference, so an account's breadth is the same
// whichever path scored it last.

// segmentRefsTTL is how long a process keeps the saved references before
// reading them again (another process's recompute may have saved new ones).
const segmentRefsTTL = 5 * time.Minute

type segmentRefs struct {
	mu   sync.Mutex
	at   time.Time
	refs map[string]int
}

// segmentFeatures returns the saved reference per segment, read in q (the
// read pool when nil) at most every segmentRefsTTL; nil when the model
// lists key features, which breadth counts instead.
func (t *Tracker) segmentFeatures(ctx context.Context, q store.Querier, md *model) (map[string]int, error) {
	if len(md.health.Behavioural.KeyFeatures) > 0 {
		return nil, nil
	}
	t.segs.mu.Lock()
	defer t.segs.mu.Unlock()
	if t.segs.refs != nil && time.Since(t.segs.at) < segmentRefsTTL {
		return t.segs.refs, nil
	}
	refs, err := t.st.SegmentFeatures(ctx, q)
	if err != nil {
		return nil, err
	}
	t.segs.refs, t.segs.at = refs, time.Now()
	return refs, nil
}

// computeSegmentFeatures computes the reference of every segment from the
// aggregates of a recompute pass at now, saves it and keeps it.
func (t *Tracker) computeSegmentFeatures(ctx context.Context, md *model, built shards, now time.Time) (map[string]int, error) {
	if len(md.health.Behavioural.KeyFeatures) > 0 {
		return nil, nil
	}
	segs, err := t.st.AccountSegments(ctx)
	if err != nil {
		return nil, err
	}
	bySegment := map[string][]*health.Aggregate{}
	for _, m := range built {
		for id, r := range m {
			bySegment[segs[id]] = append(bySegment[segs[id]], r.agg)
		}
	}
	refs := make(map[string]int, len(bySegment))
	for seg, aggs := range bySegment {
		refs[seg] = health.FeatureReference(aggs, md.health, now)
	}
	if err := t.st.SaveSegmentFeatures(ctx, refs, now); err != nil {
		return nil, err
	}
	t.segs.mu.Lock()
	t.segs.refs, t.segs.at = refs, time.Now()
	t.segs.mu.Unlock()
	return refs, nil
}

// segmentOf reads the segment trait as the store does.
func segmentOf(traits map[string]any) string {
	s, _ := traits["segment"].(string)
	return s
}
