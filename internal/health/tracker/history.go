package tracker

import (
	"context"
	"time"

	"github.com/moments-cs/moments/internal/health"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/paths"
	"github.com/moments-cs/moments/internal/store"
)

// historyChunk is how many accounts ScoresAt rebuilds at once: each holds
// one aggregate (1–3 KB) per time asked.
const historyChunk = 2000

// Model returns the health model in force: the live map's, or the
// defaults.
func (t *Tracker) Model(ctx context.Context) (journey.HealthModel, error) {
	md, err := t.currentModel(ctx)
	if err != nil {
		return journey.HealthModel{}, err
	}
	return md.health, nil
}

// PastScore is an account's health as it stood at a past time.
type PastScore struct {
	Result health.Result
	// Warnings are the exception reasons the account raised then: health's
	// own (health.Warnings) and unanswered_surveys.
	Warnings []string
	// Active says whether the account had sent any event by then; an
	// account that had not was not yet a customer to score.
	Active bool
}

// ScoresAt scores accounts as they stood at past times: for each account
// and each of its times, the aggregate is rebuilt from the account's
// stored events before that time and scored then with the health model in
// force now. Success path progress counts the milestones reached before
// that time. Because it reads events, not a kept history, it works from
// the first day after an import of past events.
func (t *Tracker) ScoresAt(ctx context.Context, accounts []store.Account, at map[string][]time.Time) (map[string][]PastScore, error) {
	md, err := t.currentModel(ctx)
	if err != nil {
		return nil, err
	}
	// Breadth is judged against the segments' features as last saved.
	refs, err := t.segmentFeatures(ctx, nil, md)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]PastScore, len(at))
	for start := 0; start < len(accounts); start += historyChunk {
		chunk := accounts[start:min(start+historyChunk, len(accounts))]
		ids := make([]string, 0, len(chunk))
		aggs := make(map[string][]*health.Aggregate, len(chunk))
		for _, a := range chunk {
			ids = append(ids, a.ID)
			list := make([]*health.Aggregate, len(at[a.ID]))
			for i := range list {
				list[i] = &health.Aggregate{}
			}
			aggs[a.ID] = list
		}
		sent, err := t.st.SurveysSent(ctx, ids)
		if err != nil {
			return nil, err
		}
		err = t.st.AccountHistoryEvents(ctx, ids, func(e *store.HealthEvent) error {
			times := at[e.AccountID]
			var ev health.Event
			decoded := false
			for i, cut := range times {
				if !e.Timestamp.Before(cut) {
					continue
				}
				if !decoded {
					ev = healthEvent(e.Type, e.Name, e.UserID, e.ContactRole, e.Timestamp, e.Properties)
					decoded = true
				}
				aggs[e.AccountID][i].Apply(ev, md.health)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		for _, a := range chunk {
			sc := newPastScorer(ctx, md, a, refs[a.Segment])
			for i, cut := range at[a.ID] {
				agg := aggs[a.ID][i]
				r := sc.score(agg, cut)
				out[a.ID] = append(out[a.ID], PastScore{Result: r, Active: agg.Seen > 0,
					Warnings: warningsOf(a.ID, r, repliesAt(sent[a.ID], cut), agg).Codes})
			}
		}
	}
	return out, nil
}

// pastScorer scores one account's aggregates at past times with the
// current model and the account's current traits.
type pastScorer struct {
	ctx    context.Context
	md     *model
	traits map[string]any
	start  time.Time
	seats  int
	// segmentFeatures is the account's segment's breadth reference.
	segmentFeatures int
	// path is the account's success path when it follows from its traits
	// alone (chosen once); otherwise chosen at each time.
	path  *journey.SuccessPath
	fixed bool
}

func newPastScorer(ctx context.Context, md *model, a store.Account, segmentFeatures int) *pastScorer {
	traits := make(map[string]any, len(a.Traits)+2)
	for k, v := range a.Traits {
		traits[k] = v
	}
	traits["id"], traits["name"] = a.ID, a.Name
	sc := &pastScorer{ctx: ctx, md: md, traits: traits, start: contractStart(traits),
		seats: seats(traits, md.health.Behavioural.SeatsTrait), segmentFeatures: segmentFeatures}
	if md.pathsReadTraitsOnly {
		sc.path, sc.fixed = sc.choose(time.Time{}), true
	}
	return sc
}

func (sc *pastScorer) choose(cut time.Time) *journey.SuccessPath {
	return paths.Choose(sc.md.paths, sc.traits, func(expr string, account map[string]any) (bool, error) {
		return sc.md.eval(sc.ctx, expr, account, nil, cut), nil
	})
}

// score scores agg, built from the account's events before cut, at cut.
// Success path progress counts the milestones reached before cut.
func (sc *pastScorer) score(agg *health.Aggregate, cut time.Time) health.Result {
	path := sc.path
	if !sc.fixed {
		path = sc.choose(cut)
	}
	info := health.AccountInfo{Seats: sc.seats, ContractStart: sc.start, PathProgress: health.ProgressUnknown,
		SegmentFeatures: sc.segmentFeatures}
	if path != nil {
		info.PathProgress = paths.Compute(*path, agg.MilestoneTimes(), sc.start, cut).Fraction
	}
	return health.Scores(agg, info, sc.md.health, cut)
}

// warningsOf lists the warnings a result raises, for the exception report:
// health's own, and unanswered_surveys from the account's survey replies.
func warningsOf(accountID string, r health.Result, replies store.SurveyReplies, agg *health.Aggregate) store.HealthWarnings {
	w := store.HealthWarnings{AccountID: accountID}
	ws := health.Warnings(r)
	if x, ok := health.UnansweredSurveys(health.SurveyReplies(replies), agg, r.At); ok {
		ws = append(ws, x)
	}
	for _, x := range ws {
		w.Codes = append(w.Codes, x.Code)
		w.Texts = append(w.Texts, x.Text)
	}
	return w
}
