package tracker

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/moments-cs/moments/internal/health"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/paths"
	"github.com/moments-cs/moments/internal/store"
)

// AccountHealth is an account's health as the API shows it: scored now
// from the stored aggregate, with every component explained, the events
// that moved it most recently and the daily trend.
type AccountHealth struct {
	AccountID      string          `json:"account_id"`
	At             time.Time       `json:"at"`
	Behavioural    health.Value    `json:"behavioural"`
	Emotional      health.Value    `json:"emotional"`
	Combined       health.Value    `json:"combined"`
	BehaviourOnly  bool            `json:"behaviour_only"`
	Quadrant       health.Quadrant `json:"quadrant"`
	QuadrantLabel  string          `json:"quadrant_label"`
	QuadrantReason string          `json:"quadrant_reason"`
	Play           string          `json:"play"`
	// PreviousQuadrant and QuadrantChangedAt describe the last move.
	PreviousQuadrant  string             `json:"previous_quadrant,omitempty"`
	QuadrantChangedAt *time.Time         `json:"quadrant_changed_at,omitempty"`
	UsageDrop         UsageDrop          `json:"usage_drop"`
	Components        []health.Component `json:"components"`
	// Moving are the most recent events that moved any component, newest
	// first.
	Moving []Moving                 `json:"moving"`
	Trend  []store.HealthTrendPoint `json:"trend"`
	// UpdatedAt is when the stored state was last written (nil before the
	// account's first event).
	UpdatedAt *time.Time `json:"updated_at"`
}

// UsageDrop is the usage_drop signal explained.
type UsageDrop struct {
	Dropped    bool `json:"dropped"`
	WindowDays int  `json:"window_days"`
	Last       int  `json:"last"`
	Previous   int  `json:"previous"`
}

// Moving is an event that moved a component.
type Moving struct {
	Component string    `json:"component"`
	Event     string    `json:"event"`
	At        time.Time `json:"at"`
	Detail    string    `json:"detail,omitempty"`
}

// maxMoving bounds Moving.
const maxMoving = 10

// view is an account's stored data scored now, without writing.
type view struct {
	acct   store.Account
	state  *store.AccountHealth
	agg    *health.Aggregate
	md     *model
	path   *journey.SuccessPath
	prog   *paths.Progress
	result health.Result
	start  time.Time
}

func (t *Tracker) view(ctx context.Context, id string) (*view, error) {
	acct, err := t.st.Account(ctx, id)
	if err != nil {
		return nil, err
	}
	md, err := t.currentModel(ctx)
	if err != nil {
		return nil, err
	}
	v := &view{acct: acct, md: md, agg: &health.Aggregate{}}
	if h, err := t.st.AccountHealth(ctx, id); err == nil {
		v.state = &h
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	raw, err := t.st.HealthAggregate(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		if err := v.agg.UnmarshalJSON(raw); err != nil {
			return nil, err
		}
	}
	now := t.now()
	traits := map[string]any{}
	for k, val := range acct.Traits {
		traits[k] = val
	}
	traits["id"] = acct.ID
	var prev store.AccountHealth
	if v.state != nil {
		prev = *v.state
	}
	prevVars := health.Vars(prev, now)
	v.path = paths.Choose(md.paths, traits, func(expr string, account map[string]any) (bool, error) {
		return md.eval(ctx, expr, account, prevVars, now), nil
	})
	v.start = contractStart(traits)
	refs, err := t.segmentFeatures(ctx, nil, md)
	if err != nil {
		return nil, err
	}
	info := health.AccountInfo{Seats: seats(traits, md.health.Behavioural.SeatsTrait), ContractStart: v.start,
		PathProgress: health.ProgressUnknown, SegmentFeatures: refs[acct.Segment]}
	if v.path != nil {
		p := paths.Compute(*v.path, v.agg.MilestoneTimes(), v.start, now)
		v.prog = &p
		info.PathProgress = p.Fraction
	}
	v.result = health.Score(v.agg, info, md.health, now)
	return v, nil
}

// Account returns an account's health now; store.ErrNotFound when the
// account does not exist.
func (t *Tracker) Account(ctx context.Context, id string) (AccountHealth, error) {
	v, err := t.view(ctx, id)
	if err != nil {
		return AccountHealth{}, err
	}
	r := v.result
	out := AccountHealth{
		AccountID: id, At: r.At, Behavioural: r.Behavioural, Emotional: r.Emotional, Combined: r.Combined,
		BehaviourOnly: r.BehaviourOnly, Quadrant: r.Quadrant, QuadrantLabel: r.Quadrant.Label(),
		QuadrantReason: r.QuadrantReason, Play: r.Play, Components: r.Components, Moving: []Moving{},
	}
	if v.state != nil {
		out.PreviousQuadrant, out.QuadrantChangedAt = v.state.PreviousQuadrant, v.state.QuadrantChangedAt
		at := v.state.UpdatedAt
		out.UpdatedAt = &at
	}
	dropped, last, previous := health.UsageDrop(v.agg, v.md.health, r.At)
	out.UsageDrop = UsageDrop{Dropped: dropped, WindowDays: v.md.health.UsageDrop.WindowDays, Last: last, Previous: previous}
	seen := map[string]bool{}
	for _, c := range r.Components {
		for _, e := range c.Events {
			key := e.Event + "\x00" + e.At.String() + "\x00" + e.Detail
			if seen[key] {
				continue
			}
			seen[key] = true
			out.Moving = append(out.Moving, Moving{Component: c.Name, Event: e.Event, At: e.At, Detail: e.Detail})
		}
	}
	slices.SortStableFunc(out.Moving, func(a, b Moving) int { return b.At.Compare(a.At) })
	out.Moving = out.Moving[:min(len(out.Moving), maxMoving)]
	from := dayOf(r.At) - TrendDays + 1
	trend, err := t.st.HealthTrend(ctx, id, from)
	if err != nil {
		return out, err
	}
	// The days before the trend table's first row (imported history, or
	// days before the trend was kept) come from the daily history.
	before := dayOf(r.At) + 1
	if len(trend) > 0 {
		before = trend[0].Day.Unix() / 86400
	}
	past, err := t.historyPoints(ctx, id, from, before)
	if err != nil {
		return out, err
	}
	out.Trend = append(past, trend...)
	if out.Trend == nil {
		out.Trend = []store.HealthTrendPoint{}
	}
	return out, nil
}

// Path is an account's progress along its success path.
type Path struct {
	AccountID string `json:"account_id"`
	// PathID and PathName are empty when no success path applies to the
	// account; Reason then says why.
	PathID        string      `json:"path_id"`
	PathName      string      `json:"path_name"`
	Reason        string      `json:"reason,omitempty"`
	ContractStart *time.Time  `json:"contract_start"`
	Progress      float64     `json:"progress"`
	Reached       int         `json:"reached"`
	Total         int         `json:"total"`
	Milestones    []Milestone `json:"milestones"`
	// NextMilestone is the first milestone not reached, nil when all are.
	NextMilestone *Milestone `json:"next_milestone"`
	DaysBehind    int        `json:"days_behind"`
	// TimeToValueDays runs from the contract start to the first value
	// milestone; TimeToImplementationDays to the last implemented one;
	// nil until reached or when the contract start is unknown.
	TimeToValueDays          *float64  `json:"time_to_value_days"`
	TimeToImplementationDays *float64  `json:"time_to_implementation_days"`
	At                       time.Time `json:"at"`
}

// Milestone is one milestone of an account's path.
type Milestone struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	TargetDays  int        `json:"target_days"`
	Due         *time.Time `json:"due"`
	ReachedAt   *time.Time `json:"reached_at"`
	Late        bool       `json:"late"`
	Status      string     `json:"status"`
	Value       bool       `json:"value"`
	Implemented bool       `json:"implemented"`
	// ReachedBy says what reaches it: the events, or the condition.
	ReachedBy string `json:"reached_by"`
}

// Milestone statuses.
const (
	StatusReached  = "reached"
	StatusOverdue  = "overdue"
	StatusUpcoming = "upcoming"
)

// Path returns an account's success path progress now; store.ErrNotFound
// when the account does not exist.
func (t *Tracker) Path(ctx context.Context, id string) (Path, error) {
	v, err := t.view(ctx, id)
	if err != nil {
		return Path{}, err
	}
	out := Path{AccountID: id, Milestones: []Milestone{}, At: v.result.At}
	if !v.start.IsZero() {
		s := v.start
		out.ContractStart = &s
	}
	if v.path == nil {
		if len(v.md.paths) == 0 {
			out.Reason = "the live journey map defines no success paths"
		} else {
			out.Reason = "no success path's condition matches this account"
		}
		return out, nil
	}
	p := v.prog
	out.PathID, out.PathName = v.path.ID, v.path.Name
	out.Progress, out.Reached, out.Total, out.DaysBehind = p.Fraction, p.Reached, p.Total, p.DaysBehind
	if v.start.IsZero() {
		out.Reason = "the contract start is unknown, so milestones have no due dates: set the account trait " + ContractStartTrait
	}
	for i, st := range p.Milestones {
		def := v.path.Milestones[i]
		m := Milestone{ID: st.ID, Name: st.Name, TargetDays: st.TargetDays, ReachedAt: st.ReachedAt, Late: st.Late,
			Value: def.Value, Implemented: def.Implemented}
		if !st.Due.IsZero() {
			d := st.Due
			m.Due = &d
		}
		switch {
		case st.ReachedAt != nil:
			m.Status = StatusReached
		case st.Late:
			m.Status = StatusOverdue
		default:
			m.Status = StatusUpcoming
		}
		if len(def.Events) > 0 {
			m.ReachedBy = "event: " + strings.Join(def.Events, ", ")
		}
		if def.When != "" {
			if m.ReachedBy != "" {
				m.ReachedBy += "; "
			}
			m.ReachedBy += "condition: " + def.When
		}
		out.Milestones = append(out.Milestones, m)
		if p.Next != nil && p.Next.ID == st.ID && out.NextMilestone == nil {
			next := m
			out.NextMilestone = &next
		}
	}
	days := func(d *time.Duration) *float64 {
		if d == nil {
			return nil
		}
		f := float64(d.Round(time.Hour)) / float64(24*time.Hour)
		f = float64(int(f*10+0.5)) / 10
		return &f
	}
	out.TimeToValueDays, out.TimeToImplementationDays = days(p.TimeToValue), days(p.TimeToImplementation)
	return out, nil
}
